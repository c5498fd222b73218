// A worker's own copies of the shared cache's entries (asset_gate_cache_local), in front of
// the zone: a hit takes no lock and reads no line another worker writes. Each copy keeps the
// zone entry's expiry and the zone's generation when it was read; the zone's generation
// moves on every invalidation, so a copy is used only while the zone would still give the
// same answer. Fixed size, set-associative like the verified-token cache, no allocation after
// it is made; an entry too large for a slot is simply not copied.
#pragma once

#include <cstdint>
#include <string_view>

#include "page_memory.hpp"

namespace asset_gate {

class LocalRecordCache {
  public:
    static constexpr std::size_t kWays = 4;
    static constexpr std::size_t kSlotBytes = 512;
    static constexpr std::size_t kHeader = 32;
    static constexpr std::size_t kMaxEntry = kSlotBytes - kHeader;  // key and value together
    static constexpr std::size_t kDefaultBytes = 1 << 20;

    // What a find returns: the entry's kind (the zone's, opaque here) and its value, which
    // stays valid only until the next insert.
    struct Entry {
        std::uint8_t kind;
        std::string_view value;
    };

    explicit LocalRecordCache(std::size_t bytes = kDefaultBytes) noexcept;

    std::size_t capacity() const noexcept { return sets_ * kWays; }

    // The entry for `key` if it was copied at `generation` and its expiry is after `now`
    // (milliseconds of a clock that may wrap: compared as the zone compares them).
    bool find(std::string_view key, std::uint64_t generation, std::uint64_t now,
              Entry *out) const noexcept;

    // Copies an entry the zone gave at `generation`, replacing any copy of the same key (an
    // entry too large for a slot removes that copy).
    void insert(std::string_view key, std::uint8_t kind, std::string_view value,
                std::uint64_t expires, std::uint64_t generation) noexcept;

  private:
    struct Slot {
        std::uint64_t hash;
        std::uint64_t expires;
        std::uint64_t generation;
        std::uint16_t key_len;
        std::uint16_t value_len;
        std::uint8_t kind;
        std::uint8_t used;
        std::uint8_t unused[2];
        char data[kMaxEntry];  // key, then value
    };
    static_assert(sizeof(Slot) == kSlotBytes);
    using Tags = SetTags<kWays>;
    static_assert(sizeof(Tags) == 16);

    Slot *lookup(std::string_view key, std::uint64_t h, std::size_t *set) const noexcept;

    PageMemory memory_;
    Tags *tags_ = nullptr;
    Slot *slots_ = nullptr;
    std::size_t sets_ = 0;
};

}  // namespace asset_gate

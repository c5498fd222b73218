// Remembers recently verified tokens, so a link fetched again skips the HMAC and the JSON
// parse. Per worker, of a size fixed when it is made (asset_gate_token_cache: one allocation
// on huge pages, which may be refused, leaving a cache that remembers nothing), no
// allocation afterwards. Each set's tags share one small array, so a lookup reads its tags
// and then only the slot whose tag matches: of a table larger than the caches, a hit costs
// two misses where reading every way's slot cost five.
#pragma once

#include <cstdint>
#include <string_view>

#include "page_memory.hpp"
#include "token.hpp"

namespace asset_gate {

class VerifiedTokenCache {
  public:
    static constexpr std::size_t kWays = 4;        // slots per set, replaced in turn
    static constexpr std::size_t kSlotBytes = 256;  // what a token costs
    static constexpr std::size_t kMaxToken = 214;   // the slot's rest; PostHog's are ~200
    static constexpr std::size_t kDefaultBytes = 1 << 20;

    // A cache in about `bytes` of memory (whole sets of kWays slots and their tags; none
    // for 0).
    explicit VerifiedTokenCache(std::size_t bytes = kDefaultBytes) noexcept;

    // How many tokens it can hold (0: the memory was refused, or none was asked for).
    std::size_t capacity() const noexcept { return sets_ * kWays; }

    // The claims of `token` if it was verified under `scope` (the configuration it was checked
    // against) and its `exp` still holds at `now` with `leeway`. The comparison of the token
    // bytes takes the same time wherever they differ.
    bool find(const void *scope, std::string_view token, std::int64_t now, std::int64_t leeway,
              Claims *claims) const noexcept;

    // Records a token that verify_token allowed. Longer tokens are not kept.
    void insert(const void *scope, std::string_view token, const Claims &claims) noexcept;

  private:
    struct Slot {
        const void *scope = nullptr;
        std::uint64_t hash = 0;
        Claims claims;
        std::uint16_t len = 0;
        char token[kMaxToken];
    };
    static_assert(sizeof(Slot) == kSlotBytes);
    using Tags = SetTags<kWays>;
    static_assert(sizeof(Tags) == 16);
    static std::uint64_t hash(const void *scope, std::string_view token) noexcept;
    const Slot *lookup(const void *scope, std::string_view token, std::uint64_t h) const noexcept;

    PageMemory memory_;  // the tags of every set, then the slots of every set
    Tags *tags_ = nullptr;
    Slot *slots_ = nullptr;
    std::size_t sets_ = 0;
};

}  // namespace asset_gate

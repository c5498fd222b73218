// Remembers recently verified tokens, so a link fetched again skips the HMAC and the JSON
// parse. Per worker, of a size fixed when it is made (asset_gate_token_cache: one allocation,
// which `new (std::nothrow)` may refuse, leaving a cache that remembers nothing), no
// allocation afterwards.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "token.hpp"

namespace asset_gate {

class VerifiedTokenCache {
  public:
    static constexpr std::size_t kWays = 4;        // slots per set, replaced in turn
    static constexpr std::size_t kSlotBytes = 256;  // what a token costs
    static constexpr std::size_t kMaxToken = 214;   // the slot's rest; PostHog's are ~200
    static constexpr std::size_t kDefaultBytes = 1 << 20;

    // A cache in about `bytes` of memory (whole sets of kWays slots; none for 0).
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
    struct Set {
        Slot slots[kWays];
        std::uint8_t next = 0;  // the slot the next new token takes
    };
    static std::uint64_t hash(const void *scope, std::string_view token) noexcept;
    const Slot *lookup(const void *scope, std::string_view token, std::uint64_t h) const noexcept;

    std::unique_ptr<Set[]> sets_storage_;
    std::size_t sets_ = 0;
};

}  // namespace asset_gate

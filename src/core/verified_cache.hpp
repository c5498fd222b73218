// Remembers recently verified tokens, so a link fetched again skips the HMAC and the JSON
// parse. Per worker, fixed size (about 140 KB, one allocation of the whole object: `new
// (std::nothrow)` is the only way it can fail), no allocation afterwards.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "token.hpp"

namespace asset_gate {

class VerifiedTokenCache {
  public:
    static constexpr std::size_t kSlots = 256;
    static constexpr std::size_t kMaxToken = 512;  // PostHog's tokens are about 200 bytes

    VerifiedTokenCache() noexcept = default;

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
        std::uint16_t len = 0;
        Claims claims;
        char token[kMaxToken];
    };
    static std::uint64_t hash(const void *scope, std::string_view token) noexcept;
    std::array<Slot, kSlots> slots_{};
};

}  // namespace asset_gate

// Compact JWS HS256 verification and the claims of DESIGN.md section 3.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "hmac.hpp"
#include "reason.hpp"

namespace asset_gate {

inline constexpr std::size_t kMaxTokenSize = 4096;

// Configured keys, current first; verification tries each in order.
class KeySet {
  public:
    void add(std::string_view secret) { keys_.emplace_back(secret); }
    const std::vector<HmacSha256Key> &keys() const noexcept { return keys_; }
    bool empty() const noexcept { return keys_.empty(); }

  private:
    std::vector<HmacSha256Key> keys_;
};

// Checks the JWS layer only: shape, size, header (`alg` exactly HS256, no `crit`), signature.
// On success returns Reason::allowed; otherwise bad_token or bad_signature. `payload` receives
// the decoded payload bytes (caller provides kMaxTokenSize bytes of room) and `payload_size`
// its length.
Reason verify_jws(std::string_view token, const KeySet &keys, std::uint8_t *payload,
                  std::size_t *payload_size) noexcept;

struct VerifyOptions {
    std::string_view audience = "posthog:exported_asset";
    std::int64_t leeway = 0;  // seconds
    std::int64_t now = 0;     // unix seconds
};

struct Claims {
    std::uint64_t id = 0;
    Purpose purpose = Purpose::public_;
    std::int64_t exp = 0;
};

struct Verified {
    Reason reason = Reason::bad_token;
    Claims claims;  // meaningful only when reason == allowed
};

// The whole token check: JWS layer, then claims. Never throws.
Verified verify_token(std::string_view token, const KeySet &keys,
                      const VerifyOptions &opts) noexcept;

// Claims alone, over an already authenticated payload (exposed for tests and fuzzing).
Verified check_claims(std::string_view payload, const VerifyOptions &opts) noexcept;

// The same, always through jansson: check_claims takes the common flat payload without it,
// and must agree with this on every input (t/fuzz/fuzz_claims).
Verified check_claims_jansson(std::string_view payload, const VerifyOptions &opts) noexcept;

}  // namespace asset_gate

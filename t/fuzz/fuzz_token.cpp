// libFuzzer target: verify_token and check_claims on arbitrary bytes, plus the same bytes signed
// as a payload, asserting that nothing unverified is ever allowed and the two paths agree.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/base64url.hpp"
#include "core/token.hpp"

namespace asset_gate::testing {
namespace {

// The seed corpus in t/fuzz/seeds/fuzz_token/ is signed with the first key.
constexpr std::string_view kKey = "fuzz-current-key-0123456789abcdef";
constexpr std::string_view kOldKey = "fuzz-previous-key-0123456789abcdef";
constexpr std::int64_t kNow = 1780000000;
constexpr std::int64_t kLeeway = 30;

const KeySet &keys() {
    static const KeySet k = [] {
        KeySet s;
        s.add(kKey);
        s.add(kOldKey);
        return s;
    }();
    return k;
}

VerifyOptions options() {
    VerifyOptions o;
    o.now = kNow;
    o.leeway = kLeeway;
    return o;
}

void check(bool ok) {
    if (!ok) std::abort();
}

void check_verified(const Verified &v) {
    if (v.reason != Reason::allowed) return;
    check(v.claims.id > 0 && v.claims.id <= static_cast<std::uint64_t>(INT64_MAX));
    check(v.claims.purpose == Purpose::public_ || v.claims.purpose == Purpose::render ||
          v.claims.purpose == Purpose::subscription_delivery);
    check(v.claims.exp >= kNow - kLeeway);  // exp > now - leeway, rounded down
}

// One input: every property checked, a trap on the first that fails.
int fuzz_one(const std::uint8_t *data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char *>(data), size);
    const VerifyOptions opts = options();

    // 1. The bytes as a token.
    const Verified as_token = verify_token(input, keys(), opts);
    check_verified(as_token);
    if (as_token.reason == Reason::allowed) {
        // Only a correctly signed, canonical token of bounded size gets this far.
        check(size <= kMaxTokenSize);
        const std::size_t dot = input.rfind('.');
        check(dot != std::string_view::npos);
        const std::string_view signing_input = input.substr(0, dot);
        const std::string sig0 =
            base64url_encode(HmacSha256Key(kKey).sign(signing_input).data(), 32);
        const std::string sig1 =
            base64url_encode(HmacSha256Key(kOldKey).sign(signing_input).data(), 32);
        check(input.substr(dot + 1) == sig0 || input.substr(dot + 1) == sig1);
    }

    // 2. The bytes as a claims payload.
    const Verified as_claims = check_claims(input, opts);
    check_verified(as_claims);

    // 3. The bytes signed as a payload: the whole check must agree with the claims check.
    const std::string signing_input =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + base64url_encode(data, size);
    const std::string token =
        signing_input + "." + base64url_encode(HmacSha256Key(kKey).sign(signing_input).data(), 32);
    const Verified signed_token = verify_token(token, keys(), opts);
    if (token.size() <= kMaxTokenSize) {
        check(signed_token.reason == as_claims.reason);
        if (signed_token.reason == Reason::allowed) {
            check(signed_token.claims.id == as_claims.claims.id);
            check(signed_token.claims.purpose == as_claims.claims.purpose);
            check(signed_token.claims.exp == as_claims.claims.exp);
        }
    } else {
        check(signed_token.reason == Reason::bad_token);
    }

    // 4. The raw JWS layer never reports a payload on refusal, nor one beyond its buffer.
    std::array<std::uint8_t, kMaxTokenSize> payload;
    std::size_t payload_size = 1;
    const Reason jws = verify_jws(input, keys(), payload.data(), &payload_size);
    check(jws == Reason::allowed || jws == Reason::bad_token || jws == Reason::bad_signature);
    check(jws == Reason::allowed ? payload_size <= kMaxTokenSize : payload_size == 0);
    return 0;
}

}  // namespace
}  // namespace asset_gate::testing

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    return asset_gate::testing::fuzz_one(data, size);
}

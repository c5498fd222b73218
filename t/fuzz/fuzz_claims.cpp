// libFuzzer target: the claims check's allocation-free path for flat payloads against the
// jansson one, which must agree on every input (reason, and the claims when allowed).
//
// Half the inputs are taken as raw payload bytes; the other half are read as a recipe for a
// flat-looking object (keys and values drawn from near misses of the flat grammar: reals,
// exponents, leading zeros, 19-digit integers, escapes, non-ASCII, whitespace, duplicates),
// so that both paths are driven hard at the grammar's edges.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/token.hpp"

namespace asset_gate::testing {
namespace {

constexpr std::string_view kKeys[] = {
    "id", "exp", "aud", "purpose", "nbf", "iat", "x", "", "ex", "expp", "Exp", "i\\u0064", "\xc3\xa9",
};
constexpr std::string_view kValues[] = {
    "1", "0", "-0", "-1", "01", "42", "1.5", "1e3", "1E3", "2.0", "-", "1780000000", "1780000060",
    "1779999900", "999999999999999999", "1000000000000000000", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "18446744073709551616",
    "\"posthog:exported_asset\"", "\"render\"", "\"public\"", "\"subscription_delivery\"",
    "\"x\"", "\"\"", "\"a\\\"b\"", "\"\\u0041\"", "\"\xc3\xa9\"", "\"\x7f\"", "\"\x01\"",
    "true", "false", "null", "tru", "nul", "[]", "[\"posthog:exported_asset\"]", "{}",
    "[\"x\",1]", "\"posthog:exported_asset", "1780000000.5", "-1780000000",
};
constexpr std::string_view kGlue[] = {"", "", "", "", " ", "\n", "\t", ",", ":", "\"", "}", "{"};

struct Reader {
    const std::uint8_t *p;
    std::size_t n;
    std::uint8_t next() noexcept {
        if (n == 0) return 0;
        --n;
        return *p++;
    }
    template <class T, std::size_t N>
    std::string_view pick(const T (&table)[N]) noexcept {
        return table[next() % N];
    }
};

std::string recipe(Reader in) {
    std::string out = "{";
    const int members = in.next() % 9;
    for (int m = 0; m < members; ++m) {
        if (m > 0) out += ",";
        out += in.next() % 16 == 0 ? in.pick(kGlue) : "";
        out += "\"";
        out += in.pick(kKeys);
        out += "\":";
        out += in.next() % 16 == 0 ? in.pick(kGlue) : "";
        out += in.pick(kValues);
    }
    out += "}";
    if (in.next() % 16 == 0) out += in.pick(kGlue);
    return out;
}

void check(bool ok) {
    if (!ok) std::abort();
}

void agree(std::string_view payload) {
    for (std::int64_t now : {1780000000, 0, -5}) {
        for (std::int64_t leeway : {0, 30, -1}) {
            for (std::string_view audience : {"posthog:exported_asset", "x", ""}) {
                VerifyOptions o;
                o.now = now;
                o.leeway = leeway;
                o.audience = audience;
                const Verified fast = check_claims(payload, o);
                const Verified slow = check_claims_jansson(payload, o);
                check(fast.reason == slow.reason);
                if (fast.reason == Reason::allowed) {
                    check(fast.claims.id == slow.claims.id);
                    check(fast.claims.purpose == slow.claims.purpose);
                    check(fast.claims.exp == slow.claims.exp);
                }
            }
        }
    }
}

int fuzz_one(const std::uint8_t *data, std::size_t size) {
    if (size == 0) return 0;
    if (data[0] & 1) {
        agree(std::string_view(reinterpret_cast<const char *>(data + 1), size - 1));
    } else {
        agree(recipe(Reader{data + 1, size - 1}));
    }
    return 0;
}

}  // namespace
}  // namespace asset_gate::testing

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    return asset_gate::testing::fuzz_one(data, size);
}

// libFuzzer target: the log masker on fuzz text with signed tokens spliced in at fuzz-chosen
// places, raw and percent-encoded (per character, either case, once or twice), with fuzz-chosen
// JSON whitespace in header and payload, and the line sometimes cut as nginx cuts a record.
//
// Properties: no signature survives, read raw or decoded once or twice; every '\n' stays, each
// line only shrinks; the output is never longer; masking in place gives the same text; masking
// twice changes nothing; has_unmasked_token says exactly whether masking changes the text.
//
// Input layout (FuzzedDataProvider): the choices are taken from the end, the text is the rest.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base64url.hpp"
#include "core/hmac.hpp"
#include "core/log_mask.hpp"
#include "core/query.hpp"

namespace asset_gate::testing {
namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

std::string escape(unsigned char c, bool upper, bool twice) {
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string e = {digits[c >> 4], digits[c & 15]};
    return (twice ? "%25" : "%") + e;
}

// nginx's ngx_unescape_uri (type 0), as the gate decodes a token: "%XY" is a byte; '%' then a
// non-hex byte is that byte; '%' then one hex digit and a non-hex byte is nothing.
std::string ngx_unescape(std::string_view s) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        const char l = static_cast<char>(c | 0x20);
        return l >= 'a' && l <= 'f' ? l - 'a' + 10 : -1;
    };
    std::string out;
    for (std::size_t i = 0; i < s.size(); i++) {
        if (s[i] != '%') {
            out.push_back(s[i]);
        } else if (i + 1 == s.size()) {
            break;
        } else if (const int hi = hex(s[i + 1]); hi < 0) {
            out.push_back(s[++i]);
        } else if (i + 2 == s.size()) {
            break;
        } else if (const int lo = hex(s[i + 2]); lo < 0) {
            i += 2;
        } else {
            out.push_back(static_cast<char>(hi << 4 | lo));
            i += 2;
        }
    }
    return out;
}

// RFC 3986 decoding, as the gate reads a token: only "%XY" is decoded, anything else stays.
std::string strict_unescape(std::string_view s) {
    std::string out(s.size(), '\0');
    out.resize(percent_decode(s, out.data()));
    return out;
}

// Every way a reader could read the text back: raw, decoded once or twice, either way.
std::vector<std::string> readings(std::string_view text) {
    const std::string n1 = ngx_unescape(text);
    const std::string s1 = strict_unescape(text);
    return {std::string(text), n1, ngx_unescape(n1), s1, strict_unescape(s1)};
}

bool readable_in(std::string_view text, const std::string &secret) {
    for (const std::string &r : readings(text)) {
        if (r.find(secret) != std::string::npos) return true;
    }
    return false;
}

std::string whitespace(FuzzedDataProvider &fdp) {
    static constexpr char kSpace[] = {' ', '\t', '\n', '\r'};
    std::string ws;
    const unsigned bits = fdp.ConsumeIntegral<std::uint8_t>();
    for (unsigned n = bits & 3, b = bits >> 2; n > 0; n--, b >>= 2) ws.push_back(kSpace[b & 3]);
    return ws;
}

struct Token {
    std::string text;       // as spliced into the line
    std::string signature;  // as the gate reads it
};

Token make_token(FuzzedDataProvider &fdp) {
    static const HmacSha256Key kKey("fuzz-log-mask-key-0123456789abcdef");
    static constexpr const char *kMembers[] = {R"("alg":"HS256","typ":"JWT")",
                                               R"("typ":"JWT","alg":"HS256")", R"("alg":"HS256")",
                                               R"("alg":"HS256","kid":"k1")"};
    const std::string header =
        whitespace(fdp) + "{" + whitespace(fdp) + kMembers[fdp.ConsumeIntegralInRange(0, 3)] + "}";
    std::string payload = whitespace(fdp) + "{" + whitespace(fdp) +
                          "\"id\":" + std::to_string(fdp.ConsumeIntegral<std::uint32_t>()) +
                          ",\"exp\":" + std::to_string(fdp.ConsumeIntegral<std::uint32_t>()) +
                          ",\"aud\":\"posthog:exported_asset\"";
    if (fdp.ConsumeBool()) payload += ",\"purpose\":\"render\"";
    if (fdp.ConsumeBool())
        payload += ",\"jti\":\"" + std::to_string(fdp.ConsumeIntegral<std::uint64_t>()) + "\"";
    payload += "}";
    const std::string input = base64url_encode(header) + "." + base64url_encode(payload);
    const Mac mac = kKey.sign(input);
    const std::string signature = base64url_encode(mac.data(), mac.size());
    const std::string raw = input + "." + signature;

    // How it is written: 0 raw, 1 dots encoded, 2 the first byte, 3 every byte, 4 the
    // signature, 5 a fuzz-chosen set of bytes; each either case, once or twice.
    const int form = fdp.ConsumeIntegralInRange(0, 5);
    const bool upper = fdp.ConsumeBool();
    const bool twice = fdp.ConsumeBool();
    std::uint64_t pick = fdp.ConsumeIntegral<std::uint64_t>();
    const std::size_t sig_at = input.size() + 1;
    std::string text;
    for (std::size_t i = 0; i < raw.size(); i++) {
        bool enc = false;
        switch (form) {
            case 1:
                enc = raw[i] == '.';
                break;
            case 2:
                enc = i == 0;
                break;
            case 3:
                enc = true;
                break;
            case 4:
                enc = i >= sig_at;
                break;
            case 5:
                enc = (pick >> (i % 64)) & 1;
                break;
            default:
                break;
        }
        text +=
            enc ? escape(static_cast<unsigned char>(raw[i]), upper, twice) : std::string(1, raw[i]);
    }
    return {text, signature};
}

std::string mask(std::string_view in) {
    std::string out(in.size(), '\0');
    out.resize(mask_token_signatures(in, out.data()));
    return out;
}

// Lines of `in` and `out`, split at '\n': as many, and none longer than it was.
void check_lines(std::string_view in, std::string_view out) {
    for (;;) {
        const std::size_t a = in.find('\n');
        const std::size_t b = out.find('\n');
        check((a == std::string_view::npos) == (b == std::string_view::npos));
        if (a == std::string_view::npos) {
            check(out.size() <= in.size());
            return;
        }
        check(b <= a);
        in.remove_prefix(a + 1);
        out.remove_prefix(b + 1);
    }
}

void check_mask(std::string_view in) {
    const std::string out = mask(in);
    check(out.size() <= in.size());
    check_lines(in, out);
    std::string in_place(in);
    in_place.resize(mask_token_signatures(in_place, in_place.data()));
    check(in_place == out);
    check(mask(out) == out);
    check(!has_unmasked_token(out));
    check(has_unmasked_token(in) == (out != in));
}

// One input: every property checked, a trap on the first that fails.
int fuzz_one(const std::uint8_t *data, std::size_t size) {
    FuzzedDataProvider fdp(data, size);
    static constexpr const char *kBefore[] = {
        "", "?token=", "&token=", "%74oken=", " ", "\"", "http args: \"token=", "/"};
    const int count = fdp.ConsumeIntegralInRange(0, 3);
    std::vector<Token> tokens;
    std::vector<std::size_t> at;
    std::vector<const char *> before;
    for (int i = 0; i < count; i++) {
        tokens.push_back(make_token(fdp));
        at.push_back(fdp.ConsumeIntegral<std::uint16_t>());
        before.push_back(kBefore[fdp.ConsumeIntegralInRange(0, 7)]);
    }
    const bool cut = fdp.ConsumeBool();
    const std::uint16_t cut_at = fdp.ConsumeIntegral<std::uint16_t>();
    const std::string text = fdp.ConsumeRemainingBytesAsString();

    check_mask(text);  // the bare text holds whatever the fuzzer made

    // A signature that the fuzzer wrote into the text itself is no token of ours.
    for (const Token &t : tokens) {
        if (readable_in(text, t.signature)) return 0;
    }
    // Each token goes between two bytes of the text, never inside another token: splicing from
    // the highest place down keeps the lower places where they were.
    std::vector<std::pair<std::size_t, int>> places;
    for (int i = 0; i < count; i++) places.emplace_back(at[i] % (text.size() + 1), i);
    std::sort(places.rbegin(), places.rend());
    std::string line = text;
    for (const auto &[pos, i] : places) line.insert(pos, before[i] + tokens[i].text);
    if (cut && cut_at < line.size()) {
        line.resize(cut_at);  // nginx cuts a record and still ends it with '\n'
        line.push_back('\n');
    }
    check_mask(line);
    const std::string out = mask(line);
    for (const Token &t : tokens) {
        if (readable_in(out, t.signature) && std::getenv("FUZZ_LOG_MASK_SHOW") != nullptr) {
            std::fprintf(stderr, "in:  %s\nout: %s\nsignature: %s\n", line.c_str(), out.c_str(),
                         t.signature.c_str());
        }
        check(!readable_in(out, t.signature));
    }
    return 0;
}

}  // namespace
}  // namespace asset_gate::testing

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    return asset_gate::testing::fuzz_one(data, size);
}

// Compact JWS HS256 verification and the claims check of DESIGN.md section 3.
#include "token.hpp"

#include <array>
#include <cmath>
#include <limits>

#include <jansson.h>

#include "base64url.hpp"
#include "json.hpp"

namespace asset_gate {

namespace {

constexpr std::size_t kMaxJsonSize = kMaxTokenSize;
// jansson's only depth limit is compiled in (2048 recursive levels); no honest token nests deep.
constexpr int kMaxJsonDepth = 16;
constexpr std::size_t kSignatureChars = 43;  // base64url of 32 bytes
constexpr std::size_t kMaxPartBytes = kMaxTokenSize / 4 * 3;

// PyJWT's header, {"alg":"HS256","typ":"JWT"}, byte for byte: known good without a parse.
constexpr std::string_view kPyJwtHeader = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

// Nesting depth of [ and { outside strings. Brackets need not balance: the parser judges that.
bool within_depth(std::string_view text) noexcept {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > kMaxJsonDepth) return false;
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        }
    }
    return true;
}

// A JSON object with unique keys, the whole text consumed; nullptr otherwise.
json_t *parse_object(std::string_view text) noexcept {
    if (text.size() > kMaxJsonSize || !within_depth(text)) return nullptr;
    json_error_t error;
    json_t *root = json_loadb(text.data(), text.size(), JSON_REJECT_DUPLICATES, &error);
    if (root != nullptr && !json_is_object(root)) {
        json_decref(root);
        return nullptr;
    }
    return root;
}

std::string_view string_of(const json_t *v) noexcept {
    return {json_string_value(v), json_string_length(v)};
}

bool header_acceptable(std::string_view text) noexcept {
    json_t *root = parse_object(text);
    if (root == nullptr) return false;
    JsonRef guard(root);
    const json_t *alg = json_object_get(root, "alg");
    if (!json_is_string(alg) || string_of(alg) != "HS256") return false;
    // No extension is understood, so any critical one makes the token unusable (RFC 7515 4.1.11).
    return json_object_get(root, "crit") == nullptr;
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t r;
    if (!__builtin_add_overflow(a, b, &r)) return r;
    return b > 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
}

std::int64_t saturating_sub(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t r;
    if (!__builtin_sub_overflow(a, b, &r)) return r;
    return b > 0 ? std::numeric_limits<std::int64_t>::min()
                 : std::numeric_limits<std::int64_t>::max();
}

constexpr double kTwo63 = 9223372036854775808.0;

// Exact `v > bound` for a JSON number, integer or real, without an out-of-range conversion.
bool number_greater(const json_t *v, std::int64_t bound) noexcept {
    if (json_is_integer(v)) return json_integer_value(v) > bound;
    const double d = json_real_value(v);
    if (std::isnan(d)) return false;
    if (d >= kTwo63) return true;
    if (d < -kTwo63) return false;
    // |d - t| < 1, so d > bound exactly when t > bound, or t == bound with a positive fraction.
    const auto t = static_cast<std::int64_t>(d);
    return t > bound || (t == bound && d > static_cast<double>(t));
}

std::int64_t number_floor(const json_t *v) noexcept {
    if (json_is_integer(v)) return json_integer_value(v);
    const double d = std::floor(json_real_value(v));
    if (std::isnan(d) || d < -kTwo63) return std::numeric_limits<std::int64_t>::min();
    if (d >= kTwo63) return std::numeric_limits<std::int64_t>::max();
    return static_cast<std::int64_t>(d);
}

Reason check_not_future(const json_t *root, const char *name, std::int64_t latest) noexcept {
    const json_t *v = json_object_get(root, name);
    if (v == nullptr) return Reason::allowed;
    if (!json_is_number(v)) return Reason::bad_claims;
    return number_greater(v, latest) ? Reason::not_yet_valid : Reason::allowed;
}

bool audience_matches(const json_t *aud, std::string_view audience) noexcept {
    if (json_is_string(aud)) return string_of(aud) == audience;
    if (!json_is_array(aud)) return false;
    // RFC 7519 4.1.3: an array of strings; any other member makes the claim malformed.
    bool found = false;
    for (std::size_t i = 0; i < json_array_size(aud); ++i) {
        const json_t *member = json_array_get(aud, i);
        if (!json_is_string(member)) return false;
        found = found || string_of(member) == audience;
    }
    return found;
}

Verified refused(Reason r) noexcept {
    Verified out;
    out.reason = r;
    return out;
}

Verified check_claims_object(const json_t *root, const VerifyOptions &opts) noexcept {
    const std::int64_t leeway = opts.leeway > 0 ? opts.leeway : 0;

    const json_t *exp = json_object_get(root, "exp");
    if (!json_is_number(exp)) return refused(Reason::bad_claims);
    if (!number_greater(exp, saturating_sub(opts.now, leeway))) {
        return refused(Reason::expired);
    }

    const std::int64_t latest = saturating_add(opts.now, leeway);
    for (const char *name : {"nbf", "iat"}) {
        const Reason r = check_not_future(root, name, latest);
        if (r != Reason::allowed) return refused(r);
    }

    if (!audience_matches(json_object_get(root, "aud"), opts.audience)) {
        return refused(Reason::wrong_audience);
    }

    const json_t *id = json_object_get(root, "id");
    if (!json_is_integer(id) || json_integer_value(id) <= 0) {
        return refused(Reason::bad_claims);
    }

    Purpose purpose = Purpose::public_;
    if (const json_t *p = json_object_get(root, "purpose"); p != nullptr) {
        // "public" is what an absent claim means, never a value the claim may hold.
        if (!json_is_string(p) || !parse_purpose(string_of(p), &purpose) ||
            purpose == Purpose::public_) {
            return refused(Reason::unknown_purpose);
        }
    }

    Verified out;
    out.reason = Reason::allowed;
    out.claims.id = static_cast<std::uint64_t>(json_integer_value(id));
    out.claims.purpose = purpose;
    out.claims.exp = number_floor(exp);
    return out;
}

std::string_view as_chars(const std::uint8_t *p, std::size_t n) noexcept {
    return {reinterpret_cast<const char *>(p), n};
}

}  // namespace

Reason verify_jws(std::string_view token, const KeySet &keys, std::uint8_t *payload,
                  std::size_t *payload_size) noexcept {
    *payload_size = 0;
    if (token.size() > kMaxTokenSize) return Reason::bad_token;

    const std::size_t dot1 = token.find('.');
    if (dot1 == std::string_view::npos) return Reason::bad_token;
    const std::size_t dot2 = token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos) return Reason::bad_token;
    if (token.find('.', dot2 + 1) != std::string_view::npos) return Reason::bad_token;

    const std::string_view header64 = token.substr(0, dot1);
    const std::string_view payload64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const std::string_view signature64 = token.substr(dot2 + 1);
    if (header64.empty() || payload64.empty()) return Reason::bad_token;

    const std::size_t payload_len = base64url_decoded_size(payload64.size());
    if (payload_len > kMaxTokenSize || !base64url_decode(payload64, payload)) {
        return Reason::bad_token;
    }

    if (header64 != kPyJwtHeader) {
        std::array<std::uint8_t, kMaxPartBytes> header;
        const std::size_t header_len = base64url_decoded_size(header64.size());
        if (header_len > header.size() || !base64url_decode(header64, header.data()) ||
            !header_acceptable(as_chars(header.data(), header_len))) {
            return Reason::bad_token;
        }
    }

    // A well-formed HS256 token whose signature part is not 32 bytes of strict base64url
    // (truncated by a mail client, say) fails as a signature, not as a shape.
    Mac signature;
    if (signature64.size() != kSignatureChars || !base64url_decode(signature64, signature.data())) {
        return Reason::bad_signature;
    }

    // Every key is tried whatever happens, so timing does not tell which key matched.
    const std::string_view signing_input = token.substr(0, dot2);
    bool matched = false;
    for (const HmacSha256Key &key : keys.keys()) {
        const Mac mac = key.sign(signing_input);
        matched |= mac_equal(mac.data(), signature.data(), mac.size());
    }
    if (!matched) return Reason::bad_signature;

    *payload_size = payload_len;
    return Reason::allowed;
}

Verified check_claims(std::string_view payload, const VerifyOptions &opts) noexcept {
    json_t *root = parse_object(payload);
    if (root == nullptr) return refused(Reason::bad_token);
    JsonRef guard(root);
    return check_claims_object(root, opts);
}

Verified verify_token(std::string_view token, const KeySet &keys,
                      const VerifyOptions &opts) noexcept {
    std::array<std::uint8_t, kMaxTokenSize> payload;
    std::size_t payload_size = 0;
    const Reason r = verify_jws(token, keys, payload.data(), &payload_size);
    if (r != Reason::allowed) return refused(r);
    return check_claims(as_chars(payload.data(), payload_size), opts);
}

}  // namespace asset_gate

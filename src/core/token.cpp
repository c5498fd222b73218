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

// Exact `d > bound` for a real, without an out-of-range conversion.
bool real_greater(double d, std::int64_t bound) noexcept {
    if (std::isnan(d)) return false;
    if (d >= kTwo63) return true;
    if (d < -kTwo63) return false;
    // |d - t| < 1, so d > bound exactly when t > bound, or t == bound with a positive fraction.
    const auto t = static_cast<std::int64_t>(d);
    return t > bound || (t == bound && d > static_cast<double>(t));
}

std::int64_t real_floor(double v) noexcept {
    const double d = std::floor(v);
    if (std::isnan(d) || d < -kTwo63) return std::numeric_limits<std::int64_t>::min();
    if (d >= kTwo63) return std::numeric_limits<std::int64_t>::max();
    return static_cast<std::int64_t>(d);
}

// The claims' view of a jansson object.
struct JanssonClaim {
    const json_t *v;
    bool present() const noexcept { return v != nullptr; }
    bool is_number() const noexcept { return json_is_number(v); }
    bool is_integer() const noexcept { return json_is_integer(v); }
    bool is_string() const noexcept { return json_is_string(v); }
    std::int64_t integer() const noexcept { return json_integer_value(v); }
    std::string_view string() const noexcept { return string_of(v); }
    // A number's exact `> bound`, and its floor (integer or real).
    bool greater(std::int64_t bound) const noexcept {
        return is_integer() ? integer() > bound : real_greater(json_real_value(v), bound);
    }
    std::int64_t floor() const noexcept {
        return is_integer() ? integer() : real_floor(json_real_value(v));
    }
    bool audience_matches(std::string_view audience) const noexcept {
        if (is_string()) return string() == audience;
        if (!json_is_array(v)) return false;
        // RFC 7519 4.1.3: an array of strings; any other member makes the claim malformed.
        bool found = false;
        for (std::size_t i = 0; i < json_array_size(v); ++i) {
            const json_t *member = json_array_get(v, i);
            if (!json_is_string(member)) return false;
            found = found || string_of(member) == audience;
        }
        return found;
    }
};

struct JanssonClaims {
    const json_t *root;
    JanssonClaim get(const char *name) const noexcept { return {json_object_get(root, name)}; }
};

// The payload most signers write (PyJWT among them): one flat object without whitespace,
// keys and strings of printable ASCII without escapes, integers of at most 18 digits, true,
// false and null. Such a text means to jansson exactly what it means here, so its claims are
// checked without a parse that allocates. Anything else (whitespace, escapes, other bytes,
// reals, arrays, nesting, duplicate keys, more members) is not taken: jansson judges it.
// t/fuzz/fuzz_claims compares the two on every input this takes.
struct FlatClaim {
    enum class Kind : std::uint8_t { absent, integer, string, other };
    Kind kind = Kind::absent;
    std::int64_t number = 0;
    std::string_view text;

    bool present() const noexcept { return kind != Kind::absent; }
    bool is_number() const noexcept { return kind == Kind::integer; }
    bool is_integer() const noexcept { return kind == Kind::integer; }
    bool is_string() const noexcept { return kind == Kind::string; }
    std::int64_t integer() const noexcept { return number; }
    std::string_view string() const noexcept { return text; }
    bool greater(std::int64_t bound) const noexcept { return number > bound; }
    std::int64_t floor() const noexcept { return number; }
    bool audience_matches(std::string_view audience) const noexcept {
        return kind == Kind::string && text == audience;
    }
};

class FlatClaims {
  public:
    // Whether `text` is such an object (then get() answers for it).
    bool parse(std::string_view text) noexcept {
        if (text.size() < 2 || text.size() > kMaxJsonSize || text[0] != '{') return false;
        std::size_t i = 1;
        if (text[i] == '}') return i + 1 == text.size();
        for (;;) {
            if (n_ == members_.size()) return false;
            Member &m = members_[n_];
            if (!plain_string(text, &i, &m.key)) return false;
            if (i >= text.size() || text[i] != ':') return false;
            if (!value(text, ++i, &i, &m.value)) return false;
            for (std::size_t k = 0; k < n_; ++k) {
                if (members_[k].key == m.key) return false;  // a duplicate: jansson refuses it
            }
            ++n_;
            if (i >= text.size()) return false;
            if (text[i] == '}') return i + 1 == text.size();
            if (text[i++] != ',') return false;
        }
    }

    FlatClaim get(std::string_view name) const noexcept {
        for (std::size_t k = 0; k < n_; ++k) {
            if (members_[k].key == name) return members_[k].value;
        }
        return {};
    }

  private:
    struct Member {
        std::string_view key;
        FlatClaim value;
    };

    static bool plain_string(std::string_view text, std::size_t *i, std::string_view *out) noexcept {
        std::size_t j = *i;
        if (j >= text.size() || text[j] != '"') return false;
        const std::size_t start = ++j;
        for (; j < text.size(); ++j) {
            const auto c = static_cast<unsigned char>(text[j]);
            if (c == '"') {
                *out = text.substr(start, j - start);
                *i = j + 1;
                return true;
            }
            if (c < 0x20 || c > 0x7e || c == '\\') return false;
        }
        return false;
    }

    static bool value(std::string_view text, std::size_t i, std::size_t *end,
                      FlatClaim *out) noexcept {
        if (i >= text.size()) return false;
        const char c = text[i];
        if (c == '"') {
            out->kind = FlatClaim::Kind::string;
            *end = i;
            return plain_string(text, end, &out->text);
        }
        for (std::string_view word : {"true", "false", "null"}) {
            if (text.substr(i, word.size()) == word) {
                out->kind = FlatClaim::Kind::other;
                *end = i + word.size();
                return true;
            }
        }
        // -?(0|[1-9][0-9]*), at most 18 digits: an int64 without overflow. What follows must
        // end the member (the caller checks), so a fraction or an exponent is not taken.
        const bool negative = c == '-';
        std::size_t j = negative ? i + 1 : i;
        const std::size_t digits = j;
        std::int64_t n = 0;
        while (j < text.size() && text[j] >= '0' && text[j] <= '9') {
            if (j - digits == 18) return false;
            n = n * 10 + (text[j++] - '0');
        }
        if (j == digits || (text[digits] == '0' && j - digits > 1)) return false;
        out->kind = FlatClaim::Kind::integer;
        out->number = negative ? -n : n;
        *end = j;
        return true;
    }

    std::array<Member, 16> members_;
    std::size_t n_ = 0;
};

Verified refused(Reason r) noexcept {
    Verified out;
    out.reason = r;
    return out;
}

// The claims check of DESIGN.md section 3, over either view of the payload object.
template <class Object>
Verified check_claims_in(const Object &root, const VerifyOptions &opts) noexcept {
    const std::int64_t leeway = opts.leeway > 0 ? opts.leeway : 0;

    const auto exp = root.get("exp");
    if (!exp.is_number()) return refused(Reason::bad_claims);
    if (!exp.greater(saturating_sub(opts.now, leeway))) return refused(Reason::expired);

    const std::int64_t latest = saturating_add(opts.now, leeway);
    for (const char *name : {"nbf", "iat"}) {
        const auto v = root.get(name);
        if (!v.present()) continue;
        if (!v.is_number()) return refused(Reason::bad_claims);
        if (v.greater(latest)) return refused(Reason::not_yet_valid);
    }

    if (!root.get("aud").audience_matches(opts.audience)) return refused(Reason::wrong_audience);

    const auto id = root.get("id");
    if (!id.is_integer() || id.integer() <= 0) return refused(Reason::bad_claims);

    Purpose purpose = Purpose::public_;
    if (const auto p = root.get("purpose"); p.present()) {
        // "public" is what an absent claim means, never a value the claim may hold.
        if (!p.is_string() || !parse_purpose(p.string(), &purpose) ||
            purpose == Purpose::public_) {
            return refused(Reason::unknown_purpose);
        }
    }

    Verified out;
    out.reason = Reason::allowed;
    out.claims.id = static_cast<std::uint64_t>(id.integer());
    out.claims.purpose = purpose;
    out.claims.exp = exp.floor();
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
    FlatClaims flat;
    if (flat.parse(payload)) return check_claims_in(flat, opts);
    return check_claims_jansson(payload, opts);
}

Verified check_claims_jansson(std::string_view payload, const VerifyOptions &opts) noexcept {
    json_t *root = parse_object(payload);
    if (root == nullptr) return refused(Reason::bad_token);
    JsonRef guard(root);
    return check_claims_in(JanssonClaims{root}, opts);
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

// Token rules of DESIGN.md section 3: the JWS layer, the claims, and known answers from
// RFC 7515, Wycheproof and PyJWT (the minting library PostHog uses).
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <jansson.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base64url.hpp"
#include "core/token.hpp"
#include "testdata.hpp"

// Reasons print by name in failure messages; gtest looks for PrintTo beside Reason, in asset_gate.
namespace asset_gate {
inline void PrintTo(Reason r, std::ostream *os) {
    *os << reason_name(r);
}
}  // namespace asset_gate

namespace asset_gate::testing {
namespace {

constexpr std::int64_t kNow = 1780000000;
constexpr std::string_view kKey = "current-signing-key-0123456789abcdef";
constexpr std::string_view kOldKey = "previous-signing-key-0123456789abcdef";
constexpr std::string_view kUnknownKey = "someone-elses-key-0123456789abcdef";

const std::string kExp = std::to_string(kNow + 600);
const std::string kAud = R"("aud":"posthog:exported_asset")";

KeySet keys_of(std::initializer_list<std::string_view> secrets) {
    KeySet keys;
    for (std::string_view s : secrets) keys.add(s);
    return keys;
}

const KeySet &current_keys() {
    static const KeySet keys = keys_of({kKey});
    return keys;
}

VerifyOptions at(std::int64_t now, std::int64_t leeway = 0) {
    VerifyOptions opts;
    opts.now = now;
    opts.leeway = leeway;
    return opts;
}

// A payload with valid claims, plus `extra` members (which come first, so a test's value for a
// member decides the duplicate-key question on its own terms).
std::string claims_with(std::string_view extra) {
    std::string out = "{";
    if (!extra.empty()) out.append(extra).append(",");
    return out + kAud + R"(,"exp":)" + kExp + R"(,"id":42})";
}

// A payload of exactly the given members.
std::string object_of(std::string_view members) {
    return "{" + std::string(members) + "}";
}

Reason claims_reason(std::string_view payload, const VerifyOptions &opts = at(kNow)) {
    return check_claims(payload, opts).reason;
}

Reason jws_reason(std::string_view token, const KeySet &keys = current_keys()) {
    std::array<std::uint8_t, kMaxTokenSize> payload;
    std::size_t size = 12345;
    const Reason r = verify_jws(token, keys, payload.data(), &size);
    if (r != Reason::allowed) {
        EXPECT_EQ(size, 0u) << "payload size reported for a refused token";
    }
    return r;
}

Reason token_reason(std::string_view token, const KeySet &keys = current_keys()) {
    return verify_token(token, keys, at(kNow)).reason;
}

std::string valid_token() {
    return mint(claims_with(""), kKey);
}

std::string replace_part(const std::string &token, int part, std::string_view text) {
    const std::size_t d1 = token.find('.'), d2 = token.find('.', d1 + 1);
    std::string parts[3] = {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1),
                            token.substr(d2 + 1)};
    parts[part] = text;
    return parts[0] + "." + parts[1] + "." + parts[2];
}

std::string nested(int depth) {
    return std::string(static_cast<std::size_t>(depth), '[') +
           std::string(static_cast<std::size_t>(depth), ']');
}

// --- the whole check -------------------------------------------------------------------------

TEST(Token, ValidPublicTokenAllowedWithItsClaims) {
    const Verified v = verify_token(valid_token(), current_keys(), at(kNow));
    ASSERT_EQ(v.reason, Reason::allowed);
    EXPECT_EQ(v.claims.id, 42u);
    EXPECT_EQ(v.claims.purpose, Purpose::public_);
    EXPECT_EQ(v.claims.exp, kNow + 600);
}

TEST(Token, VerifyJwsHandsBackTheDecodedPayload) {
    const std::string payload = claims_with(R"("purpose":"render")");
    std::array<std::uint8_t, kMaxTokenSize> buf;
    std::size_t size = 0;
    ASSERT_EQ(verify_jws(mint(payload, kKey), current_keys(), buf.data(), &size), Reason::allowed);
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(buf.data()), size), payload);
}

TEST(Token, ClaimsAreCheckedOnlyAfterTheSignature) {
    // An expired token signed with an unknown key is a signature failure, not an expiry.
    const std::string token = mint(object_of(kAud + R"(,"exp":1,"id":42)"), kUnknownKey);
    EXPECT_EQ(token_reason(token), Reason::bad_signature);
    EXPECT_EQ(token_reason(mint(object_of(kAud + R"(,"exp":1,"id":42)"), kKey)), Reason::expired);
}

// --- key rotation -----------------------------------------------------------------------------

TEST(Token, FallbackKeyStillVerifiesDuringRotation) {
    const KeySet keys = keys_of({kKey, kOldKey});
    EXPECT_EQ(token_reason(mint(claims_with(""), kKey), keys), Reason::allowed);
    EXPECT_EQ(token_reason(mint(claims_with(""), kOldKey), keys), Reason::allowed);
}

TEST(Token, TokenFromUnknownKeyRefusedAsBadSignature) {
    const KeySet keys = keys_of({kKey, kOldKey});
    EXPECT_EQ(token_reason(mint(claims_with(""), kUnknownKey), keys), Reason::bad_signature);
}

TEST(Token, RetiredKeyNoLongerVerifies) {
    EXPECT_EQ(token_reason(mint(claims_with(""), kOldKey)), Reason::bad_signature);
}

TEST(Token, EmptyKeySetVerifiesNothing) {
    const KeySet none;
    EXPECT_EQ(token_reason(valid_token(), none), Reason::bad_signature);
}

TEST(Token, FlippedSignatureBitRefusedAsBadSignature) {
    std::string token = valid_token();
    // The first character of the signature carries six data bits: any change alters the MAC.
    char &c = token[token.rfind('.') + 1];
    c = c == 'A' ? 'B' : 'A';
    EXPECT_EQ(token_reason(token), Reason::bad_signature);
}

TEST(Token, SignatureCoversTheHeaderTextAsReceived) {
    // Same JSON meaning, different bytes: the MAC over the original text no longer matches.
    const std::string token = mint(R"({"alg":"HS256","typ":"JWT"})", claims_with(""), kKey);
    const std::string respelled =
        replace_part(token, 0, base64url_encode(R"({"typ":"JWT","alg":"HS256"})"));
    EXPECT_EQ(token_reason(token), Reason::allowed);
    EXPECT_EQ(token_reason(respelled), Reason::bad_signature);
}

// --- header -----------------------------------------------------------------------------------

TEST(TokenHeader, AnyMemberOrderAndWhitespaceAccepted) {
    for (std::string_view header : {R"({"typ":"JWT","alg":"HS256"})", R"({"alg":"HS256"})",
                                    "{ \"alg\" : \"HS256\" }\n", R"({"alg":"HS\u0032\u00356"})"}) {
        EXPECT_EQ(token_reason(mint(header, claims_with(""), kKey)), Reason::allowed) << header;
    }
}

TEST(TokenHeader, AlgOtherThanExactlyHs256RefusedAsBadToken) {
    for (std::string_view header :
         {R"({"alg":"none"})", R"({"alg":"None"})", R"({"alg":"hs256"})", R"({"alg":"HS512"})",
          R"({"alg":"HS384"})", R"({"alg":"RS256"})", R"({"alg":"ES256"})", R"({"alg":"HS256 "})",
          R"({"alg":" HS256"})", R"({"alg":""})", R"({"typ":"JWT"})", R"({})", R"({"alg":256})",
          R"({"alg":null})", R"({"alg":true})", R"({"alg":["HS256"]})",
          R"({"alg":{"name":"HS256"}})", R"({"ALG":"HS256"})"}) {
        EXPECT_EQ(token_reason(mint(header, claims_with(""), kKey)), Reason::bad_token) << header;
    }
}

TEST(TokenHeader, AlgNoneWithEmptySignatureRefusedAsBadToken) {
    const std::string token =
        base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(claims_with("")) + ".";
    EXPECT_EQ(token_reason(token), Reason::bad_token);
}

TEST(TokenHeader, HeaderCheckedBeforeTheSignature) {
    // alg none with a wrong signature: the header decides, so this is bad_token.
    const std::string token = mint(R"({"alg":"none"})", claims_with(""), kUnknownKey);
    EXPECT_EQ(token_reason(token), Reason::bad_token);
}

TEST(TokenHeader, CritMemberRefusedAsBadToken) {
    for (std::string_view header :
         {R"({"alg":"HS256","crit":["exp"],"exp":1})", R"({"alg":"HS256","crit":[]})",
          R"({"alg":"HS256","crit":null})", R"({"alg":"HS256","crit":["b64"],"b64":false})"}) {
        EXPECT_EQ(token_reason(mint(header, claims_with(""), kKey)), Reason::bad_token) << header;
    }
}

TEST(TokenHeader, DuplicateHeaderMembersRefusedAsBadToken) {
    for (std::string_view header :
         {R"({"alg":"HS256","alg":"HS256"})", R"({"alg":"none","alg":"HS256"})",
          R"({"alg":"HS256","alg":"none"})", R"({"alg":"HS256","\u0061lg":"HS256"})"}) {
        EXPECT_EQ(token_reason(mint(header, claims_with(""), kKey)), Reason::bad_token) << header;
    }
}

TEST(TokenHeader, HeaderThatIsNotOneJsonObjectRefusedAsBadToken) {
    for (std::string_view header :
         {R"([])", R"(["HS256"])", R"("HS256")", "1", "null", R"({"alg":"HS256")",
          R"({"alg":"HS256"}x)", R"({"alg":"HS256"}{})", R"({alg:"HS256"})", R"({'alg':'HS256'})",
          "\xef\xbb\xbf{\"alg\":\"HS256\"}", " "}) {
        EXPECT_EQ(token_reason(mint(header, claims_with(""), kKey)), Reason::bad_token) << header;
    }
}

TEST(TokenHeader, KeyLocatingMembersNeverChooseTheKey) {
    const std::string header =
        std::string(R"({"alg":"HS256","kid":"attacker","jku":"https://evil.example/jwks",)") +
        R"("x5u":"https://evil.example/cert","jwk":{"kty":"oct","k":")" +
        base64url_encode(kUnknownKey) + R"("}})";
    EXPECT_EQ(token_reason(mint(header, claims_with(""), kUnknownKey)), Reason::bad_signature);
    EXPECT_EQ(token_reason(mint(header, claims_with(""), kKey)), Reason::allowed);
}

TEST(TokenHeader, HeaderNestingBeyondSixteenLevelsRefusedAsBadToken) {
    const std::string ok = R"({"alg":"HS256","x":)" + nested(15) + "}";
    const std::string deep = R"({"alg":"HS256","x":)" + nested(16) + "}";
    EXPECT_EQ(token_reason(mint(ok, claims_with(""), kKey)), Reason::allowed);
    EXPECT_EQ(token_reason(mint(deep, claims_with(""), kKey)), Reason::bad_token);
}

// --- shape --------------------------------------------------------------------------------------

TEST(TokenShape, TokenOfExactly4096BytesAcceptedAnd4097Refused) {
    // PyJWT's 36-character header, two dots and a 43-character signature leave 4015 characters
    // of payload, which encode 3011 bytes.
    const std::string prefix = "{" + kAud + R"(,"exp":)" + kExp + R"(,"id":42,"pad":")";
    auto payload_of = [&](std::size_t bytes) {
        return prefix + std::string(bytes - prefix.size() - 2, 'x') + "\"}";
    };
    const std::string at_limit = mint(payload_of(3011), kKey);
    const std::string over_limit = mint(payload_of(3012), kKey);
    ASSERT_EQ(at_limit.size(), 4096u);
    ASSERT_EQ(over_limit.size(), 4097u);
    EXPECT_EQ(token_reason(at_limit), Reason::allowed);
    EXPECT_EQ(token_reason(over_limit), Reason::bad_token);
    EXPECT_EQ(jws_reason(over_limit), Reason::bad_token);
}

TEST(TokenShape, TokenNeedsExactlyThreeParts) {
    const std::string token = valid_token();
    const std::size_t d1 = token.find('.'), d2 = token.rfind('.');
    const std::string no_dots = token.substr(0, d1) + token.substr(d1 + 1, d2 - d1 - 1);
    for (const std::string &t : {
             no_dots,
             token.substr(0, d2),                     // header.payload
             token.substr(0, d1) + token.substr(d2),  // header.signature
             token + ".",
             "." + token,
             token + "." + token.substr(d2 + 1),
             token.substr(0, d2) + "." + token.substr(d2),  // header.payload..signature
             std::string(""),
             std::string("."),
             std::string(".."),
             std::string("..."),
         }) {
        EXPECT_EQ(token_reason(t), Reason::bad_token) << t;
    }
}

TEST(TokenShape, EmptyHeaderOrPayloadRefusedAsBadToken) {
    const std::string token = valid_token();
    for (int part = 0; part < 2; ++part) {
        EXPECT_EQ(token_reason(replace_part(token, part, "")), Reason::bad_token) << part;
    }
}

TEST(TokenShape, EmptySignatureOfAWellFormedTokenIsBadSignature) {
    EXPECT_EQ(token_reason(replace_part(valid_token(), 2, "")), Reason::bad_signature);
}

// A truncated or padded signature part is the signature failing, not the token's shape: the
// reason an operator sees for a link cut short by a mail client.
TEST(TokenShape, SignatureMustDecodeToExactly32Bytes) {
    const std::string token = valid_token();
    const std::string mac31 = base64url_encode(std::string(31, '\x11'));
    const std::string mac33 = base64url_encode(std::string(33, '\x11'));
    const std::string mac64 = base64url_encode(std::string(64, '\x11'));
    ASSERT_EQ(mac31.size(), 42u);
    ASSERT_EQ(mac33.size(), 44u);
    EXPECT_EQ(token_reason(replace_part(token, 2, mac31)), Reason::bad_signature);
    EXPECT_EQ(token_reason(replace_part(token, 2, mac33)), Reason::bad_signature);
    EXPECT_EQ(token_reason(replace_part(token, 2, mac64)), Reason::bad_signature);
    const std::string sig = token.substr(token.rfind('.') + 1);
    EXPECT_EQ(token_reason(replace_part(token, 2, sig.substr(0, 42))), Reason::bad_signature);
    EXPECT_EQ(token_reason(replace_part(token, 2, sig + "A")), Reason::bad_signature);
}

TEST(TokenShape, SignatureWithNonZeroTrailingBitsRefusedAsBadSignature) {
    std::string token = valid_token();
    // 43 characters carry 258 bits; the last character's two low bits must be zero.
    char &last = token.back();
    const auto sextet = kBase64UrlAlphabet.find(last);
    ASSERT_EQ(sextet % 4, 0u);
    last = kBase64UrlAlphabet[sextet + 1];
    EXPECT_EQ(token_reason(token), Reason::bad_signature);
}

TEST(TokenShape, PaddingInAnyPartIsRefused) {
    const std::string token = valid_token();
    const std::size_t d1 = token.find('.'), d2 = token.rfind('.');
    const std::string parts[3] = {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1),
                                  token.substr(d2 + 1)};
    for (int part = 0; part < 3; ++part) {
        // Header and payload: the shape; the signature part: the signature.
        const Reason want = part == 2 ? Reason::bad_signature : Reason::bad_token;
        for (std::string_view pad : {"=", "==", "==="}) {
            EXPECT_EQ(token_reason(replace_part(token, part, parts[part] + std::string(pad))), want)
                << part << " " << pad;
        }
    }
}

TEST(TokenShape, CharactersOutsideTheBase64urlAlphabetRefusedInEachPart) {
    const std::string token = valid_token();
    const std::size_t d1 = token.find('.'), d2 = token.rfind('.');
    const std::size_t positions[3] = {d1 / 2, d1 + 1 + (d2 - d1) / 2, d2 + 10};
    for (std::size_t pos : positions) {
        for (char bad : {'+', '/', '=', ' ', '%', '?', '#', '\0', '\n', '\x80', '\xff'}) {
            std::string t = token;
            t[pos] = bad;
            const Reason want = pos > d2 ? Reason::bad_signature : Reason::bad_token;
            EXPECT_EQ(token_reason(t), want) << pos << " " << int(bad);
        }
    }
}

TEST(TokenShape, StandardBase64SpellingOfTheSameBytesRefused) {
    // A signature whose bytes need '+' or '/' in standard base64 must use '-' / '_' instead.
    for (int i = 0; i < 64; ++i) {
        const std::string token = mint(claims_with(R"("n":)" + std::to_string(i)), kKey);
        const std::string sig = token.substr(token.rfind('.') + 1);
        if (sig.find_first_of("-_") == std::string::npos) continue;
        std::string standard = token;
        for (std::size_t p = token.rfind('.') + 1; p < standard.size(); ++p) {
            if (standard[p] == '-') standard[p] = '+';
            if (standard[p] == '_') standard[p] = '/';
        }
        EXPECT_EQ(token_reason(token), Reason::allowed);
        EXPECT_EQ(token_reason(standard), Reason::bad_signature);
        return;
    }
    FAIL() << "no signature with '-' or '_' among 64 tokens";
}

TEST(TokenShape, PayloadThatIsNotValidJsonPassesTheJwsLayerButNotTheClaims) {
    const std::string token = mint("not json", kKey);
    EXPECT_EQ(jws_reason(token), Reason::allowed);
    EXPECT_EQ(token_reason(token), Reason::bad_token);
}

// --- claims: exp --------------------------------------------------------------------------------

TEST(Claims, ExpRequired) {
    EXPECT_EQ(claims_reason(object_of(kAud + R"(,"id":42)")), Reason::bad_claims);
}

TEST(Claims, ExpMustBeAJsonNumber) {
    for (std::string_view exp :
         {R"("1790000000")", "null", "true", "[1790000000]", R"({"t":1790000000})"}) {
        EXPECT_EQ(claims_reason(object_of(kAud + R"(,"id":42,"exp":)" + std::string(exp))),
                  Reason::bad_claims)
            << exp;
    }
}

TEST(Claims, ExpMustLieAfterNow) {
    auto with_exp = [](std::int64_t exp) {
        return object_of(kAud + R"(,"id":42,"exp":)" + std::to_string(exp));
    };
    EXPECT_EQ(claims_reason(with_exp(kNow + 1)), Reason::allowed);
    EXPECT_EQ(claims_reason(with_exp(kNow)), Reason::expired);
    EXPECT_EQ(claims_reason(with_exp(kNow - 1)), Reason::expired);
    EXPECT_EQ(claims_reason(with_exp(0)), Reason::expired);
    EXPECT_EQ(claims_reason(with_exp(-1)), Reason::expired);
}

TEST(Claims, LeewayExtendsExpStrictly) {
    auto with_exp = [](std::int64_t exp) {
        return object_of(kAud + R"(,"id":42,"exp":)" + std::to_string(exp));
    };
    EXPECT_EQ(claims_reason(with_exp(kNow - 5), at(kNow, 10)), Reason::allowed);
    EXPECT_EQ(claims_reason(with_exp(kNow - 9), at(kNow, 10)), Reason::allowed);
    EXPECT_EQ(claims_reason(with_exp(kNow - 10), at(kNow, 10)), Reason::expired);
    EXPECT_EQ(claims_reason(with_exp(kNow - 5), at(kNow, 0)), Reason::expired);
}

TEST(Claims, NegativeLeewayCountsAsNone) {
    const std::string payload = object_of(kAud + R"(,"id":42,"exp":)" + std::to_string(kNow + 1));
    EXPECT_EQ(claims_reason(payload, at(kNow, -100)), Reason::allowed);
}

TEST(Claims, ExpMayBeARealNumber) {
    const std::string now = std::to_string(kNow);
    auto with_exp = [](const std::string &exp) {
        return object_of(kAud + R"(,"id":42,"exp":)" + exp);
    };
    EXPECT_EQ(claims_reason(with_exp(now + ".5")), Reason::allowed);
    EXPECT_EQ(claims_reason(with_exp(now + ".0")), Reason::expired);
    EXPECT_EQ(claims_reason(with_exp(std::to_string(kNow - 1) + ".999")), Reason::expired);
    EXPECT_EQ(claims_reason(with_exp("1.79e9")), Reason::allowed);
    EXPECT_EQ(claims_reason(with_exp("1.7e9")), Reason::expired);
    const Verified v = check_claims(with_exp(now + ".5"), at(kNow));
    EXPECT_EQ(v.claims.exp, kNow);  // rounded down: never later than the token says
}

TEST(Claims, ExtremeExpValuesHandledWithoutOverflow) {
    auto with_exp = [](std::string_view exp) {
        return object_of(kAud + R"(,"id":42,"exp":)" + std::string(exp));
    };
    Verified v = check_claims(with_exp("1e300"), at(kNow));
    EXPECT_EQ(v.reason, Reason::allowed);
    EXPECT_EQ(v.claims.exp, std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(claims_reason(with_exp("-1e300")), Reason::expired);
    EXPECT_EQ(claims_reason(with_exp("9223372036854775807")), Reason::allowed);
    EXPECT_EQ(claims_reason(with_exp("9.3e18")), Reason::allowed);
    EXPECT_EQ(claims_reason(with_exp("-9223372036854775808")), Reason::expired);
    EXPECT_EQ(claims_reason(with_exp("1e-300")), Reason::expired);
    // Out of range for the parser: the JSON itself is refused.
    EXPECT_EQ(claims_reason(with_exp("1e999")), Reason::bad_token);
    EXPECT_EQ(claims_reason(with_exp("-1e999")), Reason::bad_token);
    EXPECT_EQ(claims_reason(with_exp("9223372036854775808")), Reason::bad_token);
    EXPECT_EQ(claims_reason(with_exp("NaN")), Reason::bad_token);
    EXPECT_EQ(claims_reason(with_exp("Infinity")), Reason::bad_token);
}

TEST(Claims, ExtremeClockAndLeewayDoNotOverflow) {
    const std::string payload = claims_with("");
    constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
    constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
    EXPECT_EQ(claims_reason(payload, at(kMin, kMax)), Reason::allowed);
    EXPECT_EQ(claims_reason(payload, at(kMax, kMax)), Reason::allowed);  // now - leeway = 0
    EXPECT_EQ(claims_reason(payload, at(kMax, 0)), Reason::expired);
    EXPECT_EQ(claims_reason(payload, at(kMin, 0)), Reason::allowed);
    EXPECT_EQ(claims_reason(payload, at(kNow, kMax)), Reason::allowed);
}

// --- claims: nbf and iat ------------------------------------------------------------------------

TEST(Claims, NbfAndIatInThePastOrNowAccepted) {
    for (std::string_view name : {"nbf", "iat"}) {
        for (std::int64_t t : {kNow, kNow - 1, std::int64_t{0}}) {
            const std::string extra = "\"" + std::string(name) + "\":" + std::to_string(t);
            EXPECT_EQ(claims_reason(claims_with(extra)), Reason::allowed) << extra;
        }
    }
}

TEST(Claims, NbfAndIatInTheFutureRefusedAsNotYetValid) {
    for (std::string_view name : {"nbf", "iat"}) {
        for (const std::string &t :
             {std::to_string(kNow + 1), std::to_string(kNow) + ".5", std::string("1e300")}) {
            const std::string extra = "\"" + std::string(name) + "\":" + t;
            EXPECT_EQ(claims_reason(claims_with(extra)), Reason::not_yet_valid) << extra;
        }
    }
}

TEST(Claims, LeewayAppliesToNbfAndIat) {
    for (std::string_view name : {"nbf", "iat"}) {
        const std::string at_edge = "\"" + std::string(name) + "\":" + std::to_string(kNow + 10);
        const std::string past_edge = "\"" + std::string(name) + "\":" + std::to_string(kNow + 11);
        EXPECT_EQ(claims_reason(claims_with(at_edge), at(kNow, 10)), Reason::allowed);
        EXPECT_EQ(claims_reason(claims_with(past_edge), at(kNow, 10)), Reason::not_yet_valid);
        EXPECT_EQ(claims_reason(claims_with(at_edge), at(kNow, 0)), Reason::not_yet_valid);
    }
}

TEST(Claims, NbfAndIatMustBeNumbersWhenPresent) {
    for (std::string_view name : {"nbf", "iat"}) {
        for (std::string_view value : {R"("0")", "null", "false", "[]", "{}"}) {
            const std::string extra = "\"" + std::string(name) + "\":" + std::string(value);
            EXPECT_EQ(claims_reason(claims_with(extra)), Reason::bad_claims) << extra;
        }
    }
}

// --- claims: aud --------------------------------------------------------------------------------

TEST(Claims, AudStringMustEqualTheConfiguredAudience) {
    auto with_aud = [](std::string_view aud) {
        return object_of(R"("exp":)" + kExp + R"(,"id":42,"aud":)" + std::string(aud));
    };
    EXPECT_EQ(claims_reason(with_aud(R"("posthog:exported_asset")")), Reason::allowed);
    EXPECT_EQ(claims_reason(with_aud(R"("posthog:exported\u005fasset")")), Reason::allowed);
    for (std::string_view aud :
         {R"("posthog:exported_asset2")", R"("posthog:exported_")", R"("POSTHOG:EXPORTED_ASSET")",
          R"(" posthog:exported_asset")", R"("")", R"("posthog")"}) {
        EXPECT_EQ(claims_reason(with_aud(aud)), Reason::wrong_audience) << aud;
    }
}

TEST(Claims, AudArrayMustContainTheConfiguredAudience) {
    auto with_aud = [](std::string_view aud) {
        return object_of(R"("exp":)" + kExp + R"(,"id":42,"aud":)" + std::string(aud));
    };
    EXPECT_EQ(claims_reason(with_aud(R"(["posthog:exported_asset"])")), Reason::allowed);
    EXPECT_EQ(claims_reason(with_aud(R"(["other","posthog:exported_asset"])")), Reason::allowed);
    EXPECT_EQ(claims_reason(with_aud(R"([])")), Reason::wrong_audience);
    EXPECT_EQ(claims_reason(with_aud(R"(["other"])")), Reason::wrong_audience);
    EXPECT_EQ(claims_reason(with_aud(R"([["posthog:exported_asset"]])")), Reason::wrong_audience);
}

TEST(Claims, AudArrayWithANonStringMemberRefusedAsWrongAudience) {
    const std::string payload =
        object_of(R"("exp":)" + kExp + R"(,"id":42,"aud":["posthog:exported_asset",1])");
    EXPECT_EQ(claims_reason(payload), Reason::wrong_audience);
}

TEST(Claims, AudMissingOrOfAnotherTypeRefusedAsWrongAudience) {
    EXPECT_EQ(claims_reason(object_of(R"("exp":)" + kExp + R"(,"id":42)")), Reason::wrong_audience);
    for (std::string_view aud : {"null", "1", "true", R"({"aud":"posthog:exported_asset"})"}) {
        EXPECT_EQ(
            claims_reason(object_of(R"("exp":)" + kExp + R"(,"id":42,"aud":)" + std::string(aud))),
            Reason::wrong_audience)
            << aud;
    }
}

TEST(Claims, ConfiguredAudienceReplacesTheDefault) {
    VerifyOptions opts = at(kNow);
    opts.audience = "example:custom";
    EXPECT_EQ(claims_reason(claims_with(""), opts), Reason::wrong_audience);
    EXPECT_EQ(
        claims_reason(object_of(R"("aud":"example:custom","exp":)" + kExp + R"(,"id":1)"), opts),
        Reason::allowed);
}

// --- claims: id ---------------------------------------------------------------------------------

TEST(Claims, IdPositiveJsonIntegerAccepted) {
    auto with_id = [](std::string_view id) {
        return object_of(kAud + R"(,"exp":)" + kExp + R"(,"id":)" + std::string(id));
    };
    EXPECT_EQ(check_claims(with_id("1"), at(kNow)).claims.id, 1u);
    const Verified v = check_claims(with_id("9223372036854775807"), at(kNow));
    ASSERT_EQ(v.reason, Reason::allowed);
    EXPECT_EQ(v.claims.id, 9223372036854775807u);
}

TEST(Claims, IdNotAPositiveJsonIntegerRefusedAsBadClaims) {
    auto with_id = [](std::string_view id) {
        return object_of(kAud + R"(,"exp":)" + kExp + R"(,"id":)" + std::string(id));
    };
    for (std::string_view id : {"0", "-0", "-1", "-9223372036854775808", "1.0", "1e3", "0.5",
                                R"("1")", "true", "null", "[1]", R"({"id":1})"}) {
        EXPECT_EQ(claims_reason(with_id(id)), Reason::bad_claims) << id;
    }
    EXPECT_EQ(claims_reason(object_of(kAud + R"(,"exp":)" + kExp)), Reason::bad_claims);
}

TEST(Claims, IdBeyondInt64RefusedByTheParser) {
    EXPECT_EQ(claims_reason(object_of(kAud + R"(,"exp":)" + kExp + R"(,"id":9223372036854775808)")),
              Reason::bad_token);
}

// --- claims: purpose ----------------------------------------------------------------------------

TEST(Claims, PurposeAbsentMeansPublic) {
    const Verified v = check_claims(claims_with(""), at(kNow));
    ASSERT_EQ(v.reason, Reason::allowed);
    EXPECT_EQ(v.claims.purpose, Purpose::public_);
}

TEST(Claims, PurposeRenderAndSubscriptionDeliveryRecognised) {
    Verified v = check_claims(claims_with(R"("purpose":"render")"), at(kNow));
    ASSERT_EQ(v.reason, Reason::allowed);
    EXPECT_EQ(v.claims.purpose, Purpose::render);
    v = check_claims(claims_with(R"("purpose":"subscription_delivery")"), at(kNow));
    ASSERT_EQ(v.reason, Reason::allowed);
    EXPECT_EQ(v.claims.purpose, Purpose::subscription_delivery);
}

TEST(Claims, AnyOtherPurposeRefusedAsUnknownPurpose) {
    for (std::string_view purpose :
         {R"("public")", R"("")", R"("Render")", R"("render ")", R"("subscription")",
          R"("subscription_delivery_")", R"("shared")", "null", "1", "true", "[]", R"(["render"])",
          R"({"purpose":"render"})"}) {
        EXPECT_EQ(claims_reason(claims_with(R"("purpose":)" + std::string(purpose))),
                  Reason::unknown_purpose)
            << purpose;
    }
}

// --- claims: order ------------------------------------------------------------------------------

TEST(Claims, RulesApplyInOrderExpNbfIatAudIdPurpose) {
    const std::string future = std::to_string(kNow + 100);
    // Missing exp outranks everything else that is wrong.
    EXPECT_EQ(claims_reason(R"({"aud":"x","id":0,"purpose":"x","nbf":)" + future + "}"),
              Reason::bad_claims);
    // Expired outranks a future nbf, a wrong aud, a bad id and an unknown purpose.
    EXPECT_EQ(claims_reason(R"({"exp":1,"aud":"x","id":0,"purpose":"x","nbf":)" + future + "}"),
              Reason::expired);
    // A future nbf or iat outranks aud, id and purpose.
    EXPECT_EQ(claims_reason(R"({"exp":)" + kExp + R"(,"aud":"x","id":0,"purpose":"x","iat":)" +
                            future + "}"),
              Reason::not_yet_valid);
    // A malformed nbf outranks aud.
    EXPECT_EQ(claims_reason(R"({"exp":)" + kExp + R"(,"aud":"x","nbf":"soon"})"),
              Reason::bad_claims);
    // Wrong audience outranks a bad id and an unknown purpose.
    EXPECT_EQ(claims_reason(R"({"exp":)" + kExp + R"(,"aud":"x","id":0,"purpose":"x"})"),
              Reason::wrong_audience);
    // A bad id outranks an unknown purpose.
    EXPECT_EQ(claims_reason(object_of(kAud + R"(,"exp":)" + kExp + R"(,"id":0,"purpose":"x")")),
              Reason::bad_claims);
}

TEST(Claims, RefusedResultCarriesNoClaims) {
    const Verified v = check_claims(claims_with(R"("purpose":"nope")"), at(kNow));
    EXPECT_EQ(v.reason, Reason::unknown_purpose);
    EXPECT_EQ(v.claims.id, 0u);
    EXPECT_EQ(v.claims.exp, 0);
}

// --- claims: JSON structure ---------------------------------------------------------------------

TEST(Claims, PayloadMustBeOneJsonObject) {
    for (std::string_view payload :
         {"", " ", "[]", "null", "1", R"("claims")", "{", R"({"id":42,})", R"({"id":42}{"id":43})",
          R"({"id":42}x)", R"({id:42})", "\xef\xbb\xbf{}",
          R"({"aud":"posthog:exported_asset","exp":1790000000,"id":42,"x":"\u0000"})"}) {
        EXPECT_EQ(claims_reason(payload), Reason::bad_token) << payload;
    }
}

TEST(Claims, TrailingWhitespaceAfterTheObjectAccepted) {
    EXPECT_EQ(claims_reason(claims_with("") + " \n"), Reason::allowed);
}

TEST(Claims, DuplicateClaimsRefusedAsBadToken) {
    for (std::string_view extra : {R"("exp":1)", R"("id":1)", R"("aud":"x")", R"("i\u0064":42)",
                                   R"("x":1,"x":1)", R"("purpose":"render","purpose":"render")"}) {
        EXPECT_EQ(claims_reason(claims_with(extra)), Reason::bad_token) << extra;
    }
}

TEST(Claims, DuplicatesInsideNestedObjectsRefusedToo) {
    EXPECT_EQ(claims_reason(claims_with(R"("ctx":{"a":1,"a":2})")), Reason::bad_token);
}

TEST(Claims, PayloadOf4096BytesAcceptedAnd4097Refused) {
    const std::string base = claims_with(R"("pad":"")");
    const std::string fill(kMaxTokenSize - base.size(), 'x');
    const std::string at_limit = claims_with(R"("pad":")" + fill + "\"");
    ASSERT_EQ(at_limit.size(), 4096u);
    EXPECT_EQ(claims_reason(at_limit), Reason::allowed);
    EXPECT_EQ(claims_reason(claims_with(R"("pad":")" + fill + "x\"")), Reason::bad_token);
}

TEST(Claims, NestingOfSixteenLevelsAcceptedSeventeenRefused) {
    // The claims object itself is the first level.
    EXPECT_EQ(claims_reason(claims_with(R"("ctx":)" + nested(15))), Reason::allowed);
    EXPECT_EQ(claims_reason(claims_with(R"("ctx":)" + nested(16))), Reason::bad_token);
    EXPECT_EQ(claims_reason(claims_with(R"("ctx":)" + nested(1000))), Reason::bad_token);
    std::string objects;
    for (int i = 0; i < 16; ++i) objects += R"({"a":)";
    objects += "1" + std::string(16, '}');
    EXPECT_EQ(claims_reason(claims_with(R"("ctx":)" + objects)), Reason::bad_token);
}

TEST(Claims, BracketsInsideStringsDoNotCountAsNesting) {
    const std::string brackets(100, '[');
    EXPECT_EQ(claims_reason(claims_with(R"("s":")" + brackets + "\"")), Reason::allowed);
    // An escaped quote does not end the string early.
    EXPECT_EQ(claims_reason(claims_with(R"("s":"\")" + brackets + R"(\\")")), Reason::allowed);
}

// --- RFC 7515 appendix A.1 ----------------------------------------------------------------------

constexpr std::string_view kRfc7515Token =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlf"
    "Q"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr std::string_view kRfc7515Key =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
constexpr std::int64_t kRfc7515Exp = 1300819380;

KeySet rfc7515_keys() {
    std::string key(asset_gate::base64url_decoded_size(kRfc7515Key.size()), '\0');
    EXPECT_TRUE(
        asset_gate::base64url_decode(kRfc7515Key, reinterpret_cast<std::uint8_t *>(key.data())));
    return keys_of({key});
}

TEST(Rfc7515, AppendixA1SignatureVerifiesOverTheOriginalText) {
    std::array<std::uint8_t, kMaxTokenSize> payload;
    std::size_t size = 0;
    ASSERT_EQ(verify_jws(kRfc7515Token, rfc7515_keys(), payload.data(), &size), Reason::allowed);
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(payload.data()), size),
              "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}");
}

TEST(Rfc7515, AppendixA1FailsWithAnotherKey) {
    EXPECT_EQ(jws_reason(kRfc7515Token), Reason::bad_signature);
}

TEST(Rfc7515, AppendixA1ClaimsLackOurAudienceAndExpireAtItsExp) {
    EXPECT_EQ(verify_token(kRfc7515Token, rfc7515_keys(), at(kRfc7515Exp - 1)).reason,
              Reason::wrong_audience);
    EXPECT_EQ(verify_token(kRfc7515Token, rfc7515_keys(), at(kRfc7515Exp)).reason, Reason::expired);
    EXPECT_EQ(verify_token(kRfc7515Token, rfc7515_keys(), at(kRfc7515Exp, 1)).reason,
              Reason::wrong_audience);
}

// --- Wycheproof JSON Web Signature vectors ------------------------------------------------------

TEST(Wycheproof, JsonWebSignatureHs256Vectors) {
    ASSET_GATE_LOAD_VECTORS_OR_SKIP(root, "json_web_signature_test.json");
    const json_t *groups = json_object_get(root.get(), "testGroups");
    ASSERT_TRUE(json_is_array(groups));
    std::size_t checked = 0, json_serialization = 0, defective = 0, contract = 0;
    for (std::size_t g = 0; g < json_array_size(groups); ++g) {
        const json_t *group = json_array_get(groups, g);
        const json_t *jwk = json_object_get(group, "private");
        if (json_str(jwk, "alg") != "HS256" || json_str(jwk, "kty") != "oct") continue;
        const std::string_view k = json_str(jwk, "k");
        std::string secret(asset_gate::base64url_decoded_size(k.size()), '\0');
        ASSERT_TRUE(
            asset_gate::base64url_decode(k, reinterpret_cast<std::uint8_t *>(secret.data())));
        const KeySet keys = keys_of({secret});

        const json_t *tests = json_object_get(group, "tests");
        std::vector<std::string_view> valid_spellings;
        for (std::size_t t = 0; t < json_array_size(tests); ++t) {
            const json_t *test = json_array_get(tests, t);
            if (json_str(test, "result") == "valid")
                valid_spellings.push_back(json_str(test, "jws"));
        }
        for (std::size_t t = 0; t < json_array_size(tests); ++t) {
            const json_t *test = json_array_get(tests, t);
            const json_int_t id = json_integer_value(json_object_get(test, "tcId"));
            const std::string_view comment = json_str(test, "comment");
            const json_t *jws = json_object_get(test, "jws");
            // A JSON serialization given as an object is no compact token and is skipped; given
            // as a string it is checked like any other text and must be refused.
            if (!json_is_string(jws)) {
                ++json_serialization;
                continue;
            }
            const std::string_view token(json_string_value(jws), json_string_length(jws));
            bool valid = json_str(test, "result") == "valid";
            if (!valid && std::find(valid_spellings.begin(), valid_spellings.end(), token) !=
                              valid_spellings.end()) {
                // Upstream's "invalidBase64Padding" vectors lost their '=' and now repeat a
                // valid token byte for byte; they test nothing.
                ++defective;
                continue;
            }
            if (valid && token.find_first_not_of(std::string(kBase64UrlAlphabet) + ".") !=
                             std::string_view::npos) {
                // Labelled valid for lenient decoders that skip a stray '?'; DESIGN.md section 3
                // asks for the strict alphabet, so the contract decides.
                valid = false;
                ++contract;
            }
            const Reason r = jws_reason(token, keys);
            EXPECT_EQ(r == Reason::allowed, valid)
                << "tcId " << id << " (" << comment << "): " << reason_name(r);
            ++checked;
        }
    }
    std::printf(
        "[ wycheproof ] %zu HS256 vectors checked, %zu strict-alphabet overrides, "
        "%zu defective and %zu JSON-serialization vectors skipped\n",
        checked, contract, defective, json_serialization);
    EXPECT_GT(checked, 30u);
}

// --- PyJWT interoperability ---------------------------------------------------------------------

constexpr std::string_view kPyKey1 = "pyjwt-current-key-0123456789abcdefghij";
// Longer than the SHA-256 block, so the key is hashed first on both sides.
constexpr std::string_view kPyKey2 =
    "pyjwt-rotated-key-that-is-longer-than-one-sha256-block-0123456789abcdefghijklmnopqrstuvwxyz";

struct Minted {
    std::uint64_t id;
    std::string purpose;
    std::string token;
};

// Mints tokens with PyJWT; empty when python3 or PyJWT is unavailable.
std::vector<Minted> mint_with_pyjwt() {
    if (access("/usr/bin/python3", X_OK) != 0) return {};
    const std::string script = std::string(R"PY(
import jwt
now = )PY") + std::to_string(kNow) +
                               R"PY(
aud = "posthog:exported_asset"
k1 = ")PY" + std::string(kPyKey1) +
                               R"PY("
k2 = ")PY" + std::string(kPyKey2) +
                               R"PY("
cases = [
    (7, "public", {"id": 7, "exp": now + 3600, "aud": aud}, k1, None),
    (8, "render", {"id": 8, "exp": now + 3600, "aud": [aud, "other"], "purpose": "render",
                   "iat": now, "nbf": now - 5}, k1, None),
    (9, "subscription_delivery", {"id": 9, "exp": now + 86400, "aud": aud,
                                  "purpose": "subscription_delivery"}, k2, None),
    (10, "public", {"id": 10, "exp": now + 60, "aud": aud, "name": "r\u00e9sum\u00e9 \u2192 q3"},
     k2, {"kid": "rotated"}),
    (2**63 - 1, "public", {"id": 2**63 - 1, "exp": now + 1.5, "aud": aud}, k1, None),
]
for ident, purpose, claims, key, headers in cases:
    print(ident, purpose, jwt.encode(claims, key, algorithm="HS256", headers=headers))
)PY";
    std::string quoted = "'";
    for (char c : script) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    quoted += "'";
    FILE *pipe = popen(("/usr/bin/python3 -c " + quoted + " 2>/dev/null").c_str(), "r");
    if (pipe == nullptr) return {};
    std::string out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
    const int status = pclose(pipe);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return {};

    std::vector<Minted> minted;
    std::size_t start = 0;
    while (start < out.size()) {
        std::size_t end = out.find('\n', start);
        if (end == std::string::npos) end = out.size();
        const std::string line = out.substr(start, end - start);
        start = end + 1;
        const std::size_t s1 = line.find(' '), s2 = line.find(' ', s1 + 1);
        if (s1 == std::string::npos || s2 == std::string::npos) continue;
        minted.push_back({std::stoull(line.substr(0, s1)), line.substr(s1 + 1, s2 - s1 - 1),
                          line.substr(s2 + 1)});
    }
    return minted;
}

const std::vector<Minted> &pyjwt_tokens() {
    static const std::vector<Minted> tokens = mint_with_pyjwt();
    return tokens;
}

const KeySet &pyjwt_keys() {
    static const KeySet keys = keys_of({kPyKey1, kPyKey2});
    return keys;
}

TEST(PyJwt, TokensMintedByPyJwtVerifyWithTheirClaims) {
    const auto &tokens = pyjwt_tokens();
    if (tokens.empty()) GTEST_SKIP() << "/usr/bin/python3 with PyJWT not available";
    ASSERT_EQ(tokens.size(), 5u);
    for (const Minted &m : tokens) {
        const Verified v = verify_token(m.token, pyjwt_keys(), at(kNow));
        ASSERT_EQ(v.reason, Reason::allowed) << m.token;
        EXPECT_EQ(v.claims.id, m.id);
        EXPECT_EQ(asset_gate::purpose_name(v.claims.purpose), m.purpose);
    }
}

TEST(PyJwt, TokensMintedByPyJwtFailWithOnlyTheOtherKey) {
    const auto &tokens = pyjwt_tokens();
    if (tokens.empty()) GTEST_SKIP() << "/usr/bin/python3 with PyJWT not available";
    const KeySet only1 = keys_of({kPyKey1}), only2 = keys_of({kPyKey2});
    for (const Minted &m : tokens) {
        const bool by1 = verify_token(m.token, only1, at(kNow)).reason == Reason::allowed;
        const bool by2 = verify_token(m.token, only2, at(kNow)).reason == Reason::allowed;
        EXPECT_NE(by1, by2) << m.token;
    }
}

TEST(PyJwt, EverySingleCharacterChangeIsRefused) {
    const auto &tokens = pyjwt_tokens();
    if (tokens.empty()) GTEST_SKIP() << "/usr/bin/python3 with PyJWT not available";
    std::size_t mutants = 0;
    const std::string replacements = std::string(kBase64UrlAlphabet) + ".";
    for (const Minted &m : tokens) {
        for (std::size_t pos = 0; pos < m.token.size(); ++pos) {
            auto check = [&](const std::string &mutant, std::string_view what) {
                const Reason r = verify_token(mutant, pyjwt_keys(), at(kNow)).reason;
                ++mutants;
                if (r != Reason::bad_token && r != Reason::bad_signature) {
                    ADD_FAILURE() << what << " at " << pos << " of " << m.token << " gave "
                                  << reason_name(r);
                }
            };
            for (char c : replacements) {
                if (c == m.token[pos]) continue;
                std::string mutant = m.token;
                mutant[pos] = c;
                check(mutant, std::string("replacement by '") + c + "'");
            }
            check(m.token.substr(0, pos) + m.token.substr(pos + 1), "removal");
        }
    }
    std::printf("[ pyjwt ] %zu single-character mutants refused\n", mutants);
}

// --- the flat payload path (no jansson) against jansson -----------------------------------

// Each payload is judged twice: by check_claims (which takes flat payloads without jansson)
// and by check_claims_jansson; a space after the brace moves it off the flat path, so both
// paths are held to the expected reason.
TEST(ClaimsFlatPath, AgreesWithJanssonOnItsEdges) {
    const std::string aud = R"("aud":"posthog:exported_asset")";
    const std::string exp = R"("exp":1780000060)";
    const struct {
        std::string members;
        Reason want;
    } cases[] = {
        {aud + "," + exp + R"(,"id":42)", Reason::allowed},
        {aud + "," + exp + R"(,"id":42,"purpose":"render")", Reason::allowed},
        {aud + "," + exp + R"(,"id":42,"purpose":"public")", Reason::unknown_purpose},
        {aud + "," + exp + R"(,"id":42,"purpose":null)", Reason::unknown_purpose},
        {aud + "," + exp + R"(,"id":0)", Reason::bad_claims},
        {aud + "," + exp + R"(,"id":-0)", Reason::bad_claims},
        {aud + "," + exp + R"(,"id":-7)", Reason::bad_claims},
        {aud + "," + exp + R"(,"id":true)", Reason::bad_claims},
        {aud + "," + exp + R"(,"id":"42")", Reason::bad_claims},
        {aud + "," + exp + R"(,"id":999999999999999999)", Reason::allowed},
        {aud + "," + exp + R"(,"id":9223372036854775807)", Reason::allowed},  // 19 digits: jansson
        {aud + "," + exp + R"(,"id":9223372036854775808)", Reason::bad_token},  // too big
        {aud + "," + exp + R"(,"id":042)", Reason::bad_token},
        {aud + "," + exp + R"(,"id":42.0)", Reason::bad_claims},
        {aud + "," + exp + R"(,"id":42,"id":43)", Reason::bad_token},
        {aud + R"(,"exp":1780000000,"id":42)", Reason::expired},  // exp == now
        {aud + R"(,"exp":1780000001,"id":42)", Reason::allowed},
        {aud + R"(,"exp":1780000000.5,"id":42)", Reason::allowed},
        {aud + R"(,"exp":"1780000060","id":42)", Reason::bad_claims},
        {aud + "," + exp + R"(,"id":42,"nbf":1780000001)", Reason::not_yet_valid},
        {aud + "," + exp + R"(,"id":42,"iat":1780000000)", Reason::allowed},
        {aud + "," + exp + R"(,"id":42,"iat":false)", Reason::bad_claims},
        {R"("aud":"posthog:exported_assets",)" + exp + R"(,"id":42)", Reason::wrong_audience},
        {R"("aud":["posthog:exported_asset"],)" + exp + R"(,"id":42)", Reason::allowed},
        {R"("aud":null,)" + exp + R"(,"id":42)", Reason::wrong_audience},
        {R"("aud":"posthog:exported\u005fasset",)" + exp + R"(,"id":42)", Reason::allowed},
        {R"("aud":"posthog:exported_asset\u0000",)" + exp + R"(,"id":42)", Reason::bad_token},
        {exp + R"(,"id":42)", Reason::wrong_audience},
        {aud + R"(,"id":42)", Reason::bad_claims},
        {"", Reason::bad_claims},
    };
    VerifyOptions opts = at(kNow);
    for (const auto &c : cases) {
        for (const std::string &payload : {object_of(c.members), "{ " + c.members + "}"}) {
            const Verified fast = check_claims(payload, opts);
            const Verified slow = check_claims_jansson(payload, opts);
            EXPECT_EQ(fast.reason, c.want) << payload;
            EXPECT_EQ(slow.reason, c.want) << payload;
            EXPECT_EQ(fast.claims.id, slow.claims.id) << payload;
            EXPECT_EQ(fast.claims.exp, slow.claims.exp) << payload;
            EXPECT_EQ(fast.claims.purpose, slow.claims.purpose) << payload;
        }
    }
    // Not one object: trailing bytes, a second object, an unterminated string, nothing.
    for (std::string_view payload : {R"({"id":42}x)", R"({"id":42}{})", R"({"id":"42})", "{",
                                     "", "{}}", R"({"id":42,})", R"({,"id":42})"}) {
        EXPECT_EQ(check_claims(payload, opts).reason, Reason::bad_token) << payload;
        EXPECT_EQ(check_claims_jansson(payload, opts).reason, Reason::bad_token) << payload;
    }
}

}  // namespace
}  // namespace asset_gate::testing

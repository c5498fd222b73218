// HMAC-SHA256: RFC 4231 known answers, Wycheproof vectors, key handling and constant-time compare.
#include <cstring>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <jansson.h>

#include "core/hmac.hpp"
#include "testdata.hpp"

namespace asset_gate::testing {
namespace {

std::string hex(const Mac &mac) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::uint8_t b : mac) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xf]);
    }
    return out;
}

std::string sign_hex(std::string_view key, std::string_view message) {
    return hex(HmacSha256Key(key).sign(message));
}

TEST(Hmac, Rfc4231Case1KnownAnswer) {
    EXPECT_EQ(sign_hex(std::string(20, '\x0b'), "Hi There"),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(Hmac, Rfc4231Case2ShortKeyKnownAnswer) {
    EXPECT_EQ(sign_hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hmac, Rfc4231Case6KeyLongerThanBlockIsHashedFirst) {
    EXPECT_EQ(sign_hex(std::string(131, '\xaa'),
                       "Test Using Larger Than Block-Size Key - Hash Key First"),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Hmac, KeyLongerThanBlockEqualsItsSha256DigestAsKey) {
    const std::string long_key(100, 'k');
    // SHA-256("k" x 100), computed independently, used directly as the key (RFC 2104 section 2).
    const std::string digest =
        hex_decode("e37c7cb78ccb30f0e2036576d681d619949c8a9fb885c91a07da6b845788a9ce");
    EXPECT_EQ(HmacSha256Key(long_key).sign("message"), HmacSha256Key(digest).sign("message"));
    EXPECT_EQ(sign_hex(long_key, "message"),
              "1c28735416d320163f56f81bdbb83d651eed508d184e6b8b03662740a533293e");
}

TEST(Hmac, KeyOfExactlyOneBlockIsUsedAsIs) {
    EXPECT_EQ(sign_hex(std::string(64, 'k'), "message"),
              "890f3a16e0ca0aaa3bf180f70fa8e3970b3fd6505e98fde157988dcc19d1685c");
}

TEST(Hmac, StateIsReusableAcrossMessages) {
    const HmacSha256Key key("Jefe");
    const Mac first = key.sign("what do ya want for nothing?");
    (void)key.sign("something else entirely");
    EXPECT_EQ(key.sign("what do ya want for nothing?"), first);
    EXPECT_EQ(hex(first), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hmac, CopiedKeySignsLikeTheOriginal) {
    const HmacSha256Key original("Jefe");
    const HmacSha256Key copy = original;  // NOLINT(performance-unnecessary-copy-initialization)
    EXPECT_EQ(copy.sign("what do ya want for nothing?"),
              original.sign("what do ya want for nothing?"));
    EXPECT_EQ(copy.secret_size(), 4u);
}

TEST(Hmac, EmptyKeyAndEmptyMessageAreValidInputs) {
    // HMAC-SHA256("", "") is a fixed, well-known value.
    EXPECT_EQ(sign_hex("", ""), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(Hmac, SecretSizeReportsConfiguredLengthEvenWhenHashed) {
    EXPECT_EQ(HmacSha256Key(std::string(10, 'a')).secret_size(), 10u);
    EXPECT_EQ(HmacSha256Key(std::string(200, 'a')).secret_size(), 200u);
}

TEST(Hmac, MacEqualComparesEveryByte) {
    Mac a{};
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::uint8_t>(i * 7);
    EXPECT_TRUE(mac_equal(a.data(), a.data(), a.size()));
    for (std::size_t i = 0; i < a.size(); ++i) {
        for (int bit = 0; bit < 8; ++bit) {
            Mac b = a;
            b[i] ^= static_cast<std::uint8_t>(1u << bit);
            EXPECT_FALSE(mac_equal(a.data(), b.data(), a.size())) << i << ":" << bit;
        }
    }
}

TEST(Hmac, WycheproofHmacSha256Vectors) {
    ASSET_GATE_LOAD_VECTORS_OR_SKIP(root, "hmac_sha256_test.json");
    const json_t *groups = json_object_get(root.get(), "testGroups");
    ASSERT_TRUE(json_is_array(groups));
    std::size_t checked = 0;
    for (std::size_t g = 0; g < json_array_size(groups); ++g) {
        const json_t *group = json_array_get(groups, g);
        const json_int_t tag_bits = json_integer_value(json_object_get(group, "tagSize"));
        ASSERT_TRUE(tag_bits > 0 && tag_bits <= 256 && tag_bits % 8 == 0);
        const std::size_t tag_bytes = static_cast<std::size_t>(tag_bits / 8);
        const json_t *tests = json_object_get(group, "tests");
        for (std::size_t t = 0; t < json_array_size(tests); ++t) {
            const json_t *test = json_array_get(tests, t);
            const std::string key = hex_decode(json_str(test, "key"));
            const std::string msg = hex_decode(json_str(test, "msg"));
            const std::string tag = hex_decode(json_str(test, "tag"));
            const std::string_view result = json_str(test, "result");
            const json_int_t id = json_integer_value(json_object_get(test, "tcId"));
            ASSERT_TRUE(result == "valid" || result == "invalid") << "tcId " << id;

            const Mac mac = HmacSha256Key(key).sign(msg);
            // A truncated tag is compared on its own length; a tag of another length never matches.
            const bool matches =
                tag.size() == tag_bytes &&
                mac_equal(mac.data(), reinterpret_cast<const std::uint8_t *>(tag.data()),
                          tag_bytes);
            EXPECT_EQ(matches, result == "valid")
                << "tcId " << id << ": " << json_str(test, "comment");
            ++checked;
        }
    }
    EXPECT_EQ(static_cast<json_int_t>(checked),
              json_integer_value(json_object_get(root.get(), "numberOfTests")));
}

}  // namespace
}  // namespace asset_gate::testing

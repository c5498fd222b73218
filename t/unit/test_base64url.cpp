// Strict base64url: the RFC 4648 alphabet without padding, one accepted spelling per byte string.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "core/base64url.hpp"
#include "testdata.hpp"

using asset_gate::base64url_decode;
using asset_gate::base64url_decoded_size;
using asset_gate::testing::b64url;
using asset_gate::testing::kBase64UrlAlphabet;

namespace {

// Decodes or returns nullopt-like sentinel via `ok`.
bool decode(std::string_view in, std::string *out) {
    const std::size_t n = base64url_decoded_size(in.size());
    if (n == SIZE_MAX) return base64url_decode(in, nullptr);
    std::string buf(n + 1, '\xAA');  // one guard byte past the decoded size
    const bool ok = base64url_decode(in, reinterpret_cast<std::uint8_t *>(buf.data()));
    EXPECT_EQ(buf[n], '\xAA') << "wrote past the decoded size for \"" << in << "\"";
    buf.resize(n);
    *out = buf;
    return ok;
}

}  // namespace

TEST(Base64Url, DecodedSizeFollowsLengthAndRefusesLengthOneModFour) {
    EXPECT_EQ(base64url_decoded_size(0), 0u);
    EXPECT_EQ(base64url_decoded_size(1), SIZE_MAX);
    EXPECT_EQ(base64url_decoded_size(2), 1u);
    EXPECT_EQ(base64url_decoded_size(3), 2u);
    EXPECT_EQ(base64url_decoded_size(4), 3u);
    EXPECT_EQ(base64url_decoded_size(5), SIZE_MAX);
    EXPECT_EQ(base64url_decoded_size(43), 32u);
    EXPECT_EQ(base64url_decoded_size(4096), 3072u);
}

TEST(Base64Url, Rfc4648VectorsDecodeWithoutPadding) {
    const std::pair<std::string_view, std::string_view> vectors[] = {
        {"", ""},           {"Zg", "f"},          {"Zm8", "fo"},          {"Zm9v", "foo"},
        {"Zm9vYg", "foob"}, {"Zm9vYmE", "fooba"}, {"Zm9vYmFy", "foobar"},
    };
    for (const auto &[encoded, plain] : vectors) {
        std::string out;
        ASSERT_TRUE(decode(encoded, &out)) << encoded;
        EXPECT_EQ(out, plain) << encoded;
    }
}

TEST(Base64Url, UrlAlphabetMapsDashAndUnderscoreTo62And63) {
    std::string out;
    ASSERT_TRUE(decode("-_-_", &out));
    EXPECT_EQ(out, std::string("\xfb\xff\xbf", 3));
}

TEST(Base64Url, StandardAlphabetPlusAndSlashRefused) {
    std::string out;
    EXPECT_FALSE(decode("+/+/", &out));
    EXPECT_FALSE(decode("ab+c", &out));
    EXPECT_FALSE(decode("ab/c", &out));
}

TEST(Base64Url, PaddingRefused) {
    std::string out;
    EXPECT_FALSE(decode("Zg==", &out));
    EXPECT_FALSE(decode("Zm8=", &out));
    EXPECT_FALSE(decode("Zm9v====", &out));
    EXPECT_FALSE(decode("=", &out));
}

TEST(Base64Url, EveryNonAlphabetByteRefusedInEveryPosition) {
    for (int c = 0; c < 256; ++c) {
        if (kBase64UrlAlphabet.find(static_cast<char>(c)) != std::string_view::npos) continue;
        for (std::size_t pos = 0; pos < 4; ++pos) {
            std::string in = "AAAA";
            in[pos] = static_cast<char>(c);
            std::string out;
            EXPECT_FALSE(decode(in, &out)) << "byte " << c << " at " << pos;
        }
        std::string tail = "QQ";  // the two-character tail
        tail[0] = static_cast<char>(c);
        std::string out;
        EXPECT_FALSE(decode(tail, &out)) << "byte " << c << " in tail";
    }
}

TEST(Base64Url, ImpossibleLengthsRefused) {
    std::string out;
    EXPECT_FALSE(decode("A", &out));
    EXPECT_FALSE(decode("AAAAA", &out));
    EXPECT_FALSE(decode("AAAAAAAAA", &out));
}

TEST(Base64Url, NonZeroTrailingBitsRefused) {
    std::string out;
    EXPECT_TRUE(decode("Zg", &out));
    EXPECT_FALSE(decode("Zh", &out));  // 'h' sets a low bit that carries no data
    EXPECT_FALSE(decode("Zv", &out));
    EXPECT_TRUE(decode("Zm8", &out));
    EXPECT_FALSE(decode("Zm9", &out));
    EXPECT_FALSE(decode("Zm-", &out));
}

TEST(Base64Url, TwoCharacterTailsAcceptExactlyOneSpellingPerByte) {
    int accepted = 0;
    for (char a : kBase64UrlAlphabet) {
        for (char b : kBase64UrlAlphabet) {
            const std::string in{a, b};
            std::string out;
            if (!decode(in, &out)) continue;
            ++accepted;
            EXPECT_EQ(b64url(out), in);
        }
    }
    EXPECT_EQ(accepted, 256);
}

TEST(Base64Url, ThreeCharacterTailsAcceptExactlyOneSpellingPerBytePair) {
    int accepted = 0;
    for (char a : kBase64UrlAlphabet) {
        for (char b : kBase64UrlAlphabet) {
            for (char c : kBase64UrlAlphabet) {
                const std::string in{a, b, c};
                std::string out;
                if (!decode(in, &out)) continue;
                ++accepted;
                if (b64url(out) != in) ADD_FAILURE() << in;
            }
        }
    }
    EXPECT_EQ(accepted, 65536);
}

TEST(Base64Url, RoundTripsEveryByteValueAtEveryOffset) {
    for (std::size_t len = 1; len <= 7; ++len) {
        for (int v = 0; v < 256; ++v) {
            for (std::size_t pos = 0; pos < len; ++pos) {
                std::string plain(len, '\x5a');
                plain[pos] = static_cast<char>(v);
                std::string out;
                ASSERT_TRUE(decode(b64url(plain), &out));
                ASSERT_EQ(out, plain);
            }
        }
    }
}

TEST(Base64Url, EmptyInputDecodesToNothing) {
    std::string out = "x";
    EXPECT_TRUE(decode("", &out));
    EXPECT_TRUE(out.empty());
}

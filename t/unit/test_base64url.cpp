// Strict base64url: the RFC 4648 alphabet without padding, one accepted spelling per byte string,
// and the encoder that writes that spelling. Known answers (RFC 4648 section 10, and vectors for
// the two url characters) pin both directions; the round trips then cover every byte value.
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include <gtest/gtest.h>

#include "core/base64url.hpp"
#include "testdata.hpp"

namespace asset_gate::testing {
namespace {

using namespace std::string_view_literals;

// RFC 4648 section 10, padding removed (no '+' or '/' occurs in them, so the url alphabet
// spells them the same), and known answers that use '-' (62) and '_' (63): plain, encoded.
constexpr std::pair<std::string_view, std::string_view> kVectors[] = {
    {""sv, ""},
    {"f"sv, "Zg"},
    {"fo"sv, "Zm8"},
    {"foo"sv, "Zm9v"},
    {"foob"sv, "Zm9vYg"},
    {"fooba"sv, "Zm9vYmE"},
    {"foobar"sv, "Zm9vYmFy"},
    {"\xfb\xff\xbf"sv, "-_-_"},  // standard alphabet: "+/+/"
    {"\xf8"sv, "-A"},            // "+A=="
    {"\xff\xff"sv, "__8"},       // "//8="
    {"\x00\x10\x83\x10\x51\x87\x20\x92\x8b\x30\xd3\x8f\x41\x14\x93\x51\x55\x97\x61\x96\x9b\x71"
     "\xd7\x9f\x82\x18\xa3\x92\x59\xa7\xa2\x9a\xab\xb2\xdb\xaf\xc3\x1c\xb3\xd3\x5d\xb7\xe3\x9e"
     "\xbb\xf3\xdf\xbf"sv,
     kBase64UrlAlphabet},  // the 64 values in order: every character once
};

// Decodes `in` into `out`; false when refused. Checks that nothing is written past the
// decoded size.
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

// --- known answers -------------------------------------------------------------------------

TEST(Base64Url, KnownAnswersEncodeWithoutPadding) {
    for (const auto &v : kVectors) {
        EXPECT_EQ(base64url_encode(v.first), v.second) << v.second;
    }
}

TEST(Base64Url, KnownAnswersDecode) {
    for (const auto &v : kVectors) {
        std::string out;
        ASSERT_TRUE(decode(v.second, &out)) << v.second;
        EXPECT_EQ(out, v.first) << v.second;
    }
}

TEST(Base64Url, ByteBufferEncodesAsTheSameBytesInAString) {
    const std::array<std::uint8_t, 4> mac = {0xfb, 0xff, 0xbf, 0x00};
    EXPECT_EQ(base64url_encode(mac.data(), mac.size()), base64url_encode("\xfb\xff\xbf\x00"sv));
    EXPECT_EQ(base64url_encode(mac.data(), mac.size()), "-_-_AA");
    EXPECT_EQ(base64url_encode(nullptr, 0), "");
}

// --- the decoder's strictness --------------------------------------------------------------

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
            EXPECT_EQ(base64url_encode(out), in);
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
                if (base64url_encode(out) != in) ADD_FAILURE() << in;
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
                ASSERT_TRUE(decode(base64url_encode(plain), &out));
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

// --- round trips ---------------------------------------------------------------------------

TEST(Base64Url, RandomBytesOfEveryLengthUpTo300RoundTripInTheUrlAlphabet) {
    std::mt19937 rng(4648);  // fixed seed: the same cases on every run
    for (std::size_t len = 0; len <= 300; ++len) {
        for (int round = 0; round < 8; ++round) {
            std::string plain(len, '\0');
            for (char &c : plain) c = static_cast<char>(rng());
            const std::string encoded = base64url_encode(plain);
            ASSERT_EQ(encoded.size(), (len * 4 + 2) / 3) << len;
            ASSERT_EQ(encoded.find_first_not_of(kBase64UrlAlphabet), std::string::npos) << encoded;
            ASSERT_EQ(base64url_decoded_size(encoded.size()), len);
            std::string out;
            ASSERT_TRUE(decode(encoded, &out)) << encoded;
            ASSERT_EQ(out, plain) << encoded;
        }
    }
}

}  // namespace
}  // namespace asset_gate::testing

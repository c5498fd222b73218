// The key file's line format and the bounded reading of secret files.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "core/secret_file.hpp"

namespace asset_gate::testing {
namespace {

std::vector<std::pair<std::size_t, std::string>> keys_of(std::string_view text) {
    std::vector<std::pair<std::size_t, std::string>> out;
    for_each_key(text,
                 [&](std::size_t line, std::string_view key) { out.emplace_back(line, key); });
    return out;
}

TEST(KeyFile, EachLineIsAKeyWithItsLineEndingRemoved) {
    auto keys = keys_of("current key\r\nfallback key\n");
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0], std::make_pair(std::size_t{1}, std::string("current key")));
    EXPECT_EQ(keys[1], std::make_pair(std::size_t{2}, std::string("fallback key")));
}

TEST(KeyFile, BlankLinesAreSkippedButCounted) {
    auto keys = keys_of("\n\r\nk1\n\nk2");
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].first, 3u);
    EXPECT_EQ(keys[1], std::make_pair(std::size_t{5}, std::string("k2")));
}

TEST(KeyFile, SpacesAndHashesArePartOfTheKey) {
    auto keys = keys_of(" #not a comment \n");
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].second, " #not a comment ");
}

TEST(SecretFile, AMissingFileSaysItCannotBeOpened) {
    std::string text;
    FileError error;
    EXPECT_FALSE(read_secret_file("/nonexistent/asset-gate-keys", &text, &error));
    EXPECT_STREQ(error.verb, "cannot open");
    EXPECT_FALSE(error.detail.empty());
}

TEST(SecretFile, AFileIsReadWholeAndAnOversizedOneIsRefused) {
    char path[] = "/tmp/asset-gate-secret-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    FILE *f = fdopen(fd, "wb");
    std::string body(1000, 'k');
    fwrite(body.data(), 1, body.size(), f);
    fflush(f);
    std::string text;
    FileError error;
    EXPECT_TRUE(read_secret_file(path, &text, &error));
    EXPECT_EQ(text, body);
    std::string more(kMaxSecretFileSize, 'x');
    fwrite(more.data(), 1, more.size(), f);
    fclose(f);
    EXPECT_FALSE(read_secret_file(path, &text, &error));
    EXPECT_STREQ(error.verb, "cannot read");
    EXPECT_TRUE(text.empty());
    std::remove(path);
}

TEST(PasswordLine, OneLineWithOrWithoutItsEndingIsThePassword) {
    std::string_view password;
    const char *why = nullptr;
    for (std::string_view text : {"s3cret", "s3cret\n", "s3cret\r\n"}) {
        ASSERT_TRUE(password_line(text, &password, &why)) << text;
        EXPECT_EQ(password, "s3cret");
    }
    // Only the line ending goes: spaces and a lone \r inside are the password's own bytes.
    ASSERT_TRUE(password_line(" pass word \n", &password, &why));
    EXPECT_EQ(password, " pass word ");
    ASSERT_TRUE(password_line("a\rb\n", &password, &why));
    EXPECT_EQ(password, "a\rb");
}

TEST(PasswordLine, AnEmptyPasswordOrASecondLineIsRefused) {
    std::string_view password = "untouched";
    const char *why = nullptr;
    for (std::string_view text : {"", "\n", "\r\n"}) {
        EXPECT_FALSE(password_line(text, &password, &why)) << text;
        EXPECT_STREQ(why, "is empty");
    }
    for (std::string_view text : {"one\ntwo", "one\ntwo\n", "one\n\n"}) {
        EXPECT_FALSE(password_line(text, &password, &why)) << text;
        EXPECT_STREQ(why, "has more than one line");
    }
    EXPECT_EQ(password, "untouched");
}

}  // namespace
}  // namespace asset_gate::testing

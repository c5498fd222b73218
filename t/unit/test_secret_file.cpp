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

}  // namespace
}  // namespace asset_gate::testing

// The query string (DESIGN.md section 1, step 3): names compared after percent-decoding, as the
// application compares them, so no argument can mean one thing to the gate and another to it.
#include <gtest/gtest.h>

#include <string>

#include "core/query.hpp"

namespace asset_gate::testing {
namespace {

TEST(Query, OneTokenIsFound) {
    const QueryArgs q = scan_query("token=abc");
    EXPECT_EQ(q.tokens, 1);
    EXPECT_EQ(q.token, "abc");
    EXPECT_FALSE(q.download);
}

TEST(Query, PercentEncodedTokenNameCountsAsToken) {
    for (std::string_view args : {"token=a&%74oken=b", "token=a&t%6Fken=b", "token=a&%74%6F%6B%65%6E=b",
                                  "%74oken=a&token=b", "token=a&%74%6f%6b%65%6e=b"}) {
        EXPECT_EQ(scan_query(args).tokens, 2) << args;
    }
    const QueryArgs q = scan_query("%74oken=only");
    EXPECT_EQ(q.tokens, 1);
    EXPECT_EQ(q.token, "only");
}

TEST(Query, NamesThatDecodeToSomethingElseAreNotTokens) {
    for (std::string_view args : {"%2574oken=a", "Token=a", "token%00=a", "tokenx=a", "toke=a",
                                  "%74oke=a", "token+=a", "%7=a", "%=a", "token%="}) {
        EXPECT_EQ(scan_query(args).tokens, 0) << args;
    }
}

TEST(Query, ANameWithoutValueCountsWithAnEmptyValue) {
    const QueryArgs q = scan_query("token");
    EXPECT_EQ(q.tokens, 1);
    EXPECT_TRUE(q.token.empty());
    EXPECT_EQ(scan_query("token&token=a").tokens, 2);
}

TEST(Query, EmptyPartsAreSkipped) {
    EXPECT_EQ(scan_query("&&token=a&&").tokens, 1);
    EXPECT_EQ(scan_query("").tokens, 0);
}

TEST(Query, DownloadIsExactlyTrueDecodedAndTheLastWins) {
    EXPECT_TRUE(scan_query("token=a&download=true").download);
    EXPECT_TRUE(scan_query("token=a&%64ownload=true").download);
    EXPECT_TRUE(scan_query("token=a&download=%74rue").download);
    EXPECT_TRUE(scan_query("download=false&download=true").download);
    EXPECT_FALSE(scan_query("download=true&download=false").download);
    EXPECT_FALSE(scan_query("download=true&%64ownload=1").download);
    for (std::string_view args : {"download=True", "download=1", "download=", "download",
                                  "download=true%00", "download=tru"}) {
        EXPECT_FALSE(scan_query(args).download) << args;
    }
}

TEST(Query, PercentDecodeLeavesInvalidEscapesAndPlusAlone) {
    char out[32];
    auto decode = [&](std::string_view in) { return std::string(out, percent_decode(in, out)); };
    EXPECT_EQ(decode("a%41b"), "aAb");
    EXPECT_EQ(decode("%4"), "%4");
    EXPECT_EQ(decode("%zz%41"), "%zzA");
    EXPECT_EQ(decode("a+b"), "a+b");
    EXPECT_EQ(decode("%"), "%");
    EXPECT_EQ(decode("%2E%2e"), "..");
    EXPECT_EQ(decode("%00").size(), 1u);
}

TEST(Query, DecodesToComparesWithoutABuffer) {
    EXPECT_TRUE(decodes_to("%74oken", "token"));
    EXPECT_TRUE(decodes_to("token", "token"));
    EXPECT_FALSE(decodes_to("%74oke", "token"));
    EXPECT_FALSE(decodes_to("%74okenn", "token"));
    EXPECT_FALSE(decodes_to("", "token"));
    EXPECT_TRUE(decodes_to("", ""));
}

}  // namespace
}  // namespace asset_gate::testing

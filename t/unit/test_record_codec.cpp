// The cache's record encodings: what goes in comes out, and corruption is refused.
#include <gtest/gtest.h>

#include <string>

#include "core/record_codec.hpp"

namespace asset_gate::testing {
namespace {

TEST(RecordCodec, AssetRoundTripsEveryField) {
    AssetRecord in;
    in.found = true;
    in.org = "org-1";
    in.format = "image/png";
    in.location = "exports/png/team-1/blob";
    in.filename = "export-weekly.png";
    in.expires_at = 1795956473;
    std::string enc;
    encode_asset(in, enc);
    AssetRecord out;
    ASSERT_TRUE(decode_asset(enc, &out));
    EXPECT_TRUE(out.found);
    EXPECT_EQ(out.org, in.org);
    EXPECT_EQ(out.format, in.format);
    EXPECT_EQ(out.location, in.location);
    EXPECT_EQ(out.filename, in.filename);
    EXPECT_EQ(out.expires_at, in.expires_at);
}

TEST(RecordCodec, EmptyOptionalFieldsRoundTrip) {
    AssetRecord in;
    in.found = true;
    in.org = "o";
    in.format = "text/csv";
    std::string enc;
    encode_asset(in, enc);
    AssetRecord out;
    ASSERT_TRUE(decode_asset(enc, &out));
    EXPECT_TRUE(out.location.empty());
    EXPECT_TRUE(out.filename.empty());
    EXPECT_EQ(out.expires_at, 0);
}

TEST(RecordCodec, TruncatedOrPaddedAssetEncodingIsRefused) {
    AssetRecord in;
    in.found = true;
    in.org = "org";
    in.format = "image/png";
    std::string enc;
    encode_asset(in, enc);
    for (size_t n = 0; n < enc.size(); n++) {
        AssetRecord out;
        EXPECT_FALSE(decode_asset(std::string_view(enc).substr(0, n), &out)) << n;
        EXPECT_FALSE(out.found);
    }
    AssetRecord out;
    EXPECT_FALSE(decode_asset(enc + "x", &out));
}

TEST(RecordCodec, OrgFlagsRoundTrip) {
    for (bool security : {false, true}) {
        for (bool allow : {false, true}) {
            OrgRecord in;
            in.found = true;
            in.security_settings = security;
            in.allow_public = allow;
            std::string enc;
            encode_org(in, enc);
            OrgRecord out;
            ASSERT_TRUE(decode_org(enc, &out));
            EXPECT_TRUE(out.found);
            EXPECT_EQ(out.security_settings, security);
            EXPECT_EQ(out.allow_public, allow);
        }
    }
    OrgRecord out;
    EXPECT_FALSE(decode_org("1", &out));
    EXPECT_FALSE(out.found);
}

}  // namespace
}  // namespace asset_gate::testing

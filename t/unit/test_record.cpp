// Redis records (DESIGN.md section 4): what makes an asset or org found, and every fail-closed
// case.
#include <gtest/gtest.h>

#include <string>

#include "core/record.hpp"
#include "record_fixtures.hpp"

namespace asset_gate {
namespace {

using test::Hash;

// A valid asset with one field replaced (or added) last, so "last wins" applies.
AssetRecord asset_with(std::string_view name, std::string_view value) {
    Hash h = test::png_asset();
    h.fields.push_back({name, value});
    return h.asset();
}

OrgRecord org_with(std::string_view name, std::string_view value) {
    return Hash{{name, value}}.org();
}

// --- asset: found ---------------------------------------------------------------------------

TEST(AssetRecord, AllFieldsAreReadIntoViews) {
    const Hash h = test::png_asset();
    const AssetRecord rec = h.asset();
    ASSERT_TRUE(rec.found);
    EXPECT_EQ(rec.org, "org-1");
    EXPECT_EQ(rec.format, "image/png");
    EXPECT_EQ(rec.location, "exports/png/team-1/task-101/blob");
    EXPECT_EQ(rec.filename, "export-weekly-2026-05-27.png");
    EXPECT_EQ(rec.expires_at, 0);
    EXPECT_EQ(rec.org.data(), h.fields[0].value.data());
}

TEST(AssetRecord, OrgAndFormatAloneAreEnough) {
    const AssetRecord rec = Hash{{"org", "o"}, {"format", "text/csv"}}.asset();
    EXPECT_TRUE(rec.found);
    EXPECT_TRUE(rec.location.empty());
    EXPECT_TRUE(rec.filename.empty());
    EXPECT_EQ(rec.expires_at, 0);
}

TEST(AssetRecord, FieldOrderDoesNotMatter) {
    const AssetRecord rec = Hash{
        {"expires_at", "5"},
        {"location", "a/b"},
        {"format", "image/gif"},
        {"org", "o"}}.asset();
    EXPECT_TRUE(rec.found);
    EXPECT_EQ(rec.expires_at, 5);
    EXPECT_EQ(rec.location, "a/b");
}

TEST(AssetRecord, UnknownFieldsAreIgnored) {
    const AssetRecord rec = asset_with("content", "\x89PNG");
    EXPECT_TRUE(rec.found);
    EXPECT_TRUE(asset_with("ORG", "").found);  // field names are case-sensitive
}

TEST(AssetRecord, DuplicateFieldLastWins) {
    EXPECT_EQ(asset_with("org", "org-2").org, "org-2");
    EXPECT_EQ(asset_with("format", "application/pdf").format, "application/pdf");
    EXPECT_EQ(asset_with("location", "x/y").location, "x/y");
    EXPECT_EQ(asset_with("filename", "other.png").filename, "other.png");
    EXPECT_FALSE(asset_with("org", "").found);
    EXPECT_TRUE(asset_with("location", "").location.empty());
    const AssetRecord rec = Hash{{"org", ""}, {"format", "image/png"}, {"org", "o"}}.asset();
    EXPECT_TRUE(rec.found);
    EXPECT_EQ(rec.org, "o");
}

TEST(AssetRecord, FormatWithParametersIsAccepted) {
    EXPECT_TRUE(asset_with("format", "text/csv; charset=utf-8").found);
    EXPECT_TRUE(asset_with("format", "text/csv;charset=utf-8").found);
    EXPECT_TRUE(asset_with("format", "text/csv ; charset=\"utf-8\"").found);
    EXPECT_TRUE(asset_with("format", "image/svg+xml").found);
    EXPECT_TRUE(asset_with("format", "application/vnd.ms-excel").found);
}

// --- asset: fail closed ---------------------------------------------------------------------

TEST(AssetRecord, EmptyFieldListIsNotFound) {
    EXPECT_FALSE(parse_asset(nullptr, 0).found);
    EXPECT_FALSE(Hash{}.asset().found);
}

TEST(AssetRecord, MissingOrEmptyOrgIsNotFound) {
    EXPECT_FALSE((Hash{{"format", "image/png"}, {"location", "a"}}.asset().found));
    EXPECT_FALSE((Hash{{"org", ""}, {"format", "image/png"}}.asset().found));
}

TEST(AssetRecord, OrgWithControlBytesIsNotFound) {
    EXPECT_FALSE(asset_with("org", std::string_view("org-1\0x", 7)).found);
    EXPECT_FALSE(asset_with("org", "org\r\n").found);
    EXPECT_FALSE(asset_with("org", "org\x7f").found);
}

TEST(AssetRecord, MissingOrEmptyFormatIsNotFound) {
    EXPECT_FALSE((Hash{{"org", "o"}, {"location", "a"}}.asset().found));
    EXPECT_FALSE((Hash{{"org", "o"}, {"format", ""}}.asset().found));
}

TEST(AssetRecord, FormatThatIsNotTypeSlashSubtypeIsNotFound) {
    for (std::string_view f :
         {"png", "image/", "/png", "/", "image//png", "image/png/x", " image/png", "image /png",
          "image/p ng", "image/pn\"g", "image/png ", "image/png x", "image/png,text/csv"}) {
        EXPECT_FALSE(asset_with("format", f).found) << f;
    }
}

TEST(AssetRecord, FormatWithControlOrNonAsciiBytesIsNotFound) {
    // The format becomes the Content-Type header: no header splitting.
    EXPECT_FALSE(asset_with("format", "image/png\r\nSet-Cookie: a=b").found);
    EXPECT_FALSE(asset_with("format", "text/csv; charset=\n").found);
    EXPECT_FALSE(asset_with("format", std::string_view("image/png\0", 10)).found);
    EXPECT_FALSE(asset_with("format", "text/csv; name=caf\xc3\xa9").found);
}

TEST(AssetRecord, UnsafeLocationIsNotFound) {
    for (std::string_view loc : {"/etc/passwd", "../secret", "a/../../b", "a/..", "./a", "a/./b",
                                 "a//b", "a/", "/", "a\\b", "..\\a", "a\tb", "a\x7f"}) {
        EXPECT_FALSE(asset_with("location", loc).found) << loc;
    }
    EXPECT_FALSE(asset_with("location", std::string_view("a\0b", 3)).found);
}

TEST(AssetRecord, LocationOf1024BytesIsFoundAnd1025IsNotFound) {
    const std::string ok(1024, 'a');
    const std::string too_long(1025, 'a');
    EXPECT_TRUE(asset_with("location", ok).found);
    EXPECT_FALSE(asset_with("location", too_long).found);
}

TEST(AssetRecord, MissingOrEmptyLocationIsFoundWithNothingToServe) {
    EXPECT_TRUE((Hash{{"org", "o"}, {"format", "image/png"}, {"location", ""}}.asset().found));
}

TEST(AssetRecord, UnsafeFilenameIsDroppedNotFatal) {
    for (std::string_view name : {"a\"b.png", "a\\b.png", "a\r\nb.png", "a\x7f.png"}) {
        const AssetRecord rec = asset_with("filename", name);
        EXPECT_TRUE(rec.found) << name;
        EXPECT_TRUE(rec.filename.empty()) << name;
    }
    EXPECT_EQ(asset_with("filename", "Weekly report (Q3).png").filename, "Weekly report (Q3).png");
}

// --- asset: expires_at ----------------------------------------------------------------------

TEST(AssetRecord, ExpiresAtAbsentEmptyOrZeroMeansNever) {
    EXPECT_EQ(test::png_asset().asset().expires_at, 0);
    EXPECT_EQ(asset_with("expires_at", "").expires_at, 0);
    EXPECT_EQ(asset_with("expires_at", "0").expires_at, 0);
    EXPECT_EQ(asset_with("expires_at", "0.0").expires_at, 0);
    EXPECT_EQ(asset_with("expires_at", "000").expires_at, 0);
}

TEST(AssetRecord, ExpiresAtIsUnixSeconds) {
    const AssetRecord rec = asset_with("expires_at", "1700000000");
    EXPECT_TRUE(rec.found);
    EXPECT_EQ(rec.expires_at, 1700000000);
    EXPECT_EQ(asset_with("expires_at", "9223372036854775807").expires_at, INT64_MAX);
}

TEST(AssetRecord, ExpiresAtFractionIsTruncated) {
    EXPECT_EQ(asset_with("expires_at", "1700000000.5").expires_at, 1700000000);
    EXPECT_EQ(asset_with("expires_at", "1700000000.999999").expires_at, 1700000000);
    EXPECT_EQ(asset_with("expires_at", "1700000000.0").expires_at, 1700000000);
}

TEST(AssetRecord, ExpiresAtBelowOneSecondIsExpiredNotNever) {
    // Only a value equal to zero means "never"; truncating 0.5 must not lift the expiry.
    EXPECT_EQ(asset_with("expires_at", "0.5").expires_at, 1);
}

TEST(AssetRecord, UnparsableExpiresAtIsNotFound) {
    for (std::string_view v :
         {"abc", "-5", "+5", " 5", "5 ", "1e9", "1.7e9", "1.", ".5", "1.2.3", "1,5", "0x10",
          "never", "9223372036854775808", "99999999999999999999", "1700000000.5x"}) {
        EXPECT_FALSE(asset_with("expires_at", v).found) << v;
    }
}

// --- location_is_safe -----------------------------------------------------------------------

TEST(Location, RelativePathsBelowTheRootAreSafe) {
    for (std::string_view loc :
         {"a", "blob", "exports/png/team-1/task-101/blob", "a/b.c/d", "...", "a/.../b", "..a",
          "a..", ".hidden", "a/.b", "with space/x", "caf\xc3\xa9/x", "a%2F..%2Fb"}) {
        EXPECT_TRUE(location_is_safe(loc)) << loc;
    }
}

TEST(Location, EmptyIsNotSafe) {
    EXPECT_FALSE(location_is_safe(""));
}

TEST(Location, LeadingSlashIsNotSafe) {
    EXPECT_FALSE(location_is_safe("/a"));
    EXPECT_FALSE(location_is_safe("/"));
}

TEST(Location, DotAndDotDotSegmentsAreNotSafe) {
    for (std::string_view loc : {".", "..", "../a", "a/..", "a/../b", "./a", "a/.", "a/./b"}) {
        EXPECT_FALSE(location_is_safe(loc)) << loc;
    }
}

TEST(Location, EmptySegmentsAreNotSafe) {
    EXPECT_FALSE(location_is_safe("a//b"));
    EXPECT_FALSE(location_is_safe("a/"));
    EXPECT_FALSE(location_is_safe("//a"));
}

TEST(Location, BackslashIsNotSafe) {
    EXPECT_FALSE(location_is_safe("a\\b"));
    EXPECT_FALSE(location_is_safe("..\\..\\etc"));
}

TEST(Location, ControlBytesAreNotSafe) {
    for (int b = 0; b < 0x20; ++b) {
        std::string loc = "a";
        loc += static_cast<char>(b);
        loc += "b";
        EXPECT_FALSE(location_is_safe(loc)) << "byte " << b;
    }
    EXPECT_FALSE(location_is_safe("a\x7f"));
}

TEST(Location, AtMost1024Bytes) {
    EXPECT_TRUE(location_is_safe(std::string(1024, 'a')));
    EXPECT_FALSE(location_is_safe(std::string(1025, 'a')));
}

// --- org ------------------------------------------------------------------------------------

TEST(OrgRecord, EmptyFieldListIsNotFound) {
    EXPECT_FALSE(parse_org(nullptr, 0).found);
    EXPECT_FALSE(Hash{}.org().found);
}

TEST(OrgRecord, AnyNonEmptyHashIsFound) {
    const OrgRecord rec = Hash{{"name", "Acme"}}.org();
    EXPECT_TRUE(rec.found);
    EXPECT_FALSE(rec.security_settings);
    EXPECT_TRUE(rec.allow_public);
}

TEST(OrgRecord, SecuritySettingsIsTrueOnlyForOne) {
    EXPECT_TRUE(org_with("security_settings", "1").security_settings);
    for (std::string_view v : {"0", "", "true", "yes", "01", "1 ", "2"}) {
        EXPECT_FALSE(org_with("security_settings", v).security_settings) << v;
    }
}

TEST(OrgRecord, AllowPublicIsFalseOnlyForZero) {
    EXPECT_FALSE(org_with("allow_public", "0").allow_public);
    for (std::string_view v : {"1", "", "false", "00", "0 "}) {
        EXPECT_TRUE(org_with("allow_public", v).allow_public) << v;
    }
    EXPECT_TRUE(org_with("security_settings", "1").allow_public);  // absent = 1
}

TEST(OrgRecord, SharingOnAndOffAsTheApplicationWritesThem) {
    const OrgRecord on = test::org_sharing_on().org();
    const OrgRecord off = test::org_sharing_off().org();
    EXPECT_TRUE(on.found && on.security_settings && on.allow_public);
    EXPECT_TRUE(off.found && off.security_settings && !off.allow_public);
}

TEST(OrgRecord, DuplicateFieldLastWins) {
    const OrgRecord rec =
        Hash{{"allow_public", "0"}, {"security_settings", "1"}, {"allow_public", "1"}}.org();
    EXPECT_TRUE(rec.allow_public);
    EXPECT_FALSE(
        (Hash{{"security_settings", "1"}, {"security_settings", "0"}}.org().security_settings));
}

}  // namespace
}  // namespace asset_gate

// Redis records (DESIGN.md section 4): what makes an asset or org found, and every fail-closed
// case.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/record.hpp"
#include "record_fixtures.hpp"

namespace asset_gate::testing {
namespace {

// A valid asset with one field replaced (or added) last, so "last wins" applies.
AssetRecord asset_with(std::string_view name, std::string_view value) {
    Hash h = png_asset();
    h.fields.push_back({name, value});
    return h.asset();
}

OrgRecord org_with(std::string_view name, std::string_view value) {
    return Hash{{name, value}}.org();
}

// --- asset: found ---------------------------------------------------------------------------

TEST(AssetRecord, AllFieldsAreReadIntoViews) {
    const Hash h = png_asset();
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
    EXPECT_TRUE(asset_with("org", "").bad);
    EXPECT_TRUE(asset_with("location", "").bad);  // present but empty: malformed
    const AssetRecord rec = Hash{{"org", ""}, {"format", "image/png"}, {"org", "o"}}.asset();
    EXPECT_TRUE(rec.found);
    EXPECT_EQ(rec.org, "o");
}

TEST(AssetRecord, FormatWithParametersIsAccepted) {
    EXPECT_TRUE(asset_with("format", "text/csv; charset=utf-8").found);
    EXPECT_TRUE(asset_with("format", "text/csv;charset=utf-8").found);
    EXPECT_TRUE(asset_with("format", "text/csv ; charset=\"utf-8\"").found);
    EXPECT_TRUE(asset_with("format", "application/x-ndjson; charset=utf-8").found);
}

TEST(AssetRecord, FormatWhoseExtensionNoNameCanEndInIsBad) {
    // `svg+xml` is outside the name alphabet: no link could ever fetch it.
    EXPECT_TRUE(asset_with("format", "image/svg+xml").bad);
    EXPECT_TRUE(asset_with("format", "text/x~y").bad);
    EXPECT_TRUE(asset_with("format", "application/a.b").bad);  // an extension has no dot
    EXPECT_TRUE(asset_with("format", "application/vnd.ms-excel").bad);
    EXPECT_TRUE(asset_with("format", "image/jpeg").found);    // PostHog's `.jpeg`
}

TEST(AssetRecord, MalformedRecordsAreBadNotMissing) {
    // Bad means the key exists: reason bad_record, never asset_unknown and never open.
    for (const AssetRecord &rec : {asset_with("org", ""), asset_with("expires_at", "x"),
                                   asset_with("location", "../a"), asset_with("format", "png")}) {
        EXPECT_FALSE(rec.found);
        EXPECT_TRUE(rec.bad);
    }
    EXPECT_FALSE(Hash{}.asset().bad);
}

TEST(AssetRecord, KnownFieldsAfterManyUnknownOnesAreRead) {
    // Records are read whole: the security-relevant field written last still counts.
    std::vector<std::string> names;
    for (int i = 0; i < 300; ++i) names.push_back("extra_" + std::to_string(i));
    Hash h = png_asset();
    for (const std::string &n : names) h.fields.push_back({n, "v"});
    h.fields.push_back({"expires_at", "1700000000"});
    const AssetRecord rec = h.asset();
    EXPECT_TRUE(rec.found);
    EXPECT_EQ(rec.expires_at, 1700000000);
}

TEST(AssetRecord, RecordOver64KiBIsBad) {
    const std::string big(kMaxRecordSize, 'x');
    EXPECT_TRUE(asset_with("padding", big).bad);
    Hash h = png_asset();
    const std::string fits(kMaxRecordSize - 200, 'x');
    h.fields.push_back({"padding", fits});
    EXPECT_TRUE(h.asset().found);
}

// --- asset: fail closed ---------------------------------------------------------------------

TEST(AssetRecord, EmptyFieldListIsNotFound) {
    EXPECT_FALSE(parse_asset(nullptr, 0).found);
    EXPECT_FALSE(parse_asset(nullptr, 0).bad);
    EXPECT_FALSE(Hash{}.asset().found);
}

TEST(AssetRecord, MissingOrEmptyOrgIsBad) {
    EXPECT_TRUE((Hash{{"format", "image/png"}, {"location", "a"}}.asset().bad));
    EXPECT_TRUE((Hash{{"org", ""}, {"format", "image/png"}}.asset().bad));
}

TEST(AssetRecord, OrgWithControlBytesIsBad) {
    EXPECT_TRUE(asset_with("org", std::string_view("org-1\0x", 7)).bad);
    EXPECT_TRUE(asset_with("org", "org\r\n").bad);
    EXPECT_TRUE(asset_with("org", "org\x7f").bad);
}

TEST(AssetRecord, MissingOrEmptyFormatIsBad) {
    EXPECT_TRUE((Hash{{"org", "o"}, {"location", "a"}}.asset().bad));
    EXPECT_TRUE((Hash{{"org", "o"}, {"format", ""}}.asset().bad));
}

TEST(AssetRecord, FormatThatIsNotTypeSlashSubtypeIsBad) {
    for (std::string_view f :
         {"png", "image/", "/png", "/", "image//png", "image/png/x", " image/png", "image /png",
          "image/p ng", "image/pn\"g", "image/png ", "image/png x", "image/png,text/csv"}) {
        EXPECT_TRUE(asset_with("format", f).bad) << f;
    }
}

TEST(AssetRecord, FormatWithControlOrNonAsciiBytesIsBad) {
    // The format becomes the Content-Type header: no header splitting.
    EXPECT_TRUE(asset_with("format", "image/png\r\nSet-Cookie: a=b").bad);
    EXPECT_TRUE(asset_with("format", "text/csv; charset=\n").bad);
    EXPECT_TRUE(asset_with("format", std::string_view("image/png\0", 10)).bad);
    EXPECT_TRUE(asset_with("format", "text/csv; name=caf\xc3\xa9").bad);
}

TEST(AssetRecord, UnsafeLocationIsBad) {
    for (std::string_view loc : {"/etc/passwd", "../secret", "a/../../b", "a/..", "./a", "a/./b",
                                 "a//b", "a/", "/", "a\\b", "..\\a", "a\tb", "a\x7f"}) {
        EXPECT_TRUE(asset_with("location", loc).bad) << loc;
    }
    EXPECT_TRUE(asset_with("location", std::string_view("a\0b", 3)).bad);
}

TEST(AssetRecord, LocationOf1024BytesIsFoundAnd1025IsBad) {
    const std::string ok(1024, 'a');
    const std::string too_long(1025, 'a');
    EXPECT_TRUE(asset_with("location", ok).found);
    EXPECT_TRUE(asset_with("location", too_long).bad);
}

TEST(AssetRecord, MissingLocationIsFoundWithNothingToServe) {
    const AssetRecord rec = Hash{{"org", "o"}, {"format", "image/png"}}.asset();
    EXPECT_TRUE(rec.found);
    EXPECT_TRUE(rec.location.empty());
}

TEST(AssetRecord, FilenameWithControlBytesIsBad) {
    for (std::string_view name : {"a\r\nb.png", "a\x7f.png", "a\tb.png"}) {
        EXPECT_TRUE(asset_with("filename", name).bad) << name;
    }
}

TEST(AssetRecord, FilenameWithQuotesIsKeptForTheDispositionToEscape) {
    for (std::string_view name : {"a\"b.png", "a\\b.png"}) {
        EXPECT_EQ(asset_with("filename", name).filename, name);
    }
    EXPECT_EQ(asset_with("filename", "Weekly report (Q3).png").filename, "Weekly report (Q3).png");
}

// A download name is the record's filename, not a file on disk: 255 bytes is no limit, and
// neither is the 1024 of a link's name (the record's 64 KiB bounds it).
TEST(AssetRecord, FilenamesOf255To1025BytesAreKeptWhole) {
    for (std::size_t size : {255u, 256u, 1024u, 1025u}) {
        const std::string name = std::string(size - 5, 'f') + ".jpeg";
        const AssetRecord rec = asset_with("filename", name);
        ASSERT_TRUE(rec.found) << size;
        EXPECT_EQ(rec.filename.size(), size);
    }
}

// --- sync:heartbeat ---------------------------------------------------------------------------

TEST(Heartbeat, UnixSecondsAsADecimalIntegerParse) {
    std::int64_t at = -1;
    EXPECT_TRUE(parse_heartbeat("1795956473", &at));
    EXPECT_EQ(at, 1795956473);
    EXPECT_TRUE(parse_heartbeat("0", &at));
    EXPECT_EQ(at, 0);
    EXPECT_TRUE(parse_heartbeat("9223372036854775807", &at));
    EXPECT_EQ(at, INT64_MAX);
}

TEST(Heartbeat, AnythingElseIsUnparsable) {
    for (std::string_view text : {"", " 5", "5 ", "1.5", "1795956473.25", "-1", "+5", "1e9", "0x10",
                                  "9223372036854775808", "5\n", "abc", "\xd9\xa1"}) {
        std::int64_t at = 42;
        EXPECT_FALSE(parse_heartbeat(text, &at)) << text;
        EXPECT_EQ(at, 42) << text;  // untouched
    }
}

// --- asset: expires_at ----------------------------------------------------------------------

TEST(AssetRecord, ExpiresAtAbsentOrZeroMeansNever) {
    EXPECT_EQ(png_asset().asset().expires_at, 0);
    EXPECT_EQ(asset_with("expires_at", "0").expires_at, 0);
    EXPECT_EQ(asset_with("expires_at", "000").expires_at, 0);
}

TEST(AssetRecord, ExpiresAtIsUnixSeconds) {
    const AssetRecord rec = asset_with("expires_at", "1700000000");
    EXPECT_TRUE(rec.found);
    EXPECT_EQ(rec.expires_at, 1700000000);
    EXPECT_EQ(asset_with("expires_at", "9223372036854775807").expires_at, INT64_MAX);
}

TEST(AssetRecord, UnparsableExpiresAtIsBad) {
    for (std::string_view v :
         {"abc", "-5", "+5", " 5", "5 ", "1e9", "1.7e9", "1.", ".5", "1.2.3", "1,5", "0x10",
          "never", "9223372036854775808", "99999999999999999999", "1700000000.5x", "",
          "1700000000.5", "0.5", "0.0"}) {
        EXPECT_TRUE(asset_with("expires_at", v).bad) << v;
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

TEST(OrgRecord, FlagsAreExactlyZeroOrOne) {
    EXPECT_TRUE(org_with("security_settings", "1").security_settings);
    EXPECT_FALSE(org_with("security_settings", "0").security_settings);
    EXPECT_FALSE(org_with("allow_public", "0").allow_public);
    EXPECT_TRUE(org_with("allow_public", "1").allow_public);
    EXPECT_TRUE(org_with("security_settings", "1").allow_public);  // absent = 1
}

TEST(OrgRecord, AnyOtherFlagValueIsBadNeverOpen) {
    for (std::string_view v : {"", "true", "false", "yes", "01", "00", "1 ", " 0", "2", "-0"}) {
        EXPECT_TRUE(org_with("security_settings", v).bad) << v;
        EXPECT_TRUE(org_with("allow_public", v).bad) << v;
        EXPECT_FALSE(org_with("allow_public", v).found) << v;
    }
}

TEST(OrgRecord, SwitchWrittenAfterManyFieldsIsRead) {
    std::vector<std::string> names;
    for (int i = 0; i < 100; ++i) names.push_back("f" + std::to_string(i));
    Hash h{};
    for (const std::string &n : names) h.fields.push_back({n, "x"});
    h.fields.push_back({"security_settings", "1"});
    h.fields.push_back({"allow_public", "0"});
    const OrgRecord rec = h.org();
    EXPECT_TRUE(rec.found && rec.security_settings && !rec.allow_public);
}

TEST(OrgRecord, RecordOver64KiBIsBad) {
    const std::string big(kMaxRecordSize, 'x');
    EXPECT_TRUE(org_with("name", big).bad);
}

TEST(OrgRecord, SharingOnAndOffAsTheApplicationWritesThem) {
    const OrgRecord on = org_sharing_on().org();
    const OrgRecord off = org_sharing_off().org();
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
}  // namespace asset_gate::testing

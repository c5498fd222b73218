// The decision (DESIGN.md sections 1-4): purpose x surface, format extensions, asset checks, org
// gate.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "core/decision.hpp"
#include "core/path.hpp"
#include "record_fixtures.hpp"

namespace asset_gate::testing {
namespace {

constexpr std::int64_t kNow = 1780000000;

// --- the vocabulary: every purpose and surface has one name, and parsing inverts it ----------

TEST(Vocabulary, EveryPurposeNameParsesBackToItsPurpose) {
    for (int i = 0; i < kPurposeCount; i++) {
        const auto p = static_cast<Purpose>(i);
        ASSERT_FALSE(purpose_name(p).empty()) << i;
        Purpose parsed = Purpose::public_;
        EXPECT_TRUE(parse_purpose(purpose_name(p), &parsed)) << purpose_name(p);
        EXPECT_EQ(parsed, p) << purpose_name(p);
    }
    EXPECT_EQ(purpose_name(Purpose::public_), "public");
    EXPECT_EQ(purpose_name(Purpose::subscription_delivery), "subscription_delivery");
}

TEST(Vocabulary, OtherSpellingsAreNoPurpose) {
    Purpose parsed = Purpose::render;
    for (const char *name : {"", "Render", "render ", "subscription", "public_", "PUBLIC"}) {
        EXPECT_FALSE(parse_purpose(name, &parsed)) << name;
    }
    EXPECT_EQ(parsed, Purpose::render);  // untouched on refusal
}

TEST(Vocabulary, EverySurfaceAndReasonHasAName) {
    for (int i = 0; i < kSurfaceCount; i++)
        EXPECT_FALSE(surface_name(static_cast<Surface>(i)).empty());
    for (int i = 0; i < kReasonCount; i++)
        EXPECT_FALSE(reason_name(static_cast<Reason>(i)).empty());
    EXPECT_EQ(surface_name(Surface::malformed), "malformed");
    EXPECT_EQ(reason_name(Reason::redis_error), "redis_error");
}

// --- step 5: purpose x surface --------------------------------------------------------------

TEST(DecidePurpose, RenderTokenAllowedOnRenderSurface) {
    EXPECT_EQ(decide_purpose(Purpose::render, Surface::render), Reason::allowed);
}

TEST(DecidePurpose, RenderTokenRefusedOnContentSurface) {
    EXPECT_EQ(decide_purpose(Purpose::render, Surface::content), Reason::purpose_surface);
}

TEST(DecidePurpose, SubscriptionDeliveryTokenAllowedOnContentSurface) {
    EXPECT_EQ(decide_purpose(Purpose::subscription_delivery, Surface::content), Reason::allowed);
}

TEST(DecidePurpose, SubscriptionDeliveryTokenRefusedOnRenderSurface) {
    EXPECT_EQ(decide_purpose(Purpose::subscription_delivery, Surface::render),
              Reason::purpose_surface);
}

TEST(DecidePurpose, PublicTokenAllowedOnBothSurfaces) {
    EXPECT_EQ(decide_purpose(Purpose::public_, Surface::render), Reason::allowed);
    EXPECT_EQ(decide_purpose(Purpose::public_, Surface::content), Reason::allowed);
}

TEST(DecidePurpose, MalformedSurfaceRefusedForEveryPurpose) {
    for (Purpose p : {Purpose::public_, Purpose::render, Purpose::subscription_delivery}) {
        EXPECT_EQ(decide_purpose(p, Surface::malformed), Reason::malformed_path) << purpose_name(p);
    }
}

// --- PostHog's 12-case matrix: sharing on/off x 3 purposes x 2 surfaces ---------------------
//
// The org has the security-settings feature (as in test_exported_asset_token_access_matrix);
// "sharing" is allow_public. Each case runs the whole core path: classify, purpose, asset, org.

struct MatrixCase {
    const char *name;
    bool sharing;
    Purpose purpose;
    Surface surface;
    Reason expected;
};

constexpr MatrixCase kMatrix[] = {
    {"sharing_off_public_on_page", false, Purpose::public_, Surface::render, Reason::org_blocked},
    {"sharing_off_public_on_file", false, Purpose::public_, Surface::content, Reason::org_blocked},
    {"sharing_off_render_on_page", false, Purpose::render, Surface::render, Reason::allowed},
    {"sharing_off_render_on_file", false, Purpose::render, Surface::content,
     Reason::purpose_surface},
    {"sharing_off_subscription_on_page", false, Purpose::subscription_delivery, Surface::render,
     Reason::purpose_surface},
    {"sharing_off_subscription_on_file", false, Purpose::subscription_delivery, Surface::content,
     Reason::allowed},
    {"sharing_on_public_on_page", true, Purpose::public_, Surface::render, Reason::allowed},
    {"sharing_on_public_on_file", true, Purpose::public_, Surface::content, Reason::allowed},
    {"sharing_on_render_on_page", true, Purpose::render, Surface::render, Reason::allowed},
    {"sharing_on_render_on_file", true, Purpose::render, Surface::content, Reason::purpose_surface},
    {"sharing_on_subscription_on_page", true, Purpose::subscription_delivery, Surface::render,
     Reason::purpose_surface},
    {"sharing_on_subscription_on_file", true, Purpose::subscription_delivery, Surface::content,
     Reason::allowed},
};

// Steps 2, 5, 7 and 8 in request order, stopping at the first refusal.
Reason decide_request(std::string_view uri, Purpose purpose, const AssetRecord &asset,
                      const OrgRecord &org, std::int64_t now) {
    const PathInfo path = classify_path(uri, "/exporter");
    if (Reason r = decide_purpose(purpose, path.surface); r != Reason::allowed) return r;
    if (Reason r = decide_asset(asset, path.surface, path.ext, now); r != Reason::allowed) return r;
    return decide_org(purpose, org);
}

class PostHogMatrix : public ::testing::TestWithParam<MatrixCase> {};

TEST_P(PostHogMatrix, PurposeSurfaceAndOrgGateDecideAsPostHogDoes) {
    const MatrixCase &c = GetParam();
    const Hash asset_hash = png_asset();
    const Hash org_hash = c.sharing ? org_sharing_on() : org_sharing_off();
    const AssetRecord asset = asset_hash.asset();
    const OrgRecord org = org_hash.org();
    ASSERT_TRUE(asset.found);
    ASSERT_TRUE(org.found);

    const std::string_view uri =
        c.surface == Surface::render ? "/exporter" : "/exporter/export-weekly-2026-05-27.png";
    ASSERT_EQ(classify_path(uri, "/exporter").surface, c.surface);
    EXPECT_EQ(decide_request(uri, c.purpose, asset, org, kNow), c.expected);
}

INSTANTIATE_TEST_SUITE_P(AllTwelveCases, PostHogMatrix, ::testing::ValuesIn(kMatrix),
                         [](const ::testing::TestParamInfo<MatrixCase> &info) {
                             return std::string(info.param.name);
                         });

// --- step 8: the org gate -------------------------------------------------------------------

TEST(DecideOrg, PurposeTokensIgnoreTheOrgEntirely) {
    const OrgRecord missing;
    const OrgRecord blocked = org_sharing_off().org();
    for (Purpose p : {Purpose::render, Purpose::subscription_delivery}) {
        EXPECT_EQ(decide_org(p, missing), Reason::allowed) << purpose_name(p);
        EXPECT_EQ(decide_org(p, blocked), Reason::allowed) << purpose_name(p);
    }
}

TEST(DecideOrg, PublicTokenWithoutOrgRecordIsRefused) {
    EXPECT_EQ(decide_org(Purpose::public_, OrgRecord{}), Reason::org_unknown);
    EXPECT_EQ(decide_org(Purpose::public_, Hash{}.org()), Reason::org_unknown);
}

TEST(DecideOrg, PublicTokenBlockedWhenSecurityFeatureAndSharingOff) {
    EXPECT_EQ(decide_org(Purpose::public_, org_sharing_off().org()), Reason::org_blocked);
}

TEST(DecideOrg, PublicTokenAllowedWhenSharingOn) {
    EXPECT_EQ(decide_org(Purpose::public_, org_sharing_on().org()), Reason::allowed);
}

TEST(DecideOrg, OrgWithoutSecurityFeatureIgnoresAllowPublic) {
    const Hash no_feature{{"security_settings", "0"}, {"allow_public", "0"}};
    EXPECT_EQ(decide_org(Purpose::public_, no_feature.org()), Reason::allowed);
    const Hash feature_absent{{"allow_public", "0"}};
    EXPECT_EQ(decide_org(Purpose::public_, feature_absent.org()), Reason::allowed);
}

TEST(DecideOrg, AllowPublicAbsentMeansAllowed) {
    const Hash allow_public_absent{{"security_settings", "1"}};
    EXPECT_EQ(decide_org(Purpose::public_, allow_public_absent.org()), Reason::allowed);
}

// --- format -> extension --------------------------------------------------------------------
// The table is the core's (format_extensions()); these tests pin what must hold of every entry
// and a few entries the contract names, without restating it.

TEST(FormatExtensions, TableHoldsTheFormatsPostHogExports) {
    const FormatExtension spots[] = {
        {"image/png", "png"},
        {"application/pdf", "pdf"},
        {"text/csv", "csv"},
        {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"},
        {"application/x-ndjson", "jsonl"},
        {"image/jpeg", "jpeg"},  // PostHog's JPEG exports are named .jpeg
    };
    for (const FormatExtension &spot : spots) {
        const auto *entry =
            std::find_if(format_extensions().begin(), format_extensions().end(),
                         [&](const FormatExtension &e) { return e.format == spot.format; });
        ASSERT_NE(entry, format_extensions().end()) << spot.format;
        EXPECT_EQ(entry->ext, spot.ext) << spot.format;
    }
}

TEST(FormatExtensions, EveryEntryIsWhatExtensionForFormatAnswers) {
    ASSERT_GT(format_extensions().size(), 0u);
    for (const FormatExtension &e : format_extensions()) {
        EXPECT_EQ(extension_for_format(e.format), e.ext) << e.format;
        EXPECT_EQ(extension_for_format(std::string(e.format) + "; charset=utf-8"), e.ext)
            << e.format;
    }
}

TEST(FormatExtensions, EveryEntryIsABareEssenceWithANameableExtension) {
    for (const FormatExtension &e : format_extensions()) {
        // type/subtype without parameters, as the lookup compares it.
        const std::size_t slash = e.format.find('/');
        ASSERT_NE(slash, std::string_view::npos) << e.format;
        EXPECT_GT(slash, 0u) << e.format;
        EXPECT_LT(slash + 1, e.format.size()) << e.format;
        EXPECT_EQ(e.format.find_first_of("; \t"), std::string_view::npos) << e.format;
        // A content name can end in it: the name alphabet, without '.'.
        EXPECT_FALSE(e.ext.empty()) << e.format;
        EXPECT_EQ(e.ext.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789_-"),
                  std::string_view::npos)
            << e.format;
        // And an asset record of that format is well formed.
        EXPECT_TRUE(Hash({{"org", "org-1"}, {"format", e.format}}).asset().found) << e.format;
    }
}

TEST(FormatExtensions, NoFormatIsListedTwice) {
    const FormatExtensionTable table = format_extensions();
    for (const FormatExtension *a = table.begin(); a != table.end(); ++a) {
        for (const FormatExtension *b = a + 1; b != table.end(); ++b) {
            EXPECT_NE(a->format, b->format);  // the second would never be reached
        }
    }
}

TEST(ExtensionForFormat, AnyOtherFormatUsesItsSubtype) {
    EXPECT_EQ(extension_for_format("image/webp"), "webp");
    EXPECT_EQ(extension_for_format("image/jpeg"), "jpeg");
    EXPECT_EQ(extension_for_format("text/plain"), "plain");
    EXPECT_EQ(extension_for_format("image/svg+xml"), "svg+xml");
}

TEST(ExtensionForFormat, ParametersAreIgnored) {
    EXPECT_EQ(extension_for_format("text/csv; charset=utf-8"), "csv");
    EXPECT_EQ(extension_for_format("text/csv;charset=utf-8"), "csv");
    EXPECT_EQ(extension_for_format("application/x-ndjson ; charset=utf-8"), "jsonl");
    EXPECT_EQ(extension_for_format("image/webp;q=1"), "webp");
    EXPECT_EQ(extension_for_format("text/plain\t; a=b"), "plain");
}

TEST(ExtensionForFormat, TableLookupIsCaseSensitive) {
    EXPECT_EQ(extension_for_format("IMAGE/PNG"), "PNG");
    EXPECT_EQ(extension_for_format("application/X-NDJSON"), "X-NDJSON");
}

TEST(ExtensionForFormat, MalformedFormatHasNoExtension) {
    for (std::string_view f :
         {"", "png", "image", "image/", "/png", "/", "image/;a=b", "image/ "}) {
        EXPECT_TRUE(extension_for_format(f).empty()) << f;
    }
}

// --- step 7: the asset checks ---------------------------------------------------------------

AssetRecord asset_of(std::string_view format, std::int64_t expires_at = 0,
                     std::string_view location = "exports/blob") {
    AssetRecord a;
    a.found = true;
    a.org = "org-1";
    a.format = format;
    a.location = location;
    a.expires_at = expires_at;
    return a;
}

TEST(DecideAsset, MissingAssetIsUnknown) {
    EXPECT_EQ(decide_asset(AssetRecord{}, Surface::render, "", kNow), Reason::asset_unknown);
    EXPECT_EQ(decide_asset(AssetRecord{}, Surface::content, "png", kNow), Reason::asset_unknown);
}

TEST(DecideAsset, AssetExpiringExactlyNowIsExpired) {
    EXPECT_EQ(decide_asset(asset_of("image/png", kNow), Surface::content, "png", kNow),
              Reason::asset_expired);
    EXPECT_EQ(decide_asset(asset_of("image/png", kNow), Surface::render, "", kNow),
              Reason::asset_expired);
}

TEST(DecideAsset, AssetExpiredInThePastIsExpired) {
    EXPECT_EQ(decide_asset(asset_of("image/png", kNow - 1), Surface::content, "png", kNow),
              Reason::asset_expired);
    EXPECT_EQ(decide_asset(asset_of("image/png", 1), Surface::render, "", kNow),
              Reason::asset_expired);
}

TEST(DecideAsset, AssetExpiringAfterNowIsAllowed) {
    EXPECT_EQ(decide_asset(asset_of("image/png", kNow + 1), Surface::content, "png", kNow),
              Reason::allowed);
}

TEST(DecideAsset, ExpiresAtZeroNeverExpires) {
    EXPECT_EQ(decide_asset(asset_of("image/png", 0), Surface::content, "png", INT64_MAX),
              Reason::allowed);
}

TEST(DecideAsset, ExpiryWithAFractionIsABadRecordNotAnotherInstant) {
    const AssetRecord rec = Hash{
        {"org", "o"},
        {"format", "image/png"},
        {"location", "a"},
        {"expires_at",
         "1780000000.9"}}.asset();
    EXPECT_EQ(decide_asset(rec, Surface::content, "png", kNow - 1), Reason::bad_record);
}

TEST(DecideAsset, ContentExtensionMustMatchEveryFormat) {
    for (const FormatExtension &c : format_extensions()) {
        const AssetRecord a = asset_of(c.format);
        EXPECT_EQ(decide_asset(a, Surface::content, c.ext, kNow), Reason::allowed) << c.format;
        for (const FormatExtension &other : format_extensions()) {
            if (other.ext == c.ext) continue;
            EXPECT_EQ(decide_asset(a, Surface::content, other.ext, kNow),
                      Reason::extension_mismatch)
                << c.format << " served as ." << other.ext;
        }
    }
}

TEST(DecideAsset, ContentExtensionMatchIsCaseSensitive) {
    EXPECT_EQ(decide_asset(asset_of("image/png"), Surface::content, "PNG", kNow),
              Reason::extension_mismatch);
}

TEST(DecideAsset, SubtypeIsNotTheExtensionForMappedFormats) {
    EXPECT_EQ(decide_asset(asset_of("application/x-ndjson"), Surface::content, "x-ndjson", kNow),
              Reason::extension_mismatch);
    EXPECT_EQ(decide_asset(asset_of("application/vnd.openxmlformats-officedocument."
                                    "spreadsheetml.sheet"),
                           Surface::content, "sheet", kNow),
              Reason::extension_mismatch);
}

TEST(DecideAsset, UnmappedFormatServesUnderItsSubtype) {
    EXPECT_EQ(decide_asset(asset_of("image/webp"), Surface::content, "webp", kNow),
              Reason::allowed);
    EXPECT_EQ(decide_asset(asset_of("image/webp"), Surface::content, "png", kNow),
              Reason::extension_mismatch);
}

TEST(DecideAsset, FormatParametersDoNotBreakTheMatch) {
    EXPECT_EQ(decide_asset(asset_of("text/csv; charset=utf-8"), Surface::content, "csv", kNow),
              Reason::allowed);
}

TEST(DecideAsset, FormatWithoutExtensionNeverMatches) {
    EXPECT_EQ(decide_asset(asset_of("image/"), Surface::content, "", kNow),
              Reason::extension_mismatch);
    EXPECT_EQ(decide_asset(asset_of("png"), Surface::content, "png", kNow),
              Reason::extension_mismatch);
}

TEST(DecideAsset, ContentWithoutLocationIsUnknown) {
    EXPECT_EQ(decide_asset(asset_of("image/png", 0, ""), Surface::content, "png", kNow),
              Reason::asset_unknown);
}

TEST(DecideAsset, RenderSurfaceSkipsExtensionAndLocationChecks) {
    EXPECT_EQ(decide_asset(asset_of("image/png"), Surface::render, "", kNow), Reason::allowed);
    EXPECT_EQ(decide_asset(asset_of("image/png"), Surface::render, "pdf", kNow), Reason::allowed);
    EXPECT_EQ(decide_asset(asset_of("image/png", 0, ""), Surface::render, "", kNow),
              Reason::allowed);
}

TEST(DecideAsset, UnknownIsCheckedBeforeExpiryAndExpiryBeforeExtension) {
    AssetRecord gone = asset_of("image/png", kNow);
    gone.found = false;
    EXPECT_EQ(decide_asset(gone, Surface::content, "pdf", kNow), Reason::asset_unknown);
    EXPECT_EQ(decide_asset(asset_of("image/png", kNow), Surface::content, "pdf", kNow),
              Reason::asset_expired);
}

TEST(DecideAsset, MalformedSurfaceIsRefused) {
    EXPECT_EQ(decide_asset(asset_of("image/png"), Surface::malformed, "png", kNow),
              Reason::malformed_path);
}

// --- the whole core path for a content request ----------------------------------------------

TEST(DecideRequest, PublicContentRequestRefusedWhenOrgRecordMissing) {
    const Hash asset = png_asset();
    EXPECT_EQ(decide_request("/exporter/x.png", Purpose::public_, asset.asset(), OrgRecord{}, kNow),
              Reason::org_unknown);
    EXPECT_EQ(decide_request("/exporter/x.png", Purpose::subscription_delivery, asset.asset(),
                             OrgRecord{}, kNow),
              Reason::allowed);
}

TEST(DecideRequest, MalformedPathIsRefusedBeforeAnyRecordIsConsulted) {
    EXPECT_EQ(decide_request("/exporter/", Purpose::public_, AssetRecord{}, OrgRecord{}, kNow),
              Reason::malformed_path);
}

TEST(DecideRequest, DeliveryTokenOnWrongExtensionIsAMismatch) {
    const Hash asset = png_asset();
    EXPECT_EQ(decide_request("/exporter/export.pdf", Purpose::subscription_delivery, asset.asset(),
                             OrgRecord{}, kNow),
              Reason::extension_mismatch);
}

TEST(Decision, BadRecordsAreRefusedAsBadRecordOnEverySurface) {
    EXPECT_EQ(decide_asset(bad_asset(), Surface::render, "", 0), Reason::bad_record);
    EXPECT_EQ(decide_asset(bad_asset(), Surface::content, "png", 0), Reason::bad_record);
    EXPECT_EQ(decide_org(Purpose::public_, bad_org()), Reason::bad_record);
    // Purpose tokens never read the org, so its state cannot refuse them.
    EXPECT_EQ(decide_org(Purpose::render, bad_org()), Reason::allowed);
    EXPECT_EQ(decide_org(Purpose::subscription_delivery, bad_org()), Reason::allowed);
}

// --- step 8b: the sync heartbeat ------------------------------------------------------------

constexpr std::int64_t kMaxAge = 10;

SyncHeartbeat heartbeat_at(std::int64_t at) {
    return SyncHeartbeat{true, at};
}

// The whole request in the access handler's order: steps 2-8, then 8b on what they allowed.
Reason decide_synced(std::string_view uri, Purpose purpose, const AssetRecord &asset,
                     const OrgRecord &org, const SyncHeartbeat &heartbeat, std::int64_t max_age) {
    const Reason r = decide_request(uri, purpose, asset, org, kNow);
    return r != Reason::allowed ? r : decide_sync(purpose, heartbeat, max_age, kNow);
}

TEST(DecideSync, OffAllowsWhateverTheHeartbeat) {
    for (const SyncHeartbeat &hb : {SyncHeartbeat{}, heartbeat_at(0), heartbeat_at(kNow + 9999)}) {
        EXPECT_EQ(decide_sync(Purpose::public_, hb, 0, kNow), Reason::allowed);
    }
}

TEST(DecideSync, PublicTokenRefusedWhileTheHeartbeatIsUnknown) {
    EXPECT_EQ(decide_sync(Purpose::public_, SyncHeartbeat{}, kMaxAge, kNow), Reason::sync_stale);
    // An unknown heartbeat's last value does not count, however fresh it was.
    EXPECT_EQ(decide_sync(Purpose::public_, SyncHeartbeat{false, kNow}, kMaxAge, kNow),
              Reason::sync_stale);
}

TEST(DecideSync, PublicTokenAllowedUpToMaxAgeAndRefusedPastIt) {
    EXPECT_EQ(decide_sync(Purpose::public_, heartbeat_at(kNow), kMaxAge, kNow), Reason::allowed);
    EXPECT_EQ(decide_sync(Purpose::public_, heartbeat_at(kNow - kMaxAge), kMaxAge, kNow),
              Reason::allowed);
    EXPECT_EQ(decide_sync(Purpose::public_, heartbeat_at(kNow - kMaxAge - 1), kMaxAge, kNow),
              Reason::sync_stale);
    EXPECT_EQ(decide_sync(Purpose::public_, heartbeat_at(0), kMaxAge, kNow), Reason::sync_stale);
}

TEST(DecideSync, HeartbeatFromTheFutureCountsOnlyWithinMaxAge) {
    // Clocks a little apart are fine; a value far ahead would hold the records "fresh" for as
    // long after the writer stopped.
    EXPECT_EQ(decide_sync(Purpose::public_, heartbeat_at(kNow + 1), kMaxAge, kNow),
              Reason::allowed);
    EXPECT_EQ(decide_sync(Purpose::public_, heartbeat_at(kNow + kMaxAge), kMaxAge, kNow),
              Reason::allowed);
    EXPECT_EQ(decide_sync(Purpose::public_, heartbeat_at(kNow + kMaxAge + 1), kMaxAge, kNow),
              Reason::sync_stale);
    const std::int64_t far = std::numeric_limits<std::int64_t>::max();
    EXPECT_EQ(decide_sync(Purpose::public_, heartbeat_at(far), kMaxAge, kNow), Reason::sync_stale);
    EXPECT_EQ(decide_sync(Purpose::public_, heartbeat_at(far), far, 0), Reason::allowed);
}

TEST(DecideSync, PurposeTokensAreNeverRefused) {
    for (Purpose p : {Purpose::render, Purpose::subscription_delivery}) {
        for (const SyncHeartbeat &hb : {SyncHeartbeat{}, heartbeat_at(0), heartbeat_at(kNow)}) {
            EXPECT_EQ(decide_sync(p, hb, kMaxAge, kNow), Reason::allowed) << purpose_name(p);
        }
    }
}

TEST(DecideSync, StaleHeartbeatRefusesOnlyWhatTheRecordsAllow) {
    const AssetRecord png = png_asset().asset();
    const OrgRecord on = org_sharing_on().org();
    const OrgRecord off = org_sharing_off().org();
    const SyncHeartbeat stale;
    EXPECT_EQ(decide_synced("/exporter/x.png", Purpose::public_, png, on, stale, kMaxAge),
              Reason::sync_stale);
    EXPECT_EQ(decide_synced("/exporter", Purpose::public_, png, on, stale, kMaxAge),
              Reason::sync_stale);
    // Earlier refusals keep their reasons.
    EXPECT_EQ(decide_synced("/exporter/x.png", Purpose::public_, png, off, stale, kMaxAge),
              Reason::org_blocked);
    EXPECT_EQ(decide_synced("/exporter/x.png", Purpose::public_, AssetRecord{}, on, stale, kMaxAge),
              Reason::asset_unknown);
    EXPECT_EQ(decide_synced("/exporter/x.pdf", Purpose::public_, png, on, stale, kMaxAge),
              Reason::extension_mismatch);
    EXPECT_EQ(decide_synced("/exporter/x.png", Purpose::public_, png, OrgRecord{}, stale, kMaxAge),
              Reason::org_unknown);
    EXPECT_EQ(decide_synced("/exporter/", Purpose::public_, png, on, stale, kMaxAge),
              Reason::malformed_path);
    EXPECT_EQ(decide_synced("/exporter", Purpose::render, png, on, stale, kMaxAge),
              Reason::allowed);
}

// PostHog's twelve cases with the heartbeat stale: only the two public cases the org allows
// change, to sync_stale; blocked public cases stay org_blocked, purpose cases stay as they are.
TEST(DecideSync, PostHogMatrixWithAStaleHeartbeat) {
    const Hash asset_hash = png_asset();
    const AssetRecord asset = asset_hash.asset();
    for (const MatrixCase &c : kMatrix) {
        const Hash org_hash = c.sharing ? org_sharing_on() : org_sharing_off();
        const std::string_view uri =
            c.surface == Surface::render ? "/exporter" : "/exporter/export-weekly-2026-05-27.png";
        const Reason want = c.purpose == Purpose::public_ && c.expected == Reason::allowed
                                ? Reason::sync_stale
                                : c.expected;
        EXPECT_EQ(decide_synced(uri, c.purpose, asset, org_hash.org(), heartbeat_at(0), kMaxAge),
                  want)
            << c.name;
        EXPECT_EQ(decide_synced(uri, c.purpose, asset, org_hash.org(), heartbeat_at(kNow), kMaxAge),
                  c.expected)
            << c.name;
    }
}

}  // namespace
}  // namespace asset_gate::testing

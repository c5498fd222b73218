// The one table of reason, surface and purpose names.
#include "reason.hpp"

#include <array>

namespace asset_gate {

namespace {
constexpr std::array<std::string_view, kReasonCount> kReasonNames = {
    "allowed",         "method",         "malformed_path", "no_token",
    "duplicate_token", "bad_token",      "bad_signature",  "expired",
    "not_yet_valid",   "wrong_audience", "bad_claims",     "unknown_purpose",
    "purpose_surface", "asset_unknown",  "asset_expired",  "extension_mismatch",
    "bad_record",      "org_unknown",    "org_blocked",    "sync_stale",
    "redis_error",
};
constexpr std::array<std::string_view, kSurfaceCount> kSurfaceNames = {"render", "content",
                                                                       "malformed"};
constexpr std::array<std::string_view, kPurposeCount> kPurposeNames = {"public", "render",
                                                                       "subscription_delivery"};
}  // namespace

std::string_view reason_name(Reason r) noexcept {
    auto i = static_cast<std::size_t>(r);
    return i < kReasonNames.size() ? kReasonNames[i] : std::string_view{};
}

std::string_view surface_name(Surface s) noexcept {
    auto i = static_cast<std::size_t>(s);
    return i < kSurfaceNames.size() ? kSurfaceNames[i] : std::string_view{};
}

std::string_view purpose_name(Purpose p) noexcept {
    auto i = static_cast<std::size_t>(p);
    return i < kPurposeNames.size() ? kPurposeNames[i] : std::string_view{};
}

bool parse_purpose(std::string_view name, Purpose *out) noexcept {
    for (std::size_t i = 0; i < kPurposeNames.size(); ++i) {
        if (kPurposeNames[i] == name) {
            *out = static_cast<Purpose>(i);
            return true;
        }
    }
    return false;
}

}  // namespace asset_gate

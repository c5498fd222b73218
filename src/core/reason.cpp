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
}  // namespace

std::string_view reason_name(Reason r) noexcept {
    auto i = static_cast<std::size_t>(r);
    return i < kReasonNames.size() ? kReasonNames[i] : std::string_view{};
}

std::string_view surface_name(Surface s) noexcept {
    switch (s) {
        case Surface::render:
            return "render";
        case Surface::content:
            return "content";
        case Surface::malformed:
            return "malformed";
    }
    return {};
}

std::string_view purpose_name(Purpose p) noexcept {
    switch (p) {
        case Purpose::public_:
            return "public";
        case Purpose::render:
            return "render";
        case Purpose::subscription_delivery:
            return "subscription_delivery";
    }
    return {};
}

}  // namespace asset_gate

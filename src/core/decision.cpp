// The purpose x surface table, the asset checks, the org gate and the sync's freshness (DESIGN.md
// sections 1, 3, 4).
#include "decision.hpp"

namespace asset_gate {

Reason decide_purpose(Purpose purpose, Surface surface) noexcept {
    if (surface == Surface::malformed) return Reason::malformed_path;
    switch (purpose) {
        case Purpose::public_:
            return Reason::allowed;
        case Purpose::render:
            return surface == Surface::render ? Reason::allowed : Reason::purpose_surface;
        case Purpose::subscription_delivery:
            return surface == Surface::content ? Reason::allowed : Reason::purpose_surface;
    }
    return Reason::unknown_purpose;
}

Reason decide_asset(const AssetRecord &asset, Surface surface, std::string_view ext,
                    std::int64_t now) noexcept {
    if (surface == Surface::malformed) return Reason::malformed_path;
    if (asset.bad) return Reason::bad_record;
    if (!asset.found) return Reason::asset_unknown;
    if (asset.expires_at != 0 && asset.expires_at <= now) return Reason::asset_expired;
    if (surface == Surface::content) {
        const std::string_view expected = extension_for_format(asset.format);
        if (expected.empty() || ext != expected) return Reason::extension_mismatch;
        if (asset.location.empty()) return Reason::asset_unknown;  // nothing to serve
    }
    return Reason::allowed;
}

Reason decide_org(Purpose purpose, const OrgRecord &org) noexcept {
    switch (purpose) {
        case Purpose::render:
        case Purpose::subscription_delivery:
            return Reason::allowed;
        case Purpose::public_:
            break;
        default:
            return Reason::unknown_purpose;
    }
    if (org.bad) return Reason::bad_record;
    if (!org.found) return Reason::org_unknown;
    if (org.security_settings && !org.allow_public) return Reason::org_blocked;
    return Reason::allowed;
}

Reason decide_sync(Purpose purpose, const SyncHeartbeat &heartbeat, std::int64_t max_age,
                   std::int64_t now) noexcept {
    if (max_age <= 0 || purpose != Purpose::public_) return Reason::allowed;
    if (!heartbeat.known) return Reason::sync_stale;
    // Both differences are taken on the side that cannot overflow (now and at are >= 0).
    const bool far =
        heartbeat.at > now ? heartbeat.at - now > max_age : now - heartbeat.at > max_age;
    return far ? Reason::sync_stale : Reason::allowed;
}

}  // namespace asset_gate

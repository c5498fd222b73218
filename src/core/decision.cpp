// The purpose x surface table, the asset checks and the org gate (DESIGN.md sections 1, 3, 4).
#include "decision.hpp"

#include <array>

namespace asset_gate {

namespace {

struct FormatExtension {
    std::string_view format;
    std::string_view ext;
};

// Formats whose served extension is not simply their MIME subtype, or that PostHog exports.
constexpr std::array<FormatExtension, 9> kFormatExtensions = {{
    {"image/png", "png"},
    {"application/pdf", "pdf"},
    {"text/csv", "csv"},
    {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"},
    {"video/webm", "webm"},
    {"video/mp4", "mp4"},
    {"image/gif", "gif"},
    {"application/json", "json"},
    {"application/x-ndjson", "jsonl"},
}};

constexpr bool ends_subtype(char c) noexcept {
    return c == ';' || c == ' ' || c == '\t';
}

}  // namespace

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

std::string_view extension_for_format(std::string_view format) noexcept {
    const std::size_t slash = format.find('/');
    if (slash == 0 || slash == std::string_view::npos) return {};
    std::size_t end = slash + 1;
    while (end < format.size() && !ends_subtype(format[end])) ++end;
    const std::string_view subtype = format.substr(slash + 1, end - slash - 1);
    if (subtype.empty()) return {};

    // Parameters ("text/csv; charset=utf-8") do not change the extension.
    const std::string_view bare = format.substr(0, end);
    for (const auto &entry : kFormatExtensions) {
        if (entry.format == bare) return entry.ext;
    }
    return subtype;
}

Reason decide_asset(const AssetRecord &asset, Surface surface, std::string_view ext,
                    std::int64_t now) noexcept {
    if (surface == Surface::malformed) return Reason::malformed_path;
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
    if (!org.found) return Reason::org_unknown;
    if (org.security_settings && !org.allow_public) return Reason::org_blocked;
    return Reason::allowed;
}

}  // namespace asset_gate

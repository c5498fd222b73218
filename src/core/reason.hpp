// The contract's vocabulary: surfaces, purposes and refusal reasons, spelled as DESIGN.md spells
// them.
#pragma once

#include <cstdint>
#include <string_view>

namespace asset_gate {

enum class Reason : std::uint8_t {
    allowed,
    method,
    malformed_path,
    no_token,
    duplicate_token,
    bad_token,
    bad_signature,
    expired,
    not_yet_valid,
    wrong_audience,
    bad_claims,
    unknown_purpose,
    purpose_surface,
    asset_unknown,
    asset_expired,
    extension_mismatch,
    bad_record,
    org_unknown,
    org_blocked,
    sync_stale,
    redis_error,
};
inline constexpr int kReasonCount = static_cast<int>(Reason::redis_error) + 1;

enum class Surface : std::uint8_t { render, content, malformed };
inline constexpr int kSurfaceCount = static_cast<int>(Surface::malformed) + 1;

// `public_` because `public` is a keyword; its name is "public". A new purpose is added here,
// in reason.cpp's name table and in decision.cpp's purpose x surface table; everything else
// (token claims, the token tool, the status counters) follows from those.
enum class Purpose : std::uint8_t { public_, render, subscription_delivery };
inline constexpr int kPurposeCount = static_cast<int>(Purpose::subscription_delivery) + 1;

std::string_view reason_name(Reason r) noexcept;
std::string_view surface_name(Surface s) noexcept;
std::string_view purpose_name(Purpose p) noexcept;

// The purpose spelled `name` (as the claim and DESIGN.md spell it); false for any other.
bool parse_purpose(std::string_view name, Purpose *out) noexcept;

}  // namespace asset_gate

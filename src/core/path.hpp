// Classifies the decoded, normalised URI against the gate's base path (DESIGN.md section 2).
#pragma once

#include <string_view>

#include "reason.hpp"

namespace asset_gate {

inline constexpr std::size_t kMaxNameSize = 255;

struct PathInfo {
    Surface surface = Surface::malformed;
    std::string_view name;  // content only: the final segment, views into the uri
    std::string_view ext;   // content only: what follows the last '.' of name
};

// `base` is the location prefix without a trailing slash ("/exporter").
PathInfo classify_path(std::string_view uri, std::string_view base) noexcept;

}  // namespace asset_gate

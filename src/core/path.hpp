// Classifies the decoded, normalised URI against the gate's base path (DESIGN.md section 2).
#pragma once

#include <string_view>

#include "reason.hpp"

namespace asset_gate {

inline constexpr std::size_t kMaxNameSize = 1024;

namespace detail {
// The name alphabet [A-Za-z0-9._-]; anything else (a '/', a space, a NUL, '%', bytes >= 0x80)
// makes the path malformed, so the name is always safe to echo and to compare. One lookup a
// byte on the hot path.
struct NameTable {
    bool ok[256] = {};
    constexpr NameTable() {
        for (unsigned c = 0; c < 256; ++c) {
            ok[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
        }
    }
};
inline constexpr NameTable kNameTable;
}  // namespace detail

constexpr bool is_name_byte(char c) noexcept {
    return detail::kNameTable.ok[static_cast<unsigned char>(c)];
}

struct PathInfo {
    Surface surface = Surface::malformed;
    std::string_view name;  // content only: the final segment, views into the uri
    std::string_view ext;   // content only: what follows the last '.' of name
};

// `base` is the location prefix without a trailing slash ("/exporter").
PathInfo classify_path(std::string_view uri, std::string_view base) noexcept;

}  // namespace asset_gate

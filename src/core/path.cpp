// Surface classification of the decoded, normalised URI (DESIGN.md section 2).
#include "path.hpp"

namespace asset_gate {

namespace {

// The name alphabet [A-Za-z0-9._-]; anything else (a '/', a space, a NUL, '%', bytes >= 0x80)
// makes the path malformed, so the name is always safe to echo and to compare.
constexpr bool in_alphabet(unsigned c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

// One lookup a byte on the hot path.
struct NameTable {
    bool ok[256] = {};
    constexpr NameTable() {
        for (unsigned c = 0; c < 256; ++c) ok[c] = in_alphabet(c);
    }
};
constexpr NameTable kNameTable;

constexpr bool is_name_byte(char c) noexcept {
    return kNameTable.ok[static_cast<unsigned char>(c)];
}

}  // namespace

PathInfo classify_path(std::string_view uri, std::string_view base) noexcept {
    PathInfo info;
    if (uri.size() < base.size() || uri.compare(0, base.size(), base) != 0) return info;
    if (uri.size() == base.size()) {
        // An empty uri is never a request path, even against an empty base.
        if (!uri.empty()) info.surface = Surface::render;
        return info;
    }
    if (uri[base.size()] != '/') return info;  // "/exporterX"

    const std::string_view name = uri.substr(base.size() + 1);
    if (name.empty() || name.size() > kMaxNameSize || name.front() == '.') return info;

    std::size_t last_dot = std::string_view::npos;
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!is_name_byte(name[i])) return info;
        if (name[i] == '.') last_dot = i;
    }
    if (last_dot == std::string_view::npos || last_dot + 1 == name.size()) return info;

    info.surface = Surface::content;
    info.name = name;
    info.ext = name.substr(last_dot + 1);
    return info;
}

}  // namespace asset_gate

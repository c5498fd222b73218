// Surface classification of the decoded, normalised URI (DESIGN.md section 2).
#include "path.hpp"

namespace asset_gate {

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

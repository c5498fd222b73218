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

    // Every byte's verdict folded together, four at a time and without a branch a byte (the
    // name is at most kMaxNameSize), then the extension's dot from the end: two thirds of the
    // instructions of one loop that does both.
    auto bit = [](char c) -> unsigned { return is_name_byte(c) ? 1u : 0u; };
    unsigned ok = 1;
    std::size_t i = 0;
    for (; i + 4 <= name.size(); i += 4) {
        ok &= bit(name[i]) & bit(name[i + 1]) & bit(name[i + 2]) & bit(name[i + 3]);
    }
    for (; i < name.size(); ++i) ok &= bit(name[i]);
    if (!ok) return info;
    const std::size_t last_dot = name.rfind('.');
    if (last_dot == std::string_view::npos || last_dot + 1 == name.size()) return info;

    info.surface = Surface::content;
    info.name = name;
    info.ext = name.substr(last_dot + 1);
    return info;
}

}  // namespace asset_gate

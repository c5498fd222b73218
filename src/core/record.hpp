// The Redis records of DESIGN.md section 4, parsed from HGETALL field/value pairs.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

namespace asset_gate {

struct Field {
    std::string_view name;
    std::string_view value;
};

struct AssetRecord {
    bool found = false;  // the hash exists and carries its required fields
    std::string_view org;
    std::string_view format;
    std::string_view location;
    std::string_view filename;
    std::int64_t expires_at = 0;  // 0: never
};

struct OrgRecord {
    bool found = false;
    bool security_settings = false;
    bool allow_public = true;
};

// An empty field list means the key does not exist. A record missing `org` or `format`, with
// an unparsable `expires_at`, or with a `location` that could escape its root ("..", a leading
// '/', a backslash, a NUL, an empty segment) is treated as not found: the gate fails closed.
// So is an `org` with control bytes or a `format` that is not "type/subtype[; params]" in
// printable ASCII. A `filename` with control bytes, '"' or '\\' is dropped (left empty).
AssetRecord parse_asset(const Field *fields, std::size_t n) noexcept;
OrgRecord parse_org(const Field *fields, std::size_t n) noexcept;

// True when `location` is a relative object path that stays below its root.
bool location_is_safe(std::string_view location) noexcept;

}  // namespace asset_gate

// The Redis records of DESIGN.md section 4, parsed from HGETALL field/value pairs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace asset_gate {

struct Field {
    std::string_view name;
    std::string_view value;
};

// A record the gate reads whole: far larger than any real record means something else wrote
// the key, and it is refused rather than trusted or cached.
inline constexpr std::size_t kMaxRecordSize = 64 * 1024;

// A new field is added here (and to kAssetTexts or kAssetIntegers), and parsed in record.cpp:
// the cache encoding and the copy into a request iterate over those tables.
struct AssetRecord {
    bool found = false;  // the hash exists and every known field is well formed
    bool bad = false;    // the key exists but cannot be used (reason bad_record)
    std::string_view org;
    std::string_view format;
    std::string_view location;
    std::string_view filename;
    std::int64_t expires_at = 0;  // 0: never
};

// The record's fields by kind, for the code that treats every field of a kind alike.
inline constexpr std::string_view AssetRecord::*kAssetTexts[] = {
    &AssetRecord::org, &AssetRecord::format, &AssetRecord::location, &AssetRecord::filename};
inline constexpr std::int64_t AssetRecord::*kAssetIntegers[] = {&AssetRecord::expires_at};

struct OrgRecord {
    bool found = false;
    bool bad = false;
    bool security_settings = false;
    bool allow_public = true;
};

// An empty field list means the key does not exist (Redis keeps no empty hash). Otherwise
// every known field must be strictly formed, or the record is `bad` (never an open default):
// `org` required, no control bytes; `format` required, "type/subtype[; params]" in printable
// ASCII whose extension is a valid name extension; `location`, when present, a relative path
// that stays below its root; `filename`, when present, no control bytes; `expires_at`, when
// present, a decimal integer. Unknown fields are ignored; a record over kMaxRecordSize is bad.
AssetRecord parse_asset(const Field *fields, std::size_t n) noexcept;

// `security_settings` and `allow_public` are exactly "0" or "1" (absent: 0 and 1).
OrgRecord parse_org(const Field *fields, std::size_t n) noexcept;

// The records a key of another Redis type than hash stands for.
AssetRecord bad_asset() noexcept;
OrgRecord bad_org() noexcept;

// `PREFIX sync:heartbeat`: unix seconds as a decimal integer, as strict as `expires_at` (digits
// only, no sign, fraction or whitespace); false for anything else.
bool parse_heartbeat(std::string_view text, std::int64_t *at) noexcept;

// True when `location` is a relative object path that stays below its root.
bool location_is_safe(std::string_view location) noexcept;

// The file extension a MIME format is served under (png for image/png, xlsx for the
// spreadsheet type, ...); any other format: its MIME subtype. Parameters are ignored. Empty
// for a malformed format.
std::string_view extension_for_format(std::string_view format) noexcept;

// One entry of the table extension_for_format consults before falling back to the subtype:
// an exact MIME essence (no parameters, case-sensitive) and its extension.
struct FormatExtension {
    std::string_view format;
    std::string_view ext;
};

// The table itself (DESIGN.md section 2), read-only, for tests that check its properties.
struct FormatExtensionTable {
    const FormatExtension *first;
    const FormatExtension *last;
    const FormatExtension *begin() const noexcept { return first; }
    const FormatExtension *end() const noexcept { return last; }
    std::size_t size() const noexcept { return static_cast<std::size_t>(last - first); }
};
FormatExtensionTable format_extensions() noexcept;

}  // namespace asset_gate

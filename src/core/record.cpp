// Parsing of the asset and organisation hashes of DESIGN.md section 4; every doubt fails closed.
#include "record.hpp"

#include <array>
#include <limits>

#include "path.hpp"

namespace asset_gate {

namespace {

constexpr std::size_t kMaxLocationSize = 1024;

// DESIGN.md section 2: formats whose served extension is not simply their MIME subtype, or
// that PostHog exports (image/jpeg: PostHog names those files `.jpeg`, its subtype, but a
// PostHog format belongs here by name rather than by the fallback's accident). The gate's one
// copy (format_extensions() shows it to the tests); asset-gate-sync has a Python copy that
// t/integration/test_sync.py compares with this one.
constexpr std::array<FormatExtension, 10> kFormatExtensions = {{
    {"image/png", "png"},
    {"application/pdf", "pdf"},
    {"text/csv", "csv"},
    {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"},
    {"video/webm", "webm"},
    {"video/mp4", "mp4"},
    {"image/gif", "gif"},
    {"image/jpeg", "jpeg"},
    {"application/json", "json"},
    {"application/x-ndjson", "jsonl"},
}};

constexpr bool is_control(unsigned char c) noexcept {
    return c < 0x20 || c == 0x7f;
}

bool has_control(std::string_view s) noexcept {
    for (char c : s) {
        if (is_control(static_cast<unsigned char>(c))) return true;
    }
    return false;
}

// RFC 9110 tchar: the bytes a MIME type or subtype token may use.
constexpr bool is_tchar(char c) noexcept {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '.':
        case '^':
        case '_':
        case '`':
        case '|':
        case '~':
            return true;
        default:
            return false;
    }
}

constexpr bool ends_subtype(char c) noexcept {
    return c == ';' || c == ' ' || c == '\t';
}

// "type/subtype", optionally followed by parameters ("; charset=utf-8"). The format becomes the
// Content-Type of the response, so the rest must be printable ASCII (or a tab): no CR/LF.
bool format_is_valid(std::string_view f) noexcept {
    std::size_t i = 0;
    while (i < f.size() && is_tchar(f[i])) ++i;
    if (i == 0 || i == f.size() || f[i] != '/') return false;
    const std::size_t subtype_start = ++i;
    while (i < f.size() && is_tchar(f[i])) ++i;
    if (i == subtype_start) return false;
    if (i == f.size()) return true;
    while (i < f.size() && (f[i] == ' ' || f[i] == '\t')) ++i;
    if (i == f.size() || f[i] != ';') return false;
    for (; i < f.size(); ++i) {
        const auto c = static_cast<unsigned char>(f[i]);
        if ((is_control(c) && c != '\t') || c >= 0x80) return false;
    }
    return true;
}

// A format is servable only if a content name can end in its extension: `image/svg+xml`
// (subtype `svg+xml`) could never be requested, so such a record is refused as bad_record
// rather than left unservable and silent.
bool extension_is_servable(std::string_view ext) noexcept {
    if (ext.empty()) return false;
    for (char c : ext) {
        if (!is_name_byte(c) || c == '.') return false;
    }
    return true;
}

// Unix seconds as a decimal integer: digits only, no sign, fraction, exponent or whitespace.
bool parse_unix_seconds(std::string_view s, std::int64_t *out) noexcept {
    if (s.empty()) return false;
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    std::int64_t value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        const int digit = c - '0';
        if (value > (kMax - digit) / 10) return false;
        value = value * 10 + digit;
    }
    *out = value;
    return true;
}

// Exactly "0" or "1".
bool parse_flag(std::string_view s, bool *out) noexcept {
    if (s.size() != 1 || (s[0] != '0' && s[0] != '1')) return false;
    *out = s[0] == '1';
    return true;
}

std::size_t size_of(const Field *fields, std::size_t n) noexcept {
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; ++i) total += fields[i].name.size() + fields[i].value.size();
    return total;
}

// One optional field: present (possibly empty) or absent.
struct Seen {
    bool present = false;
    std::string_view value;
    void set(std::string_view v) noexcept {
        present = true;
        value = v;
    }
};

}  // namespace

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

bool parse_heartbeat(std::string_view text, std::int64_t *at) noexcept {
    return parse_unix_seconds(text, at);
}

FormatExtensionTable format_extensions() noexcept {
    return {kFormatExtensions.data(), kFormatExtensions.data() + kFormatExtensions.size()};
}

bool location_is_safe(std::string_view location) noexcept {
    if (location.empty() || location.size() > kMaxLocationSize) return false;
    std::size_t segment_start = 0;
    for (std::size_t i = 0; i <= location.size(); ++i) {
        if (i < location.size()) {
            const char c = location[i];
            if (c == '\\' || is_control(static_cast<unsigned char>(c))) return false;
            if (c != '/') continue;
        }
        // A segment ends here: it must be non-empty (no leading '/', no "//", no trailing '/')
        // and neither "." nor "..".
        const std::string_view segment = location.substr(segment_start, i - segment_start);
        if (segment.empty() || segment == "." || segment == "..") return false;
        segment_start = i + 1;
    }
    return true;
}

AssetRecord bad_asset() noexcept {
    AssetRecord rec;
    rec.bad = true;
    return rec;
}

OrgRecord bad_org() noexcept {
    OrgRecord rec;
    rec.bad = true;
    return rec;
}

AssetRecord parse_asset(const Field *fields, std::size_t n) noexcept {
    if (n == 0) return AssetRecord{};
    if (size_of(fields, n) > kMaxRecordSize) return bad_asset();
    Seen org, format, location, filename, expires_at;
    for (std::size_t i = 0; i < n; ++i) {
        const Field &f = fields[i];
        if (f.name == "org") {
            org.set(f.value);
        } else if (f.name == "format") {
            format.set(f.value);
        } else if (f.name == "location") {
            location.set(f.value);
        } else if (f.name == "filename") {
            filename.set(f.value);
        } else if (f.name == "expires_at") {
            expires_at.set(f.value);
        }
    }

    AssetRecord rec;
    // The org names the Redis key of the org record and fills a variable: no control bytes
    // (a NUL could cut the key short and name another organisation).
    if (org.value.empty() || has_control(org.value)) return bad_asset();
    if (!format_is_valid(format.value)) return bad_asset();
    if (!extension_is_servable(extension_for_format(format.value))) return bad_asset();
    if (location.present && !location_is_safe(location.value)) return bad_asset();
    if (filename.present && has_control(filename.value)) return bad_asset();
    if (expires_at.present && !parse_unix_seconds(expires_at.value, &rec.expires_at)) {
        return bad_asset();
    }
    rec.org = org.value;
    rec.format = format.value;
    rec.location = location.value;
    rec.filename = filename.value;
    rec.found = true;
    return rec;
}

OrgRecord parse_org(const Field *fields, std::size_t n) noexcept {
    OrgRecord rec;
    if (n == 0) return rec;
    if (size_of(fields, n) > kMaxRecordSize) return bad_org();
    for (std::size_t i = 0; i < n; ++i) {
        const Field &f = fields[i];
        if (f.name == "security_settings") {
            if (!parse_flag(f.value, &rec.security_settings)) return bad_org();
        } else if (f.name == "allow_public") {
            if (!parse_flag(f.value, &rec.allow_public)) return bad_org();
        }
    }
    rec.found = true;
    return rec;
}

}  // namespace asset_gate

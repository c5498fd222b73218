// Parsing of the asset and organisation hashes of DESIGN.md section 4; every doubt fails closed.
#include "record.hpp"

#include <limits>

namespace asset_gate {

namespace {

constexpr std::size_t kMaxLocationSize = 1024;

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

// The download name is quoted into Content-Disposition by the adapter; a name that could break
// out of the quotes or the header is dropped rather than failing the whole record.
bool filename_is_safe(std::string_view f) noexcept {
    for (char c : f) {
        if (is_control(static_cast<unsigned char>(c)) || c == '"' || c == '\\') return false;
    }
    return true;
}

// Unix seconds: digits, optionally a fraction that is truncated ("1700000000.5", as a float
// written by Python). No sign, no exponent, no whitespace. Only a value equal to zero means
// "never"; "0.5" is some instant of 1970 and so is kept as 1, long expired.
bool parse_expires_at(std::string_view s, std::int64_t *out) noexcept {
    if (s.empty()) {
        *out = 0;
        return true;
    }
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    std::int64_t value = 0;
    std::size_t i = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
        const int digit = s[i] - '0';
        if (value > (kMax - digit) / 10) return false;
        value = value * 10 + digit;
    }
    if (i == 0) return false;
    bool fraction_nonzero = false;
    if (i < s.size()) {
        if (s[i] != '.' || i + 1 == s.size()) return false;
        for (++i; i < s.size(); ++i) {
            if (s[i] < '0' || s[i] > '9') return false;
            if (s[i] != '0') fraction_nonzero = true;
        }
    }
    *out = (value == 0 && fraction_nonzero) ? 1 : value;
    return true;
}

}  // namespace

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

AssetRecord parse_asset(const Field *fields, std::size_t n) noexcept {
    AssetRecord rec;
    std::string_view expires_at;
    // HGETALL of a hash cannot repeat a field, but the last occurrence wins if a caller passes one.
    for (std::size_t i = 0; i < n; ++i) {
        const Field &f = fields[i];
        if (f.name == "org") {
            rec.org = f.value;
        } else if (f.name == "format") {
            rec.format = f.value;
        } else if (f.name == "location") {
            rec.location = f.value;
        } else if (f.name == "filename") {
            rec.filename = f.value;
        } else if (f.name == "expires_at") {
            expires_at = f.value;
        }
    }

    // The org names the Redis key of the org record and fills a variable: no control bytes
    // (a NUL could cut the key short and name another organisation).
    if (rec.org.empty() || has_control(rec.org)) return AssetRecord{};
    if (!format_is_valid(rec.format)) return AssetRecord{};
    if (!rec.location.empty() && !location_is_safe(rec.location)) return AssetRecord{};
    if (!parse_expires_at(expires_at, &rec.expires_at)) return AssetRecord{};
    if (!filename_is_safe(rec.filename)) rec.filename = {};

    rec.found = true;
    return rec;
}

OrgRecord parse_org(const Field *fields, std::size_t n) noexcept {
    OrgRecord rec;
    if (n == 0) return rec;
    for (std::size_t i = 0; i < n; ++i) {
        const Field &f = fields[i];
        if (f.name == "security_settings") {
            rec.security_settings = f.value == "1";
        } else if (f.name == "allow_public") {
            rec.allow_public = f.value != "0";
        }
    }
    rec.found = true;
    return rec;
}

}  // namespace asset_gate

// libFuzzer target: path classification and Redis record parsing on arbitrary bytes.
//
// Input layout: byte 0 is the base length (mod 32); then the base, then the uri. The same bytes
// are also split at '\n' into alternating field names and values for parse_asset / parse_org.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/decision.hpp"
#include "core/path.hpp"
#include "core/record.hpp"

namespace asset_gate::testing {
namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

bool is_name_byte(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool has_dotdot_segment(std::string_view loc) {
    while (true) {
        const std::size_t slash = loc.find('/');
        if (loc.substr(0, slash) == "..") return true;
        if (slash == std::string_view::npos) return false;
        loc.remove_prefix(slash + 1);
    }
}

void check_path(std::string_view uri, std::string_view base) {
    const PathInfo info = classify_path(uri, base);
    switch (info.surface) {
        case Surface::render:
            check(uri == base && !uri.empty());
            check(info.name.empty() && info.ext.empty());
            break;
        case Surface::content: {
            check(uri.size() == base.size() + 1 + info.name.size());
            check(uri.substr(0, base.size()) == base && uri[base.size()] == '/');
            // name is a suffix of the uri, as a view into it.
            check(info.name.data() == uri.data() + uri.size() - info.name.size());
            check(!info.name.empty() && info.name.size() <= kMaxNameSize);
            check(info.name.front() != '.');
            for (char c : info.name) check(is_name_byte(c));  // so no '/', no NUL
            check(!info.ext.empty() && info.ext.find('.') == std::string_view::npos);
            check(info.ext.data() + info.ext.size() == info.name.data() + info.name.size());
            check(info.name[info.name.size() - info.ext.size() - 1] == '.');
            break;
        }
        case Surface::malformed:
            check(info.name.empty() && info.ext.empty());
            break;
    }
    // The purpose table never allows a malformed path.
    for (Purpose p : {Purpose::public_, Purpose::render, Purpose::subscription_delivery}) {
        const Reason r = decide_purpose(p, info.surface);
        if (info.surface == Surface::malformed) check(r == Reason::malformed_path);
    }
}

void check_location(std::string_view loc) {
    if (!location_is_safe(loc)) return;
    check(!loc.empty() && loc.size() <= 1024);
    check(loc.front() != '/' && loc.back() != '/');
    check(!has_dotdot_segment(loc));
    check(loc.find("//") == std::string_view::npos);
    for (char c : loc) {
        const auto u = static_cast<unsigned char>(c);
        check(c != '\\' && u >= 0x20 && u != 0x7f);
    }
}

constexpr std::size_t kMaxFields = 32;

// The input as HGETALL field/value pairs, one line each; returns how many.
std::size_t read_fields(std::string_view input, Field (&fields)[kMaxFields]) {
    std::size_t n = 0;
    std::string_view rest = input;
    while (n < kMaxFields && !rest.empty()) {
        const std::size_t nl = rest.find('\n');
        const std::string_view name = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        const std::size_t nl2 = rest.find('\n');
        const std::string_view value = rest.substr(0, nl2);
        rest = nl2 == std::string_view::npos ? std::string_view{} : rest.substr(nl2 + 1);
        fields[n++] = Field{name, value};
    }
    return n;
}

// What a found asset record guarantees the rest of the gate.
void check_found_asset(const AssetRecord &asset) {
    check(!asset.org.empty() && !asset.format.empty());
    check(asset.format.find('/') != std::string_view::npos);
    check(!extension_for_format(asset.format).empty());
    check(asset.expires_at >= 0);
    if (!asset.location.empty()) {
        check(location_is_safe(asset.location));
        check(!has_dotdot_segment(asset.location));
        check_location(asset.location);
    }
    // Quotes and backslashes are kept (Content-Disposition escapes them); control bytes
    // make the record bad.
    for (char c : asset.filename) check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
    for (char c : extension_for_format(asset.format)) check(is_name_byte(c) && c != '.');
    for (char c : asset.format) check(c != '\r' && c != '\n' && c != '\0');
}

void check_asset(const Field *fields, std::size_t n, std::string_view ext) {
    const AssetRecord asset = parse_asset(fields, n);
    check(!(asset.found && asset.bad));
    check((asset.found || asset.bad) == (n > 0));  // a key that exists is a record or bad
    if (asset.found) check_found_asset(asset);
    for (Surface s : {Surface::render, Surface::content}) {
        if (decide_asset(asset, s, ext, 1780000000) != Reason::allowed) continue;
        check(asset.found);
        if (s == Surface::content) {
            check(ext == extension_for_format(asset.format) && !asset.location.empty());
        }
    }
}

void check_org(const Field *fields, std::size_t n) {
    const OrgRecord org = parse_org(fields, n);
    check(!(org.found && org.bad));
    check((org.found || org.bad) == (n > 0));
    // Any switch value other than exactly "0" or "1" makes the record bad, never open.
    for (std::size_t i = 0; i < n; ++i) {
        const bool is_switch =
            fields[i].name == "security_settings" || fields[i].name == "allow_public";
        if (is_switch && fields[i].value != "0" && fields[i].value != "1") check(org.bad);
    }
    if (decide_org(Purpose::public_, org) == Reason::allowed) {
        check(org.found && !org.bad && (!org.security_settings || org.allow_public));
    }
}

void check_records(std::string_view input, std::string_view ext) {
    Field fields[kMaxFields];
    const std::size_t n = read_fields(input, fields);
    check_asset(fields, n, ext);
    check_org(fields, n);
}

// One input: every property checked, a trap on the first that fails.
int fuzz_one(const std::uint8_t *data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char *>(data), size);

    std::string_view ext;
    if (!input.empty()) {
        const std::size_t base_len = std::min<std::size_t>(data[0] % 32, input.size() - 1);
        const std::string_view base = input.substr(1, base_len);
        const std::string_view uri = input.substr(1 + base_len);
        check_path(uri, base);
        ext = classify_path(uri, base).ext;
    }
    check_path(input, "/exporter");
    check_location(input);
    extension_for_format(input);
    check_records(input, ext.empty() ? classify_path(input, "/exporter").ext : ext);
    return 0;
}

}  // namespace
}  // namespace asset_gate::testing

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    return asset_gate::testing::fuzz_one(data, size);
}

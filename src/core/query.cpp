// One pass over the query string: the token and download arguments by their decoded names.
#include "query.hpp"

namespace asset_gate {

namespace {

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The byte at raw[*i], decoding %HH; advances *i past it.
char next_byte(std::string_view raw, std::size_t *i) noexcept {
    const char c = raw[*i];
    if (c == '%' && *i + 2 < raw.size()) {
        const int hi = hex_value(raw[*i + 1]);
        const int lo = hex_value(raw[*i + 2]);
        if (hi >= 0 && lo >= 0) {
            *i += 3;
            return static_cast<char>(hi * 16 + lo);
        }
    }
    *i += 1;
    return c;
}

}  // namespace

std::size_t percent_decode(std::string_view in, char *out) noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < in.size();) out[n++] = next_byte(in, &i);
    return n;
}

bool decodes_to(std::string_view raw, std::string_view want) noexcept {
    if (raw.size() < want.size()) return false;
    std::size_t i = 0;
    for (char w : want) {
        if (i == raw.size() || next_byte(raw, &i) != w) return false;
    }
    return i == raw.size();
}

QueryArgs scan_query(std::string_view args) noexcept {
    QueryArgs q;
    while (!args.empty()) {
        const std::size_t amp = args.find('&');
        const std::string_view part = args.substr(0, amp);
        args.remove_prefix(amp == std::string_view::npos ? args.size() : amp + 1);
        if (part.empty()) continue;
        const std::size_t eq = part.find('=');
        const std::string_view name = part.substr(0, eq);
        const std::string_view value =
            eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
        // Plain names first: the encoded forms are rare and cost a decode.
        if (name == "token" || (name.find('%') != std::string_view::npos && decodes_to(name, "token"))) {
            q.tokens++;
            q.token = value;
        } else if (name == "download" ||
                   (name.find('%') != std::string_view::npos && decodes_to(name, "download"))) {
            // The last one wins, as the application reads it.
            q.download = value == "true" || decodes_to(value, "true");
        }
    }
    return q;
}

}  // namespace asset_gate

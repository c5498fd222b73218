// Content-Disposition for downloads, shared by served content and presigned redirects.
#include "disposition.hpp"

#include <cstring>

namespace asset_gate {

namespace {
constexpr std::string_view kHead = "attachment; filename=\"";
constexpr std::string_view kStar = "\"; filename*=UTF-8''";

bool unreserved(unsigned char c) noexcept {
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '.' ||
           c == '-' || c == '_' || c == '~';
}
}  // namespace

std::size_t content_disposition_size(std::string_view name) noexcept {
    return kHead.size() + name.size() + kStar.size() + 3 * name.size() + 1;
}

std::size_t content_disposition(std::string_view name, char *out) noexcept {
    char *p = out;
    std::memcpy(p, kHead.data(), kHead.size());
    p += kHead.size();
    bool non_ascii = false;
    for (unsigned char c : name) {
        bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
        non_ascii |= c >= 0x80;
        *p++ = plain ? static_cast<char>(c) : '_';
    }
    if (!non_ascii) {
        *p++ = '"';
        return static_cast<std::size_t>(p - out);
    }
    std::memcpy(p, kStar.data(), kStar.size());
    p += kStar.size();
    static const char kHex[] = "0123456789ABCDEF";
    for (unsigned char c : name) {
        if (unreserved(c)) {
            *p++ = static_cast<char>(c);
        } else {
            *p++ = '%';
            *p++ = kHex[c >> 4];
            *p++ = kHex[c & 0xf];
        }
    }
    return static_cast<std::size_t>(p - out);
}

}  // namespace asset_gate

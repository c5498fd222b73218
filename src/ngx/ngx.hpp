// The one door to nginx's C headers, and the views that bridge its strings to the core.
#pragma once

extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
}

#include <string_view>

namespace asset_gate {

inline std::string_view view(const ngx_str_t &s) noexcept {
    return {reinterpret_cast<const char *>(s.data), s.len};
}

inline ngx_str_t ngx_view(std::string_view s) noexcept {
    return {s.size(), reinterpret_cast<u_char *>(const_cast<char *>(s.data()))};
}

// Copies `s` into `pool`; an empty string stays empty (and allocates nothing).
inline bool pool_copy(ngx_pool_t *pool, std::string_view s, ngx_str_t *out) noexcept {
    out->len = s.size();
    out->data = nullptr;
    if (s.empty()) return true;
    out->data = static_cast<u_char *>(ngx_pnalloc(pool, s.size()));
    if (out->data == nullptr) return false;
    ngx_memcpy(out->data, s.data(), s.size());
    return true;
}

// Adds a response header (the list nginx writes out).
inline bool push_header(ngx_http_request_t *r, std::string_view name,
                        std::string_view value) noexcept {
    auto *h = static_cast<ngx_table_elt_t *>(ngx_list_push(&r->headers_out.headers));
    if (h == nullptr) return false;
    h->hash = 1;
    h->key = ngx_view(name);
    h->value = ngx_view(value);
    return true;
}

}  // namespace asset_gate

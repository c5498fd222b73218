// The one door to nginx's C headers, and the views that bridge its strings to the core.
#pragma once

extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
}

#include <new>
#include <string_view>
#include <utility>

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

// Makes `s` a '\0'-terminated copy in `pool` (for C APIs such as hiredis and OpenSSL); an empty
// string stays as it is. False when out of memory.
inline bool pool_c_string(ngx_pool_t *pool, ngx_str_t *s) noexcept {
    if (s->len == 0) return true;
    auto *p = static_cast<u_char *>(ngx_pnalloc(pool, s->len + 1));
    if (p == nullptr) return false;
    *ngx_cpymem(p, s->data, s->len) = '\0';
    s->data = p;
    return true;
}

// Calls `f` on each element of a header list (headers_in or headers_out), every part of it.
template <class F>
void for_each_header(ngx_list_t *list,
                     F &&f) noexcept(noexcept(f(std::declval<ngx_table_elt_t &>()))) {
    for (ngx_list_part_t *part = &list->part; part != nullptr; part = part->next) {
        auto *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; i++) f(h[i]);
    }
}

// Whether a header's name is `name`, or starts with `prefix`, compared as HTTP compares names.
inline bool header_is(const ngx_table_elt_t &h, std::string_view name) noexcept {
    return h.key.len == name.size() &&
           ngx_strncasecmp(h.key.data, reinterpret_cast<u_char *>(const_cast<char *>(name.data())),
                           name.size()) == 0;
}
inline bool header_starts_with(const ngx_table_elt_t &h, std::string_view prefix) noexcept {
    return h.key.len >= prefix.size() &&
           ngx_strncasecmp(h.key.data,
                           reinterpret_cast<u_char *>(const_cast<char *>(prefix.data())),
                           prefix.size()) == 0;
}

// A C string as nginx's string (for tables built at configuration time).
inline ngx_str_t ngx_str(const char *s) noexcept {
    return {ngx_strlen(s), reinterpret_cast<u_char *>(const_cast<char *>(s))};
}

// What a directive handler or merge returns on failure (NGX_CONF_ERROR is a cast macro).
inline char *conf_error() noexcept {
    return static_cast<char *>(NGX_CONF_ERROR);
}

// A configuration-lifetime object in the configuration pool, released (and wiped, for secrets)
// by `destroy` when the configuration goes; null when out of memory.
template <class T>
T *conf_object(ngx_conf_t *cf, ngx_pool_cleanup_pt destroy) noexcept {
    static_assert(noexcept(T()), "constructed inside a noexcept directive handler");
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, sizeof(T));
    if (cln == nullptr) return nullptr;
    T *object = new (cln->data) T();
    cln->handler = destroy;
    return object;
}

// The directive's one argument as a file path, relative to nginx's prefix; false when out of
// memory.
inline bool conf_path_argument(ngx_conf_t *cf, ngx_str_t *path) noexcept {
    *path = static_cast<ngx_str_t *>(cf->args->elts)[1];
    return ngx_conf_full_name(cf->cycle, path, 1) == NGX_OK;
}

// A timer event. A cancelable one never holds a worker's graceful exit; the others (a deadline
// that waiting requests depend on) are waited for.
inline void init_timer(ngx_event_t *ev, ngx_event_handler_pt handler, void *data, ngx_log_t *log,
                       bool cancelable) noexcept {
    ngx_memzero(ev, sizeof(ngx_event_t));
    ev->handler = handler;
    ev->data = data;
    ev->log = log;
    ev->cancelable = cancelable ? 1 : 0;
}

// Where a directive was written, for errors found after parsing (at merge or postconfiguration).
struct ConfSite {
    ngx_str_t file;
    ngx_uint_t line;
};

inline ConfSite conf_site(const ngx_conf_t *cf) noexcept {
    return {cf->conf_file->file.name, cf->conf_file->line};
}

// An error found after parsing, reported at the directive that caused it.
inline char *site_error(ngx_conf_t *cf, const ConfSite &site, const char *what) noexcept {
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "asset_gate: %s in %V:%ui", what, &site.file,
                  site.line);
    return conf_error();
}

// Adds a response header (the list nginx writes out); null when out of memory.
inline ngx_table_elt_t *push_header(ngx_http_request_t *r, std::string_view name,
                                    std::string_view value) noexcept {
    auto *h = static_cast<ngx_table_elt_t *>(ngx_list_push(&r->headers_out.headers));
    if (h == nullptr) return nullptr;
    h->hash = 1;
    h->key = ngx_view(name);
    h->value = ngx_view(value);
    return h;
}

// Answers with `body`, buffers in memory of `len` bytes in all (null: none), as `type`; a HEAD
// request gets the header alone. For the gate's own small pages (status, health).
inline ngx_int_t send_memory_body(ngx_http_request_t *r, ngx_uint_t status, std::string_view type,
                                  ngx_chain_t *body, off_t len) noexcept {
    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type = ngx_view(type);
    r->headers_out.content_type_len = type.size();
    if (r->method == NGX_HTTP_HEAD || body == nullptr) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }
    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK) return rc;
    for (ngx_chain_t *cl = body; cl; cl = cl->next) {
        cl->buf->memory = 1;
        cl->buf->last_buf = cl->next == nullptr && r == r->main;
        cl->buf->last_in_chain = cl->next == nullptr;
    }
    return ngx_http_output_filter(r, body);
}

}  // namespace asset_gate

// Masks token signatures wherever nginx itself logs the request line: the error log's
// "request:" context (for every request, including those refused before any phase ran, such
// as a 400 for a bad URI) and the $request variable that access logs use.
#include "ngx/log_mask.hpp"

#include "core/log_mask.hpp"

namespace asset_gate {

namespace {

ngx_log_handler_pt g_http_log_handler;  // nginx's own ngx_http_log_error
ngx_http_get_variable_pt g_request_variable;

u_char *log_handler(ngx_log_t *log, u_char *buf, size_t len) noexcept {
    u_char *p = g_http_log_handler(log, buf, len);
    size_t n = mask_token_signatures({reinterpret_cast<char *>(buf), static_cast<size_t>(p - buf)},
                                     reinterpret_cast<char *>(buf));
    return buf + n;
}

void init_connection(ngx_connection_t *c) noexcept {
    ngx_http_init_connection(c);
    if (c->fd == static_cast<ngx_socket_t>(-1) || c->destroyed || c->log == nullptr) return;
    if (g_http_log_handler == nullptr) g_http_log_handler = c->log->handler;
    if (c->log->handler == g_http_log_handler) c->log->handler = log_handler;
}

ngx_int_t request_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
                           uintptr_t data) noexcept {
    mask_request_line(r);
    return g_request_variable(r, v, data);
}

}  // namespace

void mask_request_line(ngx_http_request_t *r) noexcept {
    std::string_view line = view(r->request_line);
    if (!has_unmasked_token(line)) return;
    auto *out = static_cast<char *>(ngx_pnalloc(r->pool, line.size()));
    if (out == nullptr) return;
    size_t n = mask_token_signatures(line, out);
    r->request_line.data = reinterpret_cast<u_char *>(out);
    r->request_line.len = n;
}

ngx_int_t log_mask_init(ngx_conf_t *cf) noexcept {
    auto *cmcf = static_cast<ngx_http_core_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    if (cmcf->variables_keys == nullptr) return NGX_OK;
    auto *keys = static_cast<ngx_hash_key_t *>(cmcf->variables_keys->keys.elts);
    for (ngx_uint_t i = 0; i < cmcf->variables_keys->keys.nelts; i++) {
        if (view(keys[i].key) != "request") continue;
        auto *var = static_cast<ngx_http_variable_t *>(keys[i].value);
        if (var->get_handler != request_variable) {
            g_request_variable = var->get_handler;
            var->get_handler = request_variable;
        }
        var->flags |= NGX_HTTP_VAR_NOCACHEABLE;
    }
    return NGX_OK;
}

ngx_int_t log_mask_init_module(ngx_cycle_t *cycle) noexcept {
    auto *ls = static_cast<ngx_listening_t *>(cycle->listening.elts);
    for (ngx_uint_t i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].handler == ngx_http_init_connection) ls[i].handler = init_connection;
    }
    return NGX_OK;
}

}  // namespace asset_gate

// Masks token signatures in every record of every error log that http writes to, at any level
// (the "request: ..." context, also for requests nginx refuses before any module runs, such as
// a 400 on a keep-alive connection; debug lines; rewrite_log notices), and in $request.
#include "ngx/log_mask.hpp"

#include "core/log_mask.hpp"

namespace asset_gate {

namespace {

ngx_http_get_variable_pt g_request_variable;

// What an error log did before the mask was put in front of it.
struct Writer {
    ngx_log_writer_pt writer;  // null: a file
    void *wdata;
};

// Writes the record to one log of a chain. nginx hands every log of the chain the same buffer
// and length, so the record is masked into a copy: masking it in place would leave the tail of
// the unmasked text, and its line ending, in what the next log writes.
void masking_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf, size_t len) noexcept {
    auto *w = static_cast<Writer *>(log->wdata);
    u_char local[NGX_MAX_ERROR_STR];
    u_char *out = len <= sizeof(local) ? local : static_cast<u_char *>(ngx_alloc(len, log));
    if (out == nullptr) return;  // a record we cannot mask is not written
    len =
        mask_token_signatures({reinterpret_cast<char *>(buf), len}, reinterpret_cast<char *>(out));
    if (w->writer != nullptr) {
        ngx_log_t original = *log;
        original.writer = w->writer;
        original.wdata = w->wdata;
        w->writer(&original, level, out, len);
    } else if (ngx_time() != log->disk_full_time) {  // as nginx does for a full disk
        if (ngx_write_fd(log->file->fd, out, len) == -1 && ngx_errno == NGX_ENOSPC) {
            log->disk_full_time = ngx_time();
        }
    }
    if (out != local) ngx_free(out);
}

bool mask_log(ngx_conf_t *cf, ngx_log_t *log) noexcept {
    for (; log != nullptr; log = log->next) {
        if (log->writer == masking_writer) continue;
        auto *w = static_cast<Writer *>(ngx_palloc(cf->pool, sizeof(Writer)));
        if (w == nullptr) return false;
        w->writer = log->writer;
        w->wdata = log->wdata;
        log->writer = masking_writer;
        log->wdata = w;
    }
    return true;
}

bool mask_location(ngx_conf_t *cf, ngx_http_core_loc_conf_t *clcf) noexcept;

bool mask_tree(ngx_conf_t *cf, ngx_http_location_tree_node_t *node) noexcept {
    if (node == nullptr) return true;
    return (node->exact == nullptr || mask_location(cf, node->exact)) &&
           (node->inclusive == nullptr || mask_location(cf, node->inclusive)) &&
           mask_tree(cf, node->left) && mask_tree(cf, node->right) && mask_tree(cf, node->tree);
}

// A location's error log, and those of the locations nested in it.
bool mask_location(ngx_conf_t *cf, ngx_http_core_loc_conf_t *clcf) noexcept {
    if (!mask_log(cf, clcf->error_log) || !mask_tree(cf, clcf->static_locations)) return false;
#if (NGX_PCRE)
    for (auto **re = clcf->regex_locations; re != nullptr && *re != nullptr; re++) {
        if (!mask_location(cf, *re)) return false;
    }
#endif
    return true;
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

    // $request, for access logs.
    if (cmcf->variables_keys != nullptr) {
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
    }

    // Every error log of every server and location: connections take their log from these.
    auto **servers = static_cast<ngx_http_core_srv_conf_t **>(cmcf->servers.elts);
    for (ngx_uint_t s = 0; s < cmcf->servers.nelts; s++) {
        auto *clcf = static_cast<ngx_http_core_loc_conf_t *>(
            servers[s]->ctx->loc_conf[ngx_http_core_module.ctx_index]);
        if (!mask_location(cf, clcf)) return NGX_ERROR;
        for (auto **named = servers[s]->named_locations; named != nullptr && *named != nullptr;
             named++) {
            if (!mask_location(cf, *named)) return NGX_ERROR;
        }
    }
    auto *main_clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    return mask_location(cf, main_clcf) ? NGX_OK : NGX_ERROR;
}

}  // namespace asset_gate

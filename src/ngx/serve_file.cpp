// `asset_gate_content inline` in a location with `root` (or `alias`) and no content handler
// of its own (proxy_pass, say): the gate serves the record's file itself, the way the static
// module serves a URI's, with open_file_cache, ranges, ETag and If-Modified-Since as the
// location configures them. Without try_files the file is looked up once, where try_files
// would look it up before the static module opens it again; with try_files, the file it chose.
#include "ngx/module.hpp"

namespace asset_gate {

namespace {

// The record's location as the URI ngx_http_map_uri_to_path maps below the location's root.
// Under alias it skips the first `alias` bytes of the URI (the length of the prefix alias
// replaces, perhaps an enclosing location's): the request's own first bytes are kept there.
bool file_uri(ngx_http_request_t *r, const ngx_http_core_loc_conf_t *clcf, std::string_view rel,
              ngx_str_t *uri) noexcept {
    std::string_view prefix = view(r->uri).substr(0, clcf->alias);
    bool slash = prefix.empty() || prefix.back() != '/';
    size_t len = prefix.size() + (slash ? 1 : 0) + rel.size();
    auto *p = static_cast<u_char *>(ngx_pnalloc(r->pool, len));
    if (p == nullptr) return false;
    uri->data = p;
    uri->len = len;
    p = ngx_cpymem(p, prefix.data(), prefix.size());
    if (slash) *p++ = '/';
    ngx_memcpy(p, rel.data(), rel.size());
    return true;
}

ngx_int_t open_failed(ngx_http_request_t *r, const ngx_http_core_loc_conf_t *clcf,
                      const ngx_open_file_info_t &of, const ngx_str_t &path) noexcept {
    ngx_uint_t level = NGX_LOG_CRIT;
    ngx_int_t rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    switch (of.err) {
    case 0:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    case NGX_ENOENT:
    case NGX_ENOTDIR:
    case NGX_ENAMETOOLONG:
        // A record whose file is not there: the same 404 as try_files' =404.
        if (!clcf->log_not_found) return NGX_HTTP_NOT_FOUND;
        level = NGX_LOG_ERR;
        rc = NGX_HTTP_NOT_FOUND;
        break;
    case NGX_EACCES:
#if (NGX_HAVE_OPENAT)
    case NGX_EMLINK:
    case NGX_ELOOP:
#endif
        level = NGX_LOG_ERR;  // unreadable, or a symlink disable_symlinks refuses
        break;
    default:
        break;
    }
    ngx_log_error(level, r->connection->log, of.err, "asset_gate: %s \"%V\" failed", of.failed,
                  &path);
    return rc;
}

// The file to serve, '\0'-terminated as ngx_open_cached_file wants it, or the status to answer.
ngx_int_t file_path(ngx_http_request_t *r, const Ctx *ctx, const ngx_http_core_loc_conf_t *clcf,
                    ngx_str_t *path) noexcept {
    size_t root;
    u_char *last;
    // The name the access phase classified is a view into the URI it saw: when r->uri no longer
    // holds it, try_files has since set the URI to the alternative it found, which is served.
    const u_char *name = reinterpret_cast<const u_char *>(ctx->path.name.data());
    if (name < r->uri.data || name + ctx->path.name.size() > r->uri.data + r->uri.len) {
        last = ngx_http_map_uri_to_path(r, path, &root, 0);
    } else {
        if (clcf->alias == NGX_MAX_SIZE_T_VALUE || clcf->alias > r->uri.len) {
            // alias in a regex location (one nested in the gate's) names the whole file: it
            // has no room for the record's.
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "asset_gate: \"asset_gate_content inline\" cannot serve the record's "
                          "file in the regular expression location \"%V\" with \"alias\": use "
                          "\"root\", or \"try_files /$asset_gate_location =404\"",
                          &clcf->name);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_str_t uri;
        if (!file_uri(r, clcf, ctx->asset.location, &uri)) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        // Mapped with the record's location as the URI; $uri keeps the request's.
        ngx_str_t request_uri = r->uri;
        r->uri = uri;
        last = ngx_http_map_uri_to_path(r, path, &root, 0);
        r->uri = request_uri;
    }
    if (last == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    path->len = static_cast<size_t>(last - path->data);
    return NGX_OK;
}

ngx_int_t serve_file(ngx_http_request_t *r) noexcept {
    // Only the requests this location's gate allowed as content get here (others ended in the
    // access phase); anything else is refused rather than served.
    Ctx *ctx = get_ctx(r);
    if (ctx == nullptr || !ctx->content_allowed || r != r->main) return NGX_HTTP_NOT_FOUND;
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) return NGX_HTTP_NOT_ALLOWED;
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) return rc;

    auto *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_core_module));
    ngx_str_t path;
    rc = file_path(r, ctx, clcf, &path);
    if (rc != NGX_OK) return rc;
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0, "asset_gate: serving \"%V\"", &path);

    ngx_open_file_info_t of;
    ngx_memzero(&of, sizeof(of));
    of.read_ahead = clcf->read_ahead;
    of.directio = clcf->directio;
    of.valid = clcf->open_file_cache_valid;
    of.min_uses = clcf->open_file_cache_min_uses;
    of.errors = clcf->open_file_cache_errors;
    of.events = clcf->open_file_cache_events;
    if (ngx_http_set_disable_symlinks(r, clcf, &path, &of) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (ngx_open_cached_file(clcf->open_file_cache, &path, &of, r->pool) != NGX_OK) {
        return open_failed(r, clcf, of, path);
    }
    if (!of.is_file) {
        // A directory, say: no redirect to it (its Location would show the internal path).
        if (clcf->log_not_found) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "asset_gate: \"%V\" is not a regular file", &path);
        }
        return NGX_HTTP_NOT_FOUND;
    }
    r->root_tested = !r->error_page;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = of.size;
    r->headers_out.last_modified_time = of.mtime;
    if (ngx_http_set_etag(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    r->allow_ranges = 1;  // the content type is the record's: the header filter sets it

    auto *b = static_cast<ngx_buf_t *>(ngx_calloc_buf(r->pool));
    auto *file = static_cast<ngx_file_t *>(ngx_pcalloc(r->pool, sizeof(ngx_file_t)));
    if (b == nullptr || file == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) return rc;

    b->file_pos = 0;
    b->file_last = of.size;
    b->in_file = of.size != 0;
    b->last_buf = 1;
    b->last_in_chain = 1;
    b->file = file;
    file->fd = of.fd;
    file->name = path;
    file->log = r->connection->log;
    file->directio = of.is_directio;

    ngx_chain_t out{b, nullptr};
    return ngx_http_output_filter(r, &out);
}

ngx_int_t serve_file_entry(ngx_http_request_t *r) noexcept {
    try {
        return serve_file(r);
    } catch (...) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "asset_gate: unexpected exception while serving a file");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}

}  // namespace

void serve_file_setup(const MainConf *mcf) noexcept {
    auto *gates = static_cast<const GateRef *>(mcf->gates.elts);
    for (ngx_uint_t i = 0; i < mcf->gates.nelts; i++) {
        const LocConf *g = gates[i].conf;
        ngx_http_core_loc_conf_t *clcf = gates[i].location;
        // Its own proxy_pass (or another content handler) serves the content, or S3 does.
        if (!g->content_inline || g->s3.redirect || clcf->handler != nullptr) continue;
        clcf->handler = serve_file_entry;
    }
}

}  // namespace asset_gate

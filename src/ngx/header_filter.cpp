// Response headers of DESIGN.md section 7, whatever module produced the response: the
// referrer policy on everything the gate answered, the content headers on allowed content.
#include "ngx/module.hpp"

#include <initializer_list>

#include "core/disposition.hpp"

namespace asset_gate {

namespace {

ngx_http_output_header_filter_pt g_next_header_filter;

// Hides the headers of these names already set (by the serving module or an upstream), in one
// pass over the list.
void drop(ngx_http_request_t *r, std::initializer_list<std::string_view> names) noexcept {
    for_each_header(&r->headers_out.headers, [&](ngx_table_elt_t &h) noexcept {
        for (std::string_view name : names) {
            if (header_is(h, name)) h.hash = 0;
        }
    });
}

std::string_view disposition(ngx_pool_t *pool, std::string_view name) noexcept {
    auto *out = static_cast<char *>(ngx_pnalloc(pool, content_disposition_size(name)));
    if (out == nullptr) return {};
    return {out, content_disposition(name, out)};
}

// Allowed content: the record's type, the gate's caching, no sniffing, and the download name.
bool content_headers(ngx_http_request_t *r, const Ctx *ctx) noexcept {
    r->headers_out.content_type = ngx_view(ctx->asset.format);
    r->headers_out.content_type_len = ctx->asset.format.size();
    r->headers_out.content_type_lowcase = nullptr;
    r->headers_out.charset.len = 0;
    r->headers_out.expires = nullptr;
    if (push_header(r, "Cache-Control", view(ctx->gate->cache_control)) == nullptr ||
        push_header(r, "X-Content-Type-Options", "nosniff") == nullptr) {
        return false;
    }
    if (!ctx->download) return true;
    std::string_view value = disposition(r->pool, download_name(ctx));
    return !value.empty() && push_header(r, "Content-Disposition", value) != nullptr;
}

ngx_int_t header_filter(ngx_http_request_t *r) noexcept {
    if (r != r->main) return g_next_header_filter(r);
    Ctx *ctx = get_ctx(r);
    if (ctx == nullptr) return g_next_header_filter(r);

    // Proxied with $asset_gate_s3_* (signed, or refused: even where the gate never ran).
    if (ctx->s3 != nullptr) {
        ngx_int_t rc = s3_filter_response(r, ctx);
        if (rc != NGX_DECLINED) return rc;
    }
    if (!ctx->reason_set) return g_next_header_filter(r);

    // The token is in the URL: nothing this response leads to may learn it.
    ngx_uint_t status = r->headers_out.status;
    bool content =
        ctx->content_allowed && (status == NGX_HTTP_OK || status == NGX_HTTP_PARTIAL_CONTENT ||
                                 status == NGX_HTTP_NOT_MODIFIED);
    if (content) {
        drop(r, {"Referrer-Policy", "Cache-Control", "Expires", "X-Content-Type-Options",
                 "Content-Disposition"});
    } else {
        drop(r, {"Referrer-Policy"});
    }
    if (push_header(r, "Referrer-Policy", "no-referrer") == nullptr) return NGX_ERROR;
    if (content && !content_headers(r, ctx)) return NGX_ERROR;
    return g_next_header_filter(r);
}

}  // namespace

ngx_int_t header_filter_init(ngx_conf_t *) noexcept {
    g_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = header_filter;
    return NGX_OK;
}

}  // namespace asset_gate

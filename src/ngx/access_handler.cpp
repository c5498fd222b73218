// The access phase: method, surface, token, purpose, records, org gate, route. One request's
// path through the gate reads top to bottom here.
#include "ngx/module.hpp"

#include <new>
#include <type_traits>

#include "core/decision.hpp"
#include "core/path.hpp"
#include "ngx/lookup.hpp"
#include "ngx/s3.hpp"
#include "ngx/stats.hpp"

namespace asset_gate {

namespace {

// The marker that finds the ctx again after an internal redirect cleared r->ctx, and the
// hook that detaches a pending lookup when the request goes away.
void ctx_cleanup(void *data) noexcept {
    lookup_detach(static_cast<Ctx *>(data));
}

LocConf *loc_conf(ngx_http_request_t *r) noexcept {
    return static_cast<LocConf *>(ngx_http_get_module_loc_conf(r, ngx_http_asset_gate_module));
}

ngx_int_t refuse(ngx_http_request_t *r, Ctx *ctx, Reason reason, ngx_int_t status) noexcept {
    ctx->reason = reason;
    ctx->reason_set = true;
    ctx->stage = Stage::done;
    ctx->rc = status;
    stats_decision(ctx);
    std::string_view name = reason_name(reason);
    if (ctx->verified) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "asset_gate: refused asset %uL: %*s",
                      ctx->id, name.size(), name.data());
    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "asset_gate: refused: %*s", name.size(),
                      name.data());
    }
    return status;
}

ngx_int_t deny(ngx_http_request_t *r, Ctx *ctx, Reason reason) noexcept {
    return refuse(r, ctx, reason, NGX_HTTP_NOT_FOUND);
}

// One query argument, split on its first '='.
struct Arg {
    std::string_view name;
    std::string_view value;
};

template <typename F>
void for_each_arg(std::string_view args, F &&f) noexcept {
    while (!args.empty()) {
        size_t amp = args.find('&');
        std::string_view part = args.substr(0, amp);
        size_t eq = part.find('=');
        if (!part.empty()) {
            f(Arg{part.substr(0, eq),
                  eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1)});
        }
        if (amp == std::string_view::npos) break;
        args.remove_prefix(amp + 1);
    }
}

ngx_int_t route(ngx_http_request_t *r, Ctx *ctx, LocConf *lcf) noexcept {
    ctx->reason = Reason::allowed;
    ctx->reason_set = true;
    ctx->stage = Stage::done;
    ctx->content_allowed = ctx->surface == Surface::content;
    ctx->cache_control = lcf->cache_control;
    ctx->gate = lcf;  // S3 proxy mode signs with the settings of the gate that allowed it
    stats_decision(ctx);
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0, "asset_gate: allowed asset %uL %s",
                   ctx->id, ctx->surface == Surface::content ? "content" : "render");

    if (ctx->surface == Surface::content && lcf->s3_redirect) {
        ctx->content_allowed = false;  // the store sends the content, with its own headers
        ctx->rc = s3_redirect(r, ctx, lcf);
        return ctx->rc;
    }
    if (ctx->surface == Surface::content && lcf->content_inline) {
        ctx->rc = NGX_OK;
        return NGX_OK;  // the gate location serves it itself: no internal redirect
    }
    ngx_str_t target = ctx->surface == Surface::render ? lcf->render : lcf->content;
    ctx->rc = NGX_DONE;
    if (target.data[0] == '@') {
        (void)ngx_http_named_location(r, &target);
    } else {
        (void)ngx_http_internal_redirect(r, &target, &r->args);
    }
    // Both took a reference on the request; the phase engine's is released here, as
    // try_files does, or keep-alive connections would stall.
    ngx_http_finalize_request(r, NGX_DONE);
    return NGX_DONE;
}

// Steps 7-9, once the records are known.
ngx_int_t decide(ngx_http_request_t *r, Ctx *ctx, LocConf *lcf) noexcept {
    if (ctx->redis_failed) {
        if (lcf->redis_failure == NGX_HTTP_SERVICE_UNAVAILABLE) {
            push_header(r, "Retry-After", "1");
        }
        return refuse(r, ctx, Reason::redis_error, static_cast<ngx_int_t>(lcf->redis_failure));
    }
    AssetRecord asset;
    asset.found = ctx->asset_found;
    asset.org = view(ctx->org);
    asset.format = view(ctx->format);
    asset.location = view(ctx->location);
    asset.filename = view(ctx->filename);
    asset.expires_at = ctx->expires_at;
    Reason reason = decide_asset(asset, ctx->surface, view(ctx->ext), ngx_time());
    if (reason != Reason::allowed) return deny(r, ctx, reason);

    if (ctx->purpose == Purpose::public_) {
        OrgRecord org = ctx->org_fetched ? ctx->org_record : OrgRecord{};
        reason = decide_org(ctx->purpose, org);
        if (reason != Reason::allowed) return deny(r, ctx, reason);
    }
    return route(r, ctx, lcf);
}

}  // namespace

Ctx *get_ctx(ngx_http_request_t *r) noexcept {
    auto *ctx = static_cast<Ctx *>(ngx_http_get_module_ctx(r, ngx_http_asset_gate_module));
    if (ctx != nullptr) return ctx;
    for (ngx_pool_cleanup_t *c = r->pool->cleanup; c != nullptr; c = c->next) {
        if (c->handler == ctx_cleanup) {
            ctx = static_cast<Ctx *>(c->data);
            if (ctx->request == r) {
                ngx_http_set_ctx(r, ctx, ngx_http_asset_gate_module);
                return ctx;
            }
        }
    }
    return nullptr;
}

Ctx *create_ctx(ngx_http_request_t *r) noexcept {
    static_assert(std::is_trivially_destructible<Ctx>::value, "Ctx lives in the request pool");
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(r->pool, sizeof(Ctx));
    if (cln == nullptr) return nullptr;
    auto *ctx = new (cln->data) Ctx();
    ctx->request = r;
    ctx->stage = Stage::start;
    cln->handler = ctx_cleanup;
    ngx_http_set_ctx(r, ctx, ngx_http_asset_gate_module);
    return ctx;
}

void wake(Ctx *ctx) noexcept {
    ngx_connection_t *c = ctx->request->connection;
    ngx_post_event(c->write, &ngx_posted_events);
}

ngx_int_t access_handler(ngx_http_request_t *r) noexcept try {
    LocConf *lcf = loc_conf(r);
    if (!lcf->enable) return NGX_DECLINED;

    Ctx *ctx = get_ctx(r);
    if (ctx != nullptr) {
        switch (ctx->stage) {
            case Stage::pending:
                return NGX_AGAIN;
            case Stage::resolved:
                r->read_event_handler = ngx_http_block_reading;
                return decide(r, ctx, lcf);
            case Stage::done:
                // Routed here again by our own redirect: the decision stands and this
                // location serves.
                return ctx->rc == NGX_DONE ? NGX_DECLINED : ctx->rc;
            case Stage::start:
                break;
        }
    } else if ((ctx = create_ctx(r)) == nullptr) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    // No masking here: the error logs' writers and $request mask the request line when
    // (and only if) something writes it.

    // 1. method
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        push_header(r, "Allow", "GET, HEAD");
        return refuse(r, ctx, Reason::method, NGX_HTTP_NOT_ALLOWED);
    }

    // 2. surface, before any cryptography
    PathInfo path = classify_path(view(r->uri), view(lcf->base));
    ctx->surface = path.surface;
    ctx->classified = true;
    if (path.surface == Surface::malformed) return deny(r, ctx, Reason::malformed_path);
    ctx->name = ngx_view(path.name);
    ctx->ext = ngx_view(path.ext);

    // 3. exactly one token
    std::string_view token;
    int tokens = 0;
    bool download = false;
    for_each_arg(view(r->args), [&](const Arg &a) {
        if (a.name == "token") {
            tokens++;
            token = a.value;
        } else if (a.name == "download") {
            download = a.value == "true";  // the last one wins, as the application reads it
        }
    });
    if (tokens == 0) return deny(r, ctx, Reason::no_token);
    if (tokens > 1) return deny(r, ctx, Reason::duplicate_token);
    if (token.size() > kMaxTokenSize * 3) return deny(r, ctx, Reason::bad_token);
    if (token.find('%') != std::string_view::npos) {
        auto *dst = static_cast<u_char *>(ngx_pnalloc(r->pool, token.size()));
        if (dst == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        u_char *src = reinterpret_cast<u_char *>(const_cast<char *>(token.data()));
        u_char *end = dst;
        ngx_unescape_uri(&end, &src, token.size(), 0);
        token = std::string_view(reinterpret_cast<char *>(dst), end - dst);
    }
    ctx->download = download;

    // 4. signature and claims
    VerifyOptions opts;
    opts.audience = view(lcf->audience);
    opts.leeway = lcf->leeway;
    opts.now = ngx_time();
    Verified v;
    VerifiedTokenCache *seen = verified_tokens();
    if (seen != nullptr && seen->find(lcf, token, opts.now, opts.leeway, &v.claims)) {
        v.reason = Reason::allowed;
    } else {
        v = verify_token(token, *lcf->keys, opts);
        if (v.reason != Reason::allowed) return deny(r, ctx, v.reason);
        if (seen != nullptr) seen->insert(lcf, token, v.claims);
    }
    ctx->verified = true;
    ctx->id = v.claims.id;
    ctx->purpose = v.claims.purpose;

    // 5. purpose x surface, and whether this location serves the surface at all
    Reason reason = decide_purpose(ctx->purpose, ctx->surface);
    if (reason != Reason::allowed) return deny(r, ctx, reason);
    bool served = ctx->surface == Surface::render
                      ? lcf->render.len != 0
                      : (lcf->content.len != 0 || lcf->content_inline || lcf->s3_redirect);
    if (!served) return deny(r, ctx, Reason::purpose_surface);

    // 6. records
    if (lookup_start(r, ctx, lcf) == NGX_AGAIN) {
        ctx->stage = Stage::pending;
        ctx->lookup_started = ngx_current_msec;
        r->read_event_handler = ngx_http_test_reading;  // notice a client that leaves
        return NGX_AGAIN;
    }
    return decide(r, ctx, lcf);
} catch (...) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "asset_gate: unexpected exception");
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace asset_gate

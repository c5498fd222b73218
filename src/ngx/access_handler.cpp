// The access phase: method, surface, token, purpose, records, org gate, sync heartbeat, route.
// One request's path through the gate reads top to bottom here.
#include "ngx/module.hpp"

#include <new>
#include <type_traits>

#include "core/decision.hpp"
#include "core/path.hpp"
#include "core/query.hpp"
#include "ngx/heartbeat.hpp"
#include "ngx/lookup.hpp"
#include "ngx/s3.hpp"
#include "ngx/stats.hpp"

namespace asset_gate {

namespace {

// The marker that finds the ctx again after an internal redirect cleared r->ctx, and the
// hook that detaches a pending lookup (or heartbeat wait) when the request goes away.
void ctx_cleanup(void *data) noexcept {
    auto *ctx = static_cast<Ctx *>(data);
    lookup_detach(ctx);
    heartbeat_detach(ctx);
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
                      ctx->claims.id, name.size(), name.data());
    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "asset_gate: refused: %*s", name.size(),
                      name.data());
    }
    return status;
}

ngx_int_t deny(ngx_http_request_t *r, Ctx *ctx, Reason reason) noexcept {
    return refuse(r, ctx, reason, NGX_HTTP_NOT_FOUND);
}

ngx_int_t route(ngx_http_request_t *r, Ctx *ctx, LocConf *lcf) noexcept {
    ctx->reason = Reason::allowed;
    ctx->reason_set = true;
    ctx->stage = Stage::done;
    bool content = ctx->path.surface == Surface::content;
    ctx->content_allowed = content;
    stats_decision(ctx);
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0, "asset_gate: allowed asset %uL %s",
                   ctx->claims.id, content ? "content" : "render");

    if (content && lcf->s3.redirect) {
        ctx->content_allowed = false;  // the store sends the content, with its own headers
        ctx->rc = s3_redirect(r, ctx, lcf);
        return ctx->rc;
    }
    if (content && lcf->content_inline) {
        ctx->rc = NGX_OK;
        return NGX_OK;  // the gate location serves it itself: no internal redirect
    }
    ngx_str_t target = content ? lcf->content.to : lcf->render.to;
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

// The client left while the request waited for Redis: the gate has run, so the reason is set
// (and counted) before the request is logged. Runs from nginx's request cleanup, before the
// log phase.
void on_leave(void *data) noexcept {
    auto *ctx = static_cast<Ctx *>(data);
    if (ctx->stage != Stage::pending) return;
    lookup_detach(ctx);
    heartbeat_detach(ctx);
    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "asset_gate: the client left before Redis answered for asset %uL",
                  ctx->claims.id);
    (void)refuse(ctx->request, ctx, Reason::redis_error, NGX_HTTP_CLIENT_CLOSED_REQUEST);
}

// The request waits for Redis (a lookup, or the worker's first heartbeat): wake(ctx) follows.
ngx_int_t wait_for_redis(ngx_http_request_t *r, Ctx *ctx) noexcept {
    if (ctx->stage != Stage::pending) {
        ctx->stage = Stage::pending;
        r->read_event_handler = ngx_http_test_reading;  // notice a client that leaves
    }
    if (!ctx->leave_hook) {
        ngx_http_cleanup_t *cln = ngx_http_cleanup_add(r, 0);
        if (cln == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
        cln->handler = on_leave;
        cln->data = ctx;
        ctx->leave_hook = true;
    }
    return NGX_AGAIN;
}

// Steps 7-9, once the records are known.
ngx_int_t decide(ngx_http_request_t *r, Ctx *ctx, LocConf *lcf) noexcept {
    if (ctx->redis_failed) {
        if (lcf->redis.failure == NGX_HTTP_SERVICE_UNAVAILABLE) {
            push_header(r, "Retry-After", "1");
        }
        return refuse(r, ctx, Reason::redis_error, static_cast<ngx_int_t>(lcf->redis.failure));
    }
    Reason reason = decide_asset(ctx->asset, ctx->path.surface, ctx->path.ext, ngx_time());
    if (reason != Reason::allowed) return deny(r, ctx, reason);
    // Purpose tokens ignore the org (it was not looked up: the record stays "not found").
    reason = decide_org(ctx->claims.purpose, ctx->org);
    if (reason != Reason::allowed) return deny(r, ctx, reason);
    // 8b. A public token the records allow needs records the sync keeps fresh.
    if (heartbeat_check(ctx, lcf, &reason) == NGX_AGAIN) return wait_for_redis(r, ctx);
    if (reason != Reason::allowed) return deny(r, ctx, reason);
    return route(r, ctx, lcf);
}

// Steps 6-9: the records (cache, then Redis), then the decision.
ngx_int_t look_up(ngx_http_request_t *r, Ctx *ctx, LocConf *lcf) noexcept {
    if (lookup_start(r, ctx, lcf) != NGX_AGAIN) return decide(r, ctx, lcf);
    return wait_for_redis(r, ctx);
}

// A location some gate routes to serves, of the requests a gate decided, only those it allowed
// for that surface: a refused request that error_page, try_files, X-Accel-Redirect or a
// rewrite sends there gets the same 404 as any refusal.
ngx_int_t guard_target(ngx_http_request_t *r, LocConf *lcf) noexcept {
    ngx_uint_t target_of = lcf->target_of;
    Ctx *ctx = nullptr;
    if (target_of == 0) {
        // URI targets are found by their URI: only an internal redirect can reach one.
        if (!r->internal) return NGX_DECLINED;
        auto *mcf =
            static_cast<MainConf *>(ngx_http_get_module_main_conf(r, ngx_http_asset_gate_module));
        if (!mcf->uri_targets) return NGX_DECLINED;
        ctx = get_ctx(r);
        if (ctx == nullptr || ctx->gate == nullptr) return NGX_DECLINED;
        const LocConf *g = ctx->gate;
        std::string_view uri = view(r->uri);
        if (!g->content_inline && is_uri_target(g->content) && uri == view(g->content.to)) {
            target_of |= 1u << static_cast<unsigned>(Surface::content);
        }
        if (is_uri_target(g->render) && uri == view(g->render.to)) {
            target_of |= 1u << static_cast<unsigned>(Surface::render);
        }
        if (target_of == 0) return NGX_DECLINED;
    } else {
        ctx = get_ctx(r);
    }
    // A request no gate decided passes: a target may also be the application's own fallback
    // (try_files ... @app), and no record variable is filled for such a request.
    if (ctx == nullptr || !ctx->reason_set) return NGX_DECLINED;
    if (allowed(ctx) && (target_of & (1u << static_cast<unsigned>(ctx->path.surface)))) {
        return NGX_DECLINED;
    }
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "asset_gate: refused \"%V\": a gate's target serves only what the gate allowed",
                  &r->uri);
    return NGX_HTTP_NOT_FOUND;
}

// A request back in the access phase: waiting, woken, or decided before. NGX_DECLINED: decide
// it (afresh).
ngx_int_t resume(ngx_http_request_t *r, Ctx *ctx, LocConf *lcf) noexcept {
    switch (ctx->stage) {
        case Stage::pending:
            return NGX_AGAIN;
        case Stage::resolved:
            r->read_event_handler = ngx_http_block_reading;
            return look_up(r, ctx, lcf);
        case Stage::done:
            // A refusal stands wherever the request is sent next (error_page back here).
            if (!allowed(ctx)) return ctx->rc;
            // Back in a gate after an allowed decision (X-Accel-Redirect, error_page,
            // try_files' fallback, a rewrite): what it asks now is decided afresh.
            *ctx = Ctx{};
            ctx->request = r;
            return NGX_DECLINED;
        case Stage::start:
            break;
    }
    return NGX_DECLINED;
}

// Steps 3-4: exactly one token, names compared decoded as the application compares them; then
// its signature and claims (the worker's cache of verified tokens first). `*no_memory`: the
// request pool is exhausted (a 500, not a refusal).
Reason check_token(ngx_http_request_t *r, Ctx *ctx, const LocConf *lcf, bool *no_memory) noexcept {
    QueryArgs q = scan_query(view(r->args));
    if (q.tokens == 0) return Reason::no_token;
    if (q.tokens > 1) return Reason::duplicate_token;
    std::string_view token = q.token;
    if (token.size() > kMaxTokenSize * 3) return Reason::bad_token;
    if (token.find('%') != std::string_view::npos) {
        auto *dst = static_cast<char *>(ngx_pnalloc(r->pool, token.size()));
        if (dst == nullptr) {
            *no_memory = true;
            return Reason::bad_token;
        }
        token = std::string_view(dst, percent_decode(token, dst));
    }
    ctx->download = q.download;

    VerifyOptions opts;
    opts.audience = view(lcf->token.audience);
    opts.leeway = lcf->token.leeway;
    opts.now = ngx_time();
    VerifiedTokenCache *seen = verified_tokens();
    if (seen == nullptr || !seen->find(lcf, token, opts.now, opts.leeway, &ctx->claims)) {
        Verified v = verify_token(token, *lcf->token.keys, opts);
        if (v.reason != Reason::allowed) return v.reason;
        if (seen != nullptr) seen->insert(lcf, token, v.claims);
        ctx->claims = v.claims;
    }
    ctx->verified = true;
    return Reason::allowed;
}

// Whether the location has somewhere to send an allowed request of this surface.
bool serves(const LocConf *lcf, Surface surface) noexcept {
    if (surface == Surface::render) return lcf->render.to.len != 0;
    return lcf->content.to.len != 0 || lcf->content_inline || lcf->s3.redirect;
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

ngx_int_t rewrite_guard(ngx_http_request_t *r) noexcept {
    LocConf *lcf = loc_conf(r);
    if (r != r->main) {
        if (!lcf->enable && lcf->target_of == 0) return NGX_DECLINED;
        // nginx runs no access phase for subrequests (SSI, auth_request, mirror): the gate
        // cannot decide them, so it refuses them.
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "asset_gate: refused a subrequest to \"%V\"", &r->uri);
        return NGX_HTTP_NOT_FOUND;
    }
    // Targets are guarded before their own rewrite directives (`return`, `rewrite`) run.
    return lcf->enable ? NGX_DECLINED : guard_target(r, lcf);
}

ngx_int_t access_handler(ngx_http_request_t *r) noexcept try {
    LocConf *lcf = loc_conf(r);
    if (!lcf->enable) return NGX_DECLINED;  // targets: rewrite_guard

    Ctx *ctx = get_ctx(r);
    if (ctx == nullptr) {
        if ((ctx = create_ctx(r)) == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    } else if (ngx_int_t rc = resume(r, ctx, lcf); rc != NGX_DECLINED) {
        return rc;
    }
    ctx->gate = lcf;

    // No masking here: the error logs' writers and $request mask the request line when
    // (and only if) something writes it.

    // 1. method
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        push_header(r, "Allow", "GET, HEAD");
        return refuse(r, ctx, Reason::method, NGX_HTTP_NOT_ALLOWED);
    }

    // 2. surface, before any cryptography
    ctx->path = classify_path(view(r->uri), view(lcf->base));
    ctx->classified = true;
    if (ctx->path.surface == Surface::malformed) return deny(r, ctx, Reason::malformed_path);

    // 3-4. exactly one token, then its signature and claims
    bool no_memory = false;
    Reason reason = check_token(r, ctx, lcf, &no_memory);
    if (no_memory) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    if (reason != Reason::allowed) return deny(r, ctx, reason);

    // 5. purpose x surface, and whether this location serves the surface at all
    reason = decide_purpose(ctx->claims.purpose, ctx->path.surface);
    if (reason == Reason::allowed && !serves(lcf, ctx->path.surface)) {
        reason = Reason::purpose_surface;
    }
    if (reason != Reason::allowed) return deny(r, ctx, reason);

    // 6-9. records, asset checks, org gate, sync heartbeat, route
    return look_up(r, ctx, lcf);
} catch (...) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "asset_gate: unexpected exception");
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace asset_gate

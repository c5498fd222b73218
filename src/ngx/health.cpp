// asset_gate_health: what the answering worker knows of its gates (keys, the data connection
// its asset_gate_redis_up reports, the sync heartbeat it last read), put to core's verdict.
#include "ngx/health.hpp"

#include "core/health.hpp"
#include "ngx/heartbeat.hpp"
#include "ngx/redis_client.hpp"
#include "ngx/redis_endpoints.hpp"

namespace asset_gate {

namespace {

// A location with asset_gate_health, for the checks at postconfiguration.
struct HealthRef {
    ngx_http_core_loc_conf_t *location;
    ConfSite site;
};

GateHealth health_of_gate(const LocConf *conf) noexcept {
    GateHealth g;
    g.has_keys = conf->token.keys != nullptr && !conf->token.keys->empty();
    const RedisClient *client = redis_client(conf->redis.endpoint);
    g.redis_up = client != nullptr && client->up();
    g.sync_max_age = conf->sync_max_age;
    if (conf->sync_max_age > 0) {
        const HeartbeatReader *reader = heartbeat_reader(conf->heartbeat);
        // Before the worker's first answer the heartbeat is not known yet: not healthy.
        if (reader != nullptr && !reader->first_pending()) g.heartbeat = reader->seen();
    }
    return g;
}

// The line for a problem of `gate`.
u_char *gate_problem(u_char *p, u_char *end, const HealthVerdict &v, const LocConf &gate) noexcept {
    const ngx_str_t name = ngx_view(unhealthy_name(v.problem));
    switch (v.problem) {
        case Unhealthy::redis_down:
            return ngx_slprintf(p, end, "redis: %V (%V)\n", &name, &gate.redis.endpoint->name);
        case Unhealthy::sync_stale:
            return ngx_slprintf(p, end, "sync: %V (heartbeat %V %L s %s, max %T s)\n", &name,
                                &gate.heartbeat->key, v.age < 0 ? -v.age : v.age,
                                v.age < 0 ? "ahead" : "old", gate.sync_max_age);
        case Unhealthy::sync_unknown:
            return ngx_slprintf(p, end, "sync: %V (heartbeat %V missing, malformed or unread)\n",
                                &name, &gate.heartbeat->key);
        case Unhealthy::no_keys:
            return ngx_slprintf(p, end, "keys: none\n");
        case Unhealthy::none:
        case Unhealthy::no_gate:
            break;
    }
    return ngx_slprintf(p, end, "gate: none\n");
}

// The one-line body: "ok", or the part that is not and why. `gate`: the gate the verdict
// names, null when there is none.
ngx_str_t describe(ngx_pool_t *pool, const HealthVerdict &v, const LocConf *gate) noexcept {
    constexpr size_t kRoom = 256;  // names are cut short rather than overflow the line
    ngx_str_t out{0, static_cast<u_char *>(ngx_pnalloc(pool, kRoom))};
    if (out.data == nullptr) return out;
    u_char *end = out.data + kRoom;
    u_char *p = out.data;
    if (v.problem == Unhealthy::none) {
        p = ngx_slprintf(p, end, "ok\n");
    } else if (gate == nullptr) {
        p = ngx_slprintf(p, end, "gate: none\n");
    } else {
        p = gate_problem(p, end, v, *gate);
    }
    out.len = static_cast<size_t>(p - out.data);
    return out;
}

ngx_int_t health_handler(ngx_http_request_t *r) noexcept {
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) return NGX_HTTP_NOT_ALLOWED;
    if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    const auto *mcf =
        static_cast<const MainConf *>(ngx_http_get_module_main_conf(r, ngx_http_asset_gate_module));
    const auto *gates = static_cast<const GateRef *>(mcf->gates.elts);
    const ngx_uint_t n = mcf->gates.nelts;
    auto *each = static_cast<GateHealth *>(ngx_palloc(r->pool, sizeof(GateHealth) * n));
    if (each == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    for (ngx_uint_t i = 0; i < n; i++) each[i] = health_of_gate(gates[i].conf);
    const HealthVerdict v = health_of(each, n, ngx_time());
    const ngx_str_t body = describe(r->pool, v, n > 0 ? gates[v.gate].conf : nullptr);
    if (body.data == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;

    const bool ok = v.problem == Unhealthy::none;
    if (push_header(r, "Cache-Control", "no-store") == nullptr ||
        (!ok && push_header(r, "Retry-After", "1") == nullptr)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    auto *b = static_cast<ngx_buf_t *>(ngx_calloc_buf(r->pool));
    if (b == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    b->pos = body.data;
    b->last = body.data + body.len;
    ngx_chain_t out{b, nullptr};
    return send_memory_body(r, ok ? NGX_HTTP_OK : NGX_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                            &out, static_cast<off_t>(body.len));
}

}  // namespace

char *health_set(ngx_conf_t *cf, ngx_command_t *, void *) noexcept {
    auto *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_asset_gate_module));
    if (mcf->health == nullptr) {
        mcf->health = ngx_array_create(cf->pool, 1, sizeof(HealthRef));
        if (mcf->health == nullptr) return conf_error();
    }
    auto *ref = static_cast<HealthRef *>(ngx_array_push(mcf->health));
    if (ref == nullptr) return conf_error();
    *ref = {clcf, conf_site(cf)};
    // Another content handler set before this line is replaced, one set after replaces this:
    // health_check_conf finds either.
    if (clcf->handler == nullptr) clcf->handler = health_handler;
    return NGX_CONF_OK;
}

ngx_int_t health_check_conf(ngx_conf_t *cf, const MainConf *mcf) noexcept {
    if (mcf->health == nullptr) return NGX_OK;
    const auto *refs = static_cast<const HealthRef *>(mcf->health->elts);
    const auto *gates = static_cast<const GateRef *>(mcf->gates.elts);
    for (ngx_uint_t i = 0; i < mcf->health->nelts; i++) {
        // The gate would decide the health request as a link (a 404) before it reached here.
        for (ngx_uint_t j = 0; j < mcf->gates.nelts; j++) {
            if (gates[j].location == refs[i].location) {
                site_error(cf, refs[i].site,
                           "\"asset_gate_health\" cannot be in a location with \"asset_gate on\"");
                return NGX_ERROR;
            }
        }
        if (refs[i].location->handler != health_handler) {
            site_error(cf, refs[i].site,
                       "\"asset_gate_health\" cannot share a location with another content "
                       "handler");
            return NGX_ERROR;
        }
    }
    if (mcf->enabled) return NGX_OK;
    site_error(cf, refs[0].site, "\"asset_gate_health\" needs a location with \"asset_gate on\"");
    return NGX_ERROR;
}

}  // namespace asset_gate

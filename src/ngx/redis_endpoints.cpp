// The worker's endpoints: for each configured one, its data connection, the invalidation
// subscriber when a channel is set, and the sentinel watcher for a sentinel: address.
#include "ngx/redis_endpoints.hpp"

#include <new>

#include "ngx/redis_client.hpp"
#include "ngx/redis_invalidation.hpp"
#include "ngx/redis_sentinel.hpp"

namespace asset_gate {

namespace {

EndpointRuntime **g_runtimes = nullptr;
ngx_uint_t g_nruntimes = 0;

// An endpoint's connections, not started yet. May throw.
std::unique_ptr<EndpointRuntime> make_runtime(const RedisEndpoint *ep, ngx_shm_zone_t *cache_zone,
                                              ngx_log_t *log) {
    auto rt = std::make_unique<EndpointRuntime>(ep, cache_zone);
    if (ep->unix_path.len) {
        rt->address.unix_path.assign(reinterpret_cast<const char *>(ep->unix_path.data),
                                     ep->unix_path.len);
    } else if (ep->host.len) {
        rt->address.host.assign(reinterpret_cast<const char *>(ep->host.data), ep->host.len);
        rt->address.port = ep->port;
        rt->address.written = view(ep->host_name);
    }
    rt->data = std::make_unique<RedisClient>(rt.get(), log);
    if (ep->channel.len) rt->subscriber = std::make_unique<InvalidationSubscriber>(rt.get(), log);
    if (ep->sentinel_master.len) rt->sentinel = std::make_unique<SentinelWatcher>(rt.get(), log);
    return rt;
}

void start(EndpointRuntime *rt) noexcept {
    // The sentinel first: until it names the master, the others have nowhere to go.
    if (rt->sentinel) rt->sentinel->start();
    rt->data->start();
    if (rt->subscriber) rt->subscriber->start();
}

}  // namespace

EndpointRuntime::EndpointRuntime(const RedisEndpoint *ep, ngx_shm_zone_t *zone) noexcept
    : endpoint(ep), cache_zone(zone) {}

EndpointRuntime::~EndpointRuntime() {
    // The sentinel first: nothing may ask the others to reconnect while they close.
    if (sentinel) sentinel->shutdown();
    if (subscriber) subscriber->shutdown();
    if (data) data->shutdown();
}

void EndpointRuntime::follow(const RedisAddress &to, const char *why) {
    bool changed = !(to == address);
    if (changed) {
        RedisAddress next = to;  // the only step that may throw, before anything changes
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0, "asset_gate: redis %V: using %s:%d (%s)",
                      &endpoint->name, next.host.c_str(), next.port, why);
        address = std::move(next);
    }
    for (RedisConnection *c : {static_cast<RedisConnection *>(data.get()),
                               static_cast<RedisConnection *>(subscriber.get())}) {
        if (c == nullptr) continue;
        if (changed || !c->usable()) c->reconnect_now(why);
    }
}

void EndpointRuntime::server_back(const RedisConnection *from) noexcept {
    RedisConnection *shared[] = {data.get(), subscriber.get()};
    if (from != shared[0] && from != shared[1]) return;  // a sentinel: another server
    for (RedisConnection *c : shared) {
        if (c != nullptr && c != from && c->backing_off()) c->reconnect_now("the server is back");
    }
}

void EndpointRuntime::ask_sentinels_again() noexcept {
    if (sentinel) sentinel->ask_again();
}

RedisClient *redis_client(const RedisEndpoint *endpoint) noexcept {
    if (g_runtimes == nullptr || endpoint->index >= g_nruntimes) return nullptr;
    return g_runtimes[endpoint->index]->data.get();
}

ngx_int_t redis_clients_init(ngx_cycle_t *cycle, MainConf *mcf) noexcept {
    ngx_uint_t n = mcf->endpoints.nelts;
    if (n == 0) return NGX_OK;
    g_runtimes = new (std::nothrow) EndpointRuntime *[n]();
    if (g_runtimes == nullptr) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0, "asset_gate: redis: out of memory");
        return NGX_ERROR;
    }
    g_nruntimes = n;
    auto **eps = static_cast<RedisEndpoint **>(mcf->endpoints.elts);
    for (ngx_uint_t i = 0; i < n; i++) {
        try {
            g_runtimes[i] = make_runtime(eps[i], mcf->cache_zone, cycle->log).release();
        } catch (...) {
            redis_log_exception(cycle->log, eps[i], "cannot start");
            redis_clients_exit();
            return NGX_ERROR;
        }
        start(g_runtimes[i]);
    }
    return NGX_OK;
}

void redis_clients_exit() noexcept {
    for (ngx_uint_t i = 0; i < g_nruntimes; i++) delete g_runtimes[i];
    delete[] g_runtimes;
    g_runtimes = nullptr;
    g_nruntimes = 0;
}

}  // namespace asset_gate

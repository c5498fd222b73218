// The data connection's role: it goes where the endpoint's runtime says, sets itself up with
// AUTH and SELECT (over TLS when configured), reads the sync heartbeats as soon as it is up,
// counts reconnections, and on failure has the sentinels asked again.
#include "ngx/redis_client.hpp"

#include "ngx/heartbeat.hpp"
#include "ngx/stats.hpp"

namespace asset_gate {

RedisClient::RedisClient(EndpointRuntime *rt, ngx_log_t *log)
    : RedisConnection(rt, rt->endpoint, "", log) {
    ngx_queue_init(&lookups_);
    ngx_queue_init(&inflight_);
    auto *mcf = static_cast<MainConf *>(
        ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_asset_gate_module));
    if (mcf == nullptr) return;
    auto **sources = static_cast<HeartbeatSource **>(mcf->heartbeats.elts);
    for (ngx_uint_t i = 0; i < mcf->heartbeats.nelts; i++) {
        if (sources[i]->endpoint != rt->endpoint) continue;
        heartbeats_.push_back(std::make_unique<HeartbeatReader>(this, sources[i]));
    }
    for (const auto &h : heartbeats_) h->start();
}

// Here, not only in ~RedisConnection: the pending lookups' and heartbeats' callbacks still reach
// this object's members.
RedisClient::~RedisClient() {
    for (const auto &h : heartbeats_) h->closing();
    shutdown();
}

HeartbeatReader *RedisClient::heartbeat(const HeartbeatSource *source) const noexcept {
    for (const auto &h : heartbeats_) {
        if (h->source() == source) return h.get();
    }
    return nullptr;
}

bool RedisClient::address(RedisAddress *to) {
    *to = runtime()->address;
    return to->known();  // unknown: waiting for the sentinels to name the master
}

void RedisClient::on_ready() noexcept {
    send_setup(endpoint()->auth, true);
    // Queued behind the setup: the first answer comes as soon as the connection is set up.
    for (const auto &h : heartbeats_) h->read();
}

void RedisClient::on_connected(bool after_outage) noexcept {
    if (after_outage) stats_redis(RedisEvent::reconnect);
}

void RedisClient::on_failure() noexcept {
    for (const auto &h : heartbeats_) h->connection_lost();
    runtime()->ask_sentinels_again();
}

}  // namespace asset_gate

// The data connection's role: it goes where the endpoint's runtime says, sets itself up with
// AUTH and SELECT (over TLS when configured), counts reconnections, and on failure has the sentinels asked again.
#include "ngx/redis_client.hpp"

#include "ngx/stats.hpp"

namespace asset_gate {

RedisClient::RedisClient(EndpointRuntime *rt, ngx_log_t *log) noexcept
    : RedisConnection(rt, rt->endpoint, "", log) {
    ngx_queue_init(&lookups_);
    ngx_queue_init(&inflight_);
}

// Here, not only in ~RedisConnection: the pending lookups' callbacks still reach the queues.
RedisClient::~RedisClient() {
    shutdown();
}

bool RedisClient::address(RedisAddress *to) {
    *to = runtime()->address;
    return to->known();  // unknown: waiting for the sentinels to name the master
}

void RedisClient::on_ready() noexcept {
    send_setup(endpoint()->auth, true);
}

void RedisClient::on_connected(bool after_outage) noexcept {
    if (after_outage) stats_redis(RedisEvent::reconnect);
}

void RedisClient::on_failure() noexcept {
    runtime()->ask_sentinels_again();
}

}  // namespace asset_gate

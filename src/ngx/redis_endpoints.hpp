// A worker's Redis connections per configured endpoint: made when the worker starts, found by
// the lookups, and moved together when the sentinels name a new address.
#pragma once

#include <memory>

#include "ngx/redis_connection.hpp"

namespace asset_gate {

class RedisClient;
class InvalidationSubscriber;
class SentinelWatcher;

struct EndpointRuntime {
    EndpointRuntime(const RedisEndpoint *ep, ngx_shm_zone_t *cache_zone) noexcept;
    ~EndpointRuntime();
    EndpointRuntime(const EndpointRuntime &) = delete;
    EndpointRuntime &operator=(const EndpointRuntime &) = delete;

    const RedisEndpoint *endpoint;
    ngx_shm_zone_t *cache_zone;  // the configuration's, where invalidations evict; or null
    // Where the data and subscriber connections go: fixed, or the current master (or a
    // replica) as the sentinels last said.
    RedisAddress address;
    std::unique_ptr<RedisClient> data;
    std::unique_ptr<InvalidationSubscriber> subscriber;  // with an invalidation channel
    std::unique_ptr<SentinelWatcher> sentinel;           // with a sentinel: address

    // The sentinels named a (possibly new) address: data and subscriber follow it. May throw
    // (it copies the address), and then nothing has changed.
    void follow(const RedisAddress &to, const char *why);

    // `from` (the data or the subscriber connection) got through to the address both use: the
    // other, if it is waiting out a backoff, tries again now instead of up to 3 s later.
    void server_back(const RedisConnection *from) noexcept;

    // The data connection failed: the sentinels may know better (at most once a second).
    void ask_sentinels_again() noexcept;
};

// The worker's data client of an endpoint (created in init_process).
RedisClient *redis_client(const RedisEndpoint *endpoint) noexcept;
ngx_int_t redis_clients_init(ngx_cycle_t *cycle, MainConf *mcf) noexcept;
void redis_clients_exit() noexcept;

}  // namespace asset_gate

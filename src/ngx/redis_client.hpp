// Redis connections of a worker, per configured endpoint: the one that answers lookups (here),
// the one subscribed to the invalidation channel (redis_invalidation.hpp), and, for Sentinel
// endpoints, the one that follows the sentinels (redis_sentinel.hpp). Each is a
// RedisConnection (redis_connection.hpp) with its role.
#pragma once

#include <memory>

#include "ngx/redis_connection.hpp"

namespace asset_gate {

// The data connection: AUTH and SELECT on connect, then the lookups' HGETALLs. Losing it makes
// the sentinels (if any) be asked again where the master is.
class RedisClient final : public RedisConnection {
  public:
    RedisClient(EndpointRuntime *rt, ngx_log_t *log) noexcept;
    ~RedisClient() override;

    ngx_queue_t *lookups() noexcept { return &lookups_; }
    ngx_queue_t *inflight() noexcept { return &inflight_; }

  private:
    bool address(RedisAddress *to) override;
    void on_ready() noexcept override;
    void on_connected(bool after_outage) noexcept override;
    void on_failure() noexcept override;

    ngx_queue_t lookups_;   // pending lookups later requests may join (see lookup.cpp)
    ngx_queue_t inflight_;  // every lookup sent and not yet replied to, answered or not
};

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

    // The sentinels named a (possibly new) address: data and subscriber follow it.
    void follow(const RedisAddress &to, const char *why) noexcept;

    // The data connection failed: the sentinels may know better (at most once a second).
    void ask_sentinels_again() noexcept;
};

// The worker's data client of an endpoint (created in init_process).
RedisClient *redis_client(const RedisEndpoint *endpoint) noexcept;
ngx_int_t redis_clients_init(ngx_cycle_t *cycle, MainConf *mcf) noexcept;
void redis_clients_exit() noexcept;

}  // namespace asset_gate

// Redis connections of a worker, per configured endpoint: the one that answers lookups, the
// one subscribed to the invalidation channel, and, for Sentinel endpoints, the one that asks
// the sentinels where the master is and follows +switch-master. Each is a RedisConnection
// (redis_connection.hpp) with its role.
#pragma once

#include <memory>
#include <string_view>

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

// The connection subscribed to asset_gate_invalidation_channel: each message names a record
// that leaves the shared cache at once.
class InvalidationSubscriber final : public RedisConnection {
  public:
    InvalidationSubscriber(EndpointRuntime *rt, ngx_log_t *log) noexcept;

  private:
    bool address(RedisAddress *to) override;
    void on_ready() noexcept override;

    static void on_message(redisAsyncContext *ac, void *reply, void *) noexcept;
    void invalidate(std::string_view key) noexcept;
};

// The connection to a sentinel (for a sentinel: address): it asks where the master is (and,
// reading from replicas, which replica is healthy), then follows +switch-master.
class SentinelWatcher final : public RedisConnection {
  public:
    SentinelWatcher(EndpointRuntime *rt, ngx_log_t *log) noexcept;

    // The data connection failed: ask the sentinels again, at most once a second.
    void ask_again() noexcept;

  private:
    bool address(RedisAddress *to) override;
    void on_ready() noexcept override;
    void on_unreachable() noexcept override { next_++; }  // try the next sentinel

    static void on_master_address(redisAsyncContext *ac, void *reply, void *) noexcept;
    static void on_replicas(redisAsyncContext *ac, void *reply, void *) noexcept;
    static void on_switch_master(redisAsyncContext *ac, void *reply, void *) noexcept;
    void master_named(const redisReply *reply);
    void replicas_named(const redisReply *reply);
    void master_switched(const redisReply *reply);

    ngx_uint_t next_;       // the sentinel to ask next
    ngx_msec_t asked_ = 0;  // when the sentinels were last asked
    RedisAddress master_;   // as the sentinels last said (a replica reader falls back to it)
};

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

// The worker's Redis client of an endpoint, the connection lookups go through, and where to
// find it: what lookup.cpp and module.cpp use of the Redis side.
#pragma once

#include "ngx/redis_connection.hpp"
#include "ngx/redis_endpoints.hpp"

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

}  // namespace asset_gate

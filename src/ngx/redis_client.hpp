// The worker's Redis client of an endpoint, the connection lookups go through, and where to
// find it: what lookup.cpp and module.cpp use of the Redis side.
#pragma once

#include <memory>
#include <vector>

#include "ngx/redis_connection.hpp"
#include "ngx/redis_endpoints.hpp"

namespace asset_gate {

struct HeartbeatSource;
class HeartbeatReader;

// The data connection: AUTH and SELECT on connect, then the lookups' HGETALLs and the sync
// heartbeats' GETs (heartbeat.hpp) of the gates that read through it. Losing it makes the
// sentinels (if any) be asked again where the master is.
class RedisClient final : public RedisConnection {
  public:
    // Makes the readers of the heartbeats read through this endpoint. May throw.
    RedisClient(EndpointRuntime *rt, ngx_log_t *log);
    ~RedisClient() override;

    ngx_queue_t *lookups() noexcept { return &lookups_; }
    ngx_queue_t *inflight() noexcept { return &inflight_; }

    // The reader of `source`, or null when it is not read through this client.
    HeartbeatReader *heartbeat(const HeartbeatSource *source) const noexcept;
    // The readers, for the status page.
    const std::vector<std::unique_ptr<HeartbeatReader>> &heartbeats() const noexcept {
        return heartbeats_;
    }

  private:
    bool address(RedisAddress *to) override;
    void on_ready() noexcept override;
    void on_connected(bool after_outage) noexcept override;
    void on_failure() noexcept override;

    ngx_queue_t lookups_;   // pending lookups later requests may join (see lookup.cpp)
    ngx_queue_t inflight_;  // every lookup sent and not yet replied to, answered or not
    std::vector<std::unique_ptr<HeartbeatReader>> heartbeats_;
};

}  // namespace asset_gate

// The connection to a sentinel (for a sentinel: address): it asks where the master is (and,
// reading from replicas, which replica is healthy), then follows +switch-master.
#pragma once

#include "ngx/redis_connection.hpp"

namespace asset_gate {

class SentinelWatcher final : public RedisConnection {
  public:
    SentinelWatcher(EndpointRuntime *rt, ngx_log_t *log) noexcept;

    // The data connection failed: ask the sentinels again, at most once a second.
    void ask_again() noexcept;

  private:
    bool address(RedisAddress *to) override;
    void on_ready() noexcept override;
    void on_unreachable() noexcept override { next_++; }  // try the next sentinel

    // The callback hiredis calls for one answer: runs `step` and catches at the border.
    template <void (SentinelWatcher::*step)(const redisReply *)>
    static void on_answer(redisAsyncContext *ac, void *reply, void *what) noexcept;
    // What the callbacks do; may throw (they copy addresses), the callbacks catch.
    void master_named(const redisReply *reply);
    void replicas_named(const redisReply *reply);
    void master_switched(const redisReply *reply);

    ngx_uint_t next_;       // the sentinel to ask next
    ngx_msec_t asked_ = 0;  // when the sentinels were last asked
    RedisAddress master_;   // as the sentinels last said (a replica reader falls back to it)
};

}  // namespace asset_gate

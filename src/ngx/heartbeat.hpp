// The sync heartbeat of asset_gate_sync_max_age (DESIGN.md section 4): the keys the gates check,
// each worker's reader of them on its data connection, and step 8b of a request.
#pragma once

#include <cstdint>

#include "core/decision.hpp"
#include "ngx/hiredis_compat.hpp"
#include "ngx/module.hpp"

namespace asset_gate {

class RedisClient;

// A heartbeat key some gate checks, and the endpoint it is read through: gates with the same
// endpoint and key prefix share one.
struct HeartbeatSource {
    const RedisEndpoint *endpoint;
    ngx_str_t key;  // asset_gate_redis_prefix, then sync:heartbeat ('\0'-terminated)
};

// asset_gate_sync_max_age TIME | off (TIME at least 1s).
char *heartbeat_set_max_age(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;

// For a gate location with a max age: finds or adds (in `sources`, of HeartbeatSource *) the
// source of its heartbeat, after its Redis endpoint is known.
char *heartbeat_finish_gate(ngx_conf_t *cf, LocConf *conf, ngx_array_t *sources) noexcept;

// A worker's view of one source. The data connection GETs the key as soon as it is set up and
// then about once a second, one GET at a time; a request only compares with the last answer.
// Anything but a well-formed value (a missing key, another type, an error, a broken
// connection, no reply within asset_gate_redis_timeout) makes the heartbeat unknown until the
// next good answer. Until the first answer after the worker starts, public requests wait for
// it (bounded by asset_gate_redis_timeout) rather than be refused for what is not yet known.
class HeartbeatReader {
  public:
    HeartbeatReader(RedisClient *client, const HeartbeatSource *source) noexcept;
    ~HeartbeatReader();
    HeartbeatReader(const HeartbeatReader &) = delete;
    HeartbeatReader &operator=(const HeartbeatReader &) = delete;

    const HeartbeatSource *source() const noexcept { return source_; }
    const SyncHeartbeat &seen() const noexcept { return seen_; }
    time_t read_at() const noexcept { return read_at_; }  // the last good answer; 0: none yet
    bool first_pending() const noexcept { return first_pending_; }

    // Arms the periodic check; the first comes within a command deadline of the start, so that
    // waiting requests are released even if no GET could be sent.
    void start() noexcept;
    // Sends a GET now, unless one is in flight.
    void read() noexcept;
    // The data connection failed or broke: unknown until it is back and answers.
    void connection_lost() noexcept;
    // The client is shutting down: the failed commands that follow change nothing.
    void closing() noexcept;
    // `ctx` waits for the first answer (Ctx::waiter); wake(ctx) follows.
    void wait(Ctx *ctx) noexcept;

  private:
    static void on_reply(redisAsyncContext *ac, void *reply, void *privdata) noexcept;
    static void on_tick(ngx_event_t *ev) noexcept;
    static void on_deadline(ngx_event_t *ev) noexcept;
    void settle(const redisReply *reply) noexcept;
    void set_known(std::int64_t at) noexcept;
    void set_unknown(const char *problem, const redisReply *reply) noexcept;
    void first_answered() noexcept;

    RedisClient *client_;
    const HeartbeatSource *source_;
    SyncHeartbeat seen_;
    time_t read_at_ = 0;
    std::uint64_t sent_us_ = 0;
    const char *problem_ = nullptr;  // why it is unknown, as last logged; null: known
    bool first_pending_ = true;
    bool in_flight_ = false;
    bool closing_ = false;
    ngx_queue_t waiters_;  // of Ctx::waiter, until the first answer
    ngx_event_t tick_;
    ngx_event_t deadline_;
};

// The worker's reader of `source`; null outside workers, or without one.
HeartbeatReader *heartbeat_reader(const HeartbeatSource *source) noexcept;

// Step 8b for a request steps 5-8 allowed: *reason is sync_stale or allowed (NGX_OK), or the
// worker's first answer is still to come and ctx waits for it (NGX_AGAIN, wake(ctx) follows).
ngx_int_t heartbeat_check(Ctx *ctx, const LocConf *lcf, Reason *reason) noexcept;

// The request is going away while it waits for the first answer: it stops waiting.
void heartbeat_detach(Ctx *ctx) noexcept;

}  // namespace asset_gate

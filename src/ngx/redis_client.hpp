// One Redis connection per worker and endpoint: connect and command deadlines as nginx timers,
// reconnection with backoff and jitter, AUTH and SELECT on connect.
#pragma once

#include <hiredis/async.h>

#include "ngx/module.hpp"

namespace asset_gate {

class RedisClient {
public:
    RedisClient(const RedisEndpoint *endpoint, ngx_log_t *log) noexcept;
    ~RedisClient();
    RedisClient(const RedisClient &) = delete;
    RedisClient &operator=(const RedisClient &) = delete;

    void start() noexcept;
    void shutdown() noexcept;

    // A command can be sent now: connected, or connecting (hiredis buffers until connected).
    bool usable() const noexcept { return ac_ != nullptr; }

    // Sends one command; `fn` runs exactly once, with nullptr when the command failed (the
    // connection broke or was reset). Returns false, without calling `fn`, when not usable.
    bool command(int argc, const char **argv, const size_t *argvlen, redisCallbackFn *fn,
                 void *privdata) noexcept;

    // Drops the connection (a command outlived its deadline, a reply made no sense) and
    // schedules a reconnect; the pending commands fail.
    void reset(const char *why) noexcept;

    // Any good reply proves the server is back: the next outage starts a fresh backoff.
    void mark_healthy() noexcept { backoff_ = 0; }

    const RedisEndpoint *endpoint() const noexcept { return endpoint_; }
    ngx_queue_t *lookups() noexcept { return &lookups_; }

private:
    void connect() noexcept;
    void schedule_reconnect() noexcept;
    void lost(redisAsyncContext *ac, const char *what) noexcept;

    static void on_connect(const redisAsyncContext *ac, int status) noexcept;
    static void on_disconnect(const redisAsyncContext *ac, int status) noexcept;
    static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata) noexcept;
    static void on_reconnect_timer(ngx_event_t *ev) noexcept;
    static void on_connect_timer(ngx_event_t *ev) noexcept;

    const RedisEndpoint *endpoint_;
    ngx_log_t *log_;
    redisAsyncContext *ac_ = nullptr;
    bool connected_ = false;
    bool stopping_ = false;
    bool reported_down_ = false;
    ngx_msec_t backoff_ = 0;
    ngx_event_t reconnect_ev_;
    ngx_event_t connect_ev_;
    ngx_queue_t lookups_;  // pending lookups, for coalescing (see lookup.cpp)
};

// The worker's clients, one per configured endpoint (created in init_process).
RedisClient *redis_client(const RedisEndpoint *endpoint) noexcept;
ngx_int_t redis_clients_init(ngx_cycle_t *cycle, MainConf *mcf) noexcept;
void redis_clients_exit() noexcept;

}  // namespace asset_gate

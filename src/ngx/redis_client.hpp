// Redis connections of a worker, per configured endpoint: the one that answers lookups, the
// one subscribed to the invalidation channel, and, for Sentinel endpoints, the one that asks
// the sentinels where the master is and follows +switch-master. Connect and command deadlines
// are nginx timers; reconnection backs off with jitter; AUTH and SELECT on connect.
#pragma once

#include <memory>
#include <string>

#include <hiredis/async.h>

#include "ngx/module.hpp"

namespace asset_gate {

struct EndpointRuntime;

enum class RedisRole { data, subscriber, sentinel };

class RedisClient {
  public:
    RedisClient(EndpointRuntime *rt, RedisRole role, ngx_log_t *log) noexcept;
    ~RedisClient();
    RedisClient(const RedisClient &) = delete;
    RedisClient &operator=(const RedisClient &) = delete;

    void start() noexcept;
    void shutdown() noexcept;

    // A command can be sent now: connected, or connecting (hiredis buffers until connected).
    bool usable() const noexcept { return ac_ != nullptr; }
    bool connected() const noexcept { return connected_; }

    // Sends one command; `fn` runs exactly once, with nullptr when the command failed (the
    // connection broke or was reset). Returns false, without calling `fn`, when not usable.
    bool command(int argc, const char **argv, const size_t *argvlen, redisCallbackFn *fn,
                 void *privdata) noexcept;

    // Drops the connection (a command outlived its deadline, a reply made no sense) and
    // schedules a reconnect; the pending commands fail.
    void reset(const char *why) noexcept;

    // Drops the connection, if any, and connects again at once (the address changed).
    void reconnect_now(const char *why) noexcept;

    // Any good reply, or a connection set up, proves the server is back: the next outage
    // starts a fresh backoff.
    void mark_healthy() noexcept {
        backoff_ = 0;
        timeout_reported_ = false;
    }

    // A command's reply (or its failure) arrived.
    void note_reply() noexcept;

    // A command passed its deadline: logged once until Redis answers again; the connection is
    // dropped only when it has answered nothing for far longer (a dead peer, a black hole),
    // not for one slow command.
    void command_timed_out() noexcept;

    const RedisEndpoint *endpoint() const noexcept;
    EndpointRuntime *runtime() const noexcept { return rt_; }
    ngx_queue_t *lookups() noexcept { return &lookups_; }
    ngx_queue_t *inflight() noexcept { return &inflight_; }

  private:
    void connect() noexcept;
    void on_ready() noexcept;
    void schedule_reconnect() noexcept;
    void drop(const char *why, bool quiet) noexcept;
    void lost(redisAsyncContext *ac, const char *what) noexcept;
    // The connection is gone: its commands are no longer waited for.
    void forget_outstanding() noexcept {
        outstanding_ = 0;
        waiting_since_ = 0;
    }

    static void on_connect(const redisAsyncContext *ac, int status) noexcept;
    static void on_disconnect(const redisAsyncContext *ac, int status) noexcept;
    static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata) noexcept;
    static void on_reconnect_timer(ngx_event_t *ev) noexcept;
    static void on_connect_timer(ngx_event_t *ev) noexcept;

    EndpointRuntime *rt_;
    RedisRole role_;
    ngx_log_t *log_;
    std::string target_;  // what this connection is to, for logs
    redisAsyncContext *ac_ = nullptr;
    bool connected_ = false;
    bool stopping_ = false;
    bool reported_down_ = false;
    ngx_msec_t backoff_ = 0;
    ngx_uint_t outstanding_ = 0;     // commands sent and not yet answered
    ngx_msec_t waiting_since_ = 0;   // since then no reply came while some were outstanding
    int setup_pending_ = 0;          // AUTH / SELECT replies still to come
    bool timeout_reported_ = false;
    ngx_event_t reconnect_ev_;
    ngx_event_t connect_ev_;
    ngx_queue_t lookups_;   // pending lookups later requests may join (see lookup.cpp)
    ngx_queue_t inflight_;  // every lookup sent and not yet replied to, answered or not
};

// Where the data and subscriber connections go: fixed, or the current master (or a replica)
// as the sentinels last said.
struct RedisAddress {
    std::string host;  // numeric
    int port = 0;
    std::string unix_path;
    bool known() const noexcept { return !host.empty() || !unix_path.empty(); }
    bool operator==(const RedisAddress &o) const noexcept {
        return host == o.host && port == o.port && unix_path == o.unix_path;
    }
};

struct EndpointRuntime {
    const RedisEndpoint *endpoint;
    ngx_shm_zone_t *cache_zone;  // the configuration's, where invalidations evict; or null
    RedisAddress address;
    RedisAddress master;  // as the sentinels last said (read_from replica falls back to it)
    ngx_uint_t sentinel_next = 0;  // the sentinel to ask next
    ngx_msec_t sentinel_asked = 0;
    std::unique_ptr<RedisClient> data;
    std::unique_ptr<RedisClient> subscriber;
    std::unique_ptr<RedisClient> sentinel;

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

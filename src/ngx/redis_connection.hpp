// One Redis connection of a worker, whatever it is for: lifecycle, connect and command
// deadlines, the drop of a connection that stopped answering, reconnection with jittered
// backoff, AUTH and SELECT, and the guard against replies nobody asked for. What the
// connection is for (lookups, the invalidation channel, a sentinel) is its role, a derived
// class: where to connect, what to send first, what to do when it fails. Every hiredis call
// of the module is here or in redis_adapter.cpp; what differs between hiredis versions is in
// hiredis_compat.hpp.
#pragma once

#include <string>
#include <string_view>

#include "ngx/hiredis_compat.hpp"
#include "ngx/module.hpp"

namespace asset_gate {

struct EndpointRuntime;

// Where a connection goes: a numeric host and port, or a unix socket.
struct RedisAddress {
    std::string host;  // numeric
    int port = 0;
    std::string unix_path;
    // The host as written in the configuration, when it was: the name a TLS certificate must
    // carry (else the numeric host). Not part of the address.
    std::string_view written;
    bool known() const noexcept { return !host.empty() || !unix_path.empty(); }
    bool operator==(const RedisAddress &o) const noexcept {
        return host == o.host && port == o.port && unix_path == o.unix_path;
    }
};

// A string or status reply's text; empty for anything else (and for no reply).
inline std::string_view reply_text(const redisReply *r) noexcept {
    return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
               ? std::string_view(r->str, static_cast<size_t>(r->len))
               : std::string_view{};
}

// Redis's WRONGTYPE error: the key holds another type than the command reads. Redis answered.
inline bool wrong_type(const redisReply *r) noexcept {
    return r != nullptr && r->type == REDIS_REPLY_ERROR && r->len >= 9 &&
           ngx_strncmp(r->str, "WRONGTYPE", 9) == 0;
}

// For the catch at a border nginx or hiredis calls: logs the exception being handled,
// "asset_gate: redis NAME: WHAT: out of memory". Call it only from inside a catch block.
void redis_log_exception(ngx_log_t *log, const RedisEndpoint *ep, const char *what) noexcept;

class RedisConnection {
  public:
    RedisConnection(const RedisConnection &) = delete;
    RedisConnection &operator=(const RedisConnection &) = delete;
    virtual ~RedisConnection();

    void start() noexcept;
    void shutdown() noexcept;

    // A command can be sent now: connected, or connecting (hiredis buffers until connected).
    bool usable() const noexcept { return ac_ != nullptr; }
    // Down, and waiting out its backoff before the next attempt.
    bool backing_off() const noexcept {
        return ac_ == nullptr && !stopping_ && reconnect_ev_.timer_set;
    }
    // Connected and set up: AUTH, SELECT and the TLS handshake (proved by a reply) are done.
    bool up() const noexcept { return up_; }

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

    const RedisEndpoint *endpoint() const noexcept { return ep_; }
    EndpointRuntime *runtime() const noexcept { return rt_; }

  protected:
    // `kind` comes before the address in log lines: "sentinel " or "".
    RedisConnection(EndpointRuntime *rt, const RedisEndpoint *ep, const char *kind,
                    ngx_log_t *log) noexcept;

    // The connection a reply callback's context belongs to.
    static RedisConnection *of(const redisAsyncContext *ac) noexcept {
        return static_cast<RedisConnection *>(ac->data);
    }
    ngx_log_t *log() const noexcept { return log_; }

    // For on_ready: a command outside the deadlines (setup, sentinel questions, SUBSCRIBE);
    // `fn` finds its connection with of(), and gets `privdata`.
    void send(redisCallbackFn *fn, int argc, const char **argv, const size_t *argvlen,
              const char *privdata = nullptr) noexcept;
    // The setup, first of all: AUTH as `who` (when it has a password), SELECT when `select`
    // and the database is not 0, and over TLS a PING when there is nothing else, so that a
    // reply proves the handshake. The connection is up when each has answered.
    void send_setup(const RedisCredentials &who, bool select) noexcept;
    // For a role whose first answer is part of being up (the sentinel's master address):
    // hold_up() in on_ready, release_up() when that answer came. Until then the connect
    // deadline runs: a peer that accepts and never answers is dropped and counts as
    // unreachable.
    void hold_up() noexcept { setup_pending_++; }
    void release_up() noexcept;

  private:
    // --- the role ---
    // Where to connect now; false while there is nowhere yet (the sentinels have not named
    // the master). May throw.
    virtual bool address(RedisAddress *to) = 0;
    // The first commands, sent as soon as the context exists: hiredis buffers them until the
    // socket connects, and Redis answers them before anything sent later.
    virtual void on_ready() noexcept = 0;
    // Connected; `after_outage`: a failure was logged since the last connection.
    virtual void on_connected(bool after_outage) noexcept { (void)after_outage; }
    // No connection was set up: refused, failed or timed out.
    virtual void on_unreachable() noexcept {}
    // hiredis reported that connecting failed or the connection broke (not a drop of ours).
    virtual void on_failure() noexcept {}

    // A failure is an error the first time (Debian's error_log shows no less), then info until
    // the connection is up again: one line per transition, not one per retry.
    ngx_uint_t outage_level() const noexcept { return reported_down_ ? NGX_LOG_INFO : NGX_LOG_ERR; }

    void connect() noexcept;
    void refused(redisAsyncContext *ac) noexcept;
    void adopt(redisAsyncContext *ac) noexcept;
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
    static void on_setup_reply(redisAsyncContext *ac, void *reply, void *what) noexcept;
    void setup_command(const char *what, int argc, const char **argv, const size_t *lens) noexcept;
    void setup_replied(redisAsyncContext *ac, const redisReply *reply, const char *what) noexcept;
    void became_up() noexcept;
    static void on_reconnect_timer(ngx_event_t *ev) noexcept;
    static void on_connect_timer(ngx_event_t *ev) noexcept;

    EndpointRuntime *rt_;
    const RedisEndpoint *ep_;
    const char *kind_;
    ngx_log_t *log_;
    std::string target_;  // what this connection is to, for logs
    redisAsyncContext *ac_ = nullptr;
    SSL *ssl_ = nullptr;      // ac_'s TLS session (hiredis's), for the reason of a failure
    bool connected_ = false;  // the socket is connected
    bool up_ = false;         // ... and set up
    bool stopping_ = false;
    bool reported_down_ = false;
    ngx_msec_t backoff_ = 0;
    ngx_uint_t outstanding_ = 0;    // commands sent and not yet answered
    ngx_msec_t waiting_since_ = 0;  // since then no reply came while some were outstanding
    int setup_pending_ = 0;         // AUTH / SELECT replies still to come
    bool timeout_reported_ = false;
    ngx_event_t reconnect_ev_;
    ngx_event_t connect_ev_;
};

}  // namespace asset_gate

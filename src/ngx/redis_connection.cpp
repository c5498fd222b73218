// A worker's Redis connection: lifecycle, deadlines, backoff and the reader guard; its role
// (redis_client.cpp, redis_invalidation.cpp, redis_sentinel.cpp) says where and what for.
// No DNS happens here: addresses are numeric, resolved when the configuration was read or
// named by a sentinel.
#include "ngx/redis_connection.hpp"

#include <exception>
#include <new>

#include "ngx/hiredis_compat.hpp"
#include "ngx/redis_adapter.hpp"
#include "ngx/redis_endpoints.hpp"
#include "ngx/redis_tls.hpp"
#include "ngx/stats.hpp"

namespace asset_gate {

namespace {

constexpr ngx_msec_t kBackoffFirst = 100;
constexpr ngx_msec_t kBackoffMax = 3000;
constexpr ngx_msec_t kStallMin = 1000;  // a connection silent this long is dead

// hiredis aborts the process (an assert) on a reply that no command asked for, unless the
// context is subscribed. A peer that speaks first or answers twice must not take a worker
// down: the reader refuses such a reply (a reader error), and hiredis then drops the
// connection as it does for any protocol error.
bool unsolicited(const redisReadTask *task) noexcept {
    const auto *ac = static_cast<const redisAsyncContext *>(task->privdata);
    return task->parent == nullptr && ac->replies.head == nullptr &&
           !(ac->c.flags & REDIS_SUBSCRIBED);
}

void guard_reader(redisAsyncContext *ac) noexcept {
    guard_replies(ac->c.reader, unsolicited);
    ac->c.reader->privdata = ac;
}

// "host:port" ("[v6]:port") or the socket's path, after `kind`, for logs.
std::string describe(const char *kind, const RedisAddress &to) {
    std::string out(kind);
    if (!to.unix_path.empty()) return out.append(to.unix_path);
    bool v6 = to.host.find(':') != std::string::npos;
    out.append(v6 ? "[" : "").append(to.host).append(v6 ? "]" : "");
    return out.append(":").append(std::to_string(to.port));
}

}  // namespace

void redis_log_exception(ngx_log_t *log, const RedisEndpoint *ep, const char *what) noexcept {
    try {
        throw;
    } catch (const std::bad_alloc &) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "asset_gate: redis %V: %s: out of memory", &ep->name,
                      what);
    } catch (const std::exception &e) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "asset_gate: redis %V: %s: %s", &ep->name, what,
                      e.what());
    } catch (...) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "asset_gate: redis %V: %s: unknown exception", &ep->name,
                      what);
    }
}

RedisConnection::RedisConnection(EndpointRuntime *rt, const RedisEndpoint *ep, const char *kind,
                                 ngx_log_t *log) noexcept
    : rt_(rt), ep_(ep), kind_(kind), log_(log) {
    // Neither holds a worker's graceful exit.
    init_timer(&reconnect_ev_, on_reconnect_timer, this, log, true);
    init_timer(&connect_ev_, on_connect_timer, this, log, true);
}

RedisConnection::~RedisConnection() {
    shutdown();
}

void RedisConnection::start() noexcept {
    connect();
}

void RedisConnection::shutdown() noexcept {
    stopping_ = true;
    if (reconnect_ev_.timer_set) ngx_del_timer(&reconnect_ev_);
    if (connect_ev_.timer_set) ngx_del_timer(&connect_ev_);
    if (ac_ != nullptr) {
        redisAsyncContext *ac = ac_;
        ac_ = nullptr;
        ssl_ = nullptr;
        redisAsyncFree(ac);  // pending commands fail; their requests are woken
    }
}

void RedisConnection::connect() noexcept {
    if (stopping_ || ac_ != nullptr) return;
    RedisAddress to;
    try {
        if (!address(&to)) return;  // nowhere yet: the sentinels will say
        target_ = describe(kind_, to);
    } catch (...) {
        redis_log_exception(log_, ep_, "cannot connect");
        schedule_reconnect();
        return;
    }
    redisAsyncContext *ac = to.unix_path.empty() ? redisAsyncConnect(to.host.c_str(), to.port)
                                                 : redisAsyncConnectUnix(to.unix_path.c_str());
    if (ac == nullptr) {
        ngx_log_error(NGX_LOG_ERR, log_, 0, "asset_gate: redis %V: out of memory", &ep_->name);
        schedule_reconnect();
        return;
    }
    if (ac->err) {
        refused(ac);
        return;
    }
    SSL *ssl = nullptr;
    if (ep_->tls != nullptr) {
        std::string why;
        ssl = redis_tls_start(ac, ep_->tls, to.written.empty() ? to.host : to.written, &why);
        if (ssl == nullptr) {
            ngx_log_error(NGX_LOG_ERR, log_, 0, "asset_gate: redis %V (%s): cannot start TLS: %s",
                          &ep_->name, target_.c_str(), why.empty() ? "out of memory" : why.c_str());
            redisAsyncFree(ac);
            schedule_reconnect();
            return;
        }
    }
    if (!redis_attach(ac, log_)) {
        ngx_log_error(NGX_LOG_ERR, log_, 0, "asset_gate: redis %V: no free nginx connection",
                      &ep_->name);
        redisAsyncFree(ac);
        schedule_reconnect();
        return;
    }
    ssl_ = ssl;
    adopt(ac);
}

// Connecting failed at once (hiredis could not even start: no such socket, no route).
void RedisConnection::refused(redisAsyncContext *ac) noexcept {
    stats_redis(RedisEvent::error);
    ngx_log_error(outage_level(), log_, 0,
                  "asset_gate: redis %V (%s): cannot connect: %s", &ep_->name, target_.c_str(),
                  ac->errstr);
    reported_down_ = true;
    redisAsyncFree(ac);
    on_unreachable();
    on_failure();
    schedule_reconnect();
}

// The context is on nginx's event loop: it is this connection's from now on.
void RedisConnection::adopt(redisAsyncContext *ac) noexcept {
    ac->data = this;
    guard_reader(ac);
    ac_ = ac;
    connected_ = false;
    up_ = false;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    setup_pending_ = 0;
    on_ready();
    ngx_add_timer(&connect_ev_, ep_->timeout);
}

void RedisConnection::send(redisCallbackFn *fn, int argc, const char **argv, const size_t *argvlen,
                           const char *privdata) noexcept {
    redisAsyncCommandArgv(ac_, fn, const_cast<char *>(privdata), argc, argv, argvlen);
}

void RedisConnection::setup_command(const char *what, int argc, const char **argv,
                                    const size_t *lens) noexcept {
    redisAsyncCommandArgv(ac_, on_setup_reply, const_cast<char *>(what), argc, argv, lens);
    setup_pending_++;
}

void RedisConnection::send_setup(const RedisCredentials &who, bool select) noexcept {
    if (who.password.len != 0) {
        const char *argv[] = {"AUTH", reinterpret_cast<const char *>(who.user.data),
                              reinterpret_cast<const char *>(who.password.data)};
        size_t lens[] = {4, who.user.len, who.password.len};
        if (who.user.len == 0) {
            argv[1] = argv[2];
            lens[1] = lens[2];
        }
        setup_command("AUTH", who.user.len != 0 ? 3 : 2, argv, lens);
    }
    if (select && ep_->db != 0) {
        u_char db[NGX_INT_T_LEN];
        size_t n = ngx_sprintf(db, "%i", ep_->db) - db;
        const char *argv[] = {"SELECT", reinterpret_cast<const char *>(db)};
        size_t lens[] = {6, n};
        setup_command("SELECT", 2, argv, lens);
    }
    if (ssl_ != nullptr && setup_pending_ == 0) {
        const char *argv[] = {"PING"};
        size_t lens[] = {4};
        setup_command("the TLS handshake", 1, argv, lens);
    }
}

void RedisConnection::schedule_reconnect() noexcept {
    if (stopping_ || reconnect_ev_.timer_set) return;
    backoff_ = backoff_ == 0 ? kBackoffFirst : ngx_min(backoff_ * 2, kBackoffMax);
    // Full jitter in the upper half: workers and nodes that lost Redis together do not
    // return together.
    ngx_msec_t delay = backoff_ / 2 + static_cast<ngx_msec_t>(ngx_random()) % (backoff_ / 2 + 1);
    ngx_add_timer(&reconnect_ev_, delay);
}

// The context is gone or going (hiredis frees it after the callback that reported this).
void RedisConnection::lost(redisAsyncContext *ac, const char *what) noexcept {
    if (ac != ac_) return;  // already dropped by reset() or shutdown()
    stats_redis(RedisEvent::error);
    bool was_up = up_;
    const char *refusal = ssl_ != nullptr ? redis_tls_refusal(ssl_) : nullptr;
    ac_ = nullptr;
    ssl_ = nullptr;
    connected_ = false;
    up_ = false;
    forget_outstanding();
    if (connect_ev_.timer_set) ngx_del_timer(&connect_ev_);
    const char *detail = ac->errstr[0] ? ac->errstr : "closed";
    if (refusal != nullptr) {
        // The certificate is wrong, not the network: an error each time, not an outage.
        ngx_log_error(NGX_LOG_ERR, log_, 0,
                      "asset_gate: redis %V (%s): %s: TLS: the server's certificate is refused: "
                      "%s",
                      &ep_->name, target_.c_str(), what, refusal);
    } else {
        ngx_log_error(outage_level(), log_, 0,
                      "asset_gate: redis %V (%s): %s: %s", &ep_->name, target_.c_str(), what,
                      detail);
    }
    reported_down_ = true;
    if (!was_up) on_unreachable();
    on_failure();
    schedule_reconnect();
}

void RedisConnection::drop(const char *why, bool quiet) noexcept {
    if (ac_ == nullptr) return;
    if (!quiet) {
        stats_redis(RedisEvent::error);
        ngx_log_error(outage_level(), log_, 0,
                      "asset_gate: redis %V (%s): dropping the connection: %s", &ep_->name,
                      target_.c_str(), why);
        reported_down_ = true;
    }
    redisAsyncContext *ac = ac_;
    ac_ = nullptr;
    ssl_ = nullptr;
    connected_ = false;
    up_ = false;
    if (connect_ev_.timer_set) ngx_del_timer(&connect_ev_);
    redisAsyncFree(ac);  // deferred by hiredis when called from inside one of its callbacks
    forget_outstanding();
}

void RedisConnection::reset(const char *why) noexcept {
    if (ac_ == nullptr) return;
    drop(why, false);
    schedule_reconnect();
}

void RedisConnection::reconnect_now(const char *why) noexcept {
    if (stopping_) return;
    if (ac_ != nullptr) {
        ngx_log_error(NGX_LOG_NOTICE, log_, 0, "asset_gate: redis %V (%s): reconnecting: %s",
                      &ep_->name, target_.c_str(), why);
        drop(why, true);
    }
    if (reconnect_ev_.timer_set) ngx_del_timer(&reconnect_ev_);
    backoff_ = 0;
    // Not from inside hiredis's callback that may still hold the old context: a zero timer.
    ngx_add_timer(&reconnect_ev_, 1);
}

bool RedisConnection::command(int argc, const char **argv, const size_t *argvlen,
                              redisCallbackFn *fn, void *privdata) noexcept {
    if (ac_ == nullptr) return false;
    if (redisAsyncCommandArgv(ac_, fn, privdata, argc, argv, argvlen) != REDIS_OK) return false;
    if (outstanding_++ == 0) waiting_since_ = ngx_current_msec;
    return true;
}

void RedisConnection::note_reply() noexcept {
    if (outstanding_ == 0) return;  // the connection these belonged to is gone
    outstanding_--;
    waiting_since_ = outstanding_ != 0 ? ngx_current_msec : 0;
}

void RedisConnection::command_timed_out() noexcept {
    if (!timeout_reported_) {
        timeout_reported_ = true;
        ngx_log_error(outage_level(), log_, 0,
                      "asset_gate: redis %V (%s): a command timed out after %M ms", &ep_->name,
                      target_.c_str(), ep_->timeout);
    }
    ngx_msec_t limit = ngx_max(2 * ep_->timeout, kStallMin);
    if (ac_ == nullptr || outstanding_ == 0) return;
    if (ngx_current_msec - waiting_since_ >= limit) reset("no reply for too long");
}

void RedisConnection::on_connect(const redisAsyncContext *cac, int status) noexcept {
    auto *ac = const_cast<redisAsyncContext *>(cac);
    RedisConnection *self = of(ac);
    if (status != REDIS_OK) {
        self->lost(ac, "cannot connect");
        return;
    }
    if (ac != self->ac_) return;
    self->connected_ = true;
    // With AUTH, SELECT or TLS, their replies decide.
    if (self->setup_pending_ == 0) self->became_up();
}

void RedisConnection::release_up() noexcept {
    if (setup_pending_ > 0 && --setup_pending_ == 0 && connected_) became_up();
}

// Connected and set up: the server is back, so the next outage backs off from the start.
void RedisConnection::became_up() noexcept {
    up_ = true;
    if (connect_ev_.timer_set) ngx_del_timer(&connect_ev_);
    mark_healthy();
    // Back after a failure that was logged: at the level of that failure, so that whoever
    // saw it going also sees it come back.
    ngx_log_error((reported_down_ ? NGX_LOG_ERR : NGX_LOG_INFO), log_, 0,
                  "asset_gate: redis %V (%s): connected%s%s", &ep_->name, target_.c_str(),
                  ssl_ != nullptr ? " (TLS)" : "", reported_down_ ? " again" : "");
    on_connected(reported_down_);
    reported_down_ = false;
    rt_->server_back(this);
}

void RedisConnection::on_disconnect(const redisAsyncContext *cac, int status) noexcept {
    auto *ac = const_cast<redisAsyncContext *>(cac);
    of(ac)->lost(ac, status == REDIS_OK ? "disconnected" : "connection lost");
}

void RedisConnection::on_setup_reply(redisAsyncContext *ac, void *reply, void *what) noexcept {
    of(ac)->setup_replied(ac, static_cast<const redisReply *>(reply),
                          static_cast<const char *>(what));
}

void RedisConnection::setup_replied(redisAsyncContext *ac, const redisReply *reply,
                                    const char *what) noexcept {
    if (reply != nullptr && reply->type != REDIS_REPLY_ERROR) {
        if (ac == ac_) release_up();
        return;
    }
    if (reply != nullptr && ac == ac_) {
        ngx_log_error(NGX_LOG_ERR, log_, 0, "asset_gate: redis %V: %s failed: %*s", &ep_->name,
                      what, static_cast<size_t>(reply->len), reply->str);
        reset("connection setup failed");
    }
}

void RedisConnection::on_reconnect_timer(ngx_event_t *ev) noexcept {
    static_cast<RedisConnection *>(ev->data)->connect();
}

void RedisConnection::on_connect_timer(ngx_event_t *ev) noexcept {
    auto *self = static_cast<RedisConnection *>(ev->data);
    if (!self->up_) {
        self->on_unreachable();
        self->reset(self->connected_ ? "connection setup timed out" : "connect timed out");
    }
}

}  // namespace asset_gate

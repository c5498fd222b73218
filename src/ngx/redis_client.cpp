// The per-worker Redis connection: its lifecycle, deadlines and backoff. No DNS happens here:
// endpoints carry numeric addresses resolved when the configuration was read.
#include "ngx/redis_client.hpp"

#include <new>

#include "ngx/redis_adapter.hpp"
#include "ngx/stats.hpp"

namespace asset_gate {

namespace {

constexpr ngx_msec_t kBackoffFirst = 100;
constexpr ngx_msec_t kBackoffMax = 3000;

RedisClient **g_clients = nullptr;
ngx_uint_t g_nclients = 0;

RedisClient *client_of(const redisAsyncContext *ac) noexcept {
    return static_cast<RedisClient *>(ac->data);
}

// hiredis aborts the process (an assert) on a reply that no command asked for, unless the
// context is subscribed. A peer that speaks first or answers twice must not take a worker
// down: the reader refuses such a reply (a reader error), and hiredis then drops the
// connection as it does for any protocol error.
redisReplyObjectFunctions *g_hiredis_functions = nullptr;

bool unsolicited(const redisReadTask *task) noexcept {
    auto *ac = static_cast<const redisAsyncContext *>(task->privdata);
    return task->parent == nullptr && ac->replies.head == nullptr;
}

void *guarded_string(const redisReadTask *task, char *str, size_t len) noexcept {
    return unsolicited(task) ? nullptr : g_hiredis_functions->createString(task, str, len);
}
void *guarded_array(const redisReadTask *task, int elements) noexcept {
    return unsolicited(task) ? nullptr : g_hiredis_functions->createArray(task, elements);
}
void *guarded_integer(const redisReadTask *task, long long value) noexcept {
    return unsolicited(task) ? nullptr : g_hiredis_functions->createInteger(task, value);
}
void *guarded_nil(const redisReadTask *task) noexcept {
    return unsolicited(task) ? nullptr : g_hiredis_functions->createNil(task);
}
void guarded_free(void *reply) noexcept { g_hiredis_functions->freeObject(reply); }

redisReplyObjectFunctions g_guarded_functions = {guarded_string, guarded_array, guarded_integer,
                                                 guarded_nil, guarded_free};

void guard_reader(redisAsyncContext *ac) noexcept {
    redisReader *reader = ac->c.reader;
    if (g_hiredis_functions == nullptr) g_hiredis_functions = reader->fn;
    reader->fn = &g_guarded_functions;
    reader->privdata = ac;
}

void init_timer(ngx_event_t *ev, ngx_event_handler_pt handler, void *data, ngx_log_t *log) {
    ngx_memzero(ev, sizeof(ngx_event_t));
    ev->handler = handler;
    ev->data = data;
    ev->log = log;
    ev->cancelable = 1;  // never hold a worker's graceful exit
}

}  // namespace

RedisClient::RedisClient(const RedisEndpoint *endpoint, ngx_log_t *log) noexcept
    : endpoint_(endpoint), log_(log) {
    init_timer(&reconnect_ev_, on_reconnect_timer, this, log);
    init_timer(&connect_ev_, on_connect_timer, this, log);
    ngx_queue_init(&lookups_);
}

RedisClient::~RedisClient() { shutdown(); }

void RedisClient::start() noexcept { connect(); }

void RedisClient::shutdown() noexcept {
    stopping_ = true;
    if (reconnect_ev_.timer_set) ngx_del_timer(&reconnect_ev_);
    if (connect_ev_.timer_set) ngx_del_timer(&connect_ev_);
    if (ac_ != nullptr) {
        redisAsyncContext *ac = ac_;
        ac_ = nullptr;
        redisAsyncFree(ac);  // pending commands fail; their requests are woken
    }
}

void RedisClient::connect() noexcept {
    if (stopping_ || ac_ != nullptr) return;
    redisAsyncContext *ac =
        endpoint_->unix_path.len
            ? redisAsyncConnectUnix(reinterpret_cast<const char *>(endpoint_->unix_path.data))
            : redisAsyncConnect(reinterpret_cast<const char *>(endpoint_->host.data),
                                endpoint_->port);
    if (ac == nullptr) {
        ngx_log_error(NGX_LOG_ERR, log_, 0, "asset_gate: redis %V: out of memory",
                      &endpoint_->name);
        schedule_reconnect();
        return;
    }
    if (ac->err) {
        ngx_log_error((reported_down_ ? NGX_LOG_INFO : NGX_LOG_WARN), log_, 0,
                      "asset_gate: redis %V: cannot connect: %s", &endpoint_->name, ac->errstr);
        reported_down_ = true;
        redisAsyncFree(ac);
        schedule_reconnect();
        return;
    }
    if (!redis_attach(ac, log_)) {
        ngx_log_error(NGX_LOG_ERR, log_, 0, "asset_gate: redis %V: no free nginx connection",
                      &endpoint_->name);
        redisAsyncFree(ac);
        schedule_reconnect();
        return;
    }
    ac->data = this;
    guard_reader(ac);
    ac_ = ac;
    connected_ = false;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);

    // Buffered by hiredis until the socket connects, and answered before any lookup.
    if (endpoint_->password.len) {
        const char *argv[] = {"AUTH", reinterpret_cast<const char *>(endpoint_->password.data)};
        size_t lens[] = {4, endpoint_->password.len};
        redisAsyncCommandArgv(ac, on_setup_reply, const_cast<char *>("AUTH"), 2, argv, lens);
    }
    if (endpoint_->db != 0) {
        u_char db[NGX_INT_T_LEN];
        size_t n = ngx_sprintf(db, "%i", endpoint_->db) - db;
        const char *argv[] = {"SELECT", reinterpret_cast<const char *>(db)};
        size_t lens[] = {6, n};
        redisAsyncCommandArgv(ac, on_setup_reply, const_cast<char *>("SELECT"), 2, argv, lens);
    }
    ngx_add_timer(&connect_ev_, endpoint_->timeout);
}

void RedisClient::schedule_reconnect() noexcept {
    if (stopping_ || reconnect_ev_.timer_set) return;
    backoff_ = backoff_ == 0 ? kBackoffFirst : ngx_min(backoff_ * 2, kBackoffMax);
    // Full jitter in the upper half: workers and nodes that lost Redis together do not
    // return together.
    ngx_msec_t delay = backoff_ / 2 + static_cast<ngx_msec_t>(ngx_random()) % (backoff_ / 2 + 1);
    ngx_add_timer(&reconnect_ev_, delay);
}

// The context is gone or going (hiredis frees it after the callback that reported this).
void RedisClient::lost(redisAsyncContext *ac, const char *what) noexcept {
    if (ac != ac_) return;  // already dropped by reset() or shutdown()
    ac_ = nullptr;
    connected_ = false;
    if (connect_ev_.timer_set) ngx_del_timer(&connect_ev_);
    ngx_log_error((reported_down_ ? NGX_LOG_INFO : NGX_LOG_WARN), log_, 0,
                  "asset_gate: redis %V: %s: %s", &endpoint_->name, what,
                  ac->errstr ? ac->errstr : "closed");
    reported_down_ = true;
    schedule_reconnect();
}

void RedisClient::reset(const char *why) noexcept {
    if (ac_ == nullptr) return;
    ngx_log_error(NGX_LOG_WARN, log_, 0, "asset_gate: redis %V: dropping the connection: %s",
                  &endpoint_->name, why);
    reported_down_ = true;
    redisAsyncContext *ac = ac_;
    ac_ = nullptr;
    connected_ = false;
    if (connect_ev_.timer_set) ngx_del_timer(&connect_ev_);
    redisAsyncFree(ac);  // deferred by hiredis when called from inside one of its callbacks
    schedule_reconnect();
}

bool RedisClient::command(int argc, const char **argv, const size_t *argvlen, redisCallbackFn *fn,
                          void *privdata) noexcept {
    if (ac_ == nullptr) return false;
    return redisAsyncCommandArgv(ac_, fn, privdata, argc, argv, argvlen) == REDIS_OK;
}

void RedisClient::on_connect(const redisAsyncContext *cac, int status) noexcept {
    auto *ac = const_cast<redisAsyncContext *>(cac);
    RedisClient *self = client_of(ac);
    if (status != REDIS_OK) {
        self->lost(ac, "cannot connect");
        return;
    }
    if (ac != self->ac_) return;
    self->connected_ = true;
    if (self->connect_ev_.timer_set) ngx_del_timer(&self->connect_ev_);
    ngx_log_error((self->reported_down_ ? NGX_LOG_NOTICE : NGX_LOG_INFO), self->log_, 0,
                  "asset_gate: redis %V: connected", &self->endpoint_->name);
    if (self->reported_down_) stats_redis(RedisEvent::reconnect);
    self->reported_down_ = false;
}

void RedisClient::on_disconnect(const redisAsyncContext *cac, int status) noexcept {
    auto *ac = const_cast<redisAsyncContext *>(cac);
    client_of(ac)->lost(ac, status == REDIS_OK ? "disconnected" : "connection lost");
}

void RedisClient::on_setup_reply(redisAsyncContext *ac, void *r, void *privdata) noexcept {
    auto *reply = static_cast<redisReply *>(r);
    if (reply != nullptr && reply->type != REDIS_REPLY_ERROR) return;
    RedisClient *self = client_of(ac);
    if (reply != nullptr && ac == self->ac_) {
        ngx_log_error(NGX_LOG_ERR, self->log_, 0, "asset_gate: redis %V: %s failed: %*s",
                      &self->endpoint_->name, static_cast<const char *>(privdata),
                      static_cast<size_t>(reply->len), reply->str);
        self->reset("connection setup failed");
    }
}

void RedisClient::on_reconnect_timer(ngx_event_t *ev) noexcept {
    static_cast<RedisClient *>(ev->data)->connect();
}

void RedisClient::on_connect_timer(ngx_event_t *ev) noexcept {
    auto *self = static_cast<RedisClient *>(ev->data);
    if (!self->connected_) self->reset("connect timed out");
}

RedisClient *redis_client(const RedisEndpoint *endpoint) noexcept {
    if (g_clients == nullptr || endpoint->index >= g_nclients) return nullptr;
    return g_clients[endpoint->index];
}

ngx_int_t redis_clients_init(ngx_cycle_t *cycle, MainConf *mcf) noexcept {
    ngx_uint_t n = mcf->endpoints.nelts;
    if (n == 0) return NGX_OK;
    g_clients = new (std::nothrow) RedisClient *[n]();
    if (g_clients == nullptr) return NGX_ERROR;
    g_nclients = n;
    auto **eps = static_cast<RedisEndpoint **>(mcf->endpoints.elts);
    for (ngx_uint_t i = 0; i < n; i++) {
        g_clients[i] = new (std::nothrow) RedisClient(eps[i], cycle->log);
        if (g_clients[i] == nullptr) return NGX_ERROR;
        g_clients[i]->start();
    }
    return NGX_OK;
}

void redis_clients_exit() noexcept {
    for (ngx_uint_t i = 0; i < g_nclients; i++) delete g_clients[i];
    delete[] g_clients;
    g_clients = nullptr;
    g_nclients = 0;
}

}  // namespace asset_gate

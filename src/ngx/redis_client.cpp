// The per-worker Redis connections: lifecycle, deadlines, backoff, and the three roles (data,
// invalidation subscriber, sentinel watcher). No DNS happens here: endpoints carry numeric
// addresses resolved when the configuration was read, and sentinels answer with addresses.
#include "ngx/redis_client.hpp"

#include <cctype>
#include <cstdlib>
#include <new>

#include "core/keys.hpp"
#include "ngx/cache.hpp"
#include "ngx/lookup.hpp"
#include "ngx/redis_adapter.hpp"
#include "ngx/stats.hpp"

extern "C" {
#include <hiredis/hiredis.h>
}

namespace asset_gate {

namespace {

constexpr ngx_msec_t kBackoffFirst = 100;
constexpr ngx_msec_t kBackoffMax = 3000;
constexpr ngx_msec_t kSentinelRequeryGap = 1000;  // at most one re-query a second
constexpr ngx_msec_t kStallMin = 1000;            // a connection silent this long is dead

EndpointRuntime **g_runtimes = nullptr;
ngx_uint_t g_nruntimes = 0;

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
    return task->parent == nullptr && ac->replies.head == nullptr &&
           !(ac->c.flags & REDIS_SUBSCRIBED);
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
void guarded_free(void *reply) noexcept {
    g_hiredis_functions->freeObject(reply);
}

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

std::string_view str_of(const redisReply *r) noexcept {
    return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
               ? std::string_view(r->str, r->len)
               : std::string_view{};
}

// A sentinel's idea of an address, as text: only numbers and dots/colons reach hiredis.
bool parse_address(std::string_view host, std::string_view port, RedisAddress *out) {
    if (host.empty() || host.size() > 64 || port.empty() || port.size() > 5) return false;
    for (char c : host) {
        if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':')) return false;
    }
    int p = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return false;
        p = p * 10 + (c - '0');
    }
    if (p <= 0 || p > 65535) return false;
    out->host.assign(host);
    out->port = p;
    out->unix_path.clear();
    return true;
}

// --- the invalidation subscriber -------------------------------------------------------------

// ["message", channel, "PREFIXasset:ID" | "PREFIXorg:ORG"]: that record leaves the cache.
void on_invalidation(redisAsyncContext *ac, void *r, void *) noexcept {
    auto *reply = static_cast<redisReply *>(r);
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
    if (str_of(reply->element[0]) != "message") return;
    std::string_view key = str_of(reply->element[2]);
    if (key.empty() || key.size() > 1024) return;
    EndpointRuntime *rt = client_of(ac)->runtime();
    // First the lookups in flight: a reply read before the change must not be cached after
    // the eviction below, nor handed to requests that come after this message.
    lookup_invalidated(rt->data.get(), key);
    ngx_shm_zone_t *zone = rt->cache_zone;
    if (zone == nullptr) return;
    const RedisEndpoint *ep = rt->endpoint;
    try {
        std::string cache_key = cache_namespace(view(ep->name), ep->db).append(key);
        if (cache_delete(zone, cache_key)) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0, "asset_gate: invalidated \"%s\"",
                           cache_key.c_str());
        }
    } catch (...) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "asset_gate: invalidation failed: out of memory");
    }
}

// --- the sentinel watcher --------------------------------------------------------------------

// SENTINEL get-master-addr-by-name: [ip, port].
void on_master_address(redisAsyncContext *ac, void *r, void *privdata) noexcept {
    auto *reply = static_cast<redisReply *>(r);
    if (reply == nullptr) return;
    RedisClient *self = client_of(ac);
    auto *rt = static_cast<EndpointRuntime *>(privdata);
    RedisAddress to;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        !parse_address(str_of(reply->element[0]), str_of(reply->element[1]), &to)) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "asset_gate: redis %V: the sentinel does not know master \"%V\"",
                      &rt->endpoint->name, &rt->endpoint->sentinel_master);
        self->reset("no master address");
        return;
    }
    self->mark_healthy();
    rt->master = to;
    // Reading from replicas: the replicas' answer, which comes next, decides.
    if (!rt->endpoint->read_replica) rt->follow(to, "the sentinel named the master");
}

// SENTINEL replicas: [[field, value, ...], ...]; a replica that is up and linked to its master.
void on_replicas(redisAsyncContext *ac, void *r, void *privdata) noexcept {
    auto *reply = static_cast<redisReply *>(r);
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) return;
    RedisClient *self = client_of(ac);
    auto *rt = static_cast<EndpointRuntime *>(privdata);
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *rep = reply->element[i];
        if (rep->type != REDIS_REPLY_ARRAY) continue;
        std::string_view ip, port, flags, link;
        for (size_t f = 0; f + 1 < rep->elements; f += 2) {
            std::string_view name = str_of(rep->element[f]);
            std::string_view value = str_of(rep->element[f + 1]);
            if (name == "ip") ip = value;
            if (name == "port") port = value;
            if (name == "flags") flags = value;
            if (name == "master-link-status") link = value;
        }
        RedisAddress to;
        bool healthy = flags.find("down") == std::string_view::npos &&
                       flags.find("disconnected") == std::string_view::npos && link == "ok";
        if (healthy && parse_address(ip, port, &to)) {
            self->mark_healthy();
            rt->follow(to, "the sentinel named a replica");
            return;
        }
    }
    // No healthy replica: the master (asked just before) serves reads rather than nobody.
    if (rt->master.known()) rt->follow(rt->master, "no healthy replica: reading from the master");
}

// +switch-master "NAME oldip oldport newip newport": follow the new master, or re-pick a replica.
void on_sentinel_event(redisAsyncContext *ac, void *r, void *privdata) noexcept {
    auto *reply = static_cast<redisReply *>(r);
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
    if (str_of(reply->element[0]) != "message") return;
    RedisClient *self = client_of(ac);
    auto *rt = static_cast<EndpointRuntime *>(privdata);
    std::string_view msg = str_of(reply->element[2]);
    std::string_view parts[5];
    for (auto &p : parts) {
        size_t sp = msg.find(' ');
        p = msg.substr(0, sp);
        msg = sp == std::string_view::npos ? std::string_view{} : msg.substr(sp + 1);
    }
    if (parts[0] != view(rt->endpoint->sentinel_master)) return;
    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "asset_gate: redis %V: +switch-master to %*s:%*s", &rt->endpoint->name,
                  parts[3].size(), parts[3].data(), parts[4].size(), parts[4].data());
    if (rt->endpoint->read_replica) {
        // The replicas' master changed: ask again which of them to read from.
        self->reconnect_now("the master switched");
        return;
    }
    RedisAddress to;
    if (parse_address(parts[3], parts[4], &to)) rt->follow(to, "+switch-master");
}

}  // namespace

// --- RedisClient -----------------------------------------------------------------------------

RedisClient::RedisClient(EndpointRuntime *rt, RedisRole role, ngx_log_t *log) noexcept
    : rt_(rt), role_(role), log_(log) {
    init_timer(&reconnect_ev_, on_reconnect_timer, this, log);
    init_timer(&connect_ev_, on_connect_timer, this, log);
    ngx_queue_init(&lookups_);
    ngx_queue_init(&inflight_);
}

RedisClient::~RedisClient() {
    shutdown();
}

const RedisEndpoint *RedisClient::endpoint() const noexcept {
    return rt_->endpoint;
}

void RedisClient::start() noexcept {
    connect();
}

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

void RedisClient::connect() noexcept try {
    if (stopping_ || ac_ != nullptr) return;
    const RedisEndpoint *ep = rt_->endpoint;

    RedisAddress to;
    if (role_ == RedisRole::sentinel) {
        auto *list = static_cast<RedisHostPort *>(ep->sentinels->elts);
        const RedisHostPort &s = list[rt_->sentinel_next % ep->sentinels->nelts];
        to.host.assign(reinterpret_cast<const char *>(s.host.data), s.host.len);
        to.port = s.port;
    } else {
        to = rt_->address;
        if (!to.known()) return;  // waiting for the sentinels to name the master
    }
    target_ = to.unix_path.empty() ? to.host + ":" + std::to_string(to.port) : to.unix_path;
    if (role_ == RedisRole::sentinel) target_ = "sentinel " + target_;

    redisAsyncContext *ac = to.unix_path.empty() ? redisAsyncConnect(to.host.c_str(), to.port)
                                                 : redisAsyncConnectUnix(to.unix_path.c_str());
    if (ac == nullptr) {
        ngx_log_error(NGX_LOG_ERR, log_, 0, "asset_gate: redis %V: out of memory", &ep->name);
        schedule_reconnect();
        return;
    }
    if (ac->err) {
        ngx_log_error((reported_down_ ? NGX_LOG_INFO : NGX_LOG_WARN), log_, 0,
                      "asset_gate: redis %V (%s): cannot connect: %s", &ep->name, target_.c_str(),
                      ac->errstr);
        reported_down_ = true;
        redisAsyncFree(ac);
        if (role_ == RedisRole::sentinel) rt_->sentinel_next++;
        if (role_ == RedisRole::data) rt_->ask_sentinels_again();
        schedule_reconnect();
        return;
    }
    if (!redis_attach(ac, log_)) {
        ngx_log_error(NGX_LOG_ERR, log_, 0, "asset_gate: redis %V: no free nginx connection",
                      &ep->name);
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
    on_ready();
    ngx_add_timer(&connect_ev_, ep->timeout);
} catch (...) {
    schedule_reconnect();
}

// What each role sends first; hiredis buffers it until the socket connects, and Redis answers
// it before any lookup.
void RedisClient::on_ready() noexcept {
    const RedisEndpoint *ep = rt_->endpoint;
    if (role_ == RedisRole::sentinel) {
        // Every question before the SUBSCRIBE: a subscribed connection answers no other.
        const char *name = reinterpret_cast<const char *>(ep->sentinel_master.data);
        const char *master[] = {"SENTINEL", "get-master-addr-by-name", name};
        size_t master_lens[] = {8, 23, ep->sentinel_master.len};
        redisAsyncCommandArgv(ac_, on_master_address, rt_, 3, master, master_lens);
        if (ep->read_replica) {
            const char *replicas[] = {"SENTINEL", "replicas", name};
            size_t replicas_lens[] = {8, 8, ep->sentinel_master.len};
            redisAsyncCommandArgv(ac_, on_replicas, rt_, 3, replicas, replicas_lens);
        }
        const char *argv[] = {"SUBSCRIBE", "+switch-master"};
        size_t lens[] = {9, 14};
        redisAsyncCommandArgv(ac_, on_sentinel_event, rt_, 2, argv, lens);
        rt_->sentinel_asked = ngx_current_msec;
        return;
    }
    setup_pending_ = 0;
    if (ep->password.len) {
        const char *argv[] = {"AUTH", reinterpret_cast<const char *>(ep->password.data)};
        size_t lens[] = {4, ep->password.len};
        redisAsyncCommandArgv(ac_, on_setup_reply, const_cast<char *>("AUTH"), 2, argv, lens);
        setup_pending_++;
    }
    if (role_ == RedisRole::subscriber) {
        const char *argv[] = {"SUBSCRIBE", reinterpret_cast<const char *>(ep->channel.data)};
        size_t lens[] = {9, ep->channel.len};
        redisAsyncCommandArgv(ac_, on_invalidation, nullptr, 2, argv, lens);
        return;
    }
    if (ep->db != 0) {
        u_char db[NGX_INT_T_LEN];
        size_t n = ngx_sprintf(db, "%i", ep->db) - db;
        const char *argv[] = {"SELECT", reinterpret_cast<const char *>(db)};
        size_t lens[] = {6, n};
        redisAsyncCommandArgv(ac_, on_setup_reply, const_cast<char *>("SELECT"), 2, argv, lens);
        setup_pending_++;
    }
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
    bool was_connected = connected_;
    ac_ = nullptr;
    connected_ = false;
    forget_outstanding();
    if (connect_ev_.timer_set) ngx_del_timer(&connect_ev_);
    ngx_log_error((reported_down_ ? NGX_LOG_INFO : NGX_LOG_WARN), log_, 0,
                  "asset_gate: redis %V (%s): %s: %s", &rt_->endpoint->name, target_.c_str(), what,
                  ac->errstr[0] ? ac->errstr : "closed");
    reported_down_ = true;
    if (role_ == RedisRole::sentinel && !was_connected) rt_->sentinel_next++;
    if (role_ == RedisRole::data) rt_->ask_sentinels_again();
    schedule_reconnect();
}

void RedisClient::drop(const char *why, bool quiet) noexcept {
    if (ac_ == nullptr) return;
    if (!quiet) {
        ngx_log_error(NGX_LOG_WARN, log_, 0,
                      "asset_gate: redis %V (%s): dropping the connection: %s",
                      &rt_->endpoint->name, target_.c_str(), why);
        reported_down_ = true;
    }
    redisAsyncContext *ac = ac_;
    ac_ = nullptr;
    connected_ = false;
    if (connect_ev_.timer_set) ngx_del_timer(&connect_ev_);
    redisAsyncFree(ac);  // deferred by hiredis when called from inside one of its callbacks
    forget_outstanding();
}

void RedisClient::reset(const char *why) noexcept {
    if (ac_ == nullptr) return;
    drop(why, false);
    schedule_reconnect();
}

void RedisClient::reconnect_now(const char *why) noexcept {
    if (stopping_) return;
    if (ac_ != nullptr) {
        ngx_log_error(NGX_LOG_NOTICE, log_, 0, "asset_gate: redis %V (%s): reconnecting: %s",
                      &rt_->endpoint->name, target_.c_str(), why);
        drop(why, true);
    }
    if (reconnect_ev_.timer_set) ngx_del_timer(&reconnect_ev_);
    backoff_ = 0;
    // Not from inside hiredis's callback that may still hold the old context: a zero timer.
    ngx_add_timer(&reconnect_ev_, 1);
}

bool RedisClient::command(int argc, const char **argv, const size_t *argvlen, redisCallbackFn *fn,
                          void *privdata) noexcept {
    if (ac_ == nullptr) return false;
    if (redisAsyncCommandArgv(ac_, fn, privdata, argc, argv, argvlen) != REDIS_OK) return false;
    if (outstanding_++ == 0) waiting_since_ = ngx_current_msec;
    return true;
}

void RedisClient::note_reply() noexcept {
    if (outstanding_ == 0) return;  // the connection these belonged to is gone
    outstanding_--;
    waiting_since_ = outstanding_ != 0 ? ngx_current_msec : 0;
}

void RedisClient::command_timed_out() noexcept {
    if (!timeout_reported_) {
        timeout_reported_ = true;
        ngx_log_error(NGX_LOG_WARN, log_, 0, "asset_gate: redis %V (%s): a command timed out after %M ms",
                      &rt_->endpoint->name, target_.c_str(), rt_->endpoint->timeout);
    }
    ngx_msec_t limit = ngx_max(2 * rt_->endpoint->timeout, kStallMin);
    if (ac_ == nullptr || outstanding_ == 0) return;
    if (ngx_current_msec - waiting_since_ >= limit) reset("no reply for too long");
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
    // Connected and nothing to set up: the server is back, so the next outage backs off
    // from the start (with AUTH or SELECT, their replies decide).
    if (self->setup_pending_ == 0) self->mark_healthy();
    ngx_log_error((self->reported_down_ ? NGX_LOG_NOTICE : NGX_LOG_INFO), self->log_, 0,
                  "asset_gate: redis %V (%s): connected", &self->rt_->endpoint->name,
                  self->target_.c_str());
    if (self->reported_down_ && self->role_ == RedisRole::data) {
        stats_redis(RedisEvent::reconnect);
    }
    self->reported_down_ = false;
}

void RedisClient::on_disconnect(const redisAsyncContext *cac, int status) noexcept {
    auto *ac = const_cast<redisAsyncContext *>(cac);
    client_of(ac)->lost(ac, status == REDIS_OK ? "disconnected" : "connection lost");
}

void RedisClient::on_setup_reply(redisAsyncContext *ac, void *r, void *privdata) noexcept {
    auto *reply = static_cast<redisReply *>(r);
    RedisClient *self = client_of(ac);
    if (reply != nullptr && reply->type != REDIS_REPLY_ERROR) {
        if (ac == self->ac_ && --self->setup_pending_ == 0) self->mark_healthy();
        return;
    }
    if (reply != nullptr && ac == self->ac_) {
        ngx_log_error(NGX_LOG_ERR, self->log_, 0, "asset_gate: redis %V: %s failed: %*s",
                      &self->rt_->endpoint->name, static_cast<const char *>(privdata),
                      static_cast<size_t>(reply->len), reply->str);
        self->reset("connection setup failed");
    }
}

void RedisClient::on_reconnect_timer(ngx_event_t *ev) noexcept {
    static_cast<RedisClient *>(ev->data)->connect();
}

void RedisClient::on_connect_timer(ngx_event_t *ev) noexcept {
    auto *self = static_cast<RedisClient *>(ev->data);
    if (!self->connected_) {
        if (self->role_ == RedisRole::sentinel) self->rt_->sentinel_next++;
        self->reset("connect timed out");
    }
}

// --- the worker's endpoints ------------------------------------------------------------------

void EndpointRuntime::follow(const RedisAddress &to, const char *why) noexcept {
    bool changed = !(to == address);
    if (changed) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0, "asset_gate: redis %V: using %s:%d (%s)",
                      &endpoint->name, to.host.c_str(), to.port, why);
        address = to;
    }
    for (RedisClient *c : {data.get(), subscriber.get()}) {
        if (c == nullptr) continue;
        if (changed || !c->usable()) c->reconnect_now(why);
    }
}

void EndpointRuntime::ask_sentinels_again() noexcept {
    if (sentinel && ngx_current_msec - sentinel_asked > kSentinelRequeryGap) {
        sentinel_asked = ngx_current_msec;
        sentinel->reconnect_now("the Redis connection failed");
    }
}

RedisClient *redis_client(const RedisEndpoint *endpoint) noexcept {
    if (g_runtimes == nullptr || endpoint->index >= g_nruntimes) return nullptr;
    return g_runtimes[endpoint->index]->data.get();
}

ngx_int_t redis_clients_init(ngx_cycle_t *cycle, MainConf *mcf) noexcept try {
    ngx_uint_t n = mcf->endpoints.nelts;
    if (n == 0) return NGX_OK;
    g_runtimes = new EndpointRuntime *[n]();
    g_nruntimes = n;
    auto **eps = static_cast<RedisEndpoint **>(mcf->endpoints.elts);
    for (ngx_uint_t i = 0; i < n; i++) {
        auto *rt = new EndpointRuntime();
        g_runtimes[i] = rt;
        const RedisEndpoint *ep = eps[i];
        rt->endpoint = ep;
        rt->cache_zone = mcf->cache_zone;
        rt->sentinel_next = static_cast<ngx_uint_t>(ngx_random());  // spread over the sentinels
        if (ep->unix_path.len) {
            rt->address.unix_path.assign(reinterpret_cast<const char *>(ep->unix_path.data),
                                         ep->unix_path.len);
        } else if (ep->host.len) {
            rt->address.host.assign(reinterpret_cast<const char *>(ep->host.data), ep->host.len);
            rt->address.port = ep->port;
        }
        rt->data.reset(new RedisClient(rt, RedisRole::data, cycle->log));
        if (ep->channel.len)
            rt->subscriber.reset(new RedisClient(rt, RedisRole::subscriber, cycle->log));
        if (ep->sentinel_master.len) {
            rt->sentinel.reset(new RedisClient(rt, RedisRole::sentinel, cycle->log));
            rt->sentinel->start();
        }
        rt->data->start();
        if (rt->subscriber) rt->subscriber->start();
    }
    return NGX_OK;
} catch (...) {
    return NGX_ERROR;
}

void redis_clients_exit() noexcept {
    for (ngx_uint_t i = 0; i < g_nruntimes; i++) {
        EndpointRuntime *rt = g_runtimes[i];
        if (rt == nullptr) continue;
        // The sentinel first: nothing may ask the others to reconnect while they close.
        if (rt->sentinel) rt->sentinel->shutdown();
        if (rt->subscriber) rt->subscriber->shutdown();
        if (rt->data) rt->data->shutdown();
        delete rt;
    }
    delete[] g_runtimes;
    g_runtimes = nullptr;
    g_nruntimes = 0;
}

}  // namespace asset_gate

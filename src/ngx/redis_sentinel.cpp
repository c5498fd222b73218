// Sentinel watching: SENTINEL get-master-addr-by-name (and SENTINEL replicas when reading from
// a replica), then SUBSCRIBE +switch-master; every address a sentinel names is checked to be
// numeric before the endpoint's data and subscriber connections follow it.
#include "ngx/redis_sentinel.hpp"

#include <cctype>

#include "ngx/redis_endpoints.hpp"

namespace asset_gate {

namespace {

constexpr ngx_msec_t kSentinelRequeryGap = 1000;  // at most one re-query a second

// A sentinel's idea of an address, as text: only numbers and dots/colons reach hiredis.
// May throw (it copies the host).
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

// One entry of SENTINEL replicas, [field, value, ...]: its address, when it is up and linked
// to its master. May throw.
bool healthy_replica(const redisReply *rep, RedisAddress *to) {
    if (rep->type != REDIS_REPLY_ARRAY) return false;
    std::string_view ip, port, flags, link;
    for (size_t f = 0; f + 1 < rep->elements; f += 2) {
        std::string_view name = reply_text(rep->element[f]);
        std::string_view value = reply_text(rep->element[f + 1]);
        if (name == "ip") ip = value;
        if (name == "port") port = value;
        if (name == "flags") flags = value;
        if (name == "master-link-status") link = value;
    }
    bool healthy = flags.find("down") == std::string_view::npos &&
                   flags.find("disconnected") == std::string_view::npos && link == "ok";
    return healthy && parse_address(ip, port, to);
}

}  // namespace

SentinelWatcher::SentinelWatcher(EndpointRuntime *rt, ngx_log_t *log) noexcept
    : RedisConnection(rt, rt->endpoint, "sentinel ", log),
      next_(static_cast<ngx_uint_t>(ngx_random())) {}  // spread the workers over the sentinels

void SentinelWatcher::ask_again() noexcept {
    if (ngx_current_msec - asked_ > kSentinelRequeryGap) {
        asked_ = ngx_current_msec;
        reconnect_now("the Redis connection failed");
    }
}

bool SentinelWatcher::address(RedisAddress *to) {
    const RedisEndpoint *ep = endpoint();
    const auto *list = static_cast<const RedisHostPort *>(ep->sentinels->elts);
    const RedisHostPort &s = list[next_ % ep->sentinels->nelts];
    to->host.assign(reinterpret_cast<const char *>(s.host.data), s.host.len);
    to->port = s.port;
    to->written = view(s.name);
    return true;
}

// The borders hiredis calls: what throws inside (copying an address) is logged, and the
// sentinel is asked again on a fresh connection rather than left half followed.
template <void (SentinelWatcher::*step)(const redisReply *)>
void SentinelWatcher::on_answer(redisAsyncContext *ac, void *reply, void *what) noexcept {
    if (reply == nullptr) return;
    auto *self = static_cast<SentinelWatcher *>(of(ac));
    try {
        (self->*step)(static_cast<const redisReply *>(reply));
    } catch (...) {
        redis_log_exception(self->log(), self->endpoint(), static_cast<const char *>(what));
        self->reset("cannot follow its answer");
    }
}

// Every question before the SUBSCRIBE: a subscribed connection answers no other.
void SentinelWatcher::on_ready() noexcept {
    const RedisEndpoint *ep = endpoint();
    send_setup(ep->sentinel_auth, false);  // the sentinel's own user and password
    const char *name = reinterpret_cast<const char *>(ep->sentinel_master.data);
    const char *master[] = {"SENTINEL", "get-master-addr-by-name", name};
    size_t master_lens[] = {8, 23, ep->sentinel_master.len};
    send(on_answer<&SentinelWatcher::master_named>, 3, master, master_lens,
         "the sentinel's master address");
    if (ep->read_replica) {
        const char *replicas[] = {"SENTINEL", "replicas", name};
        size_t replicas_lens[] = {8, 8, ep->sentinel_master.len};
        send(on_answer<&SentinelWatcher::replicas_named>, 3, replicas, replicas_lens,
             "the sentinel's replicas");
    }
    const char *argv[] = {"SUBSCRIBE", "+switch-master"};
    size_t lens[] = {9, 14};
    send(on_answer<&SentinelWatcher::master_switched>, 2, argv, lens, "the switch of master");
    hold_up();  // until the master's address comes, within the connect deadline
    asked_ = ngx_current_msec;
}

// SENTINEL get-master-addr-by-name: [ip, port].
void SentinelWatcher::master_named(const redisReply *reply) {
    const RedisEndpoint *ep = endpoint();
    if (reply->type == REDIS_REPLY_ERROR) {
        // NOAUTH, WRONGPASS, NOPERM: the sentinel's own password or user is wrong or missing.
        ngx_log_error(NGX_LOG_ERR, log(), 0, "asset_gate: redis %V: the sentinel refused: %*s",
                      &ep->name, static_cast<size_t>(reply->len), reply->str);
        reset("the sentinel refused");
        return;
    }
    RedisAddress to;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        !parse_address(reply_text(reply->element[0]), reply_text(reply->element[1]), &to)) {
        ngx_log_error(NGX_LOG_ERR, log(), 0,
                      "asset_gate: redis %V: the sentinel does not know master \"%V\"", &ep->name,
                      &ep->sentinel_master);
        reset("no master address");
        return;
    }
    release_up();
    master_ = std::move(to);
    // Reading from replicas: the replicas' answer, which comes next, decides.
    if (!ep->read_replica) runtime()->follow(master_, "the sentinel named the master");
}

// SENTINEL replicas: [[field, value, ...], ...]; the first replica that is up and linked.
void SentinelWatcher::replicas_named(const redisReply *reply) {
    if (reply->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i < reply->elements; i++) {
        RedisAddress to;
        if (healthy_replica(reply->element[i], &to)) {
            mark_healthy();
            runtime()->follow(to, "the sentinel named a replica");
            return;
        }
    }
    // No healthy replica: the master (asked just before) serves reads rather than nobody.
    if (master_.known()) runtime()->follow(master_, "no healthy replica: reading from the master");
}

// +switch-master "NAME oldip oldport newip newport": follow the new master, or re-pick a
// replica.
void SentinelWatcher::master_switched(const redisReply *reply) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
    if (reply_text(reply->element[0]) != "message") return;
    const RedisEndpoint *ep = endpoint();
    std::string_view msg = reply_text(reply->element[2]);
    std::string_view parts[5];
    for (auto &p : parts) {
        size_t sp = msg.find(' ');
        p = msg.substr(0, sp);
        msg = sp == std::string_view::npos ? std::string_view{} : msg.substr(sp + 1);
    }
    if (parts[0] != view(ep->sentinel_master)) return;
    ngx_log_error(NGX_LOG_NOTICE, log(), 0, "asset_gate: redis %V: +switch-master to %*s:%*s",
                  &ep->name, parts[3].size(), parts[3].data(), parts[4].size(), parts[4].data());
    if (ep->read_replica) {
        // The replicas' master changed: ask again which of them to read from.
        reconnect_now("the master switched");
        return;
    }
    RedisAddress to;
    if (parse_address(parts[3], parts[4], &to)) runtime()->follow(to, "+switch-master");
}

}  // namespace asset_gate

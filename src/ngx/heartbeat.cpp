// The sync heartbeat: asset_gate_sync_max_age, the sources the gates share, each worker's reader
// (a GET on the data connection about once a second), and the per-request comparison.
#include "ngx/heartbeat.hpp"

#include "core/keys.hpp"
#include "core/record.hpp"
#include "ngx/hiredis_compat.hpp"
#include "ngx/redis_client.hpp"
#include "ngx/stats.hpp"

namespace asset_gate {

namespace {

constexpr ngx_msec_t kInterval = 1000;

// Why the heartbeat is unknown (one string per cause: a cause is logged when it starts).
constexpr const char *kMissing = "missing";
constexpr const char *kMalformed = "not unix seconds";
constexpr const char *kNotAString = "not a string";
constexpr const char *kError = "Redis answered an error";
constexpr const char *kNoConnection = "no connection to Redis";
constexpr const char *kTimedOut = "no reply within asset_gate_redis_timeout";

}  // namespace

// --- configuration -----------------------------------------------------------------------------

char *heartbeat_set_max_age(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept {
    auto *max_age = reinterpret_cast<time_t *>(static_cast<char *>(conf) + cmd->offset);
    if (*max_age != NGX_CONF_UNSET) return const_cast<char *>("is duplicate");
    ngx_str_t value = static_cast<ngx_str_t *>(cf->args->elts)[1];
    if (view(value) == "off") {
        *max_age = 0;
        return NGX_CONF_OK;
    }
    ngx_int_t seconds = ngx_parse_time(&value, 1);
    if (seconds == NGX_ERROR || seconds <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, expected a time of at "
                           "least 1s or \"off\"",
                           &value, &cmd->name);
        return conf_error();
    }
    *max_age = static_cast<time_t>(seconds);
    return NGX_CONF_OK;
}

char *heartbeat_finish_gate(ngx_conf_t *cf, LocConf *conf, ngx_array_t *sources) noexcept {
    conf->heartbeat = nullptr;
    if (conf->sync_max_age == 0) return NGX_CONF_OK;
    const RedisEndpoint *ep = conf->redis.endpoint;
    const std::string_view prefix = view(conf->redis.prefix);
    const size_t len = prefix.size() + kHeartbeatKey.size();
    auto **list = static_cast<HeartbeatSource **>(sources->elts);
    for (ngx_uint_t i = 0; i < sources->nelts; i++) {
        const std::string_view key = view(list[i]->key);
        if (list[i]->endpoint == ep && key.size() == len &&
            key.substr(0, prefix.size()) == prefix && key.substr(prefix.size()) == kHeartbeatKey) {
            conf->heartbeat = list[i];
            return NGX_CONF_OK;
        }
    }
    auto *source = static_cast<HeartbeatSource *>(ngx_pcalloc(cf->pool, sizeof(HeartbeatSource)));
    auto *key = static_cast<u_char *>(ngx_pnalloc(cf->pool, len + 1));
    auto **slot = static_cast<HeartbeatSource **>(ngx_array_push(sources));
    if (source == nullptr || key == nullptr || slot == nullptr) return conf_error();
    u_char *p = ngx_cpymem(key, prefix.data(), prefix.size());
    p = ngx_cpymem(p, kHeartbeatKey.data(), kHeartbeatKey.size());
    *p = '\0';
    source->endpoint = ep;
    source->key = {len, key};
    *slot = source;
    conf->heartbeat = source;
    return NGX_CONF_OK;
}

// --- the worker's reader -----------------------------------------------------------------------

HeartbeatReader::HeartbeatReader(RedisClient *client, const HeartbeatSource *source) noexcept
    : client_(client), source_(source) {
    ngx_queue_init(&waiters_);
    init_timer(&tick_, on_tick, this, ngx_cycle->log, true);  // never holds a graceful exit
    // Not cancelable, as a lookup's deadline: a worker that is exiting still answers the
    // requests that wait for the first read, within the deadline.
    init_timer(&deadline_, on_deadline, this, ngx_cycle->log, false);
}

HeartbeatReader::~HeartbeatReader() {
    if (tick_.timer_set) ngx_del_timer(&tick_);
    if (deadline_.timer_set) ngx_del_timer(&deadline_);
    // No request outlives the worker's exit; should one still wait, it no longer does.
    for (ngx_queue_t *q = ngx_queue_head(&waiters_); q != ngx_queue_sentinel(&waiters_);
         q = ngx_queue_next(q)) {
        Ctx *ctx = ngx_queue_data(q, Ctx, waiter);
        ctx->heartbeat_wait = nullptr;
    }
    ngx_queue_init(&waiters_);
}

void HeartbeatReader::start() noexcept {
    ngx_add_timer(&tick_, ngx_min(client_->endpoint()->timeout, kInterval));
}

void HeartbeatReader::read() noexcept {
    if (in_flight_ || closing_) return;
    const char *argv[] = {"GET", reinterpret_cast<const char *>(source_->key.data)};
    size_t lens[] = {3, source_->key.len};
    if (!client_->command(2, argv, lens, on_reply, this)) {
        set_unknown(kNoConnection, nullptr);
        return;
    }
    stats_redis(RedisEvent::command);
    in_flight_ = true;
    sent_us_ = monotonic_us();
    ngx_add_timer(&deadline_, client_->endpoint()->timeout);
}

void HeartbeatReader::connection_lost() noexcept {
    if (!closing_) set_unknown(kNoConnection, nullptr);
}

void HeartbeatReader::closing() noexcept {
    closing_ = true;
    if (tick_.timer_set) ngx_del_timer(&tick_);
}

void HeartbeatReader::wait(Ctx *ctx) noexcept {
    ngx_queue_insert_tail(&waiters_, &ctx->waiter);
    ctx->heartbeat_wait = this;
}

void HeartbeatReader::on_reply(redisAsyncContext *, void *reply, void *privdata) noexcept {
    static_cast<HeartbeatReader *>(privdata)->settle(static_cast<const redisReply *>(reply));
}

void HeartbeatReader::settle(const redisReply *reply) noexcept {
    in_flight_ = false;
    if (deadline_.timer_set) ngx_del_timer(&deadline_);
    client_->note_reply();
    if (closing_) return;
    if (reply == nullptr) {
        stats_redis(RedisEvent::error);
        set_unknown(kNoConnection, nullptr);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR && !wrong_type(reply)) {
        stats_redis(RedisEvent::error);
        set_unknown(kError, reply);
        return;
    }
    // Redis answered (a WRONGTYPE too: the key holds something else).
    client_->mark_healthy();
    stats_redis_latency(monotonic_us() - sent_us_);
    std::int64_t at = 0;
    if (reply->type == REDIS_REPLY_NIL) {
        set_unknown(kMissing, nullptr);
    } else if (reply->type != REDIS_REPLY_STRING) {
        set_unknown(kNotAString, nullptr);
    } else if (!parse_heartbeat(reply_text(reply), &at)) {
        set_unknown(kMalformed, nullptr);
    } else {
        set_known(at);
    }
}

void HeartbeatReader::set_known(std::int64_t at) noexcept {
    seen_ = SyncHeartbeat{true, at};
    read_at_ = ngx_time();
    if (problem_ != nullptr) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "asset_gate: redis %V: sync heartbeat \"%V\" read again",
                      &client_->endpoint()->name, &source_->key);
        problem_ = nullptr;
    }
    first_answered();
}

void HeartbeatReader::set_unknown(const char *problem, const redisReply *reply) noexcept {
    seen_.known = false;
    if (problem != problem_) {
        // Each cause once, when it starts: a missing heartbeat is not logged every second.
        const std::string_view detail =
            reply != nullptr ? std::string_view(reply->str, reply->len) : std::string_view{};
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "asset_gate: redis %V: sync heartbeat \"%V\": %s%s%*s: public tokens are "
                      "refused (sync_stale)",
                      &client_->endpoint()->name, &source_->key, problem,
                      detail.empty() ? "" : ": ", detail.size(), detail.data());
        problem_ = problem;
    }
    first_answered();
}

void HeartbeatReader::first_answered() noexcept {
    if (!first_pending_) return;
    first_pending_ = false;
    while (!ngx_queue_empty(&waiters_)) {
        ngx_queue_t *q = ngx_queue_head(&waiters_);
        ngx_queue_remove(q);
        Ctx *ctx = ngx_queue_data(q, Ctx, waiter);
        ctx->heartbeat_wait = nullptr;
        ctx->stage = Stage::resolved;
        wake(ctx);
    }
}

void HeartbeatReader::on_tick(ngx_event_t *ev) noexcept {
    auto *self = static_cast<HeartbeatReader *>(ev->data);
    // A worker that is exiting stops reading: its last answer ages as the clock runs.
    if (self->closing_ || ngx_exiting || ngx_terminate || ngx_quit) return;
    self->read();  // one in flight: its deadline decides
    ngx_add_timer(&self->tick_, kInterval);
}

void HeartbeatReader::on_deadline(ngx_event_t *ev) noexcept {
    auto *self = static_cast<HeartbeatReader *>(ev->data);
    stats_redis(RedisEvent::timeout);
    self->set_unknown(kTimedOut, nullptr);
    // The same connection as the lookups: its silence counts there too (and may drop it).
    self->client_->command_timed_out();
}

// --- a request ---------------------------------------------------------------------------------

HeartbeatReader *heartbeat_reader(const HeartbeatSource *source) noexcept {
    if (source == nullptr) return nullptr;
    RedisClient *client = redis_client(source->endpoint);
    return client != nullptr ? client->heartbeat(source) : nullptr;
}

ngx_int_t heartbeat_check(Ctx *ctx, const LocConf *lcf, Reason *reason) noexcept {
    *reason = Reason::allowed;
    // Purpose tokens never depend on the heartbeat, nor wait for it.
    if (lcf->sync_max_age == 0 || ctx->claims.purpose != Purpose::public_) return NGX_OK;
    SyncHeartbeat seen;  // unknown, without a reader
    if (HeartbeatReader *reader = heartbeat_reader(lcf->heartbeat); reader != nullptr) {
        if (reader->first_pending()) {
            reader->wait(ctx);
            return NGX_AGAIN;
        }
        seen = reader->seen();
    }
    *reason = decide_sync(ctx->claims.purpose, seen, lcf->sync_max_age, ngx_time());
    return NGX_OK;
}

void heartbeat_detach(Ctx *ctx) noexcept {
    if (ctx->heartbeat_wait == nullptr) return;
    ngx_queue_remove(&ctx->waiter);
    ctx->heartbeat_wait = nullptr;
}

}  // namespace asset_gate

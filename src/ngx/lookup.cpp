// Cache, then Redis: the asset record, then (public tokens) its organisation's, each one plain
// HGETALL. Concurrent misses for the same key in one worker share one command; an
// invalidation that arrives while a command is pending keeps its stale answer out of the
// cache and away from requests that come after it.
#include "ngx/lookup.hpp"

#include <new>
#include <string>
#include <vector>

#include "core/keys.hpp"
#include "core/record_codec.hpp"
#include "ngx/cache.hpp"
#include "ngx/hiredis_compat.hpp"
#include "ngx/redis_client.hpp"
#include "ngx/stats.hpp"

namespace asset_gate {

enum class LookupKind : std::uint8_t { asset, org };

struct Lookup {
    ngx_queue_t link;     // in the client's pending list while later requests may join it
    ngx_queue_t flight;   // in the client's in-flight list until its reply comes
    ngx_queue_t waiters;  // Ctx::waiter
    RedisClient *client;
    LookupKind kind;
    bool joinable;     // in the pending list
    bool answered;     // waiters were answered (reply or deadline); only the reply remains
    bool invalidated;  // its key was invalidated while pending: the reply is not cached
    std::string redis_key;
    std::string cache_key;
    ngx_shm_zone_t *cache;
    std::uint64_t sent_us;  // for the latency histogram
    ngx_msec_t ttl_valid;
    ngx_msec_t ttl_negative;
    ngx_event_t timer;
};

namespace {

MainConf *main_conf() noexcept {
    return static_cast<MainConf *>(
        ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_asset_gate_module));
}

// The record a lookup found: parsed from a reply, or decoded from the cache.
struct Found {
    AssetRecord asset;
    OrgRecord org;
    CacheHit kind = CacheHit::miss;
};

// The record's strings into `pool` (they pointed into a reply that is about to be freed).
bool copy_to_pool(ngx_pool_t *pool, AssetRecord *a) noexcept {
    for (auto text : kAssetTexts) {
        ngx_str_t copy;
        if (!pool_copy(pool, a->*text, &copy)) return false;
        a->*text = view(copy);
    }
    return true;
}

void fill_asset(Ctx *ctx, const AssetRecord &a) noexcept {
    ctx->asset_known = true;
    ctx->asset = a;
}

void fill_org(Ctx *ctx, const OrgRecord &org) noexcept {
    ctx->org_known = true;
    ctx->org = org;
}

void unlink(Lookup *lk) noexcept {
    if (lk->joinable) {
        lk->joinable = false;
        ngx_queue_remove(&lk->link);
    }
}

void answer(Lookup *lk, const Found *found) noexcept {
    lk->answered = true;
    unlink(lk);
    if (lk->timer.timer_set) ngx_del_timer(&lk->timer);
    while (!ngx_queue_empty(&lk->waiters)) {
        ngx_queue_t *q = ngx_queue_head(&lk->waiters);
        ngx_queue_remove(q);
        Ctx *ctx = ngx_queue_data(q, Ctx, waiter);
        ctx->lookup = nullptr;
        if (found == nullptr) {
            ctx->redis_failed = true;
        } else if (lk->kind == LookupKind::asset) {
            fill_asset(ctx, found->asset);
            if (!copy_to_pool(ctx->request->pool, &ctx->asset)) ctx->redis_failed = true;
        } else {
            fill_org(ctx, found->org);
        }
        ctx->stage = Stage::resolved;
        wake(ctx);
    }
}

// Every field of a hash as HGETALL answers it (a flat array of bulk strings), read whole.
bool fields_of(const redisReply *reply, std::vector<Field> *out) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0) return false;
    out->reserve(reply->elements / 2);
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *k = reply->element[i];
        const redisReply *v = reply->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) return false;
        out->push_back(Field{{k->str, k->len}, {v->str, v->len}});
    }
    return true;
}

// Parses a reply; false for a reply that is not an answer about the record (a Redis error).
bool parse_reply(LookupKind kind, const redisReply *reply, Found *out) {
    std::vector<Field> fields;
    if (wrong_type(reply)) {
        // Redis answered: the key holds something else than a record.
        out->asset = bad_asset();
        out->org = bad_org();
    } else if (fields_of(reply, &fields)) {
        if (kind == LookupKind::asset) {
            out->asset = parse_asset(fields.data(), fields.size());
        } else {
            out->org = parse_org(fields.data(), fields.size());
        }
    } else {
        return false;
    }
    bool found = kind == LookupKind::asset ? out->asset.found : out->org.found;
    bool bad = kind == LookupKind::asset ? out->asset.bad : out->org.bad;
    out->kind = found ? CacheHit::positive : bad ? CacheHit::bad : CacheHit::negative;
    return true;
}

void store(Lookup *lk, const Found &found) {
    if (lk->cache == nullptr || lk->invalidated) return;
    std::string value;
    if (found.kind == CacheHit::positive) {
        if (lk->kind == LookupKind::asset) {
            encode_asset(found.asset, value);
        } else {
            encode_org(found.org, value);
        }
    }
    ngx_msec_t ttl = found.kind == CacheHit::positive ? lk->ttl_valid : lk->ttl_negative;
    cache_put(lk->cache, lk->cache_key, value, found.kind, ttl);
}

void log_bad_reply(const Lookup *lk, const redisReply *reply) noexcept {
    const ngx_str_t *name = &lk->client->endpoint()->name;
    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "asset_gate: redis %V: %*s", name,
                      static_cast<size_t>(reply->len), reply->str);
    } else {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "asset_gate: redis %V: unexpected reply of type %d", name, reply->type);
    }
}

// A reply (or its failure: null) that answers the lookup's waiters, unless its deadline did.
void settle(Lookup *lk, const redisReply *reply) {
    lk->client->note_reply();
    Found found;
    if (reply != nullptr && parse_reply(lk->kind, reply, &found)) {
        stats_redis_latency(monotonic_us() - lk->sent_us);
        lk->client->mark_healthy();
        // A reply past its deadline still fills the cache for the next request.
        store(lk, found);
        if (!lk->answered) answer(lk, &found);
        return;
    }
    if (reply != nullptr) {
        log_bad_reply(lk, reply);  // errors are never cached
    } else if (lk->answered) {
        return;  // the connection broke after the deadline answered: counted then
    }
    stats_redis(RedisEvent::error);
    if (!lk->answered) answer(lk, nullptr);
}

void on_reply(redisAsyncContext *, void *reply, void *privdata) noexcept {
    auto *lk = static_cast<Lookup *>(privdata);
    try {
        settle(lk, static_cast<const redisReply *>(reply));
    } catch (...) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "asset_gate: lookup failed: out of memory");
        if (!lk->answered) answer(lk, nullptr);
    }
    if (lk->timer.timer_set) ngx_del_timer(&lk->timer);
    unlink(lk);
    ngx_queue_remove(&lk->flight);
    delete lk;
}

// Past its deadline the lookup's requests are answered (503, or 404 by configuration). The
// connection stays: one slow command says nothing about the next; the client drops a
// connection only when it has been silent far longer (RedisClient::command_timed_out).
void on_deadline(ngx_event_t *ev) noexcept {
    auto *lk = static_cast<Lookup *>(ev->data);
    stats_redis(RedisEvent::timeout);
    answer(lk, nullptr);
    lk->client->command_timed_out();
}

// A cached answer: the worker's local copy if it still holds, else the zone's (copied locally
// for the next request). `value` is in the request pool.
CacheHit cached(ngx_shm_zone_t *zone, std::string_view key, ngx_pool_t *pool,
                ngx_str_t *value) noexcept {
    LocalRecordCache *local = local_records();
    if (local != nullptr) {
        LocalRecordCache::Entry e;
        if (local->find(key, cache_generation(zone), ngx_current_msec, &e)) {
            if (!pool_copy(pool, e.value, value)) return CacheHit::miss;
            stats_cache(CacheEvent::hit);
            return static_cast<CacheHit>(e.kind);
        }
    }
    CacheStamp stamp;
    CacheHit hit = cache_get(zone, key, pool, value, &stamp);
    if (local != nullptr && hit != CacheHit::miss) {
        std::string_view v = hit == CacheHit::positive ? view(*value) : std::string_view();
        local->insert(key, static_cast<std::uint8_t>(hit), v, stamp.expires, stamp.generation);
    }
    return hit;
}

// Decodes a cached record into ctx (its strings view the value's copy in the request pool);
// false for a miss.
bool from_cache(ngx_shm_zone_t *zone, std::string_view key, ngx_http_request_t *r, Ctx *ctx,
                LookupKind kind) noexcept {
    ngx_str_t value;
    CacheHit hit = cached(zone, key, r->pool, &value);
    if (hit == CacheHit::miss) return false;
    if (kind == LookupKind::org) {
        OrgRecord org;
        if (hit == CacheHit::positive && !decode_org(view(value), &org)) return false;
        fill_org(ctx, hit == CacheHit::bad ? bad_org() : org);
        return true;
    }
    AssetRecord a;
    if (hit == CacheHit::positive && !decode_asset(view(value), &a)) return false;
    fill_asset(ctx, hit == CacheHit::bad ? bad_asset() : a);
    return true;
}

Lookup *find_pending(RedisClient *client, std::string_view redis_key) noexcept {
    ngx_queue_t *head = client->lookups();
    for (ngx_queue_t *q = ngx_queue_head(head); q != ngx_queue_sentinel(head);
         q = ngx_queue_next(q)) {
        Lookup *lk = ngx_queue_data(q, Lookup, link);
        if (lk->redis_key == redis_key) return lk;
    }
    return nullptr;
}

// `n` in decimal, written at the end of `buf` (ngx_sprintf costs more than the lookup).
std::string_view decimal(std::uint64_t n, char (&buf)[NGX_INT64_LEN]) noexcept {
    char *end = buf + sizeof(buf);
    char *p = end;
    do {
        *--p = static_cast<char>('0' + n % 10);
        n /= 10;
    } while (n != 0);
    return {p, static_cast<size_t>(end - p)};
}

// Joins three parts into the request pool (cache keys on the hit path: no heap allocation).
std::string_view join(ngx_pool_t *pool, std::string_view a, std::string_view b,
                      std::string_view c) noexcept {
    auto *out = static_cast<u_char *>(ngx_pnalloc(pool, a.size() + b.size() + c.size()));
    if (out == nullptr) return {};
    u_char *q = ngx_cpymem(out, a.data(), a.size());
    q = ngx_cpymem(q, b.data(), b.size());
    ngx_memcpy(q, c.data(), c.size());
    return {reinterpret_cast<char *>(out), a.size() + b.size() + c.size()};
}

// Sends HGETALL for one record, or joins the pending one. NGX_AGAIN: ctx waits.
ngx_int_t send(Ctx *ctx, LocConf *lcf, LookupKind kind, std::string_view kind_prefix,
               std::string_view name, std::string_view cache_key) {
    RedisClient *client = redis_client(lcf->redis.endpoint);
    if (client == nullptr || !client->usable()) {
        ctx->redis_failed = true;
        return NGX_OK;
    }
    std::string redis_key(view(lcf->redis.prefix));
    redis_key.append(kind_prefix).append(name);
    Lookup *lk = find_pending(client, redis_key);
    if (lk == nullptr) {
        lk = new Lookup();
        ngx_queue_init(&lk->waiters);
        lk->client = client;
        lk->kind = kind;
        lk->redis_key = std::move(redis_key);
        lk->cache_key.assign(cache_key);
        lk->cache = main_conf()->cache_zone;
        lk->ttl_valid = lcf->cache.valid;
        lk->ttl_negative = lcf->cache.negative;
        const char *argv[] = {"HGETALL", lk->redis_key.c_str()};
        size_t lens[] = {7, lk->redis_key.size()};
        if (!client->command(2, argv, lens, on_reply, lk)) {
            delete lk;
            ctx->redis_failed = true;
            return NGX_OK;
        }
        stats_redis(RedisEvent::command);
        lk->sent_us = monotonic_us();
        lk->joinable = true;
        ngx_queue_insert_tail(client->lookups(), &lk->link);
        ngx_queue_insert_tail(client->inflight(), &lk->flight);
        // Not cancelable: a worker that is shutting down waits for its pending lookups (at
        // most the deadline) instead of dropping their requests.
        init_timer(&lk->timer, on_deadline, lk, ngx_cycle->log, false);
        ngx_add_timer(&lk->timer, lcf->redis.endpoint->timeout);
    }
    ngx_queue_insert_tail(&lk->waiters, &ctx->waiter);
    ctx->lookup = lk;
    return NGX_AGAIN;
}

}  // namespace

ngx_int_t lookup_start(ngx_http_request_t *r, Ctx *ctx, LocConf *lcf) noexcept try {
    if (ctx->redis_failed) return NGX_OK;  // Redis already failed this request: decide now
    ngx_shm_zone_t *cache = main_conf()->cache_zone;
    std::string_view cache_prefix = view(lcf->redis.cache_prefix);

    if (!ctx->asset_known) {
        char idbuf[NGX_INT64_LEN];
        std::string_view id = decimal(ctx->claims.id, idbuf);
        std::string_view key = join(r->pool, cache_prefix, kAssetKey, id);
        if (key.empty()) {
            ctx->redis_failed = true;
            return NGX_OK;
        }
        if (cache == nullptr || !from_cache(cache, key, r, ctx, LookupKind::asset)) {
            return send(ctx, lcf, LookupKind::asset, kAssetKey, id, key);
        }
    }
    // Only a public token needs the org, and only of an asset that exists.
    if (ctx->claims.purpose != Purpose::public_ || !ctx->asset.found || ctx->org_known) {
        return NGX_OK;
    }
    std::string_view org = ctx->asset.org;
    std::string_view key = join(r->pool, cache_prefix, kOrgKey, org);
    if (key.empty()) {
        ctx->redis_failed = true;
        return NGX_OK;
    }
    if (cache != nullptr && from_cache(cache, key, r, ctx, LookupKind::org)) return NGX_OK;
    return send(ctx, lcf, LookupKind::org, kOrgKey, org, key);
} catch (...) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "asset_gate: lookup failed: out of memory");
    ctx->redis_failed = true;
    return NGX_OK;
}

void lookup_detach(Ctx *ctx) noexcept {
    if (ctx->lookup == nullptr) return;
    ngx_queue_remove(&ctx->waiter);
    ctx->lookup = nullptr;
}

void lookup_invalidated(RedisClient *client, std::string_view redis_key) noexcept {
    if (client == nullptr) return;
    // Every lookup in flight, including those already answered at their deadline: their late
    // reply would otherwise fill the cache with what Redis held before the change.
    ngx_queue_t *head = client->inflight();
    for (ngx_queue_t *q = ngx_queue_head(head); q != ngx_queue_sentinel(head);) {
        Lookup *lk = ngx_queue_data(q, Lookup, flight);
        q = ngx_queue_next(q);
        if (lk->redis_key != redis_key) continue;
        // Its reply may have been read before the change: the requests already waiting were
        // concurrent with the change and take it; nobody later does, and nothing caches it.
        lk->invalidated = true;
        unlink(lk);
    }
}

}  // namespace asset_gate

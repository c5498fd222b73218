// Cache, then Redis. A full miss is one round trip (a script reads the asset and its org);
// concurrent misses for the same record in one worker share one command.
#include "ngx/lookup.hpp"

#include <initializer_list>
#include <new>
#include <string>

#include "core/record_codec.hpp"
#include "ngx/cache.hpp"
#include "ngx/redis_client.hpp"
#include "ngx/stats.hpp"

extern "C" {
#include <hiredis/hiredis.h>
}

namespace asset_gate {

// KEYS[1]: the asset key; ARGV[1]: the key prefix. Returns {asset fields, org fields}; the
// org part is empty when the asset or its org is missing.
static const char kAssetAndOrgScript[] =
    "local a = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #a, 2 do\n"
    "  if a[i] == 'org' then\n"
    "    return {a, redis.call('HGETALL', ARGV[1] .. 'org:' .. a[i + 1])}\n"
    "  end\n"
    "end\n"
    "return {a, {}}\n";

enum class LookupKind : std::uint8_t { asset, asset_and_org, org };

struct Lookup {
    ngx_queue_t link;     // in the client's pending list while it can be joined
    ngx_queue_t waiters;  // Ctx::waiter
    RedisClient *client;
    LookupKind kind;
    bool finished;    // waiters were answered (reply or deadline); only the callback remains
    std::string key;  // coalescing key: what was asked of which endpoint
    std::string asset_cache_key;
    std::string org_cache_prefix;  // + org name
    std::string org_cache_key;     // kind org
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

// Asset fields into the request pool.
bool fill_asset(Ctx *ctx, ngx_pool_t *pool, const AssetRecord &a) noexcept {
    ctx->asset_found = a.found;
    ctx->expires_at = a.expires_at;
    return pool_copy(pool, a.org, &ctx->org) && pool_copy(pool, a.format, &ctx->format) &&
           pool_copy(pool, a.location, &ctx->location) &&
           pool_copy(pool, a.filename, &ctx->filename);
}

// A flat array of bulk strings, as HGETALL answers; false for any other shape.
bool fields_of(const redisReply *reply, Field *out, size_t max, size_t *n) noexcept {
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0) {
        return false;
    }
    *n = 0;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *k = reply->element[i];
        const redisReply *v = reply->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) return false;
        if (*n == max) continue;  // a hash with far more fields than a record has: keep the first
        out[(*n)++] = Field{{k->str, k->len}, {v->str, v->len}};
    }
    return true;
}

constexpr size_t kMaxFields = 32;

void answer(Lookup *lk, const AssetRecord *asset, const OrgRecord *org, bool failed) noexcept {
    while (!ngx_queue_empty(&lk->waiters)) {
        ngx_queue_t *q = ngx_queue_head(&lk->waiters);
        ngx_queue_remove(q);
        Ctx *ctx = ngx_queue_data(q, Ctx, waiter);
        ctx->lookup = nullptr;
        ngx_pool_t *pool = ctx->request->pool;
        if (failed) {
            ctx->redis_failed = true;
        } else {
            if (asset != nullptr && !fill_asset(ctx, pool, *asset)) ctx->redis_failed = true;
            if (org != nullptr) {
                ctx->org_fetched = true;
                ctx->org_record = *org;
            }
        }
        ctx->stage = Stage::resolved;
        wake(ctx);
    }
}

void finish(Lookup *lk) noexcept {
    if (!lk->finished) {
        lk->finished = true;
        ngx_queue_remove(&lk->link);
    }
    if (lk->timer.timer_set) ngx_del_timer(&lk->timer);
}

void store(Lookup *lk, const std::string &key, bool negative, const std::string &value) noexcept {
    if (lk->cache == nullptr) return;
    cache_put(lk->cache, key, value, negative, negative ? lk->ttl_negative : lk->ttl_valid);
}

void on_reply(redisAsyncContext *, void *r, void *privdata) noexcept {
    auto *lk = static_cast<Lookup *>(privdata);
    auto *reply = static_cast<redisReply *>(r);
    try {
        if (lk->finished) {  // answered at its deadline already
            delete lk;
            return;
        }
        finish(lk);
        if (reply == nullptr) {
            stats_redis(RedisEvent::error);
            answer(lk, nullptr, nullptr, true);
            delete lk;
            return;
        }

        const redisReply *asset_part = nullptr;
        const redisReply *org_part = nullptr;
        bool shape_ok = true;
        if (lk->kind == LookupKind::asset_and_org) {
            shape_ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == 2;
            if (shape_ok) {
                asset_part = reply->element[0];
                org_part = reply->element[1];
            }
        } else if (lk->kind == LookupKind::asset) {
            asset_part = reply;
        } else {
            org_part = reply;
        }

        Field fields[kMaxFields];
        size_t n = 0;
        AssetRecord asset;
        OrgRecord org;
        if (shape_ok && asset_part != nullptr) {
            shape_ok = fields_of(asset_part, fields, kMaxFields, &n);
            if (shape_ok) asset = parse_asset(fields, n);
        }
        Field org_fields[kMaxFields];
        size_t org_n = 0;
        if (shape_ok && org_part != nullptr) {
            shape_ok = fields_of(org_part, org_fields, kMaxFields, &org_n);
            if (shape_ok) org = parse_org(org_fields, org_n);
        }
        stats_redis_latency(monotonic_us() - lk->sent_us);
        if (!shape_ok) {
            stats_redis(RedisEvent::error);
            if (reply->type == REDIS_REPLY_ERROR) {
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "asset_gate: redis %V: %*s",
                              &lk->client->endpoint()->name, static_cast<size_t>(reply->len),
                              reply->str);
            } else {
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                              "asset_gate: redis %V: unexpected reply of type %d",
                              &lk->client->endpoint()->name, reply->type);
            }
            answer(lk, nullptr, nullptr, true);  // errors are never cached
            delete lk;
            return;
        }
        lk->client->mark_healthy();

        std::string value;
        if (asset_part != nullptr) {
            if (asset.found) encode_asset(asset, value);
            store(lk, lk->asset_cache_key, !asset.found, value);
        }
        // The script only reads an org for an asset that names one.
        bool org_known = org_part != nullptr && (lk->kind == LookupKind::org || asset.found);
        if (org_known) {
            value.clear();
            if (org.found) encode_org(org, value);
            std::string key = lk->kind == LookupKind::org
                                  ? lk->org_cache_key
                                  : lk->org_cache_prefix + std::string(asset.org);
            store(lk, key, !org.found, value);
        }
        answer(lk, asset_part != nullptr ? &asset : nullptr, org_known ? &org : nullptr, false);
    } catch (...) {
        answer(lk, nullptr, nullptr, true);
    }
    delete lk;
}

void on_deadline(ngx_event_t *ev) noexcept {
    auto *lk = static_cast<Lookup *>(ev->data);
    RedisClient *client = lk->client;
    finish(lk);
    stats_redis(RedisEvent::timeout);
    answer(lk, nullptr, nullptr, true);
    // A command past its deadline means the connection is stalled (paused server, a peer that
    // never answers): start afresh. The reset fails the pending commands, this one included,
    // and their callbacks free them.
    client->reset("a command timed out");
}

// Decodes a cached value into ctx; false for a miss.
bool from_cache(ngx_shm_zone_t *zone, std::string_view key, ngx_http_request_t *r, Ctx *ctx,
                bool is_org) noexcept {
    ngx_str_t value;
    CacheHit hit = cache_get(zone, key, r->pool, &value);
    if (hit == CacheHit::miss) return false;
    if (is_org) {
        ctx->org_fetched = true;
        ctx->org_record = OrgRecord{};
        if (hit == CacheHit::positive) decode_org(view(value), &ctx->org_record);
        return true;
    }
    AssetRecord a;
    if (hit == CacheHit::positive) decode_asset(view(value), &a);
    ctx->asset_found = a.found;
    ctx->expires_at = a.expires_at;
    // Views into the value's pool copy: no second copy.
    ctx->org = ngx_view(a.org);
    ctx->format = ngx_view(a.format);
    ctx->location = ngx_view(a.location);
    ctx->filename = ngx_view(a.filename);
    return true;
}

Lookup *find_pending(RedisClient *client, std::string_view key) noexcept {
    ngx_queue_t *head = client->lookups();
    for (ngx_queue_t *q = ngx_queue_head(head); q != ngx_queue_sentinel(head);
         q = ngx_queue_next(q)) {
        Lookup *lk = ngx_queue_data(q, Lookup, link);
        if (lk->key == key) return lk;
    }
    return nullptr;
}

}  // namespace

// Joins `parts` into the request pool (cache keys on the hit path: no heap allocation).
// `n` in decimal, written at the end of `buf` (ngx_sprintf costs more than the lookup).
static std::string_view decimal(std::uint64_t n, char (&buf)[NGX_INT64_LEN]) noexcept {
    char *end = buf + sizeof(buf);
    char *p = end;
    do {
        *--p = static_cast<char>('0' + n % 10);
        n /= 10;
    } while (n != 0);
    return {p, static_cast<size_t>(end - p)};
}

static std::string_view join(ngx_pool_t *pool,
                             std::initializer_list<std::string_view> parts) noexcept {
    size_t len = 0;
    for (std::string_view p : parts) len += p.size();
    auto *out = static_cast<u_char *>(ngx_pnalloc(pool, len));
    if (out == nullptr) return {};
    u_char *q = out;
    for (std::string_view p : parts) q = ngx_cpymem(q, p.data(), p.size());
    return {reinterpret_cast<char *>(out), len};
}

ngx_int_t lookup_start(ngx_http_request_t *r, Ctx *ctx, LocConf *lcf) noexcept try {
    MainConf *mcf = main_conf();
    ngx_shm_zone_t *cache = mcf->cache_zone;
    bool wants_org = ctx->purpose == Purpose::public_;

    char idbuf[NGX_INT64_LEN];
    std::string_view id = decimal(ctx->id, idbuf);
    std::string_view cache_prefix = view(lcf->cache_prefix);
    std::string_view asset_cache_key = join(r->pool, {cache_prefix, "asset:", id});
    if (asset_cache_key.empty()) {
        ctx->redis_failed = true;
        return NGX_OK;
    }

    LookupKind kind = wants_org ? LookupKind::asset_and_org : LookupKind::asset;
    if (cache != nullptr && from_cache(cache, asset_cache_key, r, ctx, false)) {
        if (!wants_org || !ctx->asset_found) return NGX_OK;
        std::string_view org_key = join(r->pool, {cache_prefix, "org:", view(ctx->org)});
        if (!org_key.empty() && from_cache(cache, org_key, r, ctx, true)) return NGX_OK;
        kind = LookupKind::org;
    }

    RedisClient *client = redis_client(lcf->endpoint);
    if (client == nullptr || !client->usable()) {
        ctx->redis_failed = true;
        return NGX_OK;
    }

    // The miss path: one Redis round trip, shared by every request that wants the same.
    std::string coalesce;
    if (kind == LookupKind::org) {
        coalesce.append("o|").append(cache_prefix).append(view(ctx->org));
    } else {
        coalesce.append(kind == LookupKind::asset ? "a|" : "A|").append(asset_cache_key);
    }
    Lookup *lk = find_pending(client, coalesce);
    if (lk == nullptr) {
        lk = new Lookup();
        ngx_queue_init(&lk->waiters);
        lk->client = client;
        lk->kind = kind;
        lk->finished = false;
        lk->key = std::move(coalesce);
        lk->asset_cache_key = asset_cache_key;
        lk->org_cache_prefix.append(cache_prefix).append("org:");
        lk->cache = cache;
        lk->ttl_valid = lcf->cache_valid;
        lk->ttl_negative = lcf->cache_negative;

        std::string prefix(view(lcf->redis_prefix));
        std::string key;
        bool sent;
        if (kind == LookupKind::org) {
            lk->org_cache_key = lk->org_cache_prefix + std::string(view(ctx->org));
            key = prefix + "org:" + std::string(view(ctx->org));
            const char *argv[] = {"HGETALL", key.c_str()};
            size_t lens[] = {7, key.size()};
            sent = client->command(2, argv, lens, on_reply, lk);
        } else {
            key = prefix + "asset:" + std::string(id);
            if (kind == LookupKind::asset) {
                const char *argv[] = {"HGETALL", key.c_str()};
                size_t lens[] = {7, key.size()};
                sent = client->command(2, argv, lens, on_reply, lk);
            } else {
                const char *argv[] = {"EVAL", kAssetAndOrgScript, "1", key.c_str(), prefix.c_str()};
                size_t lens[] = {4, sizeof(kAssetAndOrgScript) - 1, 1, key.size(), prefix.size()};
                sent = client->command(5, argv, lens, on_reply, lk);
            }
        }
        if (!sent) {
            delete lk;
            ctx->redis_failed = true;
            return NGX_OK;
        }
        stats_redis(RedisEvent::command);
        lk->sent_us = monotonic_us();
        ngx_queue_insert_tail(client->lookups(), &lk->link);
        lk->timer.handler = on_deadline;
        lk->timer.data = lk;
        lk->timer.log = ngx_cycle->log;
        // Not cancelable: a worker that is shutting down waits for its pending lookups (at
        // most the deadline) instead of dropping their requests.
        lk->timer.cancelable = 0;
        ngx_add_timer(&lk->timer, lcf->endpoint->timeout);
    }
    ngx_queue_insert_tail(&lk->waiters, &ctx->waiter);
    ctx->lookup = lk;
    return NGX_AGAIN;
} catch (...) {
    ctx->redis_failed = true;
    return NGX_OK;
}

void lookup_detach(Ctx *ctx) noexcept {
    if (ctx->lookup == nullptr) return;
    ngx_queue_remove(&ctx->waiter);
    ctx->lookup = nullptr;
}

}  // namespace asset_gate

// The shared-memory record cache: a hash table of chained entries (a lookup reads one bucket
// and, at the table's load, about one entry: an rbtree of 20,000 entries made a hit walk
// some fifteen cold nodes under the lock), a second-chance queue for eviction, and per-entry
// expiry. Plain structs only; every worker sees the same entries.
#include "ngx/cache.hpp"
#include "ngx/stats.hpp"

#include <cstddef>

extern "C" {
extern ngx_module_t ngx_http_asset_gate_module;
}

namespace asset_gate {

namespace {

struct Entry;

// What the zone's first allocation holds. `layout` tells a reload that finds the zone of a
// module built with another layout (a package upgrade) not to read it as its own.
constexpr std::uint64_t kLayout = 0x6167632d68736832ULL;  // "agc-hsh2": hash table, version 2

struct Shared {
    std::uint64_t layout;
    // Moves on at every invalidation (under the lock); workers' local copies carry the
    // generation they were read at and are used only while it holds. Every local hit reads
    // it: its cache line holds nothing that a store writes (a slab slot of this size is
    // aligned to its size).
    std::uint64_t generation;
    std::uint8_t unwritten[64 - 2 * sizeof(std::uint64_t)];
    Entry **buckets;  // ngx_slab-allocated, `mask + 1` heads
    ngx_uint_t mask;
    ngx_queue_t queue;  // newest first; eviction takes the oldest not referenced since
    ngx_uint_t entries;
    size_t bytes;  // of the entries (headers, keys, values), not of the slab pages they use
};

static_assert(offsetof(Shared, buckets) == 64, "the generation has its cache line to itself");

struct Zone {
    Shared *sh;
    ngx_slab_pool_t *shpool;
};

struct Entry {
    Entry *next;  // in its bucket
    ngx_queue_t queue;
    ngx_msec_t expires;
    std::uint32_t hash;
    std::uint32_t value_len;
    std::uint16_t key_len;
    std::uint8_t kind;        // CacheHit
    std::uint8_t referenced;  // hit since it last passed the queue's end: a second chance
    u_char data[1];           // key, then value
};

// A hit sets `referenced` only when it is clear: the hot path writes no shared cache line
// that other entries or workers need (moving an entry to the queue's head wrote three).
Entry *find_locked(Zone *z, std::uint32_t hash, std::string_view key) noexcept {
    for (Entry *e = z->sh->buckets[hash & z->sh->mask]; e != nullptr; e = e->next) {
        if (e->hash == hash && e->key_len == key.size() &&
            ngx_memcmp(e->data, key.data(), key.size()) == 0) {
            return e;
        }
    }
    return nullptr;
}

size_t entry_size(size_t key_len, size_t value_len) noexcept {
    return offsetof(Entry, data) + key_len + value_len;
}

void remove_locked(Zone *z, Entry *e) noexcept {
    Entry **p = &z->sh->buckets[e->hash & z->sh->mask];
    while (*p != e) p = &(*p)->next;
    *p = e->next;
    z->sh->entries--;
    z->sh->bytes -= entry_size(e->key_len, e->value_len);
    ngx_queue_remove(&e->queue);
    ngx_slab_free_locked(z->shpool, e);
}

bool expired(const Entry *e) noexcept {
    return static_cast<ngx_msec_int_t>(e->expires - ngx_current_msec) <= 0;
}

// Drops expired entries among the `scan` oldest: they cost nothing to lose.
void drop_expired_locked(Zone *z, int scan) noexcept {
    ngx_queue_t *q = ngx_queue_last(&z->sh->queue);
    while (scan-- > 0 && q != ngx_queue_sentinel(&z->sh->queue)) {
        ngx_queue_t *prev = ngx_queue_prev(q);
        Entry *e = ngx_queue_data(q, Entry, queue);
        if (expired(e)) remove_locked(z, e);
        q = prev;
    }
}

constexpr int kSecondChances = 64;  // referenced entries passed over before one goes anyway

// Evicts the oldest live entry not hit since it was last passed over (second chance: an
// approximation of least recently used that costs a hit nothing).
void evict_one_locked(Zone *z) noexcept {
    ngx_queue_t *queue = &z->sh->queue;
    for (int n = 0; !ngx_queue_empty(queue); n++) {
        Entry *e = ngx_queue_data(ngx_queue_last(queue), Entry, queue);
        if (e->referenced && n < kSecondChances && !expired(e)) {
            e->referenced = 0;
            ngx_queue_remove(&e->queue);
            ngx_queue_insert_head(queue, &e->queue);
            continue;
        }
        if (!expired(e)) stats_cache(CacheEvent::eviction);
        remove_locked(z, e);
        return;
    }
}

constexpr int kExpiredScan = 64;
constexpr int kMaxLiveEvictions = 8;

// Four bytes a step; the table-driven CRC went a byte at a time.
std::uint32_t hash_of(std::string_view key) noexcept {
    return ngx_murmur_hash2(reinterpret_cast<u_char *>(const_cast<char *>(key.data())), key.size());
}

// About one bucket per 128 bytes of zone (an entry takes at least that in its slab slot), a
// power of two: the heads take a sixteenth of the zone and chains stay about one long.
ngx_uint_t bucket_count(size_t zone_size) noexcept {
    ngx_uint_t n = 64;
    while (n * 2 <= zone_size / 128) n *= 2;
    return n;
}

bool same_layout(const Shared *sh, const ngx_shm_zone_t *shm_zone) noexcept {
    if (sh != nullptr && sh->layout == kLayout) return true;
    ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                  "asset_gate: cache zone \"%V\" was made by a module with another layout: "
                  "restart nginx (a reload cannot change it)", &shm_zone->shm.name);
    return false;
}

ngx_int_t init_zone(ngx_shm_zone_t *shm_zone, void *data) noexcept {
    auto *z = static_cast<Zone *>(shm_zone->data);
    if (data != nullptr) {  // reload: keep the entries of the previous cycle
        auto *old = static_cast<Zone *>(data);
        if (!same_layout(old->sh, shm_zone)) return NGX_ERROR;
        z->sh = old->sh;
        z->shpool = old->shpool;
        return NGX_OK;
    }
    z->shpool = reinterpret_cast<ngx_slab_pool_t *>(shm_zone->shm.addr);
    if (shm_zone->shm.exists) {
        z->sh = static_cast<Shared *>(z->shpool->data);
        return same_layout(z->sh, shm_zone) ? NGX_OK : NGX_ERROR;
    }
    z->sh = static_cast<Shared *>(ngx_slab_alloc(z->shpool, sizeof(Shared)));
    if (z->sh == nullptr) return NGX_ERROR;
    ngx_uint_t buckets = bucket_count(shm_zone->shm.size);
    z->sh->buckets = static_cast<Entry **>(ngx_slab_calloc(z->shpool, buckets * sizeof(Entry *)));
    if (z->sh->buckets == nullptr) return NGX_ERROR;
    z->sh->mask = buckets - 1;
    z->sh->generation = 0;
    ngx_queue_init(&z->sh->queue);
    z->sh->entries = 0;
    z->sh->bytes = 0;
    z->sh->layout = kLayout;
    z->shpool->data = z->sh;

    static const char kLogCtx[] = " in asset_gate cache zone \"";
    size_t len = sizeof(kLogCtx) + shm_zone->shm.name.len + 1;
    z->shpool->log_ctx = static_cast<u_char *>(ngx_slab_alloc(z->shpool, len));
    if (z->shpool->log_ctx == nullptr) return NGX_ERROR;
    ngx_sprintf(z->shpool->log_ctx, "%s%V\"%Z", kLogCtx, &shm_zone->shm.name);
    z->shpool->log_nomem = 0;  // a full zone evicts; it is not an error worth a log line
    return NGX_OK;
}

}  // namespace

void cache_init_conf(CacheConf *conf) noexcept {
    conf->valid = NGX_CONF_UNSET_MSEC;
    conf->negative = NGX_CONF_UNSET_MSEC;
}

void cache_merge_conf(CacheConf *conf, const CacheConf *prev) noexcept {
    ngx_conf_merge_msec_value(conf->valid, prev->valid, 5000);
    ngx_conf_merge_msec_value(conf->negative, prev->negative, 2000);
}

char *cache_zone_add(ngx_conf_t *cf, ngx_str_t *value, ngx_shm_zone_t **zone) noexcept {
    u_char *colon = static_cast<u_char *>(ngx_strlchr(value->data, value->data + value->len, ':'));
    if (colon == nullptr || colon == value->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid cache zone \"%V\", expected NAME:SIZE",
                           value);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    ngx_str_t name = {static_cast<size_t>(colon - value->data), value->data};
    ngx_str_t size_str = {static_cast<size_t>(value->data + value->len - colon - 1), colon + 1};
    ssize_t size = ngx_parse_size(&size_str);
    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid cache zone size \"%V\"", &size_str);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    if (size < static_cast<ssize_t>(8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "cache zone \"%V\" is too small", &name);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    auto *z = static_cast<Zone *>(ngx_pcalloc(cf->pool, sizeof(Zone)));
    if (z == nullptr) return static_cast<char *>(NGX_CONF_ERROR);
    ngx_shm_zone_t *shm = ngx_shared_memory_add(cf, &name, size, &ngx_http_asset_gate_module);
    if (shm == nullptr) return static_cast<char *>(NGX_CONF_ERROR);
    if (shm->data != nullptr) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "cache zone \"%V\" is already declared", &name);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    shm->init = init_zone;
    shm->data = z;
    *zone = shm;
    return NGX_CONF_OK;
}

CacheHit cache_get(ngx_shm_zone_t *zone, std::string_view key, ngx_pool_t *pool,
                   ngx_str_t *value, CacheStamp *stamp) noexcept {
    auto *z = static_cast<Zone *>(zone->data);
    std::uint32_t hash = hash_of(key);
    CacheHit hit = CacheHit::miss;

    ngx_shmtx_lock(&z->shpool->mutex);
    Entry *e = find_locked(z, hash, key);
    if (e != nullptr) {
        if (expired(e)) {
            remove_locked(z, e);
        } else if (e->kind != static_cast<std::uint8_t>(CacheHit::positive)) {
            hit = static_cast<CacheHit>(e->kind);
        } else {
            std::string_view v(reinterpret_cast<const char *>(e->data + e->key_len), e->value_len);
            if (pool_copy(pool, v, value)) {
                if (!e->referenced) e->referenced = 1;
                hit = CacheHit::positive;
            }
        }
        if (hit != CacheHit::miss) {
            stamp->expires = e->expires;
            stamp->generation = z->sh->generation;
        }
    }
    ngx_shmtx_unlock(&z->shpool->mutex);
    stats_cache(hit == CacheHit::miss ? CacheEvent::miss : CacheEvent::hit);
    return hit;
}

bool cache_delete(ngx_shm_zone_t *zone, std::string_view key) noexcept {
    auto *z = static_cast<Zone *>(zone->data);
    std::uint32_t hash = hash_of(key);
    ngx_shmtx_lock(&z->shpool->mutex);
    Entry *e = find_locked(z, hash, key);
    if (e != nullptr) remove_locked(z, e);
    // Whether or not the zone still held it: a worker may hold a copy of an entry the zone
    // has since evicted.
    __atomic_store_n(&z->sh->generation, z->sh->generation + 1, __ATOMIC_RELEASE);
    ngx_shmtx_unlock(&z->shpool->mutex);
    return e != nullptr;
}

std::uint64_t cache_generation(ngx_shm_zone_t *zone) noexcept {
    auto *z = static_cast<Zone *>(zone->data);
    return __atomic_load_n(&z->sh->generation, __ATOMIC_ACQUIRE);
}

void cache_put(ngx_shm_zone_t *zone, std::string_view key, std::string_view value, CacheHit kind,
               ngx_msec_t ttl) noexcept {
    if (ttl == 0 || kind == CacheHit::miss || key.size() > 0xffff) return;
    auto *z = static_cast<Zone *>(zone->data);
    std::uint32_t hash = hash_of(key);
    size_t size = entry_size(key.size(), value.size());

    ngx_shmtx_lock(&z->shpool->mutex);
    if (Entry *old = find_locked(z, hash, key)) remove_locked(z, old);
    // An entry that could never fit must not flush the others on its way to failing.
    if (size > zone->shm.size / 8) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "asset_gate: cache zone \"%V\": a record of %uz bytes is not cached",
                      &zone->shm.name, size);
        return;
    }
    auto *e = static_cast<Entry *>(ngx_slab_alloc_locked(z->shpool, size));
    if (e == nullptr) {
        drop_expired_locked(z, kExpiredScan);
        e = static_cast<Entry *>(ngx_slab_alloc_locked(z->shpool, size));
    }
    // Live entries make room only for a small entry (a slab slot, like theirs): freeing small
    // slots rarely frees the whole pages a large entry needs.
    int live = size <= ngx_pagesize / 2 ? kMaxLiveEvictions : 0;
    for (int n = 0; e == nullptr && n < live && !ngx_queue_empty(&z->sh->queue); n++) {
        evict_one_locked(z);
        e = static_cast<Entry *>(ngx_slab_alloc_locked(z->shpool, size));
    }
    if (e == nullptr) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "asset_gate: cache zone \"%V\" cannot hold an entry of %uz bytes",
                      &zone->shm.name, size);
        return;
    }
    e->hash = hash;
    e->referenced = 0;
    e->expires = ngx_current_msec + ttl;
    e->key_len = static_cast<std::uint16_t>(key.size());
    e->value_len = static_cast<std::uint32_t>(value.size());
    e->kind = static_cast<std::uint8_t>(kind);
    ngx_memcpy(e->data, key.data(), key.size());
    if (!value.empty()) ngx_memcpy(e->data + key.size(), value.data(), value.size());
    Entry **head = &z->sh->buckets[hash & z->sh->mask];
    e->next = *head;
    *head = e;
    ngx_queue_insert_head(&z->sh->queue, &e->queue);
    z->sh->entries++;
    z->sh->bytes += size;
    ngx_shmtx_unlock(&z->shpool->mutex);
}

CacheUsage cache_usage(ngx_shm_zone_t *zone) noexcept {
    auto *z = static_cast<Zone *>(zone->data);
    CacheUsage u;
    u.size = zone->shm.size;
    ngx_shmtx_lock(&z->shpool->mutex);
    u.entries = z->sh->entries;
    u.bytes = z->sh->bytes;
    ngx_shmtx_unlock(&z->shpool->mutex);
    return u;
}

}  // namespace asset_gate

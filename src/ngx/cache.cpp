// The shared-memory record cache: an rbtree keyed by hash then bytes, an LRU queue, and
// per-entry expiry. Plain structs only; every worker sees the same entries.
#include "ngx/cache.hpp"
#include "ngx/stats.hpp"

#include <cstddef>

extern "C" {
extern ngx_module_t ngx_http_asset_gate_module;
}

namespace asset_gate {

namespace {

struct Shared {
    ngx_rbtree_t rbtree;
    ngx_rbtree_node_t sentinel;
    ngx_queue_t lru;  // most recently used first
    ngx_uint_t entries;
    size_t bytes;  // of the entries (headers, keys, values), not of the slab pages they use
};

struct Zone {
    Shared *sh;
    ngx_slab_pool_t *shpool;
};

struct Entry {
    ngx_rbtree_node_t node;  // node.key: hash of the key
    ngx_queue_t lru;
    ngx_msec_t expires;
    std::uint32_t value_len;
    std::uint16_t key_len;
    std::uint8_t kind;  // CacheHit
    u_char data[1];     // key, then value
};

Entry *entry_of(ngx_rbtree_node_t *node) noexcept {
    return reinterpret_cast<Entry *>(node);
}

int compare(ngx_rbtree_key_t hash, std::string_view key, const Entry *e) noexcept {
    if (hash != e->node.key) return hash < e->node.key ? -1 : 1;
    if (key.size() != e->key_len) return key.size() < e->key_len ? -1 : 1;
    return ngx_memcmp(key.data(), e->data, key.size());
}

void insert_value(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel) {
    Entry *e = entry_of(node);
    std::string_view key(reinterpret_cast<const char *>(e->data), e->key_len);
    for (;;) {
        ngx_rbtree_node_t **p =
            compare(node->key, key, entry_of(temp)) < 0 ? &temp->left : &temp->right;
        if (*p == sentinel) {
            *p = node;
            break;
        }
        temp = *p;
    }
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}

Entry *find_locked(Zone *z, ngx_rbtree_key_t hash, std::string_view key) noexcept {
    ngx_rbtree_node_t *node = z->sh->rbtree.root;
    ngx_rbtree_node_t *sentinel = z->sh->rbtree.sentinel;
    while (node != sentinel) {
        int c = compare(hash, key, entry_of(node));
        if (c == 0) return entry_of(node);
        node = c < 0 ? node->left : node->right;
    }
    return nullptr;
}

size_t entry_size(size_t key_len, size_t value_len) noexcept {
    return offsetof(Entry, data) + key_len + value_len;
}

void remove_locked(Zone *z, Entry *e) noexcept {
    z->sh->entries--;
    z->sh->bytes -= entry_size(e->key_len, e->value_len);
    ngx_queue_remove(&e->lru);
    ngx_rbtree_delete(&z->sh->rbtree, &e->node);
    ngx_slab_free_locked(z->shpool, e);
}

bool expired(const Entry *e) noexcept {
    return static_cast<ngx_msec_int_t>(e->expires - ngx_current_msec) <= 0;
}

// Drops expired entries among the `scan` coldest: they cost nothing to lose.
void drop_expired_locked(Zone *z, int scan) noexcept {
    ngx_queue_t *q = ngx_queue_last(&z->sh->lru);
    while (scan-- > 0 && q != ngx_queue_sentinel(&z->sh->lru)) {
        ngx_queue_t *prev = ngx_queue_prev(q);
        Entry *e = ngx_queue_data(q, Entry, lru);
        if (expired(e)) remove_locked(z, e);
        q = prev;
    }
}

// Evicts the least recently used live entry.
void evict_one_locked(Zone *z) noexcept {
    if (ngx_queue_empty(&z->sh->lru)) return;
    Entry *e = ngx_queue_data(ngx_queue_last(&z->sh->lru), Entry, lru);
    if (!expired(e)) stats_cache(CacheEvent::eviction);
    remove_locked(z, e);
}

constexpr int kExpiredScan = 64;
constexpr int kMaxLiveEvictions = 8;

// Four bytes a step; the table-driven CRC went a byte at a time.
ngx_rbtree_key_t hash_of(std::string_view key) noexcept {
    return ngx_murmur_hash2(reinterpret_cast<u_char *>(const_cast<char *>(key.data())), key.size());
}

ngx_int_t init_zone(ngx_shm_zone_t *shm_zone, void *data) noexcept {
    auto *z = static_cast<Zone *>(shm_zone->data);
    if (data != nullptr) {  // reload: keep the entries of the previous cycle
        auto *old = static_cast<Zone *>(data);
        z->sh = old->sh;
        z->shpool = old->shpool;
        return NGX_OK;
    }
    z->shpool = reinterpret_cast<ngx_slab_pool_t *>(shm_zone->shm.addr);
    if (shm_zone->shm.exists) {
        z->sh = static_cast<Shared *>(z->shpool->data);
        return NGX_OK;
    }
    z->sh = static_cast<Shared *>(ngx_slab_alloc(z->shpool, sizeof(Shared)));
    if (z->sh == nullptr) return NGX_ERROR;
    z->shpool->data = z->sh;
    ngx_rbtree_init(&z->sh->rbtree, &z->sh->sentinel, insert_value);
    ngx_queue_init(&z->sh->lru);
    z->sh->entries = 0;
    z->sh->bytes = 0;

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
                   ngx_str_t *value) noexcept {
    auto *z = static_cast<Zone *>(zone->data);
    ngx_rbtree_key_t hash = hash_of(key);
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
                ngx_queue_remove(&e->lru);
                ngx_queue_insert_head(&z->sh->lru, &e->lru);
                hit = CacheHit::positive;
            }
        }
    }
    ngx_shmtx_unlock(&z->shpool->mutex);
    stats_cache(hit == CacheHit::miss ? CacheEvent::miss : CacheEvent::hit);
    return hit;
}

bool cache_delete(ngx_shm_zone_t *zone, std::string_view key) noexcept {
    auto *z = static_cast<Zone *>(zone->data);
    ngx_rbtree_key_t hash = hash_of(key);
    ngx_shmtx_lock(&z->shpool->mutex);
    Entry *e = find_locked(z, hash, key);
    if (e != nullptr) remove_locked(z, e);
    ngx_shmtx_unlock(&z->shpool->mutex);
    return e != nullptr;
}

void cache_put(ngx_shm_zone_t *zone, std::string_view key, std::string_view value, CacheHit kind,
               ngx_msec_t ttl) noexcept {
    if (ttl == 0 || kind == CacheHit::miss || key.size() > 0xffff) return;
    auto *z = static_cast<Zone *>(zone->data);
    ngx_rbtree_key_t hash = hash_of(key);
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
    for (int n = 0; e == nullptr && n < live && !ngx_queue_empty(&z->sh->lru); n++) {
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
    e->node.key = hash;
    e->expires = ngx_current_msec + ttl;
    e->key_len = static_cast<std::uint16_t>(key.size());
    e->value_len = static_cast<std::uint32_t>(value.size());
    e->kind = static_cast<std::uint8_t>(kind);
    ngx_memcpy(e->data, key.data(), key.size());
    if (!value.empty()) ngx_memcpy(e->data + key.size(), value.data(), value.size());
    ngx_rbtree_insert(&z->sh->rbtree, &e->node);
    ngx_queue_insert_head(&z->sh->lru, &e->lru);
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

// The shared-memory record cache in front of Redis (asset_gate_cache_zone).
#pragma once

#include <cstdint>

#include "ngx/ngx.hpp"

namespace asset_gate {

// What an entry says: a record (positive), no such key (negative), or a key that exists but
// cannot be used (bad: another Redis type, a malformed or oversized record). Negative and bad
// entries live for asset_gate_cache_negative.
enum class CacheHit { miss, positive, negative, bad };

// How long a location's lookups stay cached (asset_gate_cache_valid, asset_gate_cache_negative).
struct CacheConf {
    ngx_msec_t valid;     // a record
    ngx_msec_t negative;  // no record, or a bad one
};

void cache_init_conf(CacheConf *conf) noexcept;
void cache_merge_conf(CacheConf *conf, const CacheConf *prev) noexcept;

// Declares the zone (the directive's handler calls this).
char *cache_zone_add(ngx_conf_t *cf, ngx_str_t *value, ngx_shm_zone_t **zone) noexcept;

// When a found entry expires, and the zone's generation when it was found: what a worker's
// local copy of it keeps (LocalRecordCache).
struct CacheStamp {
    ngx_msec_t expires;
    std::uint64_t generation;
};

// Finds `key`; on a positive hit copies its value into `pool`. Expired entries are misses.
// On any hit `stamp` says how long the answer holds.
CacheHit cache_get(ngx_shm_zone_t *zone, std::string_view key, ngx_pool_t *pool,
                   ngx_str_t *value, CacheStamp *stamp) noexcept;

// Removes `key` (an invalidation message); true when it was there. Either way the zone's
// generation moves on: every worker's local copies taken before are no longer used.
bool cache_delete(ngx_shm_zone_t *zone, std::string_view key) noexcept;

// The zone's generation now.
std::uint64_t cache_generation(ngx_shm_zone_t *zone) noexcept;

// Stores `value` (empty unless positive) as `kind` for `ttl` milliseconds. When the zone is
// full it first drops expired entries; only a small entry may then evict a few live ones, the
// oldest not hit since they were last passed over (second chance); an entry over an eighth of
// the zone is not stored. A failed store evicts nothing else and only logs.
void cache_put(ngx_shm_zone_t *zone, std::string_view key, std::string_view value, CacheHit kind,
               ngx_msec_t ttl) noexcept;

// What the zone holds: its entries and their bytes, and its size.
struct CacheUsage {
    ngx_uint_t entries = 0;
    size_t bytes = 0;
    size_t size = 0;
};
CacheUsage cache_usage(ngx_shm_zone_t *zone) noexcept;

}  // namespace asset_gate

// The shared-memory record cache in front of Redis (asset_gate_cache_zone).
#pragma once

#include "ngx/ngx.hpp"

namespace asset_gate {

enum class CacheHit { miss, positive, negative };

// Declares the zone (the directive's handler calls this).
char *cache_zone_add(ngx_conf_t *cf, ngx_str_t *value, ngx_shm_zone_t **zone) noexcept;

// Finds `key`; on a positive hit copies its value into `pool`. Expired entries are misses.
CacheHit cache_get(ngx_shm_zone_t *zone, std::string_view key, ngx_pool_t *pool,
                   ngx_str_t *value) noexcept;

// Removes `key` (an invalidation message); true when it was there.
bool cache_delete(ngx_shm_zone_t *zone, std::string_view key) noexcept;

// Stores `value` (negative: the record does not exist) for `ttl` milliseconds, evicting the
// least recently used entries when the zone is full. A failed store only logs.
void cache_put(ngx_shm_zone_t *zone, std::string_view key, std::string_view value, bool negative,
               ngx_msec_t ttl) noexcept;

}  // namespace asset_gate

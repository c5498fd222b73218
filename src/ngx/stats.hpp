// Counters shared by all workers (a small shared-memory zone), and the Prometheus text
// exposition of `asset_gate_status;`.
#pragma once

#include "ngx/module.hpp"

namespace asset_gate {

enum class CacheEvent { hit, miss, eviction };
enum class RedisEvent { command, error, timeout, reconnect };

// Declares the zone; called once from postconfiguration when a gate exists.
ngx_int_t stats_zone_add(ngx_conf_t *cf) noexcept;

// Each is a no-op until the zone exists.
void stats_decision(const Ctx *ctx) noexcept;
void stats_cache(CacheEvent e, ngx_uint_t n = 1) noexcept;
void stats_redis(RedisEvent e) noexcept;
void stats_redis_latency(std::uint64_t microseconds) noexcept;

// Microseconds on the monotonic clock, for latency.
std::uint64_t monotonic_us() noexcept;

// The `asset_gate_status` directive.
char *stats_set_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;

}  // namespace asset_gate

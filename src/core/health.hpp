// Whether the gates of a worker can decide a request now, and if not why: what
// `asset_gate_health` answers a load balancer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "decision.hpp"

namespace asset_gate {

// What keeps a gate from deciding, least to most severe: the most severe across the gates is
// the one reported (a Redis that is down also leaves the heartbeat unknown, and says more).
enum class Unhealthy : std::uint8_t {
    none,
    sync_stale,    // asset_gate_sync_max_age set: public links would answer sync_stale
    sync_unknown,  // ... the heartbeat is missing, malformed, unreadable, or not read yet
    redis_down,    // the worker's data connection is not up: lookups answer 503 (or 404)
    no_keys,       // the gate has no key to verify a token with
    no_gate,       // nothing to decide with at all
};

// One gate as the answering worker sees it.
struct GateHealth {
    bool has_keys = false;
    bool redis_up = false;
    std::int64_t sync_max_age = 0;  // seconds; 0: off
    SyncHeartbeat heartbeat;        // the worker's last reading (unknown: none)
};

struct HealthVerdict {
    Unhealthy problem = Unhealthy::none;
    std::size_t gate = 0;  // the first gate with the problem
    std::int64_t age = 0;  // for sync_stale: now minus the heartbeat (negative: ahead of now)
};

// The gate's own verdict at `now` (unix seconds). A heartbeat is stale exactly when a public
// token would be refused for it (decide_sync): older than the max age, or as far ahead.
HealthVerdict gate_health(const GateHealth &gate, std::int64_t now) noexcept;

// The most severe problem of `n` gates (no_gate for none), at the first gate that has it.
HealthVerdict health_of(const GateHealth *gates, std::size_t n, std::int64_t now) noexcept;

// "ok", "stale", "unknown", "down", "no keys", "no gate".
std::string_view unhealthy_name(Unhealthy u) noexcept;

}  // namespace asset_gate

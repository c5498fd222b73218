// The health verdict of a worker's gates (health.hpp).
#include "health.hpp"

namespace asset_gate {

HealthVerdict gate_health(const GateHealth &gate, std::int64_t now) noexcept {
    HealthVerdict v;
    if (!gate.has_keys) {
        v.problem = Unhealthy::no_keys;
    } else if (!gate.redis_up) {
        v.problem = Unhealthy::redis_down;
    } else if (gate.sync_max_age > 0 && !gate.heartbeat.known) {
        v.problem = Unhealthy::sync_unknown;
    } else if (decide_sync(Purpose::public_, gate.heartbeat, gate.sync_max_age, now) !=
               Reason::allowed) {
        v.problem = Unhealthy::sync_stale;
        v.age = now - gate.heartbeat.at;
    }
    return v;
}

HealthVerdict health_of(const GateHealth *gates, std::size_t n, std::int64_t now) noexcept {
    HealthVerdict worst;
    if (n == 0) worst.problem = Unhealthy::no_gate;
    for (std::size_t i = 0; i < n; i++) {
        HealthVerdict v = gate_health(gates[i], now);
        if (v.problem > worst.problem) {
            worst = v;
            worst.gate = i;
        }
    }
    return worst;
}

std::string_view unhealthy_name(Unhealthy u) noexcept {
    switch (u) {
        case Unhealthy::none:
            return "ok";
        case Unhealthy::sync_stale:
            return "stale";
        case Unhealthy::sync_unknown:
            return "unknown";
        case Unhealthy::redis_down:
            return "down";
        case Unhealthy::no_keys:
            return "no keys";
        case Unhealthy::no_gate:
            return "no gate";
    }
    return "unknown";
}

}  // namespace asset_gate

// The health verdict (asset_gate_health): a worker is healthy only when every gate can decide,
// and the reason reported is the most severe one.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/health.hpp"

namespace asset_gate::testing {
namespace {

constexpr std::int64_t kNow = 1780000000;

GateHealth healthy(std::int64_t max_age = 0) {
    GateHealth g;
    g.has_keys = true;
    g.redis_up = true;
    g.sync_max_age = max_age;
    if (max_age > 0) g.heartbeat = {true, kNow - 1};
    return g;
}

TEST(Health, AGateWithKeysAndRedisUpIsHealthyWithoutASyncMaxAge) {
    GateHealth g = healthy();
    g.heartbeat = {};  // never read: it does not matter with the max age off
    EXPECT_EQ(gate_health(g, kNow).problem, Unhealthy::none);
}

TEST(Health, RedisDownIsUnhealthy) {
    GateHealth g = healthy();
    g.redis_up = false;
    EXPECT_EQ(gate_health(g, kNow).problem, Unhealthy::redis_down);
}

TEST(Health, NoKeysIsUnhealthyWhateverRedisDoes) {
    GateHealth g = healthy();
    g.has_keys = false;
    EXPECT_EQ(gate_health(g, kNow).problem, Unhealthy::no_keys);
    g.redis_up = false;
    EXPECT_EQ(gate_health(g, kNow).problem, Unhealthy::no_keys);
}

TEST(Health, AFreshHeartbeatIsHealthyUpToTheMaxAgeInclusive) {
    GateHealth g = healthy(10);
    g.heartbeat = {true, kNow - 10};
    EXPECT_EQ(gate_health(g, kNow).problem, Unhealthy::none);
    g.heartbeat = {true, kNow};
    EXPECT_EQ(gate_health(g, kNow).problem, Unhealthy::none);
}

TEST(Health, AHeartbeatOlderThanTheMaxAgeIsStaleWithItsAge) {
    GateHealth g = healthy(10);
    g.heartbeat = {true, kNow - 11};
    HealthVerdict v = gate_health(g, kNow);
    EXPECT_EQ(v.problem, Unhealthy::sync_stale);
    EXPECT_EQ(v.age, 11);
}

TEST(Health, AHeartbeatFarAheadOfTheClockIsStaleAsTheGateRefusesIt) {
    GateHealth g = healthy(10);
    g.heartbeat = {true, kNow + 60};
    HealthVerdict v = gate_health(g, kNow);
    EXPECT_EQ(v.problem, Unhealthy::sync_stale);
    EXPECT_EQ(v.age, -60);
}

TEST(Health, AnUnknownHeartbeatIsUnhealthyOnlyWithAMaxAge) {
    GateHealth g = healthy(10);
    g.heartbeat = {};
    EXPECT_EQ(gate_health(g, kNow).problem, Unhealthy::sync_unknown);
    g.sync_max_age = 0;
    EXPECT_EQ(gate_health(g, kNow).problem, Unhealthy::none);
}

TEST(Health, RedisDownOutranksTheHeartbeatItLeavesUnknown) {
    GateHealth g = healthy(10);
    g.redis_up = false;
    g.heartbeat = {};
    EXPECT_EQ(gate_health(g, kNow).problem, Unhealthy::redis_down);
}

TEST(Health, NoGatesIsUnhealthy) {
    EXPECT_EQ(health_of(nullptr, 0, kNow).problem, Unhealthy::no_gate);
}

TEST(Health, EveryGateMustBeHealthy) {
    std::vector<GateHealth> gates{healthy(), healthy(10), healthy()};
    EXPECT_EQ(health_of(gates.data(), gates.size(), kNow).problem, Unhealthy::none);
    gates[2].redis_up = false;
    HealthVerdict v = health_of(gates.data(), gates.size(), kNow);
    EXPECT_EQ(v.problem, Unhealthy::redis_down);
    EXPECT_EQ(v.gate, 2u);
}

TEST(Health, TheMostSevereProblemIsReportedAtTheFirstGateWithIt) {
    std::vector<GateHealth> gates{healthy(10), healthy(), healthy(), healthy()};
    gates[0].heartbeat = {true, kNow - 100};  // stale
    gates[1].redis_up = false;
    gates[3].redis_up = false;
    HealthVerdict v = health_of(gates.data(), gates.size(), kNow);
    EXPECT_EQ(v.problem, Unhealthy::redis_down);
    EXPECT_EQ(v.gate, 1u);
}

TEST(Health, EachProblemHasAName) {
    EXPECT_EQ(unhealthy_name(Unhealthy::none), "ok");
    EXPECT_EQ(unhealthy_name(Unhealthy::sync_stale), "stale");
    EXPECT_EQ(unhealthy_name(Unhealthy::sync_unknown), "unknown");
    EXPECT_EQ(unhealthy_name(Unhealthy::redis_down), "down");
    EXPECT_EQ(unhealthy_name(Unhealthy::no_keys), "no keys");
    EXPECT_EQ(unhealthy_name(Unhealthy::no_gate), "no gate");
}

}  // namespace
}  // namespace asset_gate::testing

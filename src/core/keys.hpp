// The one home of the Redis key scheme (DESIGN.md section 4) and of the cache keys made from
// it: lookups, invalidation and the configuration all build keys here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace asset_gate {

inline constexpr std::string_view kAssetKey = "asset:";
inline constexpr std::string_view kOrgKey = "org:";
inline constexpr std::string_view kHeartbeatKey = "sync:heartbeat";

// A cache key is the namespace of the Redis it came from, then the Redis key itself
// (prefix included), so an invalidation message, which names the Redis key, finds it.
inline std::string cache_namespace(std::string_view endpoint, std::int64_t db) {
    return std::string(endpoint).append("/").append(std::to_string(db)).append("|");
}

}  // namespace asset_gate

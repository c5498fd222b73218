// Configuration, per-request state and the entry points shared by the adapter's files.
#pragma once

#include "ngx/ngx.hpp"

#include "core/path.hpp"
#include "core/record_cache.hpp"
#include "core/reason.hpp"
#include "core/record.hpp"
#include "core/token.hpp"
#include "core/verified_cache.hpp"
#include "ngx/cache.hpp"
#include "ngx/redis_conf.hpp"
#include "ngx/s3.hpp"

extern "C" {
extern ngx_module_t ngx_http_asset_gate_module;
}

namespace asset_gate {

struct Lookup;
struct S3Request;
struct HeartbeatSource;
class HeartbeatReader;

// A gate location and the server it is in, for the checks that need the whole configuration.
struct LocConf;
struct GateRef {
    LocConf *conf;
    ngx_http_core_srv_conf_t *server;
    ngx_http_core_loc_conf_t *location;
};

struct MainConf {
    ngx_shm_zone_t *cache_zone;  // null: no cache
    ngx_array_t endpoints;       // of RedisEndpoint *
    ngx_array_t gates;           // of GateRef
    ngx_array_t heartbeats;      // of HeartbeatSource *: the sync heartbeats gates check
    ngx_array_t s3_credentials;  // of S3CredentialsFile *, one per distinct path
    ngx_uint_t enabled;          // some location has asset_gate on
    ngx_uint_t status;           // some location has asset_gate_status
    ngx_array_t *health;         // of HealthRef (health.cpp): asset_gate_health's; or null
    ngx_uint_t uri_targets;      // some gate routes to a URI: check internal redirects
    size_t token_cache;          // asset_gate_token_cache: bytes of verified tokens per worker
    size_t local_cache;          // asset_gate_cache_local: bytes of copied records per worker
};

// How tokens are checked (asset_gate_key_file, asset_gate_audience, asset_gate_leeway).
struct TokenConf {
    KeySet *keys;  // config-lifetime, destroyed by a pool cleanup
    ngx_str_t audience;
    time_t leeway;
};

// Where a surface's allowed requests go: "@name" or "/uri"; empty: the surface is refused.
struct Target {
    ngx_str_t to;
    ConfSite site;  // where it was written, for nginx -t
};

struct LocConf {
    ngx_flag_t enable;
    ngx_str_t base;  // the gate location's prefix without a trailing slash
    ConfSite site;   // where `asset_gate on` was written, for errors found at merge

    TokenConf token;
    Target render;
    Target content;  // ignored when content_inline
    ngx_flag_t content_inline;
    time_t content_max_age;
    ngx_str_t cache_control;  // "private, max-age=N", made once at configuration time

    // Set on a location that some gate names as its render or content target (a bit per
    // Surface): it serves only requests the gate allowed for that surface.
    ngx_uint_t target_of;

    RedisConf redis;
    CacheConf cache;
    S3Conf s3;

    // asset_gate_sync_max_age (0: off), and for gate locations with it, the heartbeat they
    // check (set at merge, heartbeat.cpp).
    time_t sync_max_age;
    HeartbeatSource *heartbeat;
};

enum class Stage : std::uint8_t { start, pending, resolved, done };

// Per-request state: a plain struct in the request pool, found again after internal
// redirects through its pool-cleanup marker. Each part is meaningful once its flag says so;
// the records' strings are views into the request pool. (Ordered by size: no padding.)
struct Ctx {
    ngx_http_request_t *request;
    LocConf *gate;   // the gate location that decided
    S3Request *s3;   // proxy mode's signed request (s3.cpp), once asked for
    Lookup *lookup;  // while a Redis lookup is pending, and the link in its waiter list
    HeartbeatReader *heartbeat_wait;  // or while it waits for the worker's first heartbeat
    ngx_queue_t waiter;
    ngx_int_t rc;  // the decision, answered again on re-entry

    PathInfo path;      // once classified
    Claims claims;      // once verified
    AssetRecord asset;  // once asset_known (looked up: found, missing or bad)
    OrgRecord org;      // once org_known (public tokens of an asset that exists)

    Stage stage;
    Reason reason;  // once reason_set
    bool classified;
    bool verified;
    bool download;
    bool asset_known;
    bool org_known;
    bool redis_failed;
    bool reason_set;
    bool content_allowed;  // the header filter adds the content headers
    bool leave_hook;       // the cleanup that settles a request leaving while it waits is set
};

Ctx *get_ctx(ngx_http_request_t *r) noexcept;
Ctx *create_ctx(ngx_http_request_t *r) noexcept;

ngx_int_t access_handler(ngx_http_request_t *r) noexcept;

// The rewrite-phase handler: a gate's target refuses decided requests the gate did not allow
// for its surface, before the target's own `return` or `rewrite` runs; and subrequests, which
// skip the access phase, are refused in gate locations and targets.
ngx_int_t rewrite_guard(ngx_http_request_t *r) noexcept;

// Whether a render or content target is a URI (rather than "@name", or empty).
inline bool is_uri_target(const Target &target) noexcept {
    return target.to.len != 0 && target.to.data[0] == '/';
}

// The server's named location `name`, or null.
ngx_http_core_loc_conf_t *named_location(ngx_http_core_srv_conf_t *server, ngx_str_t name) noexcept;

inline LocConf *loc_conf(ngx_http_request_t *r) noexcept {
    return static_cast<LocConf *>(ngx_http_get_module_loc_conf(r, ngx_http_asset_gate_module));
}

// The name a download is saved under: the record's filename, else the requested name.
inline std::string_view download_name(const Ctx *ctx) noexcept {
    return ctx->asset.filename.empty() ? ctx->path.name : ctx->asset.filename;
}

// Whether ctx's request was allowed and its record fields may be shown.
inline bool allowed(const Ctx *ctx) noexcept {
    return ctx->reason_set && ctx->reason == Reason::allowed;
}
// Inline gates whose location has no content handler (proxy_pass) serve the record's file
// below the location's root themselves (serve_file.cpp).
void serve_file_setup(const MainConf *mcf) noexcept;

ngx_int_t add_variables(ngx_conf_t *cf) noexcept;
ngx_int_t header_filter_init(ngx_conf_t *cf) noexcept;

// The worker's cache of verified tokens (null outside worker processes).
VerifiedTokenCache *verified_tokens() noexcept;

// The worker's copies of the cache zone's entries (null without a zone, or outside workers).
LocalRecordCache *local_records() noexcept;

// Wakes a request whose lookup finished: the phase engine re-enters the access handler.
void wake(Ctx *ctx) noexcept;

}  // namespace asset_gate

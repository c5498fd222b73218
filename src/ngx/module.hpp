// Configuration, per-request state and the entry points shared by the adapter's files.
#pragma once

#include "ngx/ngx.hpp"

#include "core/reason.hpp"
#include "core/record.hpp"
#include "core/token.hpp"
#include "core/sigv4.hpp"
#include "core/verified_cache.hpp"

extern "C" {
extern ngx_module_t ngx_http_asset_gate_module;
}

namespace asset_gate {

class RedisClient;
struct Lookup;

// One Redis endpoint as configured; locations that name the same one share a connection.
struct RedisHostPort {
    ngx_str_t host;  // numeric address, resolved at configuration time ('\0'-terminated)
    in_port_t port;
};

struct RedisEndpoint {
    ngx_str_t name;  // as written, for logs and cache keys
    ngx_str_t host;  // numeric address ('\0'-terminated); empty for unix: and sentinel:
    in_port_t port;
    ngx_str_t unix_path;        // '\0'-terminated; set for unix: addresses
    ngx_str_t sentinel_master;  // '\0'-terminated; set for sentinel:NAME@ADDR,... addresses
    ngx_array_t *sentinels;     // of RedisHostPort
    ngx_flag_t read_replica;    // asset_gate_redis_read_from replica (Sentinel only)
    ngx_str_t password;
    ngx_int_t db;
    ngx_msec_t timeout;
    ngx_str_t channel;  // asset_gate_invalidation_channel ('\0'-terminated), or empty
    ngx_uint_t index;   // position in the main conf's list: the worker's clients of this endpoint
};

struct LocConf;

// A gate location and the server it is in, for the checks that need the whole configuration.
struct GateRef {
    LocConf *conf;
    ngx_http_core_srv_conf_t *server;
};

struct MainConf {
    ngx_shm_zone_t *cache_zone;  // null: no cache
    ngx_array_t endpoints;       // of RedisEndpoint *
    ngx_array_t gates;           // of GateRef
    ngx_uint_t enabled;          // some location has asset_gate on
    ngx_uint_t status;           // some location has asset_gate_status
    ngx_uint_t uri_targets;      // some gate routes to a URI: check internal redirects
    ngx_array_t s3_gates;        // of S3Gate (s3.cpp): gate locations, for postconfiguration
};

struct LocConf {
    ngx_flag_t enable;
    ngx_str_t base;       // the gate location's prefix without a trailing slash
    ngx_str_t conf_file;  // where `asset_gate on` was written, for errors found at merge
    ngx_uint_t conf_line;

    KeySet *keys;  // config-lifetime, destroyed by a pool cleanup
    ngx_str_t key_file;
    ngx_str_t audience;
    time_t leeway;

    ngx_str_t render;   // "@name" or "/uri"; empty: render surface refused
    ngx_str_t content;  // same; ignored when content_inline
    ngx_flag_t content_inline;
    ngx_str_t render_file, content_file;  // where each target was written, for nginx -t
    ngx_uint_t render_line, content_line;

    // Set on a location that some gate names as its render or content target (a bit per
    // Surface): it serves only requests the gate allowed for that surface.
    ngx_uint_t target_of;

    ngx_str_t redis;  // address as written; parsed into endpoint_proto
    RedisEndpoint *endpoint_proto;
    ngx_str_t redis_password;
    ngx_int_t redis_db;
    ngx_msec_t redis_timeout;
    ngx_str_t redis_prefix;
    ngx_str_t invalidation_channel;
    ngx_uint_t redis_read_replica;
    ngx_uint_t redis_failure;  // NGX_HTTP_SERVICE_UNAVAILABLE or NGX_HTTP_NOT_FOUND
    RedisEndpoint *endpoint;   // the deduplicated endpoint, set at merge for gate locations
    ngx_str_t cache_prefix;    // "<endpoint>/<db>|<redis prefix>": one zone, many endpoints

    ngx_msec_t cache_valid;
    ngx_msec_t cache_negative;
    time_t content_max_age;
    ngx_str_t cache_control;  // "private, max-age=N", made once at configuration time

    // S3: where objects live, and how allowed content reaches them (see s3.cpp).
    ngx_str_t s3_endpoint;  // as written
    ngx_str_t s3_scheme;    // "http" or "https"
    ngx_str_t s3_host;      // host[:port], lower case
    ngx_str_t s3_bucket;
    ngx_str_t s3_region;
    ngx_uint_t s3_addressing;       // S3Addressing
    S3Credentials *s3_credentials;  // config-lifetime, destroyed by a pool cleanup
    time_t s3_presign_expires;
    ngx_flag_t s3_redirect;
};

enum class Stage : std::uint8_t { start, pending, resolved, done };

// Per-request state: a plain struct in the request pool, found again after internal
// redirects through its pool-cleanup marker.
struct Ctx {
    ngx_http_request_t *request;
    LocConf *gate;  // the gate location that decided (S3 proxy mode signs with its settings)
    Stage stage;
    bool reason_set;
    Reason reason;
    Surface surface;
    bool classified;
    bool verified;
    bool content_allowed;  // the header filter adds the content headers
    bool download;
    ngx_str_t cache_control;  // the gate location's, for the filter
    Purpose purpose;
    std::uint64_t id;
    ngx_int_t rc;    // the decision returned on re-entry
    ngx_str_t name;  // content surface: the requested file name and its extension
    ngx_str_t ext;

    // Records, copied into the request pool, once looked up.
    bool asset_known;
    bool asset_found;
    bool asset_bad;
    ngx_str_t org, format, location, filename;
    std::int64_t expires_at;
    bool org_known;
    OrgRecord org_record;
    bool redis_failed;
    bool leave_hook;  // the cleanup that settles a request leaving while it waits

    // S3 proxy mode (s3.cpp): the upstream request's signature, made when first asked for and
    // made again if the method nginx sends is not the one signed.
    bool s3_signed;
    bool s3_refused;   // asked for where the gate allowed no content: nothing may reach the store
    bool s3_answered;  // the filter has replaced the store's answer: do not map it again
    bool s3_headers_checked;      // the client's x-amz-* request headers are gone
    ngx_uint_t s3_signed_method;  // NGX_HTTP_GET or NGX_HTTP_HEAD: what s3_authorization signs
    time_t s3_time;               // when it was signed: X-Amz-Date and every signature agree
    const LocConf *s3_conf;       // the settings that sign
    ngx_str_t s3_host, s3_path, s3_date, s3_content_sha256, s3_authorization;
    ngx_str_t s3_content_range;  // the store's, on a 416 answered with nginx's own page

    // While a Redis lookup is pending: the link in its waiter list.
    Lookup *lookup;
    ngx_queue_t waiter;
    ngx_msec_t lookup_started;
};

Ctx *get_ctx(ngx_http_request_t *r) noexcept;
Ctx *create_ctx(ngx_http_request_t *r) noexcept;

ngx_int_t access_handler(ngx_http_request_t *r) noexcept;

// The rewrite-phase handler: a gate's target refuses decided requests the gate did not allow
// for its surface, before the target's own `return` or `rewrite` runs; and subrequests, which
// skip the access phase, are refused in gate locations and targets.
ngx_int_t rewrite_guard(ngx_http_request_t *r) noexcept;

// Whether a render or content target is a URI (rather than "@name", or empty).
inline bool is_uri_target(const ngx_str_t &target) noexcept {
    return target.len != 0 && target.data[0] == '/';
}

// Whether ctx's request was allowed and its record fields may be shown.
inline bool allowed(const Ctx *ctx) noexcept {
    return ctx->reason_set && ctx->reason == Reason::allowed;
}
ngx_int_t add_variables(ngx_conf_t *cf) noexcept;
ngx_int_t header_filter_init(ngx_conf_t *cf) noexcept;

// The worker's cache of verified tokens (null outside worker processes).
VerifiedTokenCache *verified_tokens() noexcept;

// Wakes a request whose lookup finished: the phase engine re-enters the access handler.
void wake(Ctx *ctx) noexcept;

}  // namespace asset_gate

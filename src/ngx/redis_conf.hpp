// The Redis settings of a location (asset_gate_redis*, asset_gate_invalidation_channel), and
// the endpoints they name: locations with the same settings share one endpoint, whose
// connections each worker makes (redis_client.hpp).
#pragma once

#include "ngx/ngx.hpp"

namespace asset_gate {

// One address of a sentinel, resolved at configuration time.
struct RedisHostPort {
    ngx_str_t host;  // numeric address ('\0'-terminated)
    in_port_t port;
    ngx_str_t name;  // the host as written ('\0'-terminated): the TLS name to check
};

// Who connects: the AUTH of a connection (ACL user and password; no AUTH when the password
// is empty).
struct RedisCredentials {
    ngx_str_t user;
    ngx_str_t password;
};

// TLS to Redis and the sentinels (asset_gate_redis_tls*): the context made at configuration
// time (its CA bundle loaded, peers verified), and the name every certificate must carry,
// when one is set (else the host as written in asset_gate_redis, or the address a sentinel
// named).
struct RedisTls {
    ngx_str_t trusted_certificate;  // as configured, for logs; empty: the system's CAs
    ngx_str_t server_name;          // '\0'-terminated, or empty
    void *ssl_ctx;                  // SSL_CTX *, released with the configuration
};

struct RedisEndpoint {
    ngx_str_t name;       // as written, for logs and cache keys
    ngx_str_t host;       // numeric address ('\0'-terminated); empty for unix: and sentinel:
    ngx_str_t host_name;  // the host as written ('\0'-terminated): the TLS name to check
    in_port_t port;
    ngx_str_t unix_path;        // '\0'-terminated; set for unix: addresses
    ngx_str_t sentinel_master;  // '\0'-terminated; set for sentinel:NAME@ADDR,... addresses
    ngx_array_t *sentinels;     // of RedisHostPort
    ngx_flag_t read_replica;    // asset_gate_redis_read_from replica (Sentinel only)
    RedisCredentials auth;           // for the master and replicas
    RedisCredentials sentinel_auth;  // for the sentinels
    RedisTls *tls;                   // null: plain TCP
    ngx_int_t db;
    ngx_msec_t timeout;
    ngx_str_t channel;  // asset_gate_invalidation_channel ('\0'-terminated), or empty
    ngx_uint_t index;   // position in the main conf's list: the worker's clients of this endpoint
};

struct RedisConf {
    RedisEndpoint *address;  // asset_gate_redis, parsed; the settings below complete it
    RedisCredentials auth;   // asset_gate_redis_user, _password or _password_file
    RedisCredentials sentinel_auth;  // asset_gate_redis_sentinel_user, _password(_file)
    ngx_flag_t tls;
    ngx_str_t tls_trusted_certificate;  // full path
    ngx_str_t tls_server_name;
    ngx_int_t db;
    ngx_msec_t timeout;
    ngx_str_t prefix;
    ngx_str_t channel;
    ngx_uint_t read_from;  // kReadFromMaster or kReadFromReplica
    ngx_uint_t failure;    // NGX_HTTP_SERVICE_UNAVAILABLE or NGX_HTTP_NOT_FOUND

    // Set at merge for gate locations: the shared endpoint, and the cache keys' prefix
    // ("<endpoint>/<db>|<redis prefix>": one zone, many endpoints).
    RedisEndpoint *endpoint;
    ngx_str_t cache_prefix;
};

inline constexpr ngx_uint_t kReadFromMaster = 0;
inline constexpr ngx_uint_t kReadFromReplica = 1;

// The values of asset_gate_redis_read_from and asset_gate_redis_failure.
extern ngx_conf_enum_t redis_read_from_values[];
extern ngx_conf_enum_t redis_failure_values[];

// asset_gate_redis ADDRESS: host[:port] (resolved now, once), unix:/path, or
// sentinel:MASTER@HOST:PORT,...
char *redis_set_address(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
// asset_gate_redis_db N (N >= 0).
char *redis_set_db(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
// asset_gate_redis_password STR and asset_gate_redis_sentinel_password STR: `cmd->offset` is
// that of a RedisCredentials; one password per level, written or read from a file.
char *redis_set_password(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
// asset_gate_redis_password_file PATH (and the sentinel's): the file's one line, read now.
char *redis_set_password_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
// asset_gate_redis_tls on|off: on is an error when hiredis cannot speak TLS.
char *redis_set_tls(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
// asset_gate_redis_tls_trusted_certificate PATH (relative to nginx's prefix).
char *redis_set_trusted_certificate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;

void redis_init_conf(RedisConf *conf) noexcept;
void redis_merge_conf(RedisConf *conf, const RedisConf *prev) noexcept;

// For a gate location: checks the settings (errors name `site`, where `asset_gate on` was
// written), registers the endpoint in `endpoints` (of RedisEndpoint *) and makes the cache
// prefix.
char *redis_finish_gate(ngx_conf_t *cf, RedisConf *conf, ngx_array_t *endpoints,
                        const ConfSite &site) noexcept;

}  // namespace asset_gate

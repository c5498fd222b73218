// TLS to Redis and the sentinels (asset_gate_redis_tls): one OpenSSL context per endpoint,
// made when the configuration is read (so a bad CA bundle is an `nginx -t` error), and one
// session per connection, with the peer's certificate chain and name verified. hiredis 1.x
// (hiredis_ssl) runs the session on the connection; hiredis_compat.hpp says whether it can.
#pragma once

#include <string>
#include <string_view>

#include "ngx/hiredis_compat.hpp"
#include "ngx/redis_conf.hpp"

namespace asset_gate {

// Makes `ep->tls` from the location's settings; false after logging why (at the level of
// `cf`, an `nginx -t` error).
bool redis_tls_make(ngx_conf_t *cf, const RedisConf *conf, RedisEndpoint *ep) noexcept;

// Starts TLS on a new connection: the session checks the certificate against `name` (the
// configured server name, else what the caller connects to: a DNS name, or a numeric
// address checked as an IP address), and sends it as SNI when it is a DNS name. Returns the
// session (hiredis owns and frees it with the connection), or null with `why` set.
SSL *redis_tls_start(redisAsyncContext *ac, const RedisTls *tls, std::string_view name,
                     std::string *why) noexcept;

// Why the peer's certificate was refused ("certificate has expired", "hostname mismatch",
// ...), or null when the chain was not refused (or not checked yet).
const char *redis_tls_refusal(const SSL *ssl) noexcept;

}  // namespace asset_gate

// Finding a verified token's records: the shared cache first, then Redis.
#pragma once

#include "ngx/module.hpp"

namespace asset_gate {

class RedisClient;

// Fills ctx's asset record and, for public tokens, its org record: call again after each wake
// until it answers NGX_OK (done, possibly with ctx->redis_failed). NGX_AGAIN: a lookup is
// pending and wake(ctx) follows.
ngx_int_t lookup_start(ngx_http_request_t *r, Ctx *ctx, LocConf *lcf) noexcept;

// The request is going away while its lookup is pending: it stops waiting.
void lookup_detach(Ctx *ctx) noexcept;

// An invalidation of `redis_key` arrived: pending lookups of it on `client` are neither cached
// nor joined by later requests.
void lookup_invalidated(RedisClient *client, std::string_view redis_key) noexcept;

}  // namespace asset_gate

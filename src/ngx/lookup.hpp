// Finding a verified token's records: the shared cache first, then one Redis round trip.
#pragma once

#include "ngx/module.hpp"

namespace asset_gate {

// Fills ctx's asset record and, for public tokens, its org record. NGX_OK: done (possibly
// with ctx->redis_failed). NGX_AGAIN: a lookup is pending and wake(ctx) follows.
ngx_int_t lookup_start(ngx_http_request_t *r, Ctx *ctx, LocConf *lcf) noexcept;

// The request is going away while its lookup is pending: it stops waiting.
void lookup_detach(Ctx *ctx) noexcept;

}  // namespace asset_gate

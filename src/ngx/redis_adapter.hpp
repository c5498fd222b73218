// Attaches a hiredis async context to nginx's event loop.
#pragma once

#include "ngx/hiredis_compat.hpp"
#include "ngx/ngx.hpp"

namespace asset_gate {

// Wraps the context's socket in an nginx connection and routes its events to hiredis. When
// hiredis frees the context, the cleanup hook releases the connection (hiredis closes the fd).
// Returns false when nginx has no free connection; the caller then frees the context.
bool redis_attach(redisAsyncContext *ac, ngx_log_t *log) noexcept;

}  // namespace asset_gate

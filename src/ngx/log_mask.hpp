// Token masking in nginx's own logs (see core/log_mask.hpp for the rule).
#pragma once

#include "ngx/ngx.hpp"

namespace asset_gate {

// Replaces r->request_line by a masked copy when it holds a token signature.
void mask_request_line(ngx_http_request_t *r) noexcept;

// postconfiguration: $request masks before it answers, and every http error log masks what
// it writes.
ngx_int_t log_mask_init(ngx_conf_t *cf) noexcept;

}  // namespace asset_gate

// The `asset_gate_health` directive: a location that answers 200 while the answering worker's
// gates can decide requests, and 503 naming why not (core/health.hpp decides).
#pragma once

#include "ngx/module.hpp"

namespace asset_gate {

char *health_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;

// At postconfiguration: a health location needs some gate to report on.
ngx_int_t health_check_conf(ngx_conf_t *cf, const MainConf *mcf) noexcept;

}  // namespace asset_gate

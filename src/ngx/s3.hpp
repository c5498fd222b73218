// Content from S3: directives, the signed-request variables of proxy mode, and the presigned
// redirect.
#pragma once

#include "ngx/module.hpp"

namespace asset_gate {

// Directive handlers (the table is in module.cpp).
char *s3_set_endpoint(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
char *s3_set_addressing(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
char *s3_set_credentials(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;

void s3_init_loc_conf(LocConf *conf) noexcept;
char *s3_merge_loc_conf(ngx_conf_t *cf, LocConf *prev, LocConf *conf) noexcept;
ngx_int_t s3_init_main_conf(ngx_conf_t *cf, MainConf *mcf) noexcept;

// At merge, for each gate location: remembered with its server for s3_postconfiguration.
char *s3_note_gate(ngx_conf_t *cf, LocConf *conf) noexcept;

// When $asset_gate_s3_* is used: fails (file and line of `asset_gate on`) for a gate whose
// content location proxies and that nothing can sign for, and installs the precontent handler
// that keeps the client's x-amz-* request headers from the store.
ngx_int_t s3_postconfiguration(ngx_conf_t *cf) noexcept;

// A complete S3 configuration: endpoint, bucket and credentials.
bool s3_configured(const LocConf *conf) noexcept;

// $asset_gate_s3_*.
ngx_int_t s3_add_variables(ngx_conf_t *cf) noexcept;

// Proxy mode, in the header filter: maps the store's answer to the client's (200, 206, 304 as
// they are; 412 and 416 with nginx's own page of that status; a missing object: the plain 404;
// anything else: 502, with an error-log line), hides the store's own x-amz-* headers, and
// turns whatever the proxy made of a request the variables refused to sign into the plain
// 404. NGX_DECLINED: nothing to change.
ngx_int_t s3_filter_response(ngx_http_request_t *r, Ctx *ctx) noexcept;

// Redirect mode: answers an allowed content request with a 302 to a presigned URL.
ngx_int_t s3_redirect(ngx_http_request_t *r, Ctx *ctx, LocConf *lcf) noexcept;

}  // namespace asset_gate

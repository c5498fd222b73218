// Content from S3: its settings and directives, the signed-request variables of proxy mode, and
// the presigned redirect.
#pragma once

#include "ngx/ngx.hpp"

#include "core/sigv4.hpp"
#include "ngx/s3_credentials.hpp"

namespace asset_gate {

struct Ctx;
struct LocConf;
struct MainConf;

// Where objects live, and how allowed content reaches them (asset_gate_s3_*).
struct S3Conf {
    ngx_str_t endpoint;  // as written
    ngx_str_t scheme;    // "http" or "https"
    ngx_str_t host;      // host[:port], lower case
    ngx_str_t bucket;
    ngx_str_t region;
    ngx_uint_t addressing;       // S3Addressing
    S3CredentialsFile *credentials;  // config-lifetime, shared by the locations naming it
    time_t presign_expires;
    ngx_flag_t redirect;
};

// The values of asset_gate_s3_addressing.
extern ngx_conf_enum_t s3_addressing_values[];

// Directive handlers (the table is in module.cpp); `conf` is the S3Conf at cmd->offset.
char *s3_set_endpoint(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
char *s3_set_credentials(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;

void s3_init_conf(S3Conf *conf) noexcept;
char *s3_merge_conf(ngx_conf_t *cf, S3Conf *conf, const S3Conf *prev) noexcept;

// A complete S3 configuration: endpoint, bucket and credentials.
bool s3_configured(const S3Conf &conf) noexcept;

// When $asset_gate_s3_* is used: fails (file and line of `asset_gate on`) for a gate whose
// content location proxies and that nothing can sign for, and installs the precontent handler
// that keeps the client's x-amz-* request headers from the store.
ngx_int_t s3_postconfiguration(ngx_conf_t *cf, const MainConf *mcf) noexcept;

// $asset_gate_s3_*.
ngx_int_t s3_add_variables(ngx_conf_t *cf) noexcept;

// Proxy mode, in the header filter: maps the store's answer to the client's (200, 206, 304 as
// they are; 412 and 416 with nginx's own page of that status; a missing object: the plain 404;
// anything else: 502, with an error-log line), hides the store's own x-amz-* headers, and
// turns whatever the proxy made of a request the variables refused to sign into the plain
// 404. NGX_DECLINED: nothing to change.
ngx_int_t s3_filter_response(ngx_http_request_t *r, Ctx *ctx) noexcept;

// Redirect mode: answers an allowed content request with a 302 to a presigned URL.
ngx_int_t s3_redirect(ngx_http_request_t *r, Ctx *ctx, const LocConf *lcf) noexcept;

}  // namespace asset_gate

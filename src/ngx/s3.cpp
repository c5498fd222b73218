// Content from S3. Proxy mode: the serving location proxies to the store and sets the
// request's SigV4 headers from $asset_gate_s3_* (signed once per request, from the verified
// asset's location). Redirect mode: a 302 to a presigned URL, as PostHog itself answers.
#include "ngx/s3.hpp"

#include <cstdio>
#include <new>
#include <string>

#include <openssl/crypto.h>

#include "core/disposition.hpp"
#include "core/s3_credentials.hpp"
#include "core/secret_file.hpp"

namespace asset_gate {

namespace {

char *conf_error() noexcept {
    return static_cast<char *>(NGX_CONF_ERROR);
}

}  // namespace

char *s3_set_endpoint(ngx_conf_t *cf, ngx_command_t *, void *c) noexcept {
    auto *conf = static_cast<LocConf *>(c);
    if (conf->s3_endpoint.data != nullptr) return const_cast<char *>("is duplicate");
    ngx_str_t value = static_cast<ngx_str_t *>(cf->args->elts)[1];
    std::string_view v = view(value);
    std::string_view scheme;
    if (v.substr(0, 7) == "http://") {
        scheme = "http";
    } else if (v.substr(0, 8) == "https://") {
        scheme = "https";
    }
    std::string_view host = scheme.empty() ? std::string_view{} : v.substr(scheme.size() + 3);
    if (!host.empty() && host.back() == '/') host.remove_suffix(1);
    bool ok = !host.empty() && host.find_first_of("/?#@ \t") == std::string_view::npos;
    if (!ok) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid S3 endpoint \"%V\", expected http://HOST[:PORT] or "
                           "https://HOST[:PORT]",
                           &value);
        return conf_error();
    }
    conf->s3_endpoint = value;
    conf->s3_scheme = ngx_view(scheme);
    conf->s3_host.len = host.size();
    conf->s3_host.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, host.size()));
    if (conf->s3_host.data == nullptr) return conf_error();
    ngx_strlow(conf->s3_host.data, reinterpret_cast<u_char *>(const_cast<char *>(host.data())),
               host.size());
    return NGX_CONF_OK;
}

char *s3_set_addressing(ngx_conf_t *cf, ngx_command_t *, void *c) noexcept {
    auto *conf = static_cast<LocConf *>(c);
    if (conf->s3_addressing != NGX_CONF_UNSET_UINT) return const_cast<char *>("is duplicate");
    ngx_str_t value = static_cast<ngx_str_t *>(cf->args->elts)[1];
    if (view(value) == "path") {
        conf->s3_addressing = static_cast<ngx_uint_t>(S3Addressing::path);
    } else if (view(value) == "virtual") {
        conf->s3_addressing = static_cast<ngx_uint_t>(S3Addressing::virtual_host);
    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value \"%V\", expected path or virtual",
                           &value);
        return conf_error();
    }
    return NGX_CONF_OK;
}

namespace {

void destroy_credentials(void *data) noexcept {
    auto *creds = static_cast<S3Credentials *>(data);
    OPENSSL_cleanse(creds->secret_access_key.data(), creds->secret_access_key.size());
    creds->~S3Credentials();
}

}  // namespace

char *s3_set_credentials(ngx_conf_t *cf, ngx_command_t *, void *c) noexcept {
    auto *conf = static_cast<LocConf *>(c);
    if (conf->s3_credentials != NGX_CONF_UNSET_PTR) return const_cast<char *>("is duplicate");
    ngx_str_t path = static_cast<ngx_str_t *>(cf->args->elts)[1];
    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) return conf_error();
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, sizeof(S3Credentials));
    if (cln == nullptr) return conf_error();
    auto *creds = new (cln->data) S3Credentials();
    cln->handler = destroy_credentials;
    std::string text;
    FileError file_error;
    std::string error;
    bool read = false;
    bool ok = false;
    try {
        read = read_secret_file(reinterpret_cast<const char *>(path.data), &text, &file_error);
        ok = read && parse_s3_credentials(text, creds, &error);
    } catch (...) {
        error = "out of memory";
    }
    cleanse_secret(&text);
    if (!read) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s S3 credentials file \"%V\": %s",
                           file_error.verb, &path, file_error.detail.c_str());
        return conf_error();
    }
    if (!ok) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid S3 credentials file \"%V\": %s", &path,
                           error.c_str());
        return conf_error();
    }
    conf->s3_credentials = creds;
    return NGX_CONF_OK;
}

namespace {

S3Target target_of(const LocConf *lcf) noexcept {
    S3Target t;
    t.endpoint_host = view(lcf->s3_host);
    t.bucket = view(lcf->s3_bucket);
    t.region = view(lcf->s3_region);
    t.addressing = static_cast<S3Addressing>(lcf->s3_addressing);
    return t;
}

enum S3Var : uintptr_t { host, path, date, content_sha256, authorization, security_token };

// Signs the upstream request once per request, from the serving location's S3 settings.
bool sign_once(ngx_http_request_t *r, Ctx *ctx) noexcept try {
    if (ctx->s3_signed) return true;
    auto *lcf = static_cast<LocConf *>(ngx_http_get_module_loc_conf(r, ngx_http_asset_gate_module));
    if (!ctx->content_allowed || ctx->location.len == 0) return false;
    if (!s3_configured(lcf)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "asset_gate: $asset_gate_s3_* used where asset_gate_s3_endpoint, "
                      "asset_gate_s3_bucket or asset_gate_s3_credentials_file is not set");
        return false;
    }
    // nginx's proxy forwards a HEAD as HEAD (unless proxy_method says otherwise): sign that.
    std::string_view method = r->method == NGX_HTTP_HEAD ? "HEAD" : "GET";
    SignedGet s =
        s3_sign_get(target_of(lcf), *lcf->s3_credentials, view(ctx->location), ngx_time(), method);
    ngx_pool_t *pool = r->pool;
    if (!pool_copy(pool, s.host, &ctx->s3_host) || !pool_copy(pool, s.path, &ctx->s3_path) ||
        !pool_copy(pool, s.amz_date, &ctx->s3_date) ||
        !pool_copy(pool, s.content_sha256, &ctx->s3_content_sha256) ||
        !pool_copy(pool, s.authorization, &ctx->s3_authorization)) {
        return false;
    }
    ctx->s3_signed = true;
    return true;
} catch (...) {
    return false;
}

ngx_int_t get_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
                       uintptr_t data) noexcept {
    v->not_found = 1;
    Ctx *ctx = get_ctx(r->main);
    if (ctx == nullptr || !sign_once(r->main, ctx)) return NGX_OK;
    ngx_str_t value{};
    switch (static_cast<S3Var>(data)) {
        case host:
            value = ctx->s3_host;
            break;
        case path:
            value = ctx->s3_path;
            break;
        case date:
            value = ctx->s3_date;
            break;
        case content_sha256:
            value = ctx->s3_content_sha256;
            break;
        case authorization:
            value = ctx->s3_authorization;
            break;
        case security_token: {
            auto *lcf = static_cast<LocConf *>(
                ngx_http_get_module_loc_conf(r->main, ngx_http_asset_gate_module));
            value = ngx_view(lcf->s3_credentials->session_token);
            break;
        }
    }
    if (value.len == 0) return NGX_OK;
    v->data = value.data;
    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

ngx_str_t str(const char *s) noexcept {
    return {ngx_strlen(s), reinterpret_cast<u_char *>(const_cast<char *>(s))};
}

}  // namespace

void s3_init_loc_conf(LocConf *conf) noexcept {
    conf->s3_addressing = NGX_CONF_UNSET_UINT;
    conf->s3_credentials = static_cast<S3Credentials *>(NGX_CONF_UNSET_PTR);
    conf->s3_presign_expires = NGX_CONF_UNSET;
    conf->s3_redirect = NGX_CONF_UNSET;
}

char *s3_merge_loc_conf(ngx_conf_t *cf, LocConf *prev, LocConf *conf) noexcept {
    if (conf->s3_endpoint.data == nullptr) {
        conf->s3_endpoint = prev->s3_endpoint;
        conf->s3_scheme = prev->s3_scheme;
        conf->s3_host = prev->s3_host;
    }
    ngx_conf_merge_str_value(conf->s3_bucket, prev->s3_bucket, "");
    ngx_conf_merge_str_value(conf->s3_region, prev->s3_region, "us-east-1");
    ngx_conf_merge_uint_value(conf->s3_addressing, prev->s3_addressing,
                              static_cast<ngx_uint_t>(S3Addressing::virtual_host));
    ngx_conf_merge_ptr_value(conf->s3_credentials, prev->s3_credentials, nullptr);
    ngx_conf_merge_sec_value(conf->s3_presign_expires, prev->s3_presign_expires, 3600);
    ngx_conf_merge_value(conf->s3_redirect, prev->s3_redirect, 0);
    if (conf->s3_presign_expires < 1 || conf->s3_presign_expires > 604800) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"asset_gate_s3_presign_expires\" must be between 1s and 7d");
        return conf_error();
    }
    return NGX_CONF_OK;
}

bool s3_configured(const LocConf *conf) noexcept {
    return conf->s3_host.len != 0 && conf->s3_bucket.len != 0 && conf->s3_credentials != nullptr;
}

ngx_int_t s3_add_variables(ngx_conf_t *cf) noexcept {
    const struct {
        const char *name;
        S3Var var;
    } defs[] = {
        {"asset_gate_s3_host", host},
        {"asset_gate_s3_path", path},
        {"asset_gate_s3_date", date},
        {"asset_gate_s3_content_sha256", content_sha256},
        {"asset_gate_s3_authorization", authorization},
        {"asset_gate_s3_security_token", security_token},
    };
    for (const auto &d : defs) {
        ngx_str_t name = str(d.name);
        ngx_http_variable_t *var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
        if (var == nullptr) return NGX_ERROR;
        var->get_handler = get_variable;
        var->data = d.var;
    }
    return NGX_OK;
}

ngx_int_t s3_redirect(ngx_http_request_t *r, Ctx *ctx, LocConf *lcf) noexcept try {
    PresignOptions opts;
    opts.expires = lcf->s3_presign_expires;
    opts.response_content_type = view(ctx->format);
    std::string disposition;
    if (ctx->download) {
        std::string_view name = ctx->filename.len ? view(ctx->filename) : view(ctx->name);
        disposition.resize(content_disposition_size(name));
        disposition.resize(content_disposition(name, disposition.data()));
        opts.response_content_disposition = disposition;
    }
    std::string url = s3_presign_get(target_of(lcf), *lcf->s3_credentials, view(ctx->location),
                                     ngx_time(), opts, view(lcf->s3_scheme));
    ngx_str_t location;
    if (!pool_copy(r->pool, url, &location)) return NGX_HTTP_INTERNAL_SERVER_ERROR;

    ngx_http_clear_location(r);
    auto *h = static_cast<ngx_table_elt_t *>(ngx_list_push(&r->headers_out.headers));
    auto *cc = static_cast<ngx_table_elt_t *>(ngx_list_push(&r->headers_out.headers));
    if (h == nullptr || cc == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    h->hash = 1;
    h->key = ngx_view("Location");
    h->value = location;
    r->headers_out.location = h;
    // The presigned URL expires: a cached redirect would outlive it.
    cc->hash = 1;
    cc->key = ngx_view("Cache-Control");
    cc->value = ngx_view("no-store");
    return NGX_HTTP_MOVED_TEMPORARILY;
} catch (...) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

namespace {

// Hides the store's x-amz-* headers (request ids, server-side encryption, storage class).
void hide_amz_headers(ngx_http_request_t *r) noexcept {
    for (ngx_list_part_t *part = &r->headers_out.headers.part; part; part = part->next) {
        auto *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (h[i].key.len >= 6 && ngx_strncasecmp(h[i].key.data, (u_char *)"x-amz-", 6) == 0) {
                h[i].hash = 0;
            }
        }
    }
}

}  // namespace

ngx_int_t s3_filter_response(ngx_http_request_t *r, Ctx *ctx) noexcept {
    hide_amz_headers(r);
    ngx_uint_t status = r->headers_out.status;
    if (ctx->s3_answered || status < NGX_HTTP_BAD_REQUEST) return NGX_DECLINED;
    ctx->s3_answered = true;
    ctx->content_allowed = false;
    if (status == NGX_HTTP_NOT_FOUND) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "asset_gate: object of asset %uL is missing in the store", ctx->id);
        return ngx_http_filter_finalize_request(r, &ngx_http_asset_gate_module, NGX_HTTP_NOT_FOUND);
    }
    if (status == NGX_HTTP_FORBIDDEN) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "asset_gate: the object store refused the signed request for asset %uL "
                      "(403): check asset_gate_s3_credentials_file, asset_gate_s3_region, the "
                      "bucket policy and this host's clock",
                      ctx->id);
    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "asset_gate: the object store answered %ui for asset %uL", status, ctx->id);
    }
    return ngx_http_filter_finalize_request(r, &ngx_http_asset_gate_module, NGX_HTTP_BAD_GATEWAY);
}

}  // namespace asset_gate

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

LocConf *loc_conf(ngx_http_request_t *r) noexcept {
    return static_cast<LocConf *>(ngx_http_get_module_loc_conf(r, ngx_http_asset_gate_module));
}

enum S3Var : uintptr_t { host, path, date, content_sha256, authorization, security_token };

// What $asset_gate_s3_path is for a request the gate did not allow as content: not a path,
// so that `proxy_pass https://HOST$asset_gate_s3_path` fails to parse ("invalid port") and
// sends nothing, where an empty value would make the proxy send the client's URI and token.
constexpr std::string_view kRefusedPath = ":asset_gate_refused";

// Content the gate allowed, to be fetched by the proxy (not a redirect, not a render).
bool allowed_content(const Ctx *ctx) noexcept {
    return ctx->gate != nullptr && ctx->reason_set && ctx->reason == Reason::allowed &&
           ctx->surface == Surface::content && !ctx->gate->s3_redirect && ctx->location.len != 0;
}

// The settings that sign: the deciding gate's (written there or inherited), else those of the
// location that proxies, so that they work wherever they are written.
const LocConf *signing_conf(ngx_http_request_t *r, const Ctx *ctx) noexcept {
    if (s3_configured(ctx->gate)) return ctx->gate;
    const LocConf *here = loc_conf(r);
    return s3_configured(here) ? here : nullptr;
}

// The method the proxy sends: the cache turns a HEAD into a GET (proxy_cache_convert_head) and
// says so in u->method before the request's headers are evaluated.
ngx_uint_t sent_method(ngx_http_request_t *r) noexcept {
    ngx_http_upstream_t *u = r->upstream;
    if (u != nullptr && u->method.len != 0) {
        return u->method.len >= 4 && ngx_strncmp(u->method.data, "HEAD", 4) == 0 ? NGX_HTTP_HEAD
                                                                                 : NGX_HTTP_GET;
    }
    return r->method == NGX_HTTP_HEAD ? NGX_HTTP_HEAD : NGX_HTTP_GET;
}

// Signs `method` at the time of the first signature, so X-Amz-Date and every signature agree.
bool sign(ngx_http_request_t *r, Ctx *ctx, const LocConf *conf, ngx_uint_t method) noexcept try {
    if (!ctx->s3_signed) {
        ctx->s3_conf = conf;
        ctx->s3_time = ngx_time();
    }
    SignedGet s = s3_sign_get(target_of(conf), *conf->s3_credentials, view(ctx->location),
                              ctx->s3_time, method == NGX_HTTP_HEAD ? "HEAD" : "GET");
    ngx_pool_t *pool = r->main->pool;
    if (!ctx->s3_signed &&
        (!pool_copy(pool, s.host, &ctx->s3_host) || !pool_copy(pool, s.path, &ctx->s3_path) ||
         !pool_copy(pool, s.amz_date, &ctx->s3_date) ||
         !pool_copy(pool, s.content_sha256, &ctx->s3_content_sha256))) {
        return false;
    }
    if (!pool_copy(pool, s.authorization, &ctx->s3_authorization)) return false;
    ctx->s3_signed_method = method;
    ctx->s3_signed = true;
    return true;
} catch (...) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "asset_gate: signing the S3 request failed: out of memory");
    return false;
}

// The variables asked for where nothing may be signed: the store must not be asked at all.
ngx_int_t refuse_variable(ngx_http_request_t *r, Ctx *ctx, ngx_http_variable_value_t *v,
                          uintptr_t data) noexcept {
    ngx_http_request_t *main = r->main;
    if (main->header_sent) return NGX_OK;  // read for a log line: nothing left to protect
    if (ctx == nullptr && (ctx = create_ctx(main)) == nullptr) return NGX_ERROR;
    if (!ctx->s3_refused) {
        ctx->s3_refused = true;
        if (allowed_content(ctx)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "asset_gate: no signed S3 request for asset %uL: neither its gate "
                          "location nor this one has \"asset_gate_s3_endpoint\", "
                          "\"asset_gate_s3_bucket\" and \"asset_gate_s3_credentials_file\"",
                          ctx->id);
        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "asset_gate: no signed S3 request: $asset_gate_s3_* asked for where "
                          "the gate allowed no content, the store is not asked");
        }
    }
    if (static_cast<S3Var>(data) == path) {
        v->data = reinterpret_cast<u_char *>(const_cast<char *>(kRefusedPath.data()));
        v->len = kRefusedPath.size();
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;
    }
    return NGX_OK;
}

ngx_int_t get_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
                       uintptr_t data) noexcept {
    v->valid = 0;
    v->not_found = 1;
    Ctx *ctx = get_ctx(r->main);
    if (ctx == nullptr || !allowed_content(ctx)) return refuse_variable(r, ctx, v, data);
    ngx_uint_t method = sent_method(r);
    if (!ctx->s3_signed ||
        (static_cast<S3Var>(data) == authorization && ctx->s3_signed_method != method)) {
        const LocConf *conf = ctx->s3_signed ? ctx->s3_conf : signing_conf(r, ctx);
        if (conf == nullptr) return refuse_variable(r, ctx, v, data);
        if (!sign(r, ctx, conf, method)) return NGX_ERROR;
    }
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
        case security_token:
            value = ngx_view(ctx->s3_conf->s3_credentials->session_token);
            break;
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
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "asset_gate: presigning the S3 URL failed: out of memory");
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

namespace {

bool is_amz(const ngx_table_elt_t &h) noexcept {
    return h.key.len >= 6 && ngx_strncasecmp(h.key.data, (u_char *)"x-amz-", 6) == 0;
}

// Hides the store's x-amz-* headers (request ids, server-side encryption, storage class).
void hide_amz_headers(ngx_http_request_t *r) noexcept {
    for (ngx_list_part_t *part = &r->headers_out.headers.part; part; part = part->next) {
        auto *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (is_amz(h[i])) h[i].hash = 0;
        }
    }
}

ngx_str_t response_header(ngx_http_request_t *r, std::string_view name) noexcept {
    for (ngx_list_part_t *part = &r->headers_out.headers.part; part; part = part->next) {
        auto *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (h[i].hash != 0 && h[i].key.len == name.size() &&
                ngx_strncasecmp(h[i].key.data,
                                reinterpret_cast<u_char *>(const_cast<char *>(name.data())),
                                name.size()) == 0) {
                return h[i].value;
            }
        }
    }
    return {};
}

}  // namespace

ngx_int_t s3_filter_response(ngx_http_request_t *r, Ctx *ctx) noexcept {
    ngx_uint_t status = r->headers_out.status;
    if (ctx->s3_answered) {
        // Our own page for the store's 416 keeps the store's Content-Range.
        if (status == NGX_HTTP_RANGE_NOT_SATISFIABLE && ctx->s3_content_range.len != 0) {
            push_header(r, "Content-Range", view(ctx->s3_content_range));
            ctx->s3_content_range.len = 0;
        }
        return NGX_DECLINED;
    }
    if (!ctx->s3_signed) {
        // The variables refused to sign: whatever the proxy made of that (its 500 for the
        // invalid upstream URL), the client gets the plain 404.
        ctx->s3_answered = true;
        ctx->content_allowed = false;
        return ngx_http_filter_finalize_request(r, &ngx_http_asset_gate_module, NGX_HTTP_NOT_FOUND);
    }
    hide_amz_headers(r);
    if (status == NGX_HTTP_OK || status == NGX_HTTP_PARTIAL_CONTENT ||
        status == NGX_HTTP_NOT_MODIFIED) {
        return NGX_DECLINED;
    }
    // nginx's own answer (the store unreachable, a timeout): not the store's, leave it as it is.
    if (r->upstream->headers_in.status_n == 0) return NGX_DECLINED;
    ctx->s3_answered = true;
    ctx->content_allowed = false;
    if (status == NGX_HTTP_NOT_FOUND) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "asset_gate: object of asset %uL is missing in the store", ctx->id);
        return ngx_http_filter_finalize_request(r, &ngx_http_asset_gate_module, NGX_HTTP_NOT_FOUND);
    }
    if (status == NGX_HTTP_PRECONDITION_FAILED || status == NGX_HTTP_RANGE_NOT_SATISFIABLE) {
        // The client's condition or range, not a fault: its status, in nginx's words.
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "asset_gate: the object store answered %ui for asset %uL", status, ctx->id);
        if (!pool_copy(r->pool, view(response_header(r, "Content-Range")),
                       &ctx->s3_content_range)) {
            return NGX_ERROR;
        }
        return ngx_http_filter_finalize_request(r, &ngx_http_asset_gate_module, status);
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

// --- the client's x-amz-* request headers --------------------------------------------------------

namespace {

// The proxy passes every client header on (proxy_pass_request_headers): an x-amz-* one would
// reach the store unsigned (S3 refuses the request) or change what it does (x-amz-request-payer).
// The list is rebuilt in the request pool without them; the elements themselves stay where
// they are, so headers_in's pointers to known headers remain valid.
bool drop_amz_request_headers(ngx_http_request_t *r) noexcept {
    ngx_uint_t keep = 0;
    ngx_uint_t drop = 0;
    ngx_list_t *list = &r->headers_in.headers;
    for (ngx_list_part_t *part = &list->part; part; part = part->next) {
        auto *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; i++) (is_amz(h[i]) ? drop : keep)++;
    }
    if (drop == 0) return true;
    ngx_list_t fresh;
    if (ngx_list_init(&fresh, r->pool, keep ? keep : 1, sizeof(ngx_table_elt_t)) != NGX_OK) {
        return false;
    }
    for (ngx_list_part_t *part = &list->part; part; part = part->next) {
        auto *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (is_amz(h[i])) continue;
            auto *copy = static_cast<ngx_table_elt_t *>(ngx_list_push(&fresh));
            if (copy == nullptr) return false;
            *copy = h[i];
        }
    }
    *list = fresh;
    list->last = &list->part;  // all in the first part: `keep` elements were allocated
    return true;
}

// Precontent phase, before the proxy builds the upstream request.
ngx_int_t precontent_handler(ngx_http_request_t *r) noexcept {
    if (r != r->main) return NGX_DECLINED;
    Ctx *ctx = get_ctx(r);
    if (ctx == nullptr || ctx->s3_headers_checked || !allowed_content(ctx)) return NGX_DECLINED;
    if (signing_conf(r, ctx) == nullptr) return NGX_DECLINED;
    ctx->s3_headers_checked = true;
    if (!drop_amz_request_headers(r)) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    return NGX_DECLINED;
}

// --- nginx -t: can every gate that proxies sign? -------------------------------------------------

struct S3Gate {
    LocConf *conf;
    ngx_http_core_loc_conf_t *clcf;
    ngx_http_core_srv_conf_t *cscf;
};

bool variables_used(ngx_conf_t *cf) noexcept {
    auto *cmcf = static_cast<ngx_http_core_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto *v = static_cast<ngx_http_variable_t *>(cmcf->variables.elts);
    for (ngx_uint_t i = 0; i < cmcf->variables.nelts; i++) {
        if (view(v[i].name).substr(0, 14) == "asset_gate_s3_") return true;
    }
    return false;
}

ngx_http_core_loc_conf_t *named_location(ngx_http_core_srv_conf_t *cscf, ngx_str_t name) noexcept {
    for (auto **named = cscf->named_locations; named != nullptr && *named != nullptr; named++) {
        if (view((*named)->name) == view(name)) return *named;
    }
    return nullptr;
}

bool same_settings(const LocConf *a, const LocConf *b) noexcept {
    return view(a->s3_host) == view(b->s3_host) && view(a->s3_bucket) == view(b->s3_bucket) &&
           view(a->s3_region) == view(b->s3_region) && a->s3_addressing == b->s3_addressing &&
           a->s3_credentials == b->s3_credentials;
}

// `"asset_gate_s3_endpoint" and "asset_gate_s3_bucket" are`: what `conf` lacks to sign.
u_char *missing_settings(u_char *p, u_char *last, const LocConf *conf) noexcept {
    const char *names[3];
    int n = 0;
    if (conf->s3_host.len == 0) names[n++] = "asset_gate_s3_endpoint";
    if (conf->s3_bucket.len == 0) names[n++] = "asset_gate_s3_bucket";
    if (conf->s3_credentials == nullptr) names[n++] = "asset_gate_s3_credentials_file";
    for (int i = 0; i < n; i++) {
        const char *sep = i == 0 ? "" : i == n - 1 ? " and " : ", ";
        p = ngx_slprintf(p, last, "%s\"%s\"", sep, names[i]);
    }
    return ngx_slprintf(p, last, n == 1 ? " is" : " are");
}

// A gate that proxies its content (asset_gate_content @name with proxy_pass there, or inline
// with proxy_pass in the gate) needs settings that sign, in the gate or in that location.
// Gates whose content location serves files, and URI targets (which only a request can
// resolve), are not judged here: the variables refuse to sign at run time instead.
ngx_int_t check_gate(ngx_conf_t *cf, const S3Gate &g) noexcept {
    const LocConf *conf = g.conf;
    if (conf->s3_redirect || (!conf->content_inline && conf->content.len == 0)) return NGX_OK;
    const LocConf *target = conf;
    ngx_http_core_loc_conf_t *tclcf = g.clcf;
    if (!conf->content_inline) {
        if (conf->content.data[0] != '@') return NGX_OK;
        tclcf = named_location(g.cscf, conf->content);
        if (tclcf == nullptr) return NGX_OK;
        target = static_cast<LocConf *>(tclcf->loc_conf[ngx_http_asset_gate_module.ctx_index]);
    }
    if (s3_configured(conf)) {
        if (target != conf && s3_configured(target) && !same_settings(conf, target)) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "asset_gate: \"%V\" has S3 settings of its own, but the requests of "
                          "the gate in %V:%ui are signed with the gate location's",
                          &conf->content, &conf->conf_file, conf->conf_line);
        }
        return NGX_OK;
    }
    if (s3_configured(target) || tclcf->handler == nullptr) return NGX_OK;
    u_char missing[160];
    u_char *end = missing_settings(missing, missing + sizeof(missing), conf);
    if (conf->content_inline) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "asset_gate: %*s not set for \"asset_gate_content inline\", which "
                      "proxies: its S3 requests cannot be signed in %V:%ui",
                      static_cast<size_t>(end - missing), missing, &conf->conf_file,
                      conf->conf_line);
    } else {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "asset_gate: %*s not set for the gate, nor for its \"asset_gate_content "
                      "%V\", which proxies: its S3 requests cannot be signed in %V:%ui",
                      static_cast<size_t>(end - missing), missing, &conf->content, &conf->conf_file,
                      conf->conf_line);
    }
    return NGX_ERROR;
}

}  // namespace

ngx_int_t s3_init_main_conf(ngx_conf_t *cf, MainConf *mcf) noexcept {
    return ngx_array_init(&mcf->s3_gates, cf->pool, 4, sizeof(S3Gate));
}

char *s3_note_gate(ngx_conf_t *cf, LocConf *conf) noexcept {
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_asset_gate_module));
    auto *g = static_cast<S3Gate *>(ngx_array_push(&mcf->s3_gates));
    if (g == nullptr) return conf_error();
    g->conf = conf;
    g->clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    g->cscf = static_cast<ngx_http_core_srv_conf_t *>(
        ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module));
    return NGX_CONF_OK;
}

ngx_int_t s3_postconfiguration(ngx_conf_t *cf) noexcept {
    if (!variables_used(cf)) return NGX_OK;  // no proxy mode anywhere
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_asset_gate_module));
    auto *gates = static_cast<S3Gate *>(mcf->s3_gates.elts);
    for (ngx_uint_t i = 0; i < mcf->s3_gates.nelts; i++) {
        if (check_gate(cf, gates[i]) != NGX_OK) return NGX_ERROR;
    }
    auto *cmcf = static_cast<ngx_http_core_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto *h = static_cast<ngx_http_handler_pt *>(
        ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers));
    if (h == nullptr) return NGX_ERROR;
    *h = precontent_handler;
    return NGX_OK;
}

}  // namespace asset_gate

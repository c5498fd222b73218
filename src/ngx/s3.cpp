// Content from S3. Proxy mode: the serving location proxies to the store and sets the
// request's SigV4 headers from $asset_gate_s3_* (signed once per request, from the verified
// asset's location). Redirect mode: a 302 to a presigned URL, as PostHog itself answers.
#include "ngx/s3.hpp"

#include <string>

#include "core/disposition.hpp"
#include "ngx/module.hpp"

namespace asset_gate {

ngx_conf_enum_t s3_addressing_values[] = {
    {ngx_string("path"), static_cast<ngx_uint_t>(S3Addressing::path)},
    {ngx_string("virtual"), static_cast<ngx_uint_t>(S3Addressing::virtual_host)},
    {ngx_null_string, 0},
};

// Proxy mode's state of one request: the upstream request's signature, made when first asked
// for and made again if the method nginx sends is not the one signed.
struct S3Request {
    bool is_signed;
    bool refused;          // asked for where the gate allowed no content: nothing reaches the store
    bool answered;         // the filter has replaced the store's answer: do not map it again
    bool headers_checked;  // the client's x-amz-* request headers are gone
    ngx_uint_t signed_method;  // NGX_HTTP_GET or NGX_HTTP_HEAD: what `authorization` signs
    time_t time;               // when it was signed: X-Amz-Date and every signature agree
    const S3Conf *conf;        // the settings that sign
    ngx_str_t host, path, date, content_sha256, authorization;
    ngx_str_t security_token;  // of the set that signed
    ngx_str_t content_range;   // the store's, on a 416 answered with nginx's own page
};

namespace {

enum S3Var : uintptr_t { host, path, date, content_sha256, authorization, security_token };

// What $asset_gate_s3_path is for a request the gate did not allow as content: not a path,
// so that `proxy_pass https://HOST$asset_gate_s3_path` fails to parse ("invalid port") and
// sends nothing, where an empty value would make the proxy send the client's URI and token.
constexpr std::string_view kRefusedPath = ":asset_gate_refused";

S3Conf *conf_at(void *conf, const ngx_command_t *cmd) noexcept {
    return reinterpret_cast<S3Conf *>(static_cast<char *>(conf) + cmd->offset);
}

S3Target target_of(const S3Conf &conf) noexcept {
    S3Target t;
    t.endpoint_host = view(conf.host);
    t.bucket = view(conf.bucket);
    t.region = view(conf.region);
    t.addressing = static_cast<S3Addressing>(conf.addressing);
    return t;
}

// The request's proxy-mode state, made on first use; null when out of memory.
S3Request *state_of(ngx_http_request_t *r, Ctx *ctx) noexcept {
    if (ctx->s3 == nullptr) {
        ctx->s3 = static_cast<S3Request *>(ngx_pcalloc(r->main->pool, sizeof(S3Request)));
    }
    return ctx->s3;
}

// Content the gate allowed, to be fetched by the proxy (not a redirect, not a render).
bool allowed_content(const Ctx *ctx) noexcept {
    return ctx->gate != nullptr && allowed(ctx) && ctx->path.surface == Surface::content &&
           !ctx->gate->s3.redirect && !ctx->asset.location.empty();
}

// The settings that sign: the deciding gate's (written there or inherited), else those of the
// location that proxies, so that they work wherever they are written.
const S3Conf *signing_conf(ngx_http_request_t *r, const Ctx *ctx) noexcept {
    if (s3_configured(ctx->gate->s3)) return &ctx->gate->s3;
    const S3Conf &here = loc_conf(r)->s3;
    return s3_configured(here) ? &here : nullptr;
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
bool sign(ngx_http_request_t *r, const Ctx *ctx, S3Request *s3, const S3Conf *conf,
          ngx_uint_t method) noexcept try {
    if (!s3->is_signed) {
        s3->conf = conf;
        s3->time = ngx_time();
    }
    const S3Credentials *creds =
        s3_credentials_now(conf->credentials, r->connection->log, s3->time);
    if (creds == nullptr) return false;  // expired since the precontent check: logged
    SignedGet s = s3_sign_get(target_of(*conf), *creds, ctx->asset.location, s3->time,
                              method == NGX_HTTP_HEAD ? "HEAD" : "GET");
    ngx_pool_t *pool = r->main->pool;
    if (!s3->is_signed &&
        (!pool_copy(pool, s.host, &s3->host) || !pool_copy(pool, s.path, &s3->path) ||
         !pool_copy(pool, s.amz_date, &s3->date) ||
         !pool_copy(pool, s.content_sha256, &s3->content_sha256))) {
        return false;
    }
    if (!pool_copy(pool, s.authorization, &s3->authorization) ||
        !pool_copy(pool, creds->session_token, &s3->security_token)) {
        return false;
    }
    s3->signed_method = method;
    s3->is_signed = true;
    return true;
} catch (...) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "asset_gate: signing the S3 request failed: out of memory");
    return false;
}

void set_value(ngx_http_variable_value_t *v, ngx_str_t value) noexcept {
    v->data = value.data;
    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
}

// The variables asked for where nothing may be signed: the store must not be asked at all.
ngx_int_t refuse_variable(ngx_http_request_t *r, Ctx *ctx, ngx_http_variable_value_t *v,
                          uintptr_t data) noexcept {
    ngx_http_request_t *main = r->main;
    if (main->header_sent) return NGX_OK;  // read for a log line: nothing left to protect
    if (ctx == nullptr && (ctx = create_ctx(main)) == nullptr) return NGX_ERROR;
    S3Request *s3 = state_of(r, ctx);
    if (s3 == nullptr) return NGX_ERROR;
    if (!s3->refused) {
        s3->refused = true;
        if (allowed_content(ctx)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "asset_gate: no signed S3 request for asset %uL: neither its gate "
                          "location nor this one has \"asset_gate_s3_endpoint\", "
                          "\"asset_gate_s3_bucket\" and \"asset_gate_s3_credentials_file\"",
                          ctx->claims.id);
        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "asset_gate: no signed S3 request: $asset_gate_s3_* asked for where "
                          "the gate allowed no content, the store is not asked");
        }
    }
    if (static_cast<S3Var>(data) == path) set_value(v, ngx_view(kRefusedPath));
    return NGX_OK;
}

ngx_str_t value_of(const S3Request &s3, S3Var var) noexcept {
    switch (var) {
        case host:
            return s3.host;
        case path:
            return s3.path;
        case date:
            return s3.date;
        case content_sha256:
            return s3.content_sha256;
        case authorization:
            return s3.authorization;
        case security_token:
            return s3.security_token;
    }
    return {};
}

ngx_int_t get_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
                       uintptr_t data) noexcept {
    v->valid = 0;
    v->not_found = 1;
    Ctx *ctx = get_ctx(r->main);
    if (ctx == nullptr || !allowed_content(ctx)) return refuse_variable(r, ctx, v, data);
    S3Request *s3 = state_of(r, ctx);
    if (s3 == nullptr) return NGX_ERROR;
    ngx_uint_t method = sent_method(r);
    auto var = static_cast<S3Var>(data);
    if (!s3->is_signed || (var == authorization && s3->signed_method != method)) {
        const S3Conf *conf = s3->is_signed ? s3->conf : signing_conf(r, ctx);
        if (conf == nullptr) return refuse_variable(r, ctx, v, data);
        if (!sign(r, ctx, s3, conf, method)) return NGX_ERROR;
    }
    ngx_str_t value = value_of(*s3, var);
    if (value.len != 0) set_value(v, value);
    return NGX_OK;
}

bool is_amz(const ngx_table_elt_t &h) noexcept {
    return header_starts_with(h, "x-amz-");
}

// Hides the store's x-amz-* headers (request ids, server-side encryption, storage class).
void hide_amz_headers(ngx_http_request_t *r) noexcept {
    for_each_header(&r->headers_out.headers, [](ngx_table_elt_t &h) noexcept {
        if (is_amz(h)) h.hash = 0;
    });
}

// The value of the first response header `name` still shown; empty when there is none.
ngx_str_t response_header(ngx_http_request_t *r, std::string_view name) noexcept {
    ngx_str_t value{};
    bool found = false;
    for_each_header(&r->headers_out.headers, [&](ngx_table_elt_t &h) noexcept {
        if (!found && h.hash != 0 && header_is(h, name)) {
            value = h.value;
            found = true;
        }
    });
    return value;
}

// The store's answer to a signed request, other than 200, 206 and 304: replaced by the client's.
ngx_int_t map_store_error(ngx_http_request_t *r, Ctx *ctx, ngx_uint_t status) noexcept {
    ctx->s3->answered = true;
    ctx->content_allowed = false;
    ngx_log_t *log = r->connection->log;
    if (status == NGX_HTTP_NOT_FOUND) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "asset_gate: object of asset %uL is missing in the store", ctx->claims.id);
        return ngx_http_filter_finalize_request(r, &ngx_http_asset_gate_module, NGX_HTTP_NOT_FOUND);
    }
    if (status == NGX_HTTP_PRECONDITION_FAILED || status == NGX_HTTP_RANGE_NOT_SATISFIABLE) {
        // The client's condition or range, not a fault: its status, in nginx's words.
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "asset_gate: the object store answered %ui for asset %uL", status,
                      ctx->claims.id);
        if (!pool_copy(r->pool, view(response_header(r, "Content-Range")),
                       &ctx->s3->content_range)) {
            return NGX_ERROR;
        }
        return ngx_http_filter_finalize_request(r, &ngx_http_asset_gate_module, status);
    }
    if (status == NGX_HTTP_FORBIDDEN) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "asset_gate: the object store refused the signed request for asset %uL "
                      "(403): check asset_gate_s3_credentials_file, asset_gate_s3_region, the "
                      "bucket policy and this host's clock",
                      ctx->claims.id);
    } else {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "asset_gate: the object store answered %ui for asset %uL", status,
                      ctx->claims.id);
    }
    return ngx_http_filter_finalize_request(r, &ngx_http_asset_gate_module, NGX_HTTP_BAD_GATEWAY);
}

// No credentials that may sign (they expired and the file was not rewritten): the store cannot
// be asked, which answers as an unreachable Redis does (DESIGN.md section 1).
ngx_int_t store_unavailable(ngx_http_request_t *r, Ctx *ctx) noexcept {
    ctx->content_allowed = false;
    if (push_header(r, "Retry-After", "1") == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    return NGX_HTTP_SERVICE_UNAVAILABLE;
}

// --- the client's x-amz-* request headers ------------------------------------------------------

// The proxy passes every client header on (proxy_pass_request_headers): an x-amz-* one would
// reach the store unsigned (S3 refuses the request) or change what it does (x-amz-request-payer).
// The list is rebuilt in the request pool without them; the elements themselves stay where
// they are, so headers_in's pointers to known headers remain valid.
bool drop_amz_request_headers(ngx_http_request_t *r) noexcept {
    ngx_uint_t keep = 0;
    ngx_uint_t drop = 0;
    ngx_list_t *list = &r->headers_in.headers;
    for_each_header(list, [&](ngx_table_elt_t &h) noexcept { (is_amz(h) ? drop : keep)++; });
    if (drop == 0) return true;
    ngx_list_t fresh;
    if (ngx_list_init(&fresh, r->pool, keep ? keep : 1, sizeof(ngx_table_elt_t)) != NGX_OK) {
        return false;
    }
    bool ok = true;
    for_each_header(list, [&](ngx_table_elt_t &h) noexcept {
        if (!ok || is_amz(h)) return;
        auto *copy = static_cast<ngx_table_elt_t *>(ngx_list_push(&fresh));
        if (copy == nullptr) {
            ok = false;
            return;
        }
        *copy = h;
    });
    if (!ok) return false;
    *list = fresh;
    list->last = &list->part;  // all in the first part: `keep` elements were allocated
    return true;
}

// Precontent phase, before the proxy builds the upstream request: expired credentials answer
// here, before anything reaches the store.
ngx_int_t precontent_handler(ngx_http_request_t *r) noexcept {
    if (r != r->main) return NGX_DECLINED;
    Ctx *ctx = get_ctx(r);
    if (ctx == nullptr || !allowed_content(ctx)) return NGX_DECLINED;
    if (ctx->s3 != nullptr && ctx->s3->headers_checked) return NGX_DECLINED;
    const S3Conf *conf = signing_conf(r, ctx);
    if (conf == nullptr) return NGX_DECLINED;
    S3Request *s3 = state_of(r, ctx);
    if (s3 == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    s3->headers_checked = true;
    if (s3_credentials_now(conf->credentials, r->connection->log, ngx_time()) == nullptr) {
        return store_unavailable(r, ctx);
    }
    if (!drop_amz_request_headers(r)) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    return NGX_DECLINED;
}

// --- nginx -t: can every gate that proxies sign? -----------------------------------------------

bool variables_used(ngx_conf_t *cf) noexcept {
    auto *cmcf = static_cast<ngx_http_core_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto *v = static_cast<ngx_http_variable_t *>(cmcf->variables.elts);
    for (ngx_uint_t i = 0; i < cmcf->variables.nelts; i++) {
        if (view(v[i].name).substr(0, 14) == "asset_gate_s3_") return true;
    }
    return false;
}

bool same_settings(const S3Conf &a, const S3Conf &b) noexcept {
    return view(a.host) == view(b.host) && view(a.bucket) == view(b.bucket) &&
           view(a.region) == view(b.region) && a.addressing == b.addressing &&
           a.credentials == b.credentials;
}

// `"asset_gate_s3_endpoint" and "asset_gate_s3_bucket" are`: what `conf` lacks to sign.
u_char *missing_settings(u_char *p, u_char *last, const S3Conf &conf) noexcept {
    const char *names[3];
    int n = 0;
    if (conf.host.len == 0) names[n++] = "asset_gate_s3_endpoint";
    if (conf.bucket.len == 0) names[n++] = "asset_gate_s3_bucket";
    if (conf.credentials == nullptr) names[n++] = "asset_gate_s3_credentials_file";
    for (int i = 0; i < n; i++) {
        const char *sep = i == 0 ? "" : i == n - 1 ? " and " : ", ";
        p = ngx_slprintf(p, last, "%s\"%s\"", sep, names[i]);
    }
    return ngx_slprintf(p, last, n == 1 ? " is" : " are");
}

void log_cannot_sign(ngx_conf_t *cf, const LocConf *conf) noexcept {
    u_char missing[160];
    u_char *end = missing_settings(missing, missing + sizeof(missing), conf->s3);
    auto n = static_cast<size_t>(end - missing);
    if (conf->content_inline) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "asset_gate: %*s not set for \"asset_gate_content inline\", which "
                      "proxies: its S3 requests cannot be signed in %V:%ui",
                      n, missing, &conf->site.file, conf->site.line);
    } else {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "asset_gate: %*s not set for the gate, nor for its \"asset_gate_content "
                      "%V\", which proxies: its S3 requests cannot be signed in %V:%ui",
                      n, missing, &conf->content.to, &conf->site.file, conf->site.line);
    }
}

// A gate that proxies its content (asset_gate_content @name with proxy_pass there, or inline
// with proxy_pass in the gate) needs settings that sign, in the gate or in that location.
// Gates whose content location serves files, and URI targets (which only a request can
// resolve), are not judged here: the variables refuse to sign at run time instead.
ngx_int_t check_gate(ngx_conf_t *cf, const GateRef &g) noexcept {
    const LocConf *conf = g.conf;
    if (conf->s3.redirect || (!conf->content_inline && conf->content.to.len == 0)) return NGX_OK;
    const LocConf *target = conf;
    ngx_http_core_loc_conf_t *tclcf = g.location;
    if (!conf->content_inline) {
        if (conf->content.to.data[0] != '@') return NGX_OK;
        tclcf = named_location(g.server, conf->content.to);
        if (tclcf == nullptr) return NGX_OK;
        target = static_cast<LocConf *>(tclcf->loc_conf[ngx_http_asset_gate_module.ctx_index]);
    }
    if (s3_configured(conf->s3)) {
        if (target != conf && s3_configured(target->s3) && !same_settings(conf->s3, target->s3)) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "asset_gate: \"%V\" has S3 settings of its own, but the requests of "
                          "the gate in %V:%ui are signed with the gate location's",
                          &conf->content.to, &conf->site.file, conf->site.line);
        }
        return NGX_OK;
    }
    if (s3_configured(target->s3) || tclcf->handler == nullptr) return NGX_OK;
    log_cannot_sign(cf, conf);
    return NGX_ERROR;
}

}  // namespace

// --- directives and configuration --------------------------------------------------------------

char *s3_set_endpoint(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    S3Conf *conf = conf_at(c, cmd);
    if (conf->endpoint.data != nullptr) return const_cast<char *>("is duplicate");
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
    if (host.empty() || host.find_first_of("/?#@ \t") != std::string_view::npos) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid S3 endpoint \"%V\", expected http://HOST[:PORT] or "
                           "https://HOST[:PORT]",
                           &value);
        return conf_error();
    }
    conf->endpoint = value;
    conf->scheme = ngx_view(scheme);
    conf->host.len = host.size();
    conf->host.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, host.size()));
    if (conf->host.data == nullptr) return conf_error();
    ngx_strlow(conf->host.data, reinterpret_cast<u_char *>(const_cast<char *>(host.data())),
               host.size());
    return NGX_CONF_OK;
}

char *s3_set_credentials(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    S3Conf *conf = conf_at(c, cmd);
    if (conf->credentials != NGX_CONF_UNSET_PTR) return const_cast<char *>("is duplicate");
    ngx_str_t path;
    if (!conf_path_argument(cf, &path)) return conf_error();
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_asset_gate_module));
    S3CredentialsFile *file = s3_credentials_file(cf, &mcf->s3_credentials, path);
    if (file == nullptr) return conf_error();
    conf->credentials = file;
    return NGX_CONF_OK;
}

void s3_init_conf(S3Conf *conf) noexcept {
    conf->addressing = NGX_CONF_UNSET_UINT;
    conf->credentials = static_cast<S3CredentialsFile *>(NGX_CONF_UNSET_PTR);
    conf->presign_expires = NGX_CONF_UNSET;
    conf->redirect = NGX_CONF_UNSET;
}

char *s3_merge_conf(ngx_conf_t *cf, S3Conf *conf, const S3Conf *prev) noexcept {
    if (conf->endpoint.data == nullptr) {
        conf->endpoint = prev->endpoint;
        conf->scheme = prev->scheme;
        conf->host = prev->host;
    }
    ngx_conf_merge_str_value(conf->bucket, prev->bucket, "");
    ngx_conf_merge_str_value(conf->region, prev->region, "us-east-1");
    ngx_conf_merge_uint_value(conf->addressing, prev->addressing,
                              static_cast<ngx_uint_t>(S3Addressing::virtual_host));
    ngx_conf_merge_ptr_value(conf->credentials, prev->credentials, nullptr);
    ngx_conf_merge_sec_value(conf->presign_expires, prev->presign_expires, 3600);
    ngx_conf_merge_value(conf->redirect, prev->redirect, 0);
    if (conf->presign_expires < 1 || conf->presign_expires > 604800) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"asset_gate_s3_presign_expires\" must be between 1s and 7d");
        return conf_error();
    }
    return NGX_CONF_OK;
}

bool s3_configured(const S3Conf &conf) noexcept {
    return conf.host.len != 0 && conf.bucket.len != 0 && conf.credentials != nullptr;
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
        ngx_str_t name = ngx_str(d.name);
        ngx_http_variable_t *var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
        if (var == nullptr) return NGX_ERROR;
        var->get_handler = get_variable;
        var->data = d.var;
    }
    return NGX_OK;
}

ngx_int_t s3_postconfiguration(ngx_conf_t *cf, const MainConf *mcf) noexcept {
    if (!variables_used(cf)) return NGX_OK;  // no proxy mode anywhere
    auto *gates = static_cast<GateRef *>(mcf->gates.elts);
    for (ngx_uint_t i = 0; i < mcf->gates.nelts; i++) {
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

// --- serving -----------------------------------------------------------------------------------

ngx_int_t s3_redirect(ngx_http_request_t *r, Ctx *ctx, const LocConf *lcf) noexcept try {
    time_t now = ngx_time();
    S3CredentialsFile *file = lcf->s3.credentials;
    const S3Credentials *creds = s3_credentials_now(file, r->connection->log, now);
    if (creds == nullptr) return store_unavailable(r, ctx);
    PresignOptions opts;
    opts.expires = lcf->s3.presign_expires;
    // A URL outliving its credentials would be refused by the store: it expires with them.
    if (file->expires != 0 && file->expires - now < opts.expires)
        opts.expires = file->expires - now;
    opts.response_content_type = ctx->asset.format;
    std::string disposition;
    if (ctx->download) {
        std::string_view name = download_name(ctx);
        disposition.resize(content_disposition_size(name));
        disposition.resize(content_disposition(name, disposition.data()));
        opts.response_content_disposition = disposition;
    }
    std::string url = s3_presign_get(target_of(lcf->s3), *creds, ctx->asset.location, now, opts,
                                     view(lcf->s3.scheme));
    ngx_str_t location;
    if (!pool_copy(r->pool, url, &location)) return NGX_HTTP_INTERNAL_SERVER_ERROR;

    ngx_http_clear_location(r);
    r->headers_out.location = push_header(r, "Location", view(location));
    // The presigned URL expires: a cached redirect would outlive it.
    if (r->headers_out.location == nullptr ||
        push_header(r, "Cache-Control", "no-store") == nullptr) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return NGX_HTTP_MOVED_TEMPORARILY;
} catch (...) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "asset_gate: presigning the S3 URL failed: out of memory");
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

ngx_int_t s3_filter_response(ngx_http_request_t *r, Ctx *ctx) noexcept {
    S3Request *s3 = ctx->s3;
    if (s3 == nullptr || (!s3->is_signed && !s3->refused) || r->upstream == nullptr) {
        return NGX_DECLINED;
    }
    ngx_uint_t status = r->headers_out.status;
    if (s3->answered) {
        // Our own page for the store's 416 keeps the store's Content-Range.
        if (status == NGX_HTTP_RANGE_NOT_SATISFIABLE && s3->content_range.len != 0) {
            if (push_header(r, "Content-Range", view(s3->content_range)) == nullptr)
                return NGX_ERROR;
            s3->content_range.len = 0;
        }
        return NGX_DECLINED;
    }
    if (!s3->is_signed) {
        // The variables refused to sign: whatever the proxy made of that (its 500 for the
        // invalid upstream URL), the client gets the plain 404.
        s3->answered = true;
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
    return map_store_error(r, ctx, status);
}

}  // namespace asset_gate

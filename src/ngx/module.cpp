// The module object, its directives and configuration, and the worker lifecycle.
#include "ngx/module.hpp"

#include <cstdio>
#include <new>
#include <string>

#include <openssl/crypto.h>

#include "core/keys.hpp"
#include "core/secret_file.hpp"
#include "ngx/cache.hpp"
#include "ngx/log_mask.hpp"
#include "ngx/redis_client.hpp"
#include "ngx/s3.hpp"
#include "ngx/stats.hpp"

namespace asset_gate {

namespace {

char *conf_error() noexcept {
    return static_cast<char *>(NGX_CONF_ERROR);
}

LocConf *create_loc_conf_impl(ngx_conf_t *cf) noexcept {
    auto *conf = static_cast<LocConf *>(ngx_pcalloc(cf->pool, sizeof(LocConf)));
    if (conf == nullptr) return nullptr;
    conf->enable = NGX_CONF_UNSET;
    conf->leeway = NGX_CONF_UNSET;
    conf->content_inline = NGX_CONF_UNSET;
    conf->redis_db = NGX_CONF_UNSET;
    conf->redis_timeout = NGX_CONF_UNSET_MSEC;
    conf->redis_failure = NGX_CONF_UNSET_UINT;
    conf->redis_read_replica = NGX_CONF_UNSET_UINT;
    conf->cache_valid = NGX_CONF_UNSET_MSEC;
    conf->cache_negative = NGX_CONF_UNSET_MSEC;
    conf->content_max_age = NGX_CONF_UNSET;
    conf->keys = static_cast<KeySet *>(NGX_CONF_UNSET_PTR);
    conf->endpoint_proto = static_cast<RedisEndpoint *>(NGX_CONF_UNSET_PTR);
    s3_init_loc_conf(conf);
    return conf;
}

void *create_loc_conf(ngx_conf_t *cf) noexcept {
    return create_loc_conf_impl(cf);
}

void *create_main_conf(ngx_conf_t *cf) noexcept {
    auto *conf = static_cast<MainConf *>(ngx_pcalloc(cf->pool, sizeof(MainConf)));
    if (conf == nullptr) return nullptr;
    if (ngx_array_init(&conf->endpoints, cf->pool, 2, sizeof(RedisEndpoint *)) != NGX_OK ||
        ngx_array_init(&conf->gates, cf->pool, 4, sizeof(GateRef)) != NGX_OK) {
        return nullptr;
    }
    if (s3_init_main_conf(cf, conf) != NGX_OK) return nullptr;
    return conf;
}

// An error found after parsing, reported at the `asset_gate on` that caused it.
char *merge_error(ngx_conf_t *cf, LocConf *conf, const char *what) noexcept {
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "asset_gate: %s in %V:%ui", what, &conf->conf_file,
                  conf->conf_line);
    return conf_error();
}

bool same_endpoint(const RedisEndpoint *a, const RedisEndpoint *b) noexcept {
    return view(a->name) == view(b->name) && view(a->password) == view(b->password) &&
           a->db == b->db && a->timeout == b->timeout && view(a->channel) == view(b->channel) &&
           a->read_replica == b->read_replica;
}

// A copy with a terminating '\0', for hiredis.
bool c_string(ngx_conf_t *cf, ngx_str_t *s) noexcept {
    if (s->len == 0) return true;
    auto *p = static_cast<u_char *>(ngx_pnalloc(cf->pool, s->len + 1));
    if (p == nullptr) return false;
    *ngx_cpymem(p, s->data, s->len) = '\0';
    s->data = p;
    return true;
}

// The one shared endpoint for this location's Redis settings, added to the main conf.
RedisEndpoint *register_endpoint(ngx_conf_t *cf, LocConf *conf) noexcept {
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_asset_gate_module));
    RedisEndpoint want = *conf->endpoint_proto;
    want.password = conf->redis_password;
    want.db = conf->redis_db;
    want.timeout = conf->redis_timeout;
    want.channel = conf->invalidation_channel;
    want.read_replica = conf->redis_read_replica;
    auto **eps = static_cast<RedisEndpoint **>(mcf->endpoints.elts);
    for (ngx_uint_t i = 0; i < mcf->endpoints.nelts; i++) {
        if (same_endpoint(eps[i], &want)) return eps[i];
    }
    auto *ep = static_cast<RedisEndpoint *>(ngx_pcalloc(cf->pool, sizeof(RedisEndpoint)));
    auto **slot = static_cast<RedisEndpoint **>(ngx_array_push(&mcf->endpoints));
    if (ep == nullptr || slot == nullptr) return nullptr;
    *ep = want;
    if (!c_string(cf, &ep->password) || !c_string(cf, &ep->channel)) return nullptr;
    ep->index = mcf->endpoints.nelts - 1;
    *slot = ep;
    return ep;
}

char *merge_loc_conf(ngx_conf_t *cf, void *parent, void *child) noexcept {
    auto *prev = static_cast<LocConf *>(parent);
    auto *conf = static_cast<LocConf *>(child);

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    if (conf->base.data == nullptr) {
        conf->base = prev->base;
        conf->conf_file = prev->conf_file;
        conf->conf_line = prev->conf_line;
    }
    ngx_conf_merge_ptr_value(conf->keys, prev->keys, nullptr);
    ngx_conf_merge_str_value(conf->key_file, prev->key_file, "");
    ngx_conf_merge_str_value(conf->audience, prev->audience, "posthog:exported_asset");
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 0);
    if (conf->render.data == nullptr) {
        conf->render_file = prev->render_file;
        conf->render_line = prev->render_line;
    }
    if (conf->content.data == nullptr) {
        conf->content_file = prev->content_file;
        conf->content_line = prev->content_line;
    }
    ngx_conf_merge_str_value(conf->render, prev->render, "");
    ngx_conf_merge_str_value(conf->content, prev->content, "");
    ngx_conf_merge_value(conf->content_inline, prev->content_inline, 0);
    ngx_conf_merge_ptr_value(conf->endpoint_proto, prev->endpoint_proto, nullptr);
    ngx_conf_merge_str_value(conf->redis_password, prev->redis_password, "");
    ngx_conf_merge_value(conf->redis_db, prev->redis_db, 0);
    ngx_conf_merge_msec_value(conf->redis_timeout, prev->redis_timeout, 200);
    ngx_conf_merge_str_value(conf->redis_prefix, prev->redis_prefix, "");
    ngx_conf_merge_str_value(conf->invalidation_channel, prev->invalidation_channel, "");
    ngx_conf_merge_uint_value(conf->redis_read_replica, prev->redis_read_replica, 0);
    ngx_conf_merge_uint_value(conf->redis_failure, prev->redis_failure,
                              NGX_HTTP_SERVICE_UNAVAILABLE);
    ngx_conf_merge_msec_value(conf->cache_valid, prev->cache_valid, 5000);
    ngx_conf_merge_msec_value(conf->cache_negative, prev->cache_negative, 2000);
    ngx_conf_merge_sec_value(conf->content_max_age, prev->content_max_age, 86400);
    conf->cache_control.data =
        static_cast<u_char *>(ngx_pnalloc(cf->pool, sizeof("private, max-age=") + NGX_TIME_T_LEN));
    if (conf->cache_control.data == nullptr) return conf_error();
    conf->cache_control.len =
        ngx_sprintf(conf->cache_control.data, "private, max-age=%T", conf->content_max_age) -
        conf->cache_control.data;

    if (s3_merge_loc_conf(cf, prev, conf) != NGX_CONF_OK) return conf_error();

    if (!conf->enable) return NGX_CONF_OK;
    if (conf->s3_redirect && !s3_configured(conf)) {
        return merge_error(cf, conf,
                           "\"asset_gate_s3_redirect on\" needs \"asset_gate_s3_endpoint\", "
                           "\"asset_gate_s3_bucket\" and \"asset_gate_s3_credentials_file\"");
    }
    if (conf->keys == nullptr) {
        return merge_error(cf, conf, "\"asset_gate on\" needs \"asset_gate_key_file\"");
    }
    if (conf->endpoint_proto == nullptr) {
        return merge_error(cf, conf, "\"asset_gate on\" needs \"asset_gate_redis\"");
    }
    if (conf->redis_read_replica && conf->endpoint_proto->sentinel_master.len == 0) {
        return merge_error(cf, conf,
                           "\"asset_gate_redis_read_from replica\" needs a sentinel: address "
                           "(point asset_gate_redis at a replica to read from it directly)");
    }
    if (conf->redis_timeout == 0) {
        return merge_error(cf, conf, "\"asset_gate_redis_timeout\" must be positive");
    }
    conf->endpoint = register_endpoint(cf, conf);
    if (conf->endpoint == nullptr) return conf_error();
    try {
        std::string prefix = cache_namespace(view(conf->endpoint->name), conf->endpoint->db);
        prefix.append(view(conf->redis_prefix));
        if (!pool_copy(cf->pool, prefix, &conf->cache_prefix)) return conf_error();
    } catch (...) {
        return conf_error();
    }
    if (s3_note_gate(cf, conf) != NGX_CONF_OK) return conf_error();
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_asset_gate_module));
    mcf->enabled = 1;
    if (is_uri_target(conf->render) || (!conf->content_inline && is_uri_target(conf->content))) {
        mcf->uri_targets = 1;
    }
    auto *ref = static_cast<GateRef *>(ngx_array_push(&mcf->gates));
    if (ref == nullptr) return conf_error();
    ref->conf = conf;
    ref->server = static_cast<ngx_http_core_srv_conf_t *>(
        ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module));
    return NGX_CONF_OK;
}

// --- directives ------------------------------------------------------------------------------

char *set_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    auto *conf = static_cast<LocConf *>(c);
    char *rv = ngx_conf_set_flag_slot(cf, cmd, c);
    if (rv != NGX_CONF_OK) return rv;
    auto *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    if (clcf->named || clcf->noname
#if (NGX_PCRE)
        || clcf->regex
#endif
    ) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"asset_gate\" needs a prefix location, not a named, regex or "
                           "\"if\" location");
        return conf_error();
    }
    ngx_str_t base = clcf->name;
    while (base.len > 0 && base.data[base.len - 1] == '/') base.len--;
    conf->base = base;
    conf->conf_file = cf->conf_file->file.name;
    conf->conf_line = cf->conf_file->line;
    return NGX_CONF_OK;
}

void destroy_keys(void *data) noexcept {
    static_cast<KeySet *>(data)->~KeySet();
}

char *set_key_file(ngx_conf_t *cf, ngx_command_t *, void *c) noexcept {
    auto *conf = static_cast<LocConf *>(c);
    if (conf->keys != NGX_CONF_UNSET_PTR) return const_cast<char *>("is duplicate");
    ngx_str_t path = static_cast<ngx_str_t *>(cf->args->elts)[1];
    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) return conf_error();
    conf->key_file = path;

    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, sizeof(KeySet));
    if (cln == nullptr) return conf_error();
    auto *keys = new (cln->data) KeySet();
    cln->handler = destroy_keys;
    std::string text;
    try {
        FileError error;
        if (!read_secret_file(reinterpret_cast<const char *>(path.data), &text, &error)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s key file \"%V\": %s", error.verb, &path,
                               error.detail.c_str());
            return conf_error();
        }
        for_each_key(text, [&](std::size_t line, std::string_view key) {
            if (key.size() < kShortKeySize) {
                ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                                   "key on line %uz of \"%V\" is shorter than %uz bytes", line,
                                   &path, kShortKeySize);
            }
            keys->add(key);
        });
    } catch (...) {
        cleanse_secret(&text);
        return conf_error();
    }
    cleanse_secret(&text);
    if (keys->empty()) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "key file \"%V\" has no keys", &path);
        return conf_error();
    }
    conf->keys = keys;
    return NGX_CONF_OK;
}

char *set_target(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    auto *conf = static_cast<LocConf *>(c);
    ngx_str_t value = static_cast<ngx_str_t *>(cf->args->elts)[1];
    auto *field = reinterpret_cast<ngx_str_t *>(reinterpret_cast<char *>(c) + cmd->offset);
    if (field->data != nullptr || (field == &conf->content && conf->content_inline == 1)) {
        return const_cast<char *>("is duplicate");
    }
    if (field == &conf->content && view(value) == "inline") {
        conf->content_inline = 1;
        return NGX_CONF_OK;
    }
    if (value.len < 2 || (value.data[0] != '@' && value.data[0] != '/')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", expected a named location (@name) or a URI%s",
                           &value, field == &conf->content ? " or \"inline\"" : "");
        return conf_error();
    }
    *field = value;
    bool content = field == &conf->content;
    if (content) conf->content_inline = 0;
    (content ? conf->content_file : conf->render_file) = cf->conf_file->file.name;
    (content ? conf->content_line : conf->render_line) = cf->conf_file->line;
    return NGX_CONF_OK;
}

// The server's named location `name`, or null.
ngx_http_core_loc_conf_t *named_location(ngx_http_core_srv_conf_t *server, ngx_str_t name) noexcept {
    if (server->named_locations == nullptr) return nullptr;
    for (ngx_http_core_loc_conf_t **clcf = server->named_locations; *clcf != nullptr; clcf++) {
        if (view((*clcf)->name) == view(name)) return *clcf;
    }
    return nullptr;
}

// A named target must exist in the gate's server (a typo would make every allowed request a
// 500 while refusals stay 404); the location it names is marked as that surface's target.
ngx_int_t check_target(ngx_conf_t *cf, const GateRef &gate, const char *directive, ngx_str_t name,
                       const ngx_str_t &file, ngx_uint_t line, Surface surface) noexcept {
    if (name.len == 0 || name.data[0] != '@') return NGX_OK;
    ngx_http_core_loc_conf_t *clcf = named_location(gate.server, name);
    if (clcf == nullptr) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%s\" names \"%V\", which this server does not define in %V:%ui",
                      directive, &name, &file, line);
        return NGX_ERROR;
    }
    auto *target = static_cast<LocConf *>(clcf->loc_conf[ngx_http_asset_gate_module.ctx_index]);
    target->target_of |= 1u << static_cast<unsigned>(surface);
    return NGX_OK;
}

ngx_int_t check_targets(ngx_conf_t *cf, MainConf *mcf) noexcept {
    auto *gates = static_cast<GateRef *>(mcf->gates.elts);
    for (ngx_uint_t i = 0; i < mcf->gates.nelts; i++) {
        LocConf *g = gates[i].conf;
        if (check_target(cf, gates[i], "asset_gate_render", g->render, g->render_file,
                         g->render_line, Surface::render) != NGX_OK) {
            return NGX_ERROR;
        }
        if (!g->content_inline &&
            check_target(cf, gates[i], "asset_gate_content", g->content, g->content_file,
                         g->content_line, Surface::content) != NGX_OK) {
            return NGX_ERROR;
        }
    }
    return NGX_OK;
}

// host:port resolved now, into a numeric address.
bool resolve(ngx_conf_t *cf, ngx_str_t value, ngx_str_t whole, RedisHostPort *out) noexcept {
    ngx_url_t u;
    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value;
    u.default_port = 6379;
    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0 || u.uri.len != 0 ||
        u.family == AF_UNIX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid redis address \"%V\" in \"%V\"%s%s",
                           &value, &whole, u.err ? ": " : "", u.err ? u.err : "");
        return false;
    }
    out->host.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1));
    if (out->host.data == nullptr) return false;
    out->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, out->host.data,
                                  NGX_SOCKADDR_STRLEN, 0);
    out->host.data[out->host.len] = '\0';
    out->port = u.port;
    return true;
}

// sentinel:MASTER@HOST:PORT,HOST:PORT,...
bool set_sentinels(ngx_conf_t *cf, ngx_str_t value, RedisEndpoint *ep) noexcept {
    std::string_view rest = view(value).substr(9);
    size_t at = rest.find('@');
    if (at == 0 || at == std::string_view::npos || at + 1 == rest.size()) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis address \"%V\", expected sentinel:MASTER@HOST:PORT,...",
                           &value);
        return false;
    }
    ep->sentinel_master = ngx_view(rest.substr(0, at));
    if (!c_string(cf, &ep->sentinel_master)) return false;
    ep->sentinels = ngx_array_create(cf->pool, 3, sizeof(RedisHostPort));
    if (ep->sentinels == nullptr) return false;
    rest.remove_prefix(at + 1);
    while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view one = rest.substr(0, comma);
        rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
        auto *hp = static_cast<RedisHostPort *>(ngx_array_push(ep->sentinels));
        if (hp == nullptr || !resolve(cf, ngx_view(one), value, hp)) return false;
    }
    return ep->sentinels->nelts > 0;
}

char *set_redis(ngx_conf_t *cf, ngx_command_t *, void *c) noexcept {
    auto *conf = static_cast<LocConf *>(c);
    if (conf->endpoint_proto != NGX_CONF_UNSET_PTR) return const_cast<char *>("is duplicate");
    ngx_str_t value = static_cast<ngx_str_t *>(cf->args->elts)[1];
    auto *ep = static_cast<RedisEndpoint *>(ngx_pcalloc(cf->pool, sizeof(RedisEndpoint)));
    if (ep == nullptr) return conf_error();
    ep->name = value;

    if (value.len > 5 && ngx_strncmp(value.data, "unix:", 5) == 0) {
        size_t n = value.len - 5;
        if (value.data[5] != '/' || n >= sizeof(((struct sockaddr_un *)nullptr)->sun_path)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid redis address \"%V\"", &value);
            return conf_error();
        }
        ep->unix_path.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, n + 1));
        if (ep->unix_path.data == nullptr) return conf_error();
        *ngx_cpymem(ep->unix_path.data, value.data + 5, n) = '\0';
        ep->unix_path.len = n;
        conf->endpoint_proto = ep;
        return NGX_CONF_OK;
    }

    if (value.len > 9 && ngx_strncmp(value.data, "sentinel:", 9) == 0) {
        if (!set_sentinels(cf, value, ep)) return conf_error();
        conf->endpoint_proto = ep;
        return NGX_CONF_OK;
    }

    // Names are resolved now, once: hiredis would resolve them synchronously at every connect.
    ngx_url_t u;
    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value;
    u.default_port = 6379;
    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0 || u.uri.len != 0 ||
        u.family == AF_UNIX) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid redis address \"%V\": %s", &value,
                               u.err);
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid redis address \"%V\"", &value);
        }
        return conf_error();
    }
    ep->host.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1));
    if (ep->host.data == nullptr) return conf_error();
    ep->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, ep->host.data,
                                 NGX_SOCKADDR_STRLEN, 0);
    ep->host.data[ep->host.len] = '\0';
    ep->port = u.port;
    if (u.naddrs > 1) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "redis address \"%V\" resolves to %ui addresses, "
                           "using %V",
                           &value, u.naddrs, &ep->host);
    }
    conf->endpoint_proto = ep;
    return NGX_CONF_OK;
}

char *set_read_from(ngx_conf_t *cf, ngx_command_t *, void *c) noexcept {
    auto *conf = static_cast<LocConf *>(c);
    if (conf->redis_read_replica != NGX_CONF_UNSET_UINT) return const_cast<char *>("is duplicate");
    ngx_str_t value = static_cast<ngx_str_t *>(cf->args->elts)[1];
    if (view(value) == "master") {
        conf->redis_read_replica = 0;
    } else if (view(value) == "replica") {
        conf->redis_read_replica = 1;
    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value \"%V\", expected master or replica",
                           &value);
        return conf_error();
    }
    return NGX_CONF_OK;
}

char *set_redis_failure(ngx_conf_t *cf, ngx_command_t *, void *c) noexcept {
    auto *conf = static_cast<LocConf *>(c);
    if (conf->redis_failure != NGX_CONF_UNSET_UINT) return const_cast<char *>("is duplicate");
    ngx_str_t value = static_cast<ngx_str_t *>(cf->args->elts)[1];
    if (view(value) == "503") {
        conf->redis_failure = NGX_HTTP_SERVICE_UNAVAILABLE;
    } else if (view(value) == "404") {
        conf->redis_failure = NGX_HTTP_NOT_FOUND;
    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value \"%V\", expected 503 or 404",
                           &value);
        return conf_error();
    }
    return NGX_CONF_OK;
}

char *set_redis_db(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    char *rv = ngx_conf_set_num_slot(cf, cmd, c);
    if (rv != NGX_CONF_OK) return rv;
    if (static_cast<LocConf *>(c)->redis_db < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid database number");
        return conf_error();
    }
    return NGX_CONF_OK;
}

char *set_cache_zone(ngx_conf_t *cf, ngx_command_t *, void *c) noexcept {
    auto *mcf = static_cast<MainConf *>(c);
    if (mcf->cache_zone != nullptr) return const_cast<char *>("is duplicate");
    return cache_zone_add(cf, &static_cast<ngx_str_t *>(cf->args->elts)[1], &mcf->cache_zone);
}

char *set_status(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_asset_gate_module));
    mcf->status = 1;
    return stats_set_status(cf, cmd, c);
}

#define AG_LOC NGX_HTTP_LOC_CONF
#define AG_ANY (NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF)
#define AG_OFF(field) offsetof(LocConf, field)

ngx_command_t g_commands[] = {
    {ngx_string("asset_gate"), AG_LOC | NGX_CONF_FLAG, set_enable, NGX_HTTP_LOC_CONF_OFFSET,
     AG_OFF(enable), nullptr},
    {ngx_string("asset_gate_key_file"), AG_ANY | NGX_CONF_TAKE1, set_key_file,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("asset_gate_audience"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(audience), nullptr},
    {ngx_string("asset_gate_leeway"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_sec_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(leeway), nullptr},
    {ngx_string("asset_gate_render"), AG_LOC | NGX_CONF_TAKE1, set_target, NGX_HTTP_LOC_CONF_OFFSET,
     AG_OFF(render), nullptr},
    {ngx_string("asset_gate_content"), AG_LOC | NGX_CONF_TAKE1, set_target,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(content), nullptr},
    {ngx_string("asset_gate_redis"), AG_ANY | NGX_CONF_TAKE1, set_redis, NGX_HTTP_LOC_CONF_OFFSET,
     0, nullptr},
    {ngx_string("asset_gate_redis_password"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis_password), nullptr},
    {ngx_string("asset_gate_redis_db"), AG_ANY | NGX_CONF_TAKE1, set_redis_db,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis_db), nullptr},
    {ngx_string("asset_gate_redis_timeout"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis_timeout), nullptr},
    {ngx_string("asset_gate_redis_prefix"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis_prefix), nullptr},
    {ngx_string("asset_gate_redis_read_from"), AG_ANY | NGX_CONF_TAKE1, set_read_from,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("asset_gate_invalidation_channel"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(invalidation_channel), nullptr},
    {ngx_string("asset_gate_redis_failure"), AG_ANY | NGX_CONF_TAKE1, set_redis_failure,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("asset_gate_cache_zone"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, set_cache_zone,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, nullptr},
    {ngx_string("asset_gate_cache_valid"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(cache_valid), nullptr},
    {ngx_string("asset_gate_cache_negative"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(cache_negative), nullptr},
    {ngx_string("asset_gate_content_max_age"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_sec_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(content_max_age), nullptr},
    {ngx_string("asset_gate_status"), AG_LOC | NGX_CONF_NOARGS, set_status,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("asset_gate_s3_endpoint"), AG_ANY | NGX_CONF_TAKE1, s3_set_endpoint,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("asset_gate_s3_bucket"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(s3_bucket), nullptr},
    {ngx_string("asset_gate_s3_region"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(s3_region), nullptr},
    {ngx_string("asset_gate_s3_addressing"), AG_ANY | NGX_CONF_TAKE1, s3_set_addressing,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("asset_gate_s3_credentials_file"), AG_ANY | NGX_CONF_TAKE1, s3_set_credentials,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("asset_gate_s3_presign_expires"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_sec_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(s3_presign_expires), nullptr},
    {ngx_string("asset_gate_s3_redirect"), AG_LOC | NGX_CONF_FLAG, ngx_conf_set_flag_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(s3_redirect), nullptr},
    ngx_null_command,
};

ngx_int_t preconfiguration(ngx_conf_t *cf) noexcept {
    return add_variables(cf) == NGX_OK ? s3_add_variables(cf) : NGX_ERROR;
}

ngx_int_t postconfiguration(ngx_conf_t *cf) noexcept {
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_asset_gate_module));
    if ((mcf->enabled || mcf->status) && stats_zone_add(cf) != NGX_OK) return NGX_ERROR;
    if (!mcf->enabled) return NGX_OK;  // no gate anywhere: stay out of every request's way
    if (check_targets(cf, mcf) != NGX_OK) return NGX_ERROR;
    auto *cmcf = static_cast<ngx_http_core_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto *h = static_cast<ngx_http_handler_pt *>(
        ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers));
    if (h == nullptr) return NGX_ERROR;
    *h = [](ngx_http_request_t *r) -> ngx_int_t { return access_handler(r); };
    h = static_cast<ngx_http_handler_pt *>(
        ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers));
    if (h == nullptr) return NGX_ERROR;
    // Registered after the rewrite module's (a dynamic module's postconfiguration runs later),
    // so it runs before it: a target's `return` cannot answer first.
    *h = [](ngx_http_request_t *r) -> ngx_int_t { return rewrite_guard(r); };
    if (log_mask_init(cf) != NGX_OK || s3_postconfiguration(cf) != NGX_OK) return NGX_ERROR;
    return header_filter_init(cf);
}

VerifiedTokenCache *g_verified_tokens = nullptr;

ngx_int_t init_process(ngx_cycle_t *cycle) noexcept {
    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) return NGX_OK;
    auto *mcf = static_cast<MainConf *>(
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_asset_gate_module));
    if (mcf == nullptr || !mcf->enabled) return NGX_OK;
    g_verified_tokens = new (std::nothrow) VerifiedTokenCache();
    return redis_clients_init(cycle, mcf);
}

void exit_process(ngx_cycle_t *) noexcept {
    redis_clients_exit();
    delete g_verified_tokens;
    g_verified_tokens = nullptr;
}

ngx_http_module_t g_module_ctx = {
    preconfiguration, postconfiguration, create_main_conf, nullptr,
    nullptr,          nullptr,           create_loc_conf,  merge_loc_conf,
};

}  // namespace

VerifiedTokenCache *verified_tokens() noexcept {
    return g_verified_tokens;
}

}  // namespace asset_gate

extern "C" {
ngx_module_t ngx_http_asset_gate_module = {
    NGX_MODULE_V1,
    &asset_gate::g_module_ctx,
    asset_gate::g_commands,
    NGX_HTTP_MODULE,
    nullptr,                   // init master
    nullptr,                   // init module
    asset_gate::init_process,  // init process
    nullptr,                   // init thread
    nullptr,                   // exit thread
    asset_gate::exit_process,  // exit process
    nullptr,                   // exit master
    NGX_MODULE_V1_PADDING,
};
}

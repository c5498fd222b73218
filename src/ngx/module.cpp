// The module object, the gate's own directives and configuration, and the worker lifecycle.
// Each feature's settings (Redis, cache, S3) are created and merged by the file that owns
// them; this file puts them together.
#include "ngx/module.hpp"

#include <new>
#include <string>

#include "core/secret_file.hpp"
#include "ngx/health.hpp"
#include "ngx/heartbeat.hpp"
#include "ngx/log_mask.hpp"
#include "ngx/redis_client.hpp"
#include "ngx/stats.hpp"

namespace asset_gate {

namespace {

MainConf *main_conf(ngx_conf_t *cf) noexcept {
    return static_cast<MainConf *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_asset_gate_module));
}

// --- configuration ----------------------------------------------------------------------------

void *create_loc_conf(ngx_conf_t *cf) noexcept {
    auto *conf = static_cast<LocConf *>(ngx_pcalloc(cf->pool, sizeof(LocConf)));
    if (conf == nullptr) return nullptr;
    conf->enable = NGX_CONF_UNSET;
    conf->token.keys = static_cast<KeySet *>(NGX_CONF_UNSET_PTR);
    conf->token.leeway = NGX_CONF_UNSET;
    conf->content_inline = NGX_CONF_UNSET;
    conf->content_max_age = NGX_CONF_UNSET;
    conf->sync_max_age = NGX_CONF_UNSET;
    redis_init_conf(&conf->redis);
    cache_init_conf(&conf->cache);
    s3_init_conf(&conf->s3);
    return conf;
}

void *create_main_conf(ngx_conf_t *cf) noexcept {
    auto *conf = static_cast<MainConf *>(ngx_pcalloc(cf->pool, sizeof(MainConf)));
    if (conf == nullptr) return nullptr;
    if (ngx_array_init(&conf->endpoints, cf->pool, 2, sizeof(RedisEndpoint *)) != NGX_OK ||
        ngx_array_init(&conf->gates, cf->pool, 4, sizeof(GateRef)) != NGX_OK ||
        ngx_array_init(&conf->heartbeats, cf->pool, 1, sizeof(HeartbeatSource *)) != NGX_OK ||
        ngx_array_init(&conf->s3_credentials, cf->pool, 1, sizeof(S3CredentialsFile *)) !=
            NGX_OK) {
        return nullptr;
    }
    conf->token_cache = NGX_CONF_UNSET_SIZE;
    conf->local_cache = NGX_CONF_UNSET_SIZE;
    return conf;
}

char *init_main_conf(ngx_conf_t *, void *c) noexcept {
    auto *conf = static_cast<MainConf *>(c);
    ngx_conf_init_size_value(conf->token_cache, VerifiedTokenCache::kDefaultBytes);
    ngx_conf_init_size_value(conf->local_cache, LocalRecordCache::kDefaultBytes);
    return NGX_CONF_OK;
}

void merge_target(Target *conf, const Target &prev) noexcept {
    if (conf->to.data == nullptr) conf->site = prev.site;
    ngx_conf_merge_str_value(conf->to, prev.to, "");
}

// The gate's own settings: where it is, its keys, its targets, its content headers.
bool merge_gate(ngx_conf_t *cf, LocConf *conf, const LocConf *prev) noexcept {
    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    if (conf->base.data == nullptr) {
        conf->base = prev->base;
        conf->site = prev->site;
    }
    ngx_conf_merge_ptr_value(conf->token.keys, prev->token.keys, nullptr);
    ngx_conf_merge_str_value(conf->token.audience, prev->token.audience, "posthog:exported_asset");
    ngx_conf_merge_sec_value(conf->token.leeway, prev->token.leeway, 0);
    merge_target(&conf->render, prev->render);
    merge_target(&conf->content, prev->content);
    ngx_conf_merge_value(conf->content_inline, prev->content_inline, 0);
    ngx_conf_merge_sec_value(conf->content_max_age, prev->content_max_age, 86400);
    ngx_conf_merge_sec_value(conf->sync_max_age, prev->sync_max_age, 0);
    conf->cache_control.data =
        static_cast<u_char *>(ngx_pnalloc(cf->pool, sizeof("private, max-age=") + NGX_TIME_T_LEN));
    if (conf->cache_control.data == nullptr) return false;
    conf->cache_control.len =
        ngx_sprintf(conf->cache_control.data, "private, max-age=%T", conf->content_max_age) -
        conf->cache_control.data;
    return true;
}

// A location with `asset_gate on`: complete, and remembered for the checks at postconfiguration.
char *finish_gate(ngx_conf_t *cf, LocConf *conf) noexcept {
    if (conf->s3.redirect && !s3_configured(conf->s3)) {
        return site_error(cf, conf->site,
                          "\"asset_gate_s3_redirect on\" needs \"asset_gate_s3_endpoint\", "
                          "\"asset_gate_s3_bucket\" and \"asset_gate_s3_credentials_file\"");
    }
    if (conf->token.keys == nullptr) {
        return site_error(cf, conf->site, "\"asset_gate on\" needs \"asset_gate_key_file\"");
    }
    MainConf *mcf = main_conf(cf);
    char *rv = redis_finish_gate(cf, &conf->redis, &mcf->endpoints, conf->site);
    if (rv != NGX_CONF_OK) return rv;
    rv = heartbeat_finish_gate(cf, conf, &mcf->heartbeats);
    if (rv != NGX_CONF_OK) return rv;
    mcf->enabled = 1;
    if (is_uri_target(conf->render) || (!conf->content_inline && is_uri_target(conf->content))) {
        mcf->uri_targets = 1;
    }
    auto *ref = static_cast<GateRef *>(ngx_array_push(&mcf->gates));
    if (ref == nullptr) return conf_error();
    ref->conf = conf;
    ref->server = static_cast<ngx_http_core_srv_conf_t *>(
        ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module));
    ref->location = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    return NGX_CONF_OK;
}

char *merge_loc_conf(ngx_conf_t *cf, void *parent, void *child) noexcept {
    const auto *prev = static_cast<const LocConf *>(parent);
    auto *conf = static_cast<LocConf *>(child);
    if (!merge_gate(cf, conf, prev)) return conf_error();
    redis_merge_conf(&conf->redis, &prev->redis);
    cache_merge_conf(&conf->cache, &prev->cache);
    if (s3_merge_conf(cf, &conf->s3, &prev->s3) != NGX_CONF_OK) return conf_error();
    return conf->enable ? finish_gate(cf, conf) : NGX_CONF_OK;
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
    conf->site = conf_site(cf);
    return NGX_CONF_OK;
}

void destroy_keys(void *data) noexcept {
    static_cast<KeySet *>(data)->~KeySet();
}

// Reads the key file into `keys`; false after logging why.
bool load_keys(ngx_conf_t *cf, const ngx_str_t &path, KeySet *keys) noexcept {
    std::string text;
    bool ok = false;
    try {
        FileError error;
        if (!read_secret_file(reinterpret_cast<const char *>(path.data), &text, &error)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s key file \"%V\": %s", error.verb, &path,
                               error.detail.c_str());
        } else {
            for_each_key(text, [&](std::size_t line, std::string_view key) {
                if (key.size() < kShortKeySize) {
                    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                                       "key on line %uz of \"%V\" is shorter than %uz bytes", line,
                                       &path, kShortKeySize);
                }
                keys->add(key);
            });
            ok = true;
        }
    } catch (...) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "cannot read key file \"%V\": out of memory",
                           &path);
    }
    cleanse_secret(&text);
    if (ok && keys->empty()) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "key file \"%V\" has no keys", &path);
        ok = false;
    }
    return ok;
}

char *set_key_file(ngx_conf_t *cf, ngx_command_t *, void *c) noexcept {
    auto *conf = static_cast<LocConf *>(c);
    if (conf->token.keys != NGX_CONF_UNSET_PTR) return const_cast<char *>("is duplicate");
    ngx_str_t path;
    if (!conf_path_argument(cf, &path)) return conf_error();
    auto *keys = conf_object<KeySet>(cf, destroy_keys);
    if (keys == nullptr || !load_keys(cf, path, keys)) return conf_error();
    conf->token.keys = keys;
    return NGX_CONF_OK;
}

// asset_gate_render and asset_gate_content: "@name" or "/uri"; content may also be "inline".
char *set_target(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    auto *conf = static_cast<LocConf *>(c);
    ngx_str_t value = static_cast<ngx_str_t *>(cf->args->elts)[1];
    auto *target = reinterpret_cast<Target *>(static_cast<char *>(c) + cmd->offset);
    bool content = target == &conf->content;
    if (target->to.data != nullptr || (content && conf->content_inline == 1)) {
        return const_cast<char *>("is duplicate");
    }
    if (content && view(value) == "inline") {
        conf->content_inline = 1;
        target->site = conf_site(cf);
        return NGX_CONF_OK;
    }
    if (value.len < 2 || (value.data[0] != '@' && value.data[0] != '/')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", expected a named location (@name) or a URI%s",
                           &value, content ? " or \"inline\"" : "");
        return conf_error();
    }
    target->to = value;
    target->site = conf_site(cf);
    if (content) conf->content_inline = 0;
    return NGX_CONF_OK;
}

// nginx's enum slot, with the accepted values named when the one given is not among them.
char *set_choice(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    ngx_str_t value = static_cast<ngx_str_t *>(cf->args->elts)[1];
    const auto *choices = static_cast<const ngx_conf_enum_t *>(cmd->post);
    u_char expected[128];
    u_char *p = expected;
    u_char *last = expected + sizeof(expected);
    for (const ngx_conf_enum_t *e = choices; e->name.len != 0; e++) {
        if (view(e->name) == view(value)) return ngx_conf_set_enum_slot(cf, cmd, c);
        const char *sep = e == choices ? "" : e[1].name.len == 0 ? " or " : ", ";
        p = ngx_slprintf(p, last, "%s%V", sep, &e->name);
    }
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value \"%V\", expected %*s", &value,
                       static_cast<size_t>(p - expected), expected);
    return conf_error();
}

char *set_cache_zone(ngx_conf_t *cf, ngx_command_t *, void *c) noexcept {
    auto *mcf = static_cast<MainConf *>(c);
    if (mcf->cache_zone != nullptr) return const_cast<char *>("is duplicate");
    return cache_zone_add(cf, &static_cast<ngx_str_t *>(cf->args->elts)[1], &mcf->cache_zone);
}

char *set_status(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    main_conf(cf)->status = 1;
    return stats_set_status(cf, cmd, c);
}

// --- postconfiguration: the targets the gates name ---------------------------------------------

// A named target must exist in the gate's server (a typo would make every allowed request a
// 500 while refusals stay 404); the location it names is marked as that surface's target.
ngx_int_t check_target(ngx_conf_t *cf, const GateRef &gate, const char *directive,
                       const Target &target, Surface surface) noexcept {
    if (target.to.len == 0 || target.to.data[0] != '@') return NGX_OK;
    ngx_http_core_loc_conf_t *clcf = named_location(gate.server, target.to);
    if (clcf == nullptr) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%s\" names \"%V\", which this server does not define in %V:%ui", directive,
                      &target.to, &target.site.file, target.site.line);
        return NGX_ERROR;
    }
    auto *named = static_cast<LocConf *>(clcf->loc_conf[ngx_http_asset_gate_module.ctx_index]);
    named->target_of |= 1u << static_cast<unsigned>(surface);
    return NGX_OK;
}

ngx_int_t check_targets(ngx_conf_t *cf, const MainConf *mcf) noexcept {
    auto *gates = static_cast<GateRef *>(mcf->gates.elts);
    for (ngx_uint_t i = 0; i < mcf->gates.nelts; i++) {
        const LocConf *g = gates[i].conf;
        if (check_target(cf, gates[i], "asset_gate_render", g->render, Surface::render) != NGX_OK) {
            return NGX_ERROR;
        }
        if (!g->content_inline && check_target(cf, gates[i], "asset_gate_content", g->content,
                                               Surface::content) != NGX_OK) {
            return NGX_ERROR;
        }
    }
    return NGX_OK;
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
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(token.audience), nullptr},
    {ngx_string("asset_gate_leeway"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_sec_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(token.leeway), nullptr},
    {ngx_string("asset_gate_render"), AG_LOC | NGX_CONF_TAKE1, set_target, NGX_HTTP_LOC_CONF_OFFSET,
     AG_OFF(render), nullptr},
    {ngx_string("asset_gate_content"), AG_LOC | NGX_CONF_TAKE1, set_target,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(content), nullptr},
    {ngx_string("asset_gate_redis"), AG_ANY | NGX_CONF_TAKE1, redis_set_address,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis), nullptr},
    {ngx_string("asset_gate_redis_user"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.auth.user), nullptr},
    {ngx_string("asset_gate_redis_password"), AG_ANY | NGX_CONF_TAKE1, redis_set_password,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.auth), nullptr},
    {ngx_string("asset_gate_redis_password_file"), AG_ANY | NGX_CONF_TAKE1,
     redis_set_password_file, NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.auth), nullptr},
    {ngx_string("asset_gate_redis_sentinel_user"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.sentinel_auth.user), nullptr},
    {ngx_string("asset_gate_redis_sentinel_password"), AG_ANY | NGX_CONF_TAKE1,
     redis_set_password, NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.sentinel_auth), nullptr},
    {ngx_string("asset_gate_redis_sentinel_password_file"), AG_ANY | NGX_CONF_TAKE1,
     redis_set_password_file, NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.sentinel_auth), nullptr},
    {ngx_string("asset_gate_redis_tls"), AG_ANY | NGX_CONF_FLAG, redis_set_tls,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.tls), nullptr},
    {ngx_string("asset_gate_redis_tls_trusted_certificate"), AG_ANY | NGX_CONF_TAKE1,
     redis_set_trusted_certificate, NGX_HTTP_LOC_CONF_OFFSET,
     AG_OFF(redis.tls_trusted_certificate), nullptr},
    {ngx_string("asset_gate_redis_tls_server_name"), AG_ANY | NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.tls_server_name), nullptr},
    {ngx_string("asset_gate_redis_db"), AG_ANY | NGX_CONF_TAKE1, redis_set_db,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.db), nullptr},
    {ngx_string("asset_gate_redis_timeout"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.timeout), nullptr},
    {ngx_string("asset_gate_redis_prefix"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.prefix), nullptr},
    {ngx_string("asset_gate_redis_read_from"), AG_ANY | NGX_CONF_TAKE1, set_choice,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.read_from), redis_read_from_values},
    {ngx_string("asset_gate_invalidation_channel"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.channel), nullptr},
    {ngx_string("asset_gate_redis_failure"), AG_ANY | NGX_CONF_TAKE1, set_choice,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(redis.failure), redis_failure_values},
    {ngx_string("asset_gate_token_cache"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_size_slot, NGX_HTTP_MAIN_CONF_OFFSET, offsetof(MainConf, token_cache), nullptr},
    {ngx_string("asset_gate_cache_zone"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, set_cache_zone,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, nullptr},
    {ngx_string("asset_gate_cache_local"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_size_slot, NGX_HTTP_MAIN_CONF_OFFSET, offsetof(MainConf, local_cache), nullptr},
    {ngx_string("asset_gate_cache_valid"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(cache.valid), nullptr},
    {ngx_string("asset_gate_cache_negative"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_msec_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(cache.negative), nullptr},
    {ngx_string("asset_gate_content_max_age"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_sec_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(content_max_age), nullptr},
    {ngx_string("asset_gate_sync_max_age"), AG_ANY | NGX_CONF_TAKE1, heartbeat_set_max_age,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(sync_max_age), nullptr},
    {ngx_string("asset_gate_status"), AG_LOC | NGX_CONF_NOARGS, set_status,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("asset_gate_health"), AG_LOC | NGX_CONF_NOARGS, health_set,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("asset_gate_s3_endpoint"), AG_ANY | NGX_CONF_TAKE1, s3_set_endpoint,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(s3), nullptr},
    {ngx_string("asset_gate_s3_bucket"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(s3.bucket), nullptr},
    {ngx_string("asset_gate_s3_region"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(s3.region), nullptr},
    {ngx_string("asset_gate_s3_addressing"), AG_ANY | NGX_CONF_TAKE1, set_choice,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(s3.addressing), s3_addressing_values},
    {ngx_string("asset_gate_s3_credentials_file"), AG_ANY | NGX_CONF_TAKE1, s3_set_credentials,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(s3), nullptr},
    {ngx_string("asset_gate_s3_presign_expires"), AG_ANY | NGX_CONF_TAKE1, ngx_conf_set_sec_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(s3.presign_expires), nullptr},
    {ngx_string("asset_gate_s3_redirect"), AG_LOC | NGX_CONF_FLAG, ngx_conf_set_flag_slot,
     NGX_HTTP_LOC_CONF_OFFSET, AG_OFF(s3.redirect), nullptr},
    ngx_null_command,
};

ngx_int_t preconfiguration(ngx_conf_t *cf) noexcept {
    return add_variables(cf) == NGX_OK ? s3_add_variables(cf) : NGX_ERROR;
}

bool add_phase_handler(ngx_conf_t *cf, ngx_http_phases phase, ngx_http_handler_pt h) noexcept {
    auto *cmcf = static_cast<ngx_http_core_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto *slot = static_cast<ngx_http_handler_pt *>(ngx_array_push(&cmcf->phases[phase].handlers));
    if (slot == nullptr) return false;
    *slot = h;
    return true;
}

ngx_int_t postconfiguration(ngx_conf_t *cf) noexcept {
    MainConf *mcf = main_conf(cf);
    if ((mcf->enabled || mcf->status) && stats_zone_add(cf) != NGX_OK) return NGX_ERROR;
    if (health_check_conf(cf, mcf) != NGX_OK) return NGX_ERROR;
    if (!mcf->enabled) return NGX_OK;  // no gate anywhere: stay out of every request's way
    if (check_targets(cf, mcf) != NGX_OK) return NGX_ERROR;
    // The rewrite-phase guard is registered after the rewrite module's (a dynamic module's
    // postconfiguration runs later), so it runs before it: a target's `return` cannot answer
    // first.
    if (!add_phase_handler(cf, NGX_HTTP_ACCESS_PHASE, access_handler) ||
        !add_phase_handler(cf, NGX_HTTP_REWRITE_PHASE, rewrite_guard)) {
        return NGX_ERROR;
    }
    if (log_mask_init(cf) != NGX_OK || s3_postconfiguration(cf, mcf) != NGX_OK) return NGX_ERROR;
    serve_file_setup(mcf);
    return header_filter_init(cf);
}

VerifiedTokenCache *g_verified_tokens = nullptr;
LocalRecordCache *g_local_records = nullptr;

ngx_int_t init_process(ngx_cycle_t *cycle) noexcept {
    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) return NGX_OK;
    auto *mcf = static_cast<MainConf *>(
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_asset_gate_module));
    if (mcf == nullptr || !mcf->enabled) return NGX_OK;
    // Without it every request verifies its token afresh: slower, never wrong.
    g_verified_tokens = new (std::nothrow) VerifiedTokenCache(mcf->token_cache);
    if (mcf->token_cache != 0 &&
        (g_verified_tokens == nullptr || g_verified_tokens->capacity() == 0)) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "asset_gate: no verified-token cache of %uz bytes (too small for a set "
                      "of %uz tokens, or no memory): running without it",
                      mcf->token_cache, VerifiedTokenCache::kWays);
    }
    // Without it every lookup asks the zone: slower, never wrong.
    if (mcf->cache_zone != nullptr && mcf->local_cache != 0) {
        g_local_records = new (std::nothrow) LocalRecordCache(mcf->local_cache);
        if (g_local_records == nullptr || g_local_records->capacity() == 0) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "asset_gate: no local record cache of %uz bytes (too small for a set "
                          "of %uz records, or no memory): running without it",
                          mcf->local_cache, LocalRecordCache::kWays);
            delete g_local_records;
            g_local_records = nullptr;
        }
    }
    s3_credentials_watch(&mcf->s3_credentials, cycle->log);
    return redis_clients_init(cycle, mcf);
}

void exit_process(ngx_cycle_t *cycle) noexcept {
    auto *mcf = static_cast<MainConf *>(
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_asset_gate_module));
    if (mcf != nullptr) s3_credentials_unwatch(&mcf->s3_credentials);
    redis_clients_exit();
    delete g_verified_tokens;
    g_verified_tokens = nullptr;
    delete g_local_records;
    g_local_records = nullptr;
}

ngx_http_module_t g_module_ctx = {
    preconfiguration, postconfiguration, create_main_conf, init_main_conf,
    nullptr,          nullptr,           create_loc_conf,  merge_loc_conf,
};

}  // namespace

ngx_http_core_loc_conf_t *named_location(ngx_http_core_srv_conf_t *server,
                                         ngx_str_t name) noexcept {
    for (auto **clcf = server->named_locations; clcf != nullptr && *clcf != nullptr; clcf++) {
        if (view((*clcf)->name) == view(name)) return *clcf;
    }
    return nullptr;
}

VerifiedTokenCache *verified_tokens() noexcept {
    return g_verified_tokens;
}

LocalRecordCache *local_records() noexcept {
    return g_local_records;
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

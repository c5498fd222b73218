// asset_gate_redis and its companions: addresses parsed and resolved at configuration time
// (hiredis would resolve names synchronously at every connect), settings merged, and one
// shared endpoint per distinct set of settings.
#include "ngx/redis_conf.hpp"

#include <string>

#include <openssl/crypto.h>

#include "core/keys.hpp"
#include "core/secret_file.hpp"
#include "ngx/redis_tls.hpp"

namespace asset_gate {

ngx_conf_enum_t redis_read_from_values[] = {
    {ngx_string("master"), kReadFromMaster},
    {ngx_string("replica"), kReadFromReplica},
    {ngx_null_string, 0},
};

ngx_conf_enum_t redis_failure_values[] = {
    {ngx_string("503"), NGX_HTTP_SERVICE_UNAVAILABLE},
    {ngx_string("404"), NGX_HTTP_NOT_FOUND},
    {ngx_null_string, 0},
};

namespace {

constexpr in_port_t kDefaultPort = 6379;
constexpr ngx_msec_t kDefaultTimeout = 200;

// Of a name's addresses, the one hiredis would connect to had it resolved the name itself:
// the first IPv4 address, else the first IPv6 one. So "localhost" is 127.0.0.1 whether or
// not /etc/hosts lists ::1 first, as it is for redis-cli.
const ngx_addr_t &preferred(const ngx_url_t &u) noexcept {
    for (ngx_uint_t i = 0; i < u.naddrs; i++) {
        if (u.addrs[i].sockaddr->sa_family == AF_INET) return u.addrs[i];
    }
    return u.addrs[0];
}

// host[:port], resolved now into a numeric address; `whole` is the directive's value, for the
// message when `value` is one part of it.
bool resolve(ngx_conf_t *cf, ngx_str_t value, ngx_str_t whole, RedisHostPort *out) noexcept {
    ngx_url_t u;
    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value;
    u.default_port = kDefaultPort;
    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0 || u.uri.len != 0 ||
        u.family == AF_UNIX) {
        const char *err = u.err ? u.err : "";
        const char *sep = u.err ? ": " : "";
        if (view(value) == view(whole)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid redis address \"%V\"%s%s", &value,
                               sep, err);
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid redis address \"%V\" in \"%V\"%s%s",
                               &value, &whole, sep, err);
        }
        return false;
    }
    const ngx_addr_t &use = preferred(u);
    out->host.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1));
    if (out->host.data == nullptr) return false;
    out->host.len =
        ngx_sock_ntop(use.sockaddr, use.socklen, out->host.data, NGX_SOCKADDR_STRLEN, 0);
    out->host.data[out->host.len] = '\0';
    out->port = u.port;
    out->name = u.host;
    if (!pool_c_string(cf->pool, &out->name)) return false;
    if (u.naddrs > 1) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "redis address \"%V\" resolves to %ui addresses, using %V", &value,
                           u.naddrs, &out->host);
    }
    return true;
}

// unix:/path
bool set_unix(ngx_conf_t *cf, ngx_str_t value, RedisEndpoint *ep) noexcept {
    size_t n = value.len - 5;
    if (value.data[5] != '/' || n >= sizeof(((struct sockaddr_un *)nullptr)->sun_path)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid redis address \"%V\"", &value);
        return false;
    }
    ep->unix_path = {n, value.data + 5};
    return pool_c_string(cf->pool, &ep->unix_path);
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
    if (!pool_c_string(cf->pool, &ep->sentinel_master)) return false;
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

bool same_credentials(const RedisCredentials &a, const RedisCredentials &b) noexcept {
    return view(a.user) == view(b.user) && view(a.password) == view(b.password);
}

bool same_endpoint(const RedisEndpoint *a, const RedisEndpoint *b,
                   const RedisConf *b_conf) noexcept {
    bool same_tls = (a->tls != nullptr) == (b_conf->tls == 1);
    if (same_tls && a->tls != nullptr) {
        same_tls = view(a->tls->trusted_certificate) == view(b_conf->tls_trusted_certificate) &&
                   view(a->tls->server_name) == view(b_conf->tls_server_name);
    }
    return view(a->name) == view(b->name) && same_credentials(a->auth, b->auth) &&
           same_credentials(a->sentinel_auth, b->sentinel_auth) && same_tls && a->db == b->db &&
           a->timeout == b->timeout && view(a->channel) == view(b->channel) &&
           a->read_replica == b->read_replica;
}

// The user for hiredis; the password is already a '\0'-terminated copy (conf_secret).
bool c_credentials(ngx_conf_t *cf, RedisCredentials *c) noexcept {
    return pool_c_string(cf->pool, &c->user);
}

// The configuration's copy of a password, wiped when the configuration goes.
struct SecretCopy {
    size_t len;
    u_char bytes[1];
};

void wipe_secret(void *data) noexcept {
    auto *copy = static_cast<SecretCopy *>(data);
    OPENSSL_cleanse(copy->bytes, copy->len);
}

bool conf_secret(ngx_conf_t *cf, std::string_view secret, ngx_str_t *out) noexcept {
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, sizeof(SecretCopy) + secret.size());
    if (cln == nullptr) return false;
    auto *copy = static_cast<SecretCopy *>(cln->data);
    copy->len = secret.size();
    *ngx_cpymem(copy->bytes, secret.data(), secret.size()) = '\0';
    cln->handler = wipe_secret;
    *out = {secret.size(), copy->bytes};
    return true;
}

// The one shared endpoint for these settings, added to `endpoints` when new.
RedisEndpoint *register_endpoint(ngx_conf_t *cf, const RedisConf *conf,
                                 ngx_array_t *endpoints) noexcept {
    RedisEndpoint want = *conf->address;
    want.auth = conf->auth;
    want.sentinel_auth = conf->sentinel_auth;
    want.db = conf->db;
    want.timeout = conf->timeout;
    want.channel = conf->channel;
    want.read_replica = conf->read_from == kReadFromReplica;
    auto **eps = static_cast<RedisEndpoint **>(endpoints->elts);
    for (ngx_uint_t i = 0; i < endpoints->nelts; i++) {
        if (same_endpoint(eps[i], &want, conf)) return eps[i];
    }
    auto *ep = static_cast<RedisEndpoint *>(ngx_pcalloc(cf->pool, sizeof(RedisEndpoint)));
    auto **slot = static_cast<RedisEndpoint **>(ngx_array_push(endpoints));
    if (ep == nullptr || slot == nullptr) return nullptr;
    *ep = want;
    if (!c_credentials(cf, &ep->auth) || !c_credentials(cf, &ep->sentinel_auth) ||
        !pool_c_string(cf->pool, &ep->channel)) {
        return nullptr;
    }
    if (conf->tls == 1 && !redis_tls_make(cf, conf, ep)) return nullptr;
    ep->index = endpoints->nelts - 1;
    *slot = ep;
    return ep;
}

bool make_cache_prefix(ngx_conf_t *cf, RedisConf *conf) noexcept try {
    std::string prefix = cache_namespace(view(conf->endpoint->name), conf->endpoint->db);
    prefix.append(view(conf->prefix));
    return pool_copy(cf->pool, prefix, &conf->cache_prefix);
} catch (...) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "asset_gate: out of memory");
    return false;
}

void merge_credentials(RedisCredentials *conf, const RedisCredentials *prev) noexcept {
    ngx_conf_merge_str_value(conf->user, prev->user, "");
    ngx_conf_merge_str_value(conf->password, prev->password, "");
}

void merge_tls(RedisConf *conf, const RedisConf *prev) noexcept {
    ngx_conf_merge_value(conf->tls, prev->tls, 0);
    ngx_conf_merge_str_value(conf->tls_trusted_certificate, prev->tls_trusted_certificate, "");
    ngx_conf_merge_str_value(conf->tls_server_name, prev->tls_server_name, "");
}

// How it is used: deadlines, keys, invalidation, replicas, and what a failure answers.
void merge_use(RedisConf *conf, const RedisConf *prev) noexcept {
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, kDefaultTimeout);
    ngx_conf_merge_str_value(conf->prefix, prev->prefix, "");
    ngx_conf_merge_str_value(conf->channel, prev->channel, "");
    ngx_conf_merge_uint_value(conf->read_from, prev->read_from, kReadFromMaster);
    ngx_conf_merge_uint_value(conf->failure, prev->failure, NGX_HTTP_SERVICE_UNAVAILABLE);
}

// The RedisCredentials a password directive sets.
RedisCredentials *credentials_of(ngx_command_t *cmd, void *c) noexcept {
    return reinterpret_cast<RedisCredentials *>(static_cast<char *>(c) + cmd->offset);
}

const char kPasswordTwice[] = "is duplicate: this level already has a password";

// Who the gate is to Redis, and over what: the combinations that cannot work.
char *check_access(ngx_conf_t *cf, const RedisConf *conf, const ConfSite &site) noexcept {
    bool sentinel = conf->address->sentinel_master.len != 0;
    if (conf->auth.user.len != 0 && conf->auth.password.len == 0) {
        return site_error(cf, site,
                          "\"asset_gate_redis_user\" needs \"asset_gate_redis_password\" or "
                          "\"asset_gate_redis_password_file\"");
    }
    if (conf->sentinel_auth.user.len != 0 && conf->sentinel_auth.password.len == 0) {
        return site_error(cf, site,
                          "\"asset_gate_redis_sentinel_user\" needs "
                          "\"asset_gate_redis_sentinel_password\" or "
                          "\"asset_gate_redis_sentinel_password_file\"");
    }
    if (!sentinel && conf->sentinel_auth.password.len != 0) {
        return site_error(cf, site,
                          "a sentinel password is set but \"asset_gate_redis\" is not a "
                          "sentinel: address");
    }
    if (conf->tls == 1 && conf->address->unix_path.len != 0) {
        return site_error(cf, site,
                          "\"asset_gate_redis_tls on\" with a unix: socket (Redis speaks TLS "
                          "on its TCP port only)");
    }
    if (conf->tls != 1 && (conf->tls_trusted_certificate.len || conf->tls_server_name.len)) {
        return site_error(cf, site,
                          "\"asset_gate_redis_tls_trusted_certificate\" or "
                          "\"asset_gate_redis_tls_server_name\" is set but "
                          "\"asset_gate_redis_tls\" is off");
    }
    return NGX_CONF_OK;
}

}  // namespace

char *redis_set_address(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    auto *conf = reinterpret_cast<RedisConf *>(static_cast<char *>(c) + cmd->offset);
    if (conf->address != NGX_CONF_UNSET_PTR) return const_cast<char *>("is duplicate");
    ngx_str_t value = static_cast<ngx_str_t *>(cf->args->elts)[1];
    auto *ep = static_cast<RedisEndpoint *>(ngx_pcalloc(cf->pool, sizeof(RedisEndpoint)));
    if (ep == nullptr) return conf_error();
    ep->name = value;
    bool ok = false;
    if (value.len > 5 && ngx_strncmp(value.data, "unix:", 5) == 0) {
        ok = set_unix(cf, value, ep);
    } else if (value.len > 9 && ngx_strncmp(value.data, "sentinel:", 9) == 0) {
        ok = set_sentinels(cf, value, ep);
    } else {
        RedisHostPort hp{};
        ok = resolve(cf, value, value, &hp);
        ep->host = hp.host;
        ep->host_name = hp.name;
        ep->port = hp.port;
    }
    if (!ok) return conf_error();
    conf->address = ep;
    return NGX_CONF_OK;
}

char *redis_set_db(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    char *rv = ngx_conf_set_num_slot(cf, cmd, c);
    if (rv != NGX_CONF_OK) return rv;
    if (*reinterpret_cast<ngx_int_t *>(static_cast<char *>(c) + cmd->offset) < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid database number");
        return conf_error();
    }
    return NGX_CONF_OK;
}

char *redis_set_password(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    RedisCredentials *creds = credentials_of(cmd, c);
    if (creds->password.data != nullptr) return const_cast<char *>(kPasswordTwice);
    ngx_str_t value = static_cast<ngx_str_t *>(cf->args->elts)[1];
    if (value.len == 0) return const_cast<char *>("needs a password (not an empty one)");
    return conf_secret(cf, view(value), &creds->password) ? NGX_CONF_OK : conf_error();
}

char *redis_set_password_file(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    RedisCredentials *creds = credentials_of(cmd, c);
    if (creds->password.data != nullptr) return const_cast<char *>(kPasswordTwice);
    ngx_str_t path;
    if (!conf_path_argument(cf, &path)) return conf_error();
    std::string text;
    bool ok = false;
    try {
        FileError error;
        std::string_view password;
        const char *why = nullptr;
        if (!read_secret_file(reinterpret_cast<const char *>(path.data), &text, &error)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s password file \"%V\": %s", error.verb,
                               &path, error.detail.c_str());
        } else if (!password_line(text, &password, &why)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "password file \"%V\" %s", &path, why);
        } else {
            ok = conf_secret(cf, password, &creds->password);
        }
    } catch (...) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "cannot read password file \"%V\": out of memory",
                           &path);
    }
    cleanse_secret(&text);
    return ok ? NGX_CONF_OK : conf_error();
}

char *redis_set_tls(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    char *rv = ngx_conf_set_flag_slot(cf, cmd, c);
    if (rv != NGX_CONF_OK) return rv;
    if (!kHiredisTls && *reinterpret_cast<ngx_flag_t *>(static_cast<char *>(c) + cmd->offset)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"asset_gate_redis_tls on\" needs hiredis 1.x with TLS "
                           "(libhiredis_ssl): this module was built with hiredis %s, which has "
                           "none (Debian 12's; Debian 13's hiredis 1.2 has it)",
                           kHiredisVersion);
        return conf_error();
    }
    return NGX_CONF_OK;
}

char *redis_set_trusted_certificate(ngx_conf_t *cf, ngx_command_t *cmd, void *c) noexcept {
    auto *path = reinterpret_cast<ngx_str_t *>(static_cast<char *>(c) + cmd->offset);
    if (path->data != nullptr) return const_cast<char *>("is duplicate");
    return conf_path_argument(cf, path) ? NGX_CONF_OK : conf_error();
}

void redis_init_conf(RedisConf *conf) noexcept {
    conf->address = static_cast<RedisEndpoint *>(NGX_CONF_UNSET_PTR);
    conf->tls = NGX_CONF_UNSET;
    conf->db = NGX_CONF_UNSET;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->read_from = NGX_CONF_UNSET_UINT;
    conf->failure = NGX_CONF_UNSET_UINT;
}

void redis_merge_conf(RedisConf *conf, const RedisConf *prev) noexcept {
    // Which server, and as whom.
    ngx_conf_merge_ptr_value(conf->address, prev->address, nullptr);
    merge_credentials(&conf->auth, &prev->auth);
    merge_credentials(&conf->sentinel_auth, &prev->sentinel_auth);
    ngx_conf_merge_value(conf->db, prev->db, 0);
    merge_tls(conf, prev);
    merge_use(conf, prev);
}

char *redis_finish_gate(ngx_conf_t *cf, RedisConf *conf, ngx_array_t *endpoints,
                        const ConfSite &site) noexcept {
    if (conf->address == nullptr) {
        return site_error(cf, site, "\"asset_gate on\" needs \"asset_gate_redis\"");
    }
    if (conf->read_from == kReadFromReplica && conf->address->sentinel_master.len == 0) {
        return site_error(cf, site,
                          "\"asset_gate_redis_read_from replica\" needs a sentinel: address "
                          "(point asset_gate_redis at a replica to read from it directly)");
    }
    if (conf->timeout == 0) {
        return site_error(cf, site, "\"asset_gate_redis_timeout\" must be positive");
    }
    char *rv = check_access(cf, conf, site);
    if (rv != NGX_CONF_OK) return rv;
    conf->endpoint = register_endpoint(cf, conf, endpoints);
    if (conf->endpoint == nullptr || !make_cache_prefix(cf, conf)) return conf_error();
    return NGX_CONF_OK;
}

}  // namespace asset_gate

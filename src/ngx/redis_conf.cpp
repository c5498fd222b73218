// asset_gate_redis and its companions: addresses parsed and resolved at configuration time
// (hiredis would resolve names synchronously at every connect), settings merged, and one
// shared endpoint per distinct set of settings.
#include "ngx/redis_conf.hpp"

#include <string>

#include "core/keys.hpp"

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

// A copy with a terminating '\0', for hiredis.
bool c_string(ngx_conf_t *cf, ngx_str_t *s) noexcept {
    if (s->len == 0) return true;
    auto *p = static_cast<u_char *>(ngx_pnalloc(cf->pool, s->len + 1));
    if (p == nullptr) return false;
    *ngx_cpymem(p, s->data, s->len) = '\0';
    s->data = p;
    return true;
}

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
    return c_string(cf, &ep->unix_path);
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

bool same_endpoint(const RedisEndpoint *a, const RedisEndpoint *b) noexcept {
    return view(a->name) == view(b->name) && view(a->password) == view(b->password) &&
           a->db == b->db && a->timeout == b->timeout && view(a->channel) == view(b->channel) &&
           a->read_replica == b->read_replica;
}

// The one shared endpoint for these settings, added to `endpoints` when new.
RedisEndpoint *register_endpoint(ngx_conf_t *cf, const RedisConf *conf,
                                 ngx_array_t *endpoints) noexcept {
    RedisEndpoint want = *conf->address;
    want.password = conf->password;
    want.db = conf->db;
    want.timeout = conf->timeout;
    want.channel = conf->channel;
    want.read_replica = conf->read_from == kReadFromReplica;
    auto **eps = static_cast<RedisEndpoint **>(endpoints->elts);
    for (ngx_uint_t i = 0; i < endpoints->nelts; i++) {
        if (same_endpoint(eps[i], &want)) return eps[i];
    }
    auto *ep = static_cast<RedisEndpoint *>(ngx_pcalloc(cf->pool, sizeof(RedisEndpoint)));
    auto **slot = static_cast<RedisEndpoint **>(ngx_array_push(endpoints));
    if (ep == nullptr || slot == nullptr) return nullptr;
    *ep = want;
    if (!c_string(cf, &ep->password) || !c_string(cf, &ep->channel)) return nullptr;
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

// How it is used: deadlines, keys, invalidation, replicas, and what a failure answers.
void merge_use(RedisConf *conf, const RedisConf *prev) noexcept {
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, kDefaultTimeout);
    ngx_conf_merge_str_value(conf->prefix, prev->prefix, "");
    ngx_conf_merge_str_value(conf->channel, prev->channel, "");
    ngx_conf_merge_uint_value(conf->read_from, prev->read_from, kReadFromMaster);
    ngx_conf_merge_uint_value(conf->failure, prev->failure, NGX_HTTP_SERVICE_UNAVAILABLE);
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

void redis_init_conf(RedisConf *conf) noexcept {
    conf->address = static_cast<RedisEndpoint *>(NGX_CONF_UNSET_PTR);
    conf->db = NGX_CONF_UNSET;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->read_from = NGX_CONF_UNSET_UINT;
    conf->failure = NGX_CONF_UNSET_UINT;
}

void redis_merge_conf(RedisConf *conf, const RedisConf *prev) noexcept {
    // Which server, and as whom.
    ngx_conf_merge_ptr_value(conf->address, prev->address, nullptr);
    ngx_conf_merge_str_value(conf->password, prev->password, "");
    ngx_conf_merge_value(conf->db, prev->db, 0);
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
    conf->endpoint = register_endpoint(cf, conf, endpoints);
    if (conf->endpoint == nullptr || !make_cache_prefix(cf, conf)) return conf_error();
    return NGX_CONF_OK;
}

}  // namespace asset_gate

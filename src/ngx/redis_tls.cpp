// asset_gate_redis_tls: the OpenSSL side. Peers are always verified: a CA bundle given with
// asset_gate_redis_tls_trusted_certificate, else the system's trusted CAs, and the name in
// the certificate must be the one connected to (or asset_gate_redis_tls_server_name).
#include "ngx/redis_tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace asset_gate {

namespace {

void free_context(void *data) noexcept {
    SSL_CTX_free(static_cast<SSL_CTX *>(static_cast<RedisTls *>(data)->ssl_ctx));
}

// OpenSSL's reason for the last failure, or `fallback`; the error queue is emptied.
const char *openssl_reason(const char *fallback) noexcept {
    unsigned long e = ERR_peek_last_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
    ERR_clear_error();
    return reason != nullptr ? reason : fallback;
}

}  // namespace

bool redis_tls_make(ngx_conf_t *cf, const RedisConf *conf, RedisEndpoint *ep) noexcept {
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, sizeof(RedisTls));
    if (cln == nullptr) return false;
    auto *tls = static_cast<RedisTls *>(cln->data);
    *tls = {conf->tls_trusted_certificate, conf->tls_server_name, nullptr};
    cln->handler = free_context;
    if (!pool_c_string(cf->pool, &tls->server_name)) return false;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == nullptr) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "asset_gate: redis TLS: %s",
                           openssl_reason("cannot make a TLS context"));
        return false;
    }
    tls->ssl_ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    // No session cache: one long-lived connection per worker and role.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    int loaded = 0;
    if (tls->trusted_certificate.len != 0) {
        loaded = SSL_CTX_load_verify_locations(
            ctx, reinterpret_cast<const char *>(tls->trusted_certificate.data), nullptr);
    } else {
        loaded = SSL_CTX_set_default_verify_paths(ctx);
    }
    if (loaded != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "asset_gate: redis TLS: cannot load the trusted certificates "
                           "\"%V\": %s",
                           tls->trusted_certificate.len ? &tls->trusted_certificate
                                                        : &ep->name,
                           openssl_reason("no certificates"));
        return false;
    }
    ep->tls = tls;
    return true;
}

SSL *redis_tls_start(redisAsyncContext *ac, const RedisTls *tls, std::string_view name,
                     std::string *why) noexcept try {
    std::string host(tls->server_name.len != 0 ? view(tls->server_name) : name);
    SSL *ssl = SSL_new(static_cast<SSL_CTX *>(tls->ssl_ctx));
    if (ssl == nullptr) {
        *why = openssl_reason("cannot make a TLS session");
        return nullptr;
    }
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    bool named = true;
    // A numeric address is checked against the certificate's IP addresses, and never sent
    // as SNI (RFC 6066 allows only DNS names there).
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
        ERR_clear_error();
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        named = X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) == 1 &&
                SSL_set_tlsext_host_name(ssl, host.c_str()) == 1;
    }
    if (!named) {
        *why = std::string("cannot check the name \"").append(host).append("\": ") +
               openssl_reason("invalid name");
        SSL_free(ssl);
        return nullptr;
    }
    if (!initiate_tls(ac, ssl)) {
        *why = ac->errstr[0] != '\0' ? ac->errstr : "cannot start TLS";
        SSL_free(ssl);  // not hiredis's unless it started
        return nullptr;
    }
    return ssl;
} catch (...) {
    *why = "out of memory";
    return nullptr;
}

const char *redis_tls_refusal(const SSL *ssl) noexcept {
    long verdict = SSL_get_verify_result(ssl);
    return verdict == X509_V_OK ? nullptr : X509_verify_cert_error_string(verdict);
}

}  // namespace asset_gate

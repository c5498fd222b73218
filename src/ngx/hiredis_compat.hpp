// The one door to hiredis's headers, and every difference between hiredis 0.14 (Debian 12)
// and 1.x (Debian 13 and later) that the module meets; the only #if on the version is here
// and in hiredis_replies.hpp, which it includes.
//
// What differs, and what the module does about it:
// - the reader's reply functions: 1.x passes createArray a size_t (0.14 an int), adds
//   createDouble and createBool (RESP3), and redisReply's dval and vtype. The module builds
//   its replies itself, with a table for either: hiredis_replies.hpp (this header's one
//   part without nginx, so that unit tests compare it with hiredis's own builders).
// - 1.x has its own command timeout (redisAsyncSetTimeout, the adapter's scheduleTimer);
//   the module does not use it: nginx timers are the deadlines on both (redis_connection.cpp).
// - TLS: 1.x has hiredis_ssl (a separate library, found by `config`, which then defines
//   AG_HAVE_HIREDIS_SSL); 0.14 has none, and asset_gate_redis_tls on is a configuration
//   error there. The module makes its own OpenSSL sessions (redis_tls.cpp) and hands each to
//   hiredis with initiate_tls() below.
// Checked and the same on both for what the module uses: redisAsyncCommandArgv, the connect
// and disconnect callbacks, ac->replies, REDIS_SUBSCRIBED, redisReply's type, str, len,
// integer, elements and element, and that hiredis itself never reads reader->privdata.
#pragma once

extern "C" {
#include <ngx_config.h>  // AG_HAVE_HIREDIS_SSL, from config's feature test

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#if defined(AG_HAVE_HIREDIS_SSL)
#include <hiredis/hiredis_ssl.h>
#endif
}

#include <openssl/ssl.h>

#include "ngx/hiredis_replies.hpp"

namespace asset_gate {

// The hiredis the module was built with, for messages: "1.2.0".
#define AG_HIREDIS_STR2(x) #x
#define AG_HIREDIS_STR(x) AG_HIREDIS_STR2(x)
inline constexpr const char *kHiredisVersion =
    AG_HIREDIS_STR(HIREDIS_MAJOR) "." AG_HIREDIS_STR(HIREDIS_MINOR) "." AG_HIREDIS_STR(HIREDIS_PATCH);

#if defined(AG_HAVE_HIREDIS_SSL)
inline constexpr bool kHiredisTls = true;
// Runs `ssl` on the connection (hiredis owns it from then on); false with ac->errstr set.
inline bool initiate_tls(redisAsyncContext *ac, SSL *ssl) noexcept {
    return redisInitiateSSL(&ac->c, ssl) == REDIS_OK;
}
#else
inline constexpr bool kHiredisTls = false;
inline bool initiate_tls(redisAsyncContext *, SSL *) noexcept {
    return false;
}
#endif

}  // namespace asset_gate

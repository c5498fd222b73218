// The one door to hiredis's headers, and every difference between hiredis 0.14 (Debian 12)
// and 1.x (Debian 13 and later) that the module meets; the only #if on the version is here.
//
// What differs, and what the module does about it:
// - the reader's reply functions: 1.x passes createArray a size_t (0.14 an int) and adds
//   createDouble and createBool (RESP3). guard_replies() below builds the table for either.
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

namespace asset_gate {

// Says whether the reply a task begins is to be refused.
using ReplyRefusal = bool (*)(const redisReadTask *task) noexcept;

namespace hiredis_detail {

// hiredis's own reply functions (one static table, shared by every reader) and the refusal.
inline redisReplyObjectFunctions *g_inner = nullptr;
inline ReplyRefusal g_refuse = nullptr;

#if HIREDIS_MAJOR >= 1
using ArrayCount = size_t;
#else
using ArrayCount = int;
#endif

inline void *create_string(const redisReadTask *task, char *str, size_t len) noexcept {
    return g_refuse(task) ? nullptr : g_inner->createString(task, str, len);
}
inline void *create_array(const redisReadTask *task, ArrayCount elements) noexcept {
    return g_refuse(task) ? nullptr : g_inner->createArray(task, elements);
}
inline void *create_integer(const redisReadTask *task, long long value) noexcept {
    return g_refuse(task) ? nullptr : g_inner->createInteger(task, value);
}
inline void *create_nil(const redisReadTask *task) noexcept {
    return g_refuse(task) ? nullptr : g_inner->createNil(task);
}
#if HIREDIS_MAJOR >= 1
inline void *create_double(const redisReadTask *task, double value, char *str,
                           size_t len) noexcept {
    return g_refuse(task) ? nullptr : g_inner->createDouble(task, value, str, len);
}
inline void *create_bool(const redisReadTask *task, int value) noexcept {
    return g_refuse(task) ? nullptr : g_inner->createBool(task, value);
}
#endif
inline void free_object(void *reply) noexcept {
    g_inner->freeObject(reply);
}

// Filled by name, not by position: the two versions order their fields differently.
constexpr redisReplyObjectFunctions make_guarded() noexcept {
    redisReplyObjectFunctions fn{};
    fn.createString = create_string;
    fn.createArray = create_array;
    fn.createInteger = create_integer;
    fn.createNil = create_nil;
#if HIREDIS_MAJOR >= 1
    fn.createDouble = create_double;
    fn.createBool = create_bool;
#endif
    fn.freeObject = free_object;
    return fn;
}

inline redisReplyObjectFunctions g_guarded = make_guarded();

}  // namespace hiredis_detail

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

// Makes every reply `reader` builds pass `refuse` first: a refused one is never built, and
// hiredis sees a reader error (and drops the connection, as for any protocol error). Each
// create function hiredis has, whatever its version, goes through `refuse`; the replies
// themselves are still hiredis's own. One refusal for the whole process.
inline void guard_replies(redisReader *reader, ReplyRefusal refuse) noexcept {
    if (hiredis_detail::g_inner == nullptr) hiredis_detail::g_inner = reader->fn;
    hiredis_detail::g_refuse = refuse;
    reader->fn = &hiredis_detail::g_guarded;
}

}  // namespace asset_gate

// The invalidation subscriber: SUBSCRIBE to the channel (after AUTH; pub/sub ignores SELECT),
// and for each message first the lookups in flight, then the cached record, forget the key.
#include "ngx/redis_invalidation.hpp"

#include <string>

#include "core/keys.hpp"
#include "ngx/cache.hpp"
#include "ngx/lookup.hpp"
#include "ngx/redis_client.hpp"

namespace asset_gate {

namespace {

constexpr size_t kMaxKey = 1024;

// ["message", channel, "PREFIXasset:ID" | "PREFIXorg:ORG"]: the key; empty for anything else.
std::string_view invalidated_key(const redisReply *reply) noexcept {
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return {};
    if (reply_text(reply->element[0]) != "message") return {};
    std::string_view key = reply_text(reply->element[2]);
    return key.size() > kMaxKey ? std::string_view{} : key;
}

}  // namespace

InvalidationSubscriber::InvalidationSubscriber(EndpointRuntime *rt, ngx_log_t *log) noexcept
    : RedisConnection(rt, rt->endpoint, "", log) {}

bool InvalidationSubscriber::address(RedisAddress *to) {
    *to = runtime()->address;
    return to->known();  // unknown: waiting for the sentinels to name the master
}

void InvalidationSubscriber::on_ready() noexcept {
    send_setup(endpoint()->auth, false);
    const ngx_str_t &channel = endpoint()->channel;
    const char *argv[] = {"SUBSCRIBE", reinterpret_cast<const char *>(channel.data)};
    size_t lens[] = {9, channel.len};
    send(on_message, 2, argv, lens);
}

void InvalidationSubscriber::on_message(redisAsyncContext *ac, void *reply, void *) noexcept {
    std::string_view key = invalidated_key(static_cast<const redisReply *>(reply));
    if (key.empty()) return;
    static_cast<InvalidationSubscriber *>(of(ac))->invalidate(key);
}

void InvalidationSubscriber::invalidate(std::string_view key) noexcept {
    EndpointRuntime *rt = runtime();
    // First the lookups in flight: a reply read before the change must not be cached after
    // the eviction below, nor handed to requests that come after this message.
    lookup_invalidated(rt->data.get(), key);
    if (rt->cache_zone == nullptr) return;
    const RedisEndpoint *ep = endpoint();
    try {
        std::string cache_key = cache_namespace(view(ep->name), ep->db).append(key);
        if (cache_delete(rt->cache_zone, cache_key)) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log(), 0, "asset_gate: invalidated \"%s\"",
                           cache_key.c_str());
        }
    } catch (...) {
        redis_log_exception(log(), ep, "invalidation failed");
    }
}

}  // namespace asset_gate

// The connection subscribed to asset_gate_invalidation_channel: each message names a record
// that leaves the shared cache at once.
#pragma once

#include <string_view>

#include "ngx/redis_connection.hpp"

namespace asset_gate {

class InvalidationSubscriber final : public RedisConnection {
  public:
    InvalidationSubscriber(EndpointRuntime *rt, ngx_log_t *log) noexcept;

  private:
    bool address(RedisAddress *to) override;
    void on_ready() noexcept override;

    static void on_message(redisAsyncContext *ac, void *reply, void *) noexcept;
    void invalidate(std::string_view key) noexcept;
};

}  // namespace asset_gate

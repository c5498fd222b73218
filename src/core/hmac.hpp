// HMAC-SHA256 with the key schedule done once: each key keeps its precomputed inner and outer
// SHA-256 states, so a verification costs two state copies and the compression of the message.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include <openssl/sha.h>

namespace asset_gate {

using Mac = std::array<std::uint8_t, 32>;

class HmacSha256Key {
  public:
    explicit HmacSha256Key(std::string_view secret) noexcept;
    HmacSha256Key(const HmacSha256Key &) noexcept = default;
    HmacSha256Key &operator=(const HmacSha256Key &) noexcept = default;
    ~HmacSha256Key();  // cleanses the key states
    Mac sign(std::string_view message) const noexcept;
    std::size_t secret_size() const noexcept { return secret_size_; }

  private:
    SHA256_CTX inner_;
    SHA256_CTX outer_;
    std::size_t secret_size_;
};

// Constant-time equality of two equal-length byte strings.
bool mac_equal(const std::uint8_t *a, const std::uint8_t *b, std::size_t n) noexcept;

}  // namespace asset_gate

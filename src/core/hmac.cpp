// HMAC-SHA256 (RFC 2104) over OpenSSL's SHA-256 with the padded key states computed once per key.
#include "hmac.hpp"

#include <cstring>

#include <openssl/crypto.h>

// The low-level SHA256_* calls are deprecated in OpenSSL 3, but they are the only API that lets
// a precomputed state be copied by value; EVP would cost an allocation per verification.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace asset_gate {

namespace {
constexpr std::size_t kBlockSize = 64;
}

HmacSha256Key::HmacSha256Key(std::string_view secret) noexcept : secret_size_(secret.size()) {
    unsigned char key[kBlockSize] = {};
    if (secret.size() > kBlockSize) {
        SHA256_CTX ctx;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, secret.data(), secret.size());
        SHA256_Final(key, &ctx);
        OPENSSL_cleanse(&ctx, sizeof ctx);
    } else if (!secret.empty()) {
        std::memcpy(key, secret.data(), secret.size());
    }

    unsigned char pad[kBlockSize];
    for (std::size_t i = 0; i < kBlockSize; ++i) pad[i] = key[i] ^ 0x36;
    SHA256_Init(&inner_);
    SHA256_Update(&inner_, pad, kBlockSize);
    for (std::size_t i = 0; i < kBlockSize; ++i) pad[i] = key[i] ^ 0x5c;
    SHA256_Init(&outer_);
    SHA256_Update(&outer_, pad, kBlockSize);

    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(pad, sizeof pad);
}

HmacSha256Key::~HmacSha256Key() {
    // The padded states are as good as the key for forging MACs.
    OPENSSL_cleanse(&inner_, sizeof inner_);
    OPENSSL_cleanse(&outer_, sizeof outer_);
}

Mac HmacSha256Key::sign(std::string_view message) const noexcept {
    unsigned char inner_digest[SHA256_DIGEST_LENGTH];
    SHA256_CTX ctx = inner_;
    SHA256_Update(&ctx, message.data(), message.size());
    SHA256_Final(inner_digest, &ctx);

    Mac mac;
    ctx = outer_;
    SHA256_Update(&ctx, inner_digest, sizeof inner_digest);
    SHA256_Final(mac.data(), &ctx);
    return mac;
}

bool mac_equal(const std::uint8_t *a, const std::uint8_t *b, std::size_t n) noexcept {
    return CRYPTO_memcmp(a, b, n) == 0;
}

}  // namespace asset_gate

#pragma GCC diagnostic pop

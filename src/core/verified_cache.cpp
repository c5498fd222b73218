// A direct-mapped table of verified tokens: a slot per hash, the newest token wins its slot.
#include "verified_cache.hpp"

#include <cstring>
#include <functional>

#include <openssl/crypto.h>

namespace asset_gate {

VerifiedTokenCache::VerifiedTokenCache() : slots_(new std::array<Slot, kSlots>()) {}

std::uint64_t VerifiedTokenCache::hash(const void *scope, std::string_view token) noexcept {
    // Collisions only cost a verification: a hit needs the whole token to match.
    std::uint64_t h = std::hash<std::string_view>{}(token);
    return h ^ (reinterpret_cast<std::uintptr_t>(scope) * 0x9e3779b97f4a7c15ull);
}

bool VerifiedTokenCache::find(const void *scope, std::string_view token, std::int64_t now,
                              std::int64_t leeway, Claims *claims) const noexcept {
    if (token.size() > kMaxToken) return false;
    std::uint64_t h = hash(scope, token);
    const Slot &s = (*slots_)[h % kSlots];
    if (s.scope != scope || s.hash != h || s.len != token.size()) return false;
    if (CRYPTO_memcmp(s.token, token.data(), token.size()) != 0) return false;
    // The one claim that changes with time; nbf and iat, once in the past, stay there.
    if (!(s.claims.exp > now - leeway)) return false;
    *claims = s.claims;
    return true;
}

void VerifiedTokenCache::insert(const void *scope, std::string_view token,
                                const Claims &claims) noexcept {
    if (token.size() > kMaxToken) return;
    std::uint64_t h = hash(scope, token);
    Slot &s = (*slots_)[h % kSlots];
    s.scope = scope;
    s.hash = h;
    s.len = static_cast<std::uint16_t>(token.size());
    s.claims = claims;
    std::memcpy(s.token, token.data(), token.size());
}

}  // namespace asset_gate

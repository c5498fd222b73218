// A set-associative table of verified tokens: a hash picks a set of kWays slots, and a new
// token takes the set's slots in turn (the oldest goes).
#include "verified_cache.hpp"

#include <cstring>

namespace asset_gate {

namespace {

// Equality that takes the same time wherever the bytes differ, eight bytes a step (OpenSSL's
// CRYPTO_memcmp goes a byte at a time: a fifth of a cached request's instructions).
bool same_bytes(const char *a, const char *b, std::size_t n) noexcept {
    std::uint64_t diff = 0;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t x, y;
        std::memcpy(&x, a + i, 8);
        std::memcpy(&y, b + i, 8);
        diff |= x ^ y;
    }
    for (; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

}  // namespace

std::uint64_t VerifiedTokenCache::hash(const void *scope, std::string_view token) noexcept {
    // A token ends in its signature, as good as random: its last 16 bytes pick the slot.
    // Collisions only cost a verification: a hit needs the whole token to match.
    std::string_view tail = token.size() > 16 ? token.substr(token.size() - 16) : token;
    std::uint64_t h = table_hash(tail) ^ token.size();
    return h ^ (reinterpret_cast<std::uintptr_t>(scope) * 0x9e3779b97f4a7c15ull);
}

VerifiedTokenCache::VerifiedTokenCache(std::size_t bytes) noexcept
    : sets_(make_table(bytes, kWays, &memory_, &tags_, &slots_)) {}  // empty: no slot has a scope

const VerifiedTokenCache::Slot *VerifiedTokenCache::lookup(const void *scope,
                                                           std::string_view token,
                                                           std::uint64_t h) const noexcept {
    const std::size_t set = set_of(h, sets_);
    const Tags &tags = tags_[set];
    for (std::size_t way = 0; way < kWays; way++) {
        if (tags.tag[way] != Tags::tag_of(h)) continue;
        const Slot &s = slots_[set * kWays + way];
        // Its lines at once, not one miss after another as the comparison walks them.
        for (std::size_t line = 0; line < sizeof(Slot); line += 64) {
            __builtin_prefetch(reinterpret_cast<const char *>(&s) + line);
        }
        if (s.scope != scope || s.hash != h || s.len != token.size()) continue;
        if (same_bytes(s.token, token.data(), token.size())) return &s;
    }
    return nullptr;
}

bool VerifiedTokenCache::find(const void *scope, std::string_view token, std::int64_t now,
                              std::int64_t leeway, Claims *claims) const noexcept {
    if (token.size() > kMaxToken || sets_ == 0) return false;
    const Slot *s = lookup(scope, token, hash(scope, token));
    // The one claim that changes with time; nbf and iat, once in the past, stay there.
    if (s == nullptr || !(s->claims.exp > now - leeway)) return false;
    *claims = s->claims;
    return true;
}

void VerifiedTokenCache::insert(const void *scope, std::string_view token,
                                const Claims &claims) noexcept {
    if (token.size() > kMaxToken || sets_ == 0) return;
    const std::uint64_t h = hash(scope, token);
    if (lookup(scope, token, h) != nullptr) return;  // already there (verified once more)
    const std::size_t set = set_of(h, sets_);
    Slot &s = slots_[set * kWays + tags_[set].take(h)];
    s.scope = scope;
    s.hash = h;
    s.len = static_cast<std::uint16_t>(token.size());
    s.claims = claims;
    std::memcpy(s.token, token.data(), token.size());
}

}  // namespace asset_gate

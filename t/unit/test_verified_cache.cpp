// The per-worker cache of verified tokens: exact matches only, per scope, until exp.
#include <gtest/gtest.h>

#include <string>

#include "core/verified_cache.hpp"

namespace asset_gate::testing {
namespace {

const int kScopeA = 0;
const int kScopeB = 0;
Claims claims(std::uint64_t id, std::int64_t exp, Purpose p = Purpose::public_) {
    Claims c;
    c.id = id;
    c.exp = exp;
    c.purpose = p;
    return c;
}

TEST(VerifiedTokenCache, RemembersAVerifiedTokenUntilItsExpiry) {
    VerifiedTokenCache cache;
    cache.insert(&kScopeA, "h.p.sig", claims(7, 1000, Purpose::render));
    Claims out;
    ASSERT_TRUE(cache.find(&kScopeA, "h.p.sig", 999, 0, &out));
    EXPECT_EQ(out.id, 7u);
    EXPECT_EQ(out.purpose, Purpose::render);
    EXPECT_FALSE(cache.find(&kScopeA, "h.p.sig", 1000, 0, &out));
    EXPECT_TRUE(cache.find(&kScopeA, "h.p.sig", 1000, 5, &out));
}

TEST(VerifiedTokenCache, AnyDifferenceInTheTokenIsAMiss) {
    VerifiedTokenCache cache;
    std::string token = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6MX0.c2lnbmF0dXJlc2lnbmF0dXJl";
    cache.insert(&kScopeA, token, claims(1, 5000));
    Claims out;
    for (size_t i = 0; i < token.size(); i++) {
        std::string changed = token;
        changed[i] = changed[i] == 'A' ? 'B' : 'A';
        EXPECT_FALSE(cache.find(&kScopeA, changed, 0, 0, &out)) << i;
    }
    EXPECT_FALSE(cache.find(&kScopeA, token.substr(0, token.size() - 1), 0, 0, &out));
    EXPECT_TRUE(cache.find(&kScopeA, token, 0, 0, &out));
}

TEST(VerifiedTokenCache, ATokenVerifiedUnderOneConfigurationIsUnknownToAnother) {
    VerifiedTokenCache cache;
    cache.insert(&kScopeA, "h.p.sig", claims(1, 5000));
    Claims out;
    EXPECT_FALSE(cache.find(&kScopeB, "h.p.sig", 0, 0, &out));
}

TEST(VerifiedTokenCache, TokensLongerThanTheSlotAreNotKept) {
    VerifiedTokenCache cache;
    std::string token(VerifiedTokenCache::kMaxToken + 1, 'a');
    cache.insert(&kScopeA, token, claims(1, 5000));
    Claims out;
    EXPECT_FALSE(cache.find(&kScopeA, token, 0, 0, &out));
}

TEST(VerifiedTokenCache, ItsSizeIsTheMemoryGiven) {
    EXPECT_EQ(VerifiedTokenCache(0).capacity(), 0u);
    EXPECT_EQ(VerifiedTokenCache(100).capacity(), 0u);  // less than one set
    const VerifiedTokenCache one_mib;
    EXPECT_GE(one_mib.capacity(), 4000u);
    EXPECT_LE(one_mib.capacity() * VerifiedTokenCache::kSlotBytes, std::size_t{1} << 20);
    Claims out;
    VerifiedTokenCache none(0);
    none.insert(&kScopeA, "h.p.sig", claims(1, 5000));
    EXPECT_FALSE(none.find(&kScopeA, "h.p.sig", 0, 0, &out));
}

// Distinct tokens, more than a direct-mapped table of the same size would keep: a set of four
// takes four tokens of the same hash, and the fifth replaces the oldest.
TEST(VerifiedTokenCache, HoldsAsManyTokensAsItHasRoomFor) {
    VerifiedTokenCache cache(1 << 20);
    const std::size_t n = cache.capacity() / 2;
    auto token = [](std::size_t i) { return "h.p." + std::to_string(i * 7919) + "-sig"; };
    for (std::size_t i = 0; i < n; ++i) cache.insert(&kScopeA, token(i), claims(i + 1, 5000));
    std::size_t kept = 0;
    Claims out;
    for (std::size_t i = 0; i < n; ++i) {
        if (cache.find(&kScopeA, token(i), 0, 0, &out)) {
            ++kept;
            EXPECT_EQ(out.id, i + 1);
        }
    }
    // At half load a set overflows rarely: nearly all are kept (direct-mapped: about 60%).
    EXPECT_GT(kept, n * 95 / 100) << kept << " of " << n;
}

TEST(VerifiedTokenCache, ANewTokenReplacesTheOldestOfItsSet) {
    VerifiedTokenCache cache(1);  // too small: nothing
    EXPECT_EQ(cache.capacity(), 0u);
    VerifiedTokenCache small(VerifiedTokenCache::kSlotBytes * VerifiedTokenCache::kWays + 64);
    ASSERT_EQ(small.capacity(), VerifiedTokenCache::kWays);  // one set: every token shares it
    Claims out;
    for (int i = 0; i < 5; ++i) {
        small.insert(&kScopeA, "t" + std::to_string(i), claims(i + 1, 5000));
    }
    EXPECT_FALSE(small.find(&kScopeA, "t0", 0, 0, &out));  // the oldest went
    for (int i = 1; i < 5; ++i) EXPECT_TRUE(small.find(&kScopeA, "t" + std::to_string(i), 0, 0, &out));
    // Verified again, a token already kept does not take a second slot.
    small.insert(&kScopeA, "t4", claims(5, 5000));
    for (int i = 1; i < 5; ++i) EXPECT_TRUE(small.find(&kScopeA, "t" + std::to_string(i), 0, 0, &out));
}

}  // namespace
}  // namespace asset_gate::testing

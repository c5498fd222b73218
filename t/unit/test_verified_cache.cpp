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

}  // namespace
}  // namespace asset_gate::testing

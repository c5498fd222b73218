// The set-associative tables' hash and set index (core/page_memory.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "core/page_memory.hpp"
#include "core/record_cache.hpp"

namespace asset_gate::testing {
namespace {

// The keys the gate looks up: asset ids in turn, and organisation ids as UUIDs.
std::string org_key(std::size_t i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "org:%08zx-%04zx-4%03zx-8%03zx-%012zx",
                  i * 2654435761u % 0xffffffff, i & 0xffff, i & 0xfff, (i >> 12) & 0xfff, i);
    return buf;
}

TEST(TableHash, EveryByteAndTheLengthCount) {
    // A changed bit anywhere in a key of any length changes the set, the tag or both.
    for (std::size_t n = 1; n <= 40; n++) {
        std::string key(n, 'a');
        const std::uint64_t h = table_hash(key);
        for (std::size_t i = 0; i < n; i++) {
            for (int bit = 0; bit < 8; bit++) {
                std::string other = key;
                other[i] = static_cast<char>(other[i] ^ (1 << bit));
                EXPECT_NE(table_hash(other), h) << "length " << n << ", byte " << i;
            }
        }
    }
    // Keys of zero bytes that differ only in length.
    std::set<std::uint64_t> seen;
    for (std::size_t n = 0; n <= 64; n++) seen.insert(table_hash(std::string(n, '\0')));
    EXPECT_EQ(seen.size(), 65u);
}

TEST(TableHash, SpreadsTheGatesKeysEvenlyOverTheSets) {
    // 409,600 keys over 4,096 sets: 100 a set on average, a standard deviation of 10 for a
    // random function; the fullest set of a good hash stays well below 160.
    constexpr std::size_t kSets = 4096, kKeys = kSets * 100;
    for (int kind = 0; kind < 2; kind++) {
        std::vector<std::uint32_t> load(kSets);
        std::vector<std::set<std::uint16_t>> tags(kSets);
        for (std::size_t i = 0; i < kKeys; i++) {
            const std::string key = kind == 0 ? "asset:" + std::to_string(i) : org_key(i);
            const std::uint64_t h = table_hash(key);
            const std::size_t set = set_of(h, kSets);
            ASSERT_LT(set, kSets);
            load[set]++;
            tags[set].insert(static_cast<std::uint16_t>(h >> 48));
        }
        std::uint32_t most = 0, least = ~0u;
        std::size_t distinct = 0;
        for (std::size_t s = 0; s < kSets; s++) {
            most = std::max(most, load[s]);
            least = std::min(least, load[s]);
            distinct += tags[s].size();
        }
        EXPECT_LT(most, 160u) << "kind " << kind;
        EXPECT_GT(least, 40u) << "kind " << kind;
        // The tags within a set are independent of the set: ~100 keys in 65,536 tags
        // collide in about 0.08 pairs a set.
        EXPECT_GT(distinct, kKeys * 99 / 100) << "kind " << kind;
    }
}

TEST(TableHash, TheSetIndexStaysInsideTablesOfAnySize) {
    for (std::size_t sets : {std::size_t{1}, std::size_t{3}, std::size_t{4095},
                             std::size_t{1} << 20, std::size_t{0xffffffffull}}) {
        for (std::uint64_t h : {std::uint64_t{0}, ~std::uint64_t{0}, std::uint64_t{0xffffffffull},
                                std::uint64_t{0x123456789abcdefull}}) {
            EXPECT_LT(set_of(h, sets), sets) << sets << " " << h;
        }
    }
}

TEST(LocalRecordCache, AtHalfLoadKeepsNearlyEveryKey) {
    LocalRecordCache cache(4 << 20);
    const std::size_t n = cache.capacity() / 2;
    for (std::size_t i = 0; i < n; i++) {
        cache.insert(i % 2 ? "asset:" + std::to_string(i) : org_key(i), 1, "v", 1000, 0);
    }
    std::size_t kept = 0;
    LocalRecordCache::Entry e;
    for (std::size_t i = 0; i < n; i++) {
        kept += cache.find(i % 2 ? "asset:" + std::to_string(i) : org_key(i), 0, 0, &e);
    }
    EXPECT_GT(kept, n * 95 / 100) << kept << " of " << n;
}

}  // namespace
}  // namespace asset_gate::testing

// A worker's copies of the shared cache's entries: used only at the generation they were
// copied at and before their expiry; a key has one copy; what does not fit is not kept.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <tuple>

#include "core/record_cache.hpp"

namespace asset_gate::testing {
namespace {

TEST(LocalRecordCache, GivesBackACopyUntilItsExpiry) {
    LocalRecordCache cache;
    cache.insert("ns:asset:7", 1, "value-of-7", 1000, 3);
    LocalRecordCache::Entry e;
    ASSERT_TRUE(cache.find("ns:asset:7", 3, 999, &e));
    EXPECT_EQ(e.kind, 1);
    EXPECT_EQ(e.value, "value-of-7");
    EXPECT_FALSE(cache.find("ns:asset:7", 3, 1000, &e));  // expires at 1000, as the zone does
    EXPECT_FALSE(cache.find("ns:asset:8", 3, 0, &e));
    EXPECT_FALSE(cache.find("ns:asset:", 3, 0, &e));
    EXPECT_FALSE(cache.find("ns:asset:77", 3, 0, &e));
}

TEST(LocalRecordCache, AnotherGenerationIsAMiss) {
    LocalRecordCache cache;
    cache.insert("k", 1, "v", 1000, 3);
    LocalRecordCache::Entry e;
    EXPECT_FALSE(cache.find("k", 4, 0, &e));  // the zone was invalidated since
    EXPECT_FALSE(cache.find("k", 2, 0, &e));
    EXPECT_TRUE(cache.find("k", 3, 0, &e));
}

TEST(LocalRecordCache, ExpiryIsComparedAcrossTheClocksWrap) {
    LocalRecordCache cache;
    const std::uint64_t near_wrap = ~std::uint64_t{0} - 10;
    cache.insert("k", 1, "v", near_wrap + 20, 0);  // wraps to 9
    LocalRecordCache::Entry e;
    EXPECT_TRUE(cache.find("k", 0, near_wrap, &e));
    EXPECT_TRUE(cache.find("k", 0, 8, &e));
    EXPECT_FALSE(cache.find("k", 0, 9, &e));
}

TEST(LocalRecordCache, ANewCopyOfAKeyReplacesTheOld) {
    LocalRecordCache cache;
    cache.insert("k", 1, "old", 1000, 1);
    cache.insert("k", 2, "new-and-longer", 2000, 2);
    LocalRecordCache::Entry e;
    EXPECT_FALSE(cache.find("k", 1, 0, &e));
    ASSERT_TRUE(cache.find("k", 2, 0, &e));
    EXPECT_EQ(e.kind, 2);
    EXPECT_EQ(e.value, "new-and-longer");
    // The replaced copy took no other slot: four more keys of its set would otherwise be
    // needed to push both out. Filling the cache with distinct keys leaves at most one copy.
}

TEST(LocalRecordCache, KeepsEmptyValuesAndRefusesWhatDoesNotFit) {
    LocalRecordCache cache;
    cache.insert("missing", 2, "", 1000, 0);
    LocalRecordCache::Entry e;
    ASSERT_TRUE(cache.find("missing", 0, 0, &e));
    EXPECT_EQ(e.kind, 2);
    EXPECT_TRUE(e.value.empty());

    std::string key = "big";
    std::string fits(LocalRecordCache::kMaxEntry - key.size(), 'x');
    cache.insert(key, 1, fits, 1000, 0);
    ASSERT_TRUE(cache.find(key, 0, 0, &e));
    EXPECT_EQ(e.value, fits);
    cache.insert("big2", 1, fits, 1000, 0);  // one byte over
    EXPECT_FALSE(cache.find("big2", 0, 0, &e));
    // A key whose new entry does not fit keeps no older copy either (found by the model test).
    cache.insert("grows", 1, "small", 1000, 0);
    cache.insert("grows", 1, std::string(LocalRecordCache::kMaxEntry, 'y'), 1000, 0);
    EXPECT_FALSE(cache.find("grows", 0, 0, &e));
}

TEST(LocalRecordCache, HoldsAboutItsSizeOfEntriesAndNoneForZero) {
    EXPECT_EQ(LocalRecordCache(0).capacity(), 0u);
    EXPECT_EQ(LocalRecordCache(100).capacity(), 0u);
    LocalRecordCache none(0);
    none.insert("k", 1, "v", 1000, 0);
    LocalRecordCache::Entry e;
    EXPECT_FALSE(none.find("k", 0, 0, &e));

    LocalRecordCache one_mib;
    EXPECT_GE(one_mib.capacity(), 2000u);
    EXPECT_LE(one_mib.capacity() * LocalRecordCache::kSlotBytes, std::size_t{1} << 20);
}

TEST(LocalRecordCache, ManyKeysEachFoundWithItsOwnValueOrNotAtAll) {
    LocalRecordCache cache(64 * 1024);  // about 120 slots for 2,000 keys: most are pushed out
    for (int i = 0; i < 2000; i++) {
        cache.insert("asset:" + std::to_string(i), 1, "v" + std::to_string(i), 1000, 0);
    }
    int found = 0;
    LocalRecordCache::Entry e;
    for (int i = 0; i < 2000; i++) {
        if (cache.find("asset:" + std::to_string(i), 0, 0, &e)) {
            EXPECT_EQ(e.value, "v" + std::to_string(i));
            found++;
        }
    }
    EXPECT_GT(found, 0);
    EXPECT_LE(static_cast<std::size_t>(found), cache.capacity());
    // The newest keys are there: a key is pushed out only by four newer ones of its set.
    EXPECT_TRUE(cache.find("asset:1999", 0, 0, &e));
}

// Against a model that remembers every key's last insert: a find may miss (the cache is small),
// but a hit must be exactly that insert, at the generation asked, before its expiry. Seeded:
// keys that share sets, values of every length up to one over the limit, generations and a
// clock that move on, replacements of a key with a shorter or longer value.
TEST(LocalRecordCache, AHitIsAlwaysTheKeysLastCopyAtThatGenerationAndUnexpired) {
    std::mt19937_64 rng(20261202);
    LocalRecordCache cache(16 * 1024);  // about 30 slots
    struct Last {
        std::uint8_t kind;
        std::string value;
        std::uint64_t expires, generation;
        bool kept;  // it fitted
    };
    std::map<std::string, Last> model;
    std::uint64_t now = ~std::uint64_t{0} - 5000;  // the clock wraps during the run
    std::uint64_t generation = 0;
    int hits = 0;
    for (int step = 0; step < 200000; step++) {
        std::string key = "ns:asset:" + std::to_string(rng() % 200);
        switch (rng() % 8) {
            case 0:
                now += rng() % 50;
                break;
            case 1:
                if (rng() % 16 == 0) generation++;
                break;
            case 2:
            case 3: {
                std::size_t len = rng() % 8 == 0
                                      ? LocalRecordCache::kMaxEntry - key.size() + rng() % 2
                                      : rng() % 64;
                std::string value(len, static_cast<char>('a' + rng() % 26));
                auto kind = static_cast<std::uint8_t>(1 + rng() % 3);
                std::uint64_t expires = now + rng() % 400;
                cache.insert(key, kind, value, expires, generation);
                bool kept = key.size() + value.size() <= LocalRecordCache::kMaxEntry;
                model[key] = Last{kind, value, expires, generation, kept};
                break;
            }
            default: {
                LocalRecordCache::Entry e;
                std::uint64_t asked =
                    rng() % 4 == 0 && generation > 0 ? generation - 1 : generation;
                if (!cache.find(key, asked, now, &e)) break;
                hits++;
                auto it = model.find(key);
                ASSERT_NE(it, model.end()) << key;
                const Last &last = it->second;
                ASSERT_TRUE(last.kept) << key;
                ASSERT_EQ(last.generation, asked) << key;
                ASSERT_GT(static_cast<std::int64_t>(last.expires - now), 0) << key;
                ASSERT_EQ(std::tie(e.kind, e.value), std::tie(last.kind, last.value)) << key;
            }
        }
    }
    EXPECT_GT(hits, 1000);  // the test did test hits
}

}  // namespace
}  // namespace asset_gate::testing

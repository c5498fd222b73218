// A worker's copies of the shared cache's entries: used only at the generation they were
// copied at and before their expiry; a key has one copy; what does not fit is not kept.
#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace asset_gate::testing

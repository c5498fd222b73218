// Zeroed memory for a large per-worker table, on transparent huge pages where the kernel
// allows them (madvise or always): a lookup in a table of many megabytes otherwise misses
// the TLB as well as the cache, and on a virtual machine a page walk is the larger cost
// (perf put a 14 MB token table's first touch at 2% of the workers' time with 4 KiB pages).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

namespace asset_gate {

class PageMemory {
  public:
    PageMemory() noexcept = default;
    // `bytes` of zeroes on a cache line (none when the memory is refused: data() is then
    // null).
    explicit PageMemory(std::size_t bytes) noexcept;
    ~PageMemory();
    PageMemory(PageMemory &&other) noexcept : data_(other.data_) { other.data_ = nullptr; }
    PageMemory &operator=(PageMemory &&other) noexcept;
    PageMemory(const PageMemory &) = delete;
    PageMemory &operator=(const PageMemory &) = delete;

    void *data() const noexcept { return data_; }

  private:
    void *data_ = nullptr;
};

// A key's hash for the set-associative tables: eight bytes a step, then a full 64-bit
// finaliser, so the set (the low 32 bits) and the tag (the top 16) both depend on every byte.
// Not a defence against chosen collisions, and it need not be: what goes in was verified or
// came from Redis, and a collision in a table of fixed ways evicts, it never chains. About a
// quarter of std::hash's instructions for the gate's 10-20 byte keys.
inline std::uint64_t table_hash(std::string_view key) noexcept {
    constexpr std::uint64_t kMul = 0x9e3779b97f4a7c15ull;
    const char *p = key.data();
    std::size_t n = key.size();
    std::uint64_t h = n * kMul;
    auto step = [&h](std::uint64_t v) { h = (h ^ v) * kMul; h ^= h >> 29; };
    std::uint64_t v = 0;
    if (n >= 8) {
        for (std::size_t i = 0; i + 8 < n; i += 8) {
            std::memcpy(&v, p + i, 8);
            step(v);
        }
        std::memcpy(&v, p + n - 8, 8);  // the last eight, overlapping the step before
    } else if (n >= 4) {
        std::uint32_t a, b;
        std::memcpy(&a, p, 4);
        std::memcpy(&b, p + n - 4, 4);
        v = (static_cast<std::uint64_t>(a) << 32) | b;
    } else if (n > 0) {
        v = (static_cast<std::uint64_t>(static_cast<unsigned char>(p[0])) << 16) |
            (static_cast<std::uint64_t>(static_cast<unsigned char>(p[n / 2])) << 8) |
            static_cast<unsigned char>(p[n - 1]);
    }
    step(v);
    // murmur3's fmix64
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

// The set of hash `h` in a table of `sets` sets: a multiply and a shift of the low 32 bits
// instead of a 64-bit division (the tag takes the top 16 bits, so the two stay independent).
inline std::size_t set_of(std::uint64_t h, std::size_t sets) noexcept {
    return static_cast<std::size_t>(((h & 0xffffffffull) * sets) >> 32);
}

// One set's tags in a set-associative table: a 16-bit tag of each way's hash (a match is then
// checked in full), and the way a new entry takes next (the set's ways in turn).
template <std::size_t kWays>
struct SetTags {
    std::uint16_t tag[kWays];
    std::uint8_t next;
    std::uint8_t unused[16 - 2 * kWays - 1];

    static std::uint16_t tag_of(std::uint64_t h) noexcept {
        return static_cast<std::uint16_t>(h >> 48);
    }
    // The way a new entry of hash `h` takes, its tag already set.
    std::size_t take(std::uint64_t h) noexcept {
        const std::size_t way = next;
        next = static_cast<std::uint8_t>((way + 1) % kWays);
        tag[way] = tag_of(h);
        return way;
    }
};

// A set-associative table in one PageMemory: as many sets as fit in about `bytes`, each set's
// tags together at the start, then `ways` slots a set from the next cache line (a slot of a
// multiple of 64 bytes then spans no more lines than it must). Every tag and slot is value-
// initialised. Returns the number of sets: 0 when not one fits or the memory was refused.
template <class Tags, class Slot>
std::size_t make_table(std::size_t bytes, std::size_t ways, PageMemory *memory, Tags **tags,
                       Slot **slots) noexcept {
    // No more than set_of can reach (2^32 sets: terabytes).
    const std::size_t sets = std::min<std::size_t>(bytes / (sizeof(Tags) + ways * sizeof(Slot)),
                                                   0xffffffffull);
    if (sets == 0) return 0;
    const std::size_t tag_bytes = (sets * sizeof(Tags) + 63) / 64 * 64;
    PageMemory made(tag_bytes + sets * ways * sizeof(Slot));
    if (made.data() == nullptr) return 0;
    *memory = std::move(made);
    auto *base = static_cast<unsigned char *>(memory->data());
    *tags = reinterpret_cast<Tags *>(base);
    *slots = reinterpret_cast<Slot *>(base + tag_bytes);
    std::uninitialized_value_construct_n(*tags, sets);
    std::uninitialized_value_construct_n(*slots, sets * ways);
    return sets;
}

}  // namespace asset_gate

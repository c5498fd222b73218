// Zeroed memory for a large per-worker table, on transparent huge pages where the kernel
// allows them (madvise or always): a lookup in a table of many megabytes otherwise misses
// the TLB as well as the cache, and on a virtual machine a page walk is the larger cost
// (perf put a 14 MB token table's first touch at 2% of the workers' time with 4 KiB pages).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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
    const std::size_t sets = bytes / (sizeof(Tags) + ways * sizeof(Slot));
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

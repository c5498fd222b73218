// Zeroed memory for a large per-worker table, on transparent huge pages where the kernel
// allows them (madvise or always): a lookup in a table of many megabytes otherwise misses
// the TLB as well as the cache, and on a virtual machine a page walk is the larger cost
// (perf put a 14 MB token table's first touch at 2% of the workers' time with 4 KiB pages).
#pragma once

#include <cstddef>

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

}  // namespace asset_gate

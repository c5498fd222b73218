#include "page_memory.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

namespace asset_gate {

namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20;
}

PageMemory::PageMemory(std::size_t bytes) noexcept {
    if (bytes == 0) return;
    // Whole huge pages, aligned to one, so that the kernel can back all of it with them.
    const bool huge = bytes >= kHugePage;
    const std::size_t align = huge ? kHugePage : 64;  // a cache line at least
    const std::size_t size = (bytes + align - 1) / align * align;
    data_ = std::aligned_alloc(align, size);
    if (data_ == nullptr) return;
#ifdef MADV_HUGEPAGE
    if (huge) (void)madvise(data_, size, MADV_HUGEPAGE);  // advice: refused, it is 4 KiB pages
#endif
    std::memset(data_, 0, bytes);
}

PageMemory &PageMemory::operator=(PageMemory &&other) noexcept {
    if (this != &other) {
        std::free(data_);
        data_ = other.data_;
        other.data_ = nullptr;
    }
    return *this;
}

PageMemory::~PageMemory() {
    std::free(data_);
}

}  // namespace asset_gate

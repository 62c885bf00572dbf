#include "machine/zero_pages.hpp"

#include <sys/mman.h>

#include <new>

namespace nimbus::machine {

ZeroPages::ZeroPages(size_t bytes, HugePages huge) : size_(bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // Advice only: where transparent huge pages are off there is nothing to refuse.
  if (huge == HugePages::refused) (void)madvise(p, bytes, MADV_NOHUGEPAGE);
  data_ = p;
}

ZeroPages::~ZeroPages() { munmap(data_, size_); }

} // namespace nimbus::machine

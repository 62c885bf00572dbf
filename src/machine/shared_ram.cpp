#include "machine/shared_ram.hpp"

#include <sys/mman.h>

#include <new>

namespace nimbus::machine {

SharedRam::SharedRam(size_t bytes) : size_(bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  data_ = static_cast<uint8_t*>(p);
}

SharedRam::~SharedRam() { munmap(data_, size_); }

bool SharedRam::discard(size_t offset, size_t len) { return madvise(data_ + offset, len, MADV_REMOVE) == 0; }

} // namespace nimbus::machine

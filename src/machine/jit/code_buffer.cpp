#include "machine/jit/code_buffer.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace nimbus::machine::jit {

namespace {
[[noreturn]] void fail(const char* what) {
  throw std::runtime_error(std::string("JIT: cannot set up the code cache (") + what + ": " + std::strerror(errno) +
                           "); run with --jit off");
}
} // namespace

// Shared anonymous memory, then a second mapping of the same pages (mremap of size 0 on a shared
// mapping), made executable. No memfd and no file descriptor: the VMM's sandbox forbids
// memfd_create and keeps RLIMIT_NOFILE low, and harts are built after it is on (a bare machine's
// reboot, docs/security.md).
CodeBuffer::CodeBuffer(size_t bytes) : size_(bytes) {
  void* w = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (w == MAP_FAILED) fail("mmap");
  void* x = mremap(w, 0, bytes, MREMAP_MAYMOVE);
  if (x == MAP_FAILED) {
    munmap(w, bytes);
    fail("mremap");
  }
  if (mprotect(x, bytes, PROT_READ | PROT_EXEC) != 0) {
    munmap(x, bytes);
    munmap(w, bytes);
    fail("mprotect");
  }
  write_ = static_cast<uint8_t*>(w);
  exec_ = static_cast<const uint8_t*>(x);
}

CodeBuffer::~CodeBuffer() {
  munmap(write_, size_);
  munmap(const_cast<uint8_t*>(exec_), size_);
}

void CodeBuffer::commit(size_t bytes) { used_ = std::min(size_, used_ + ((bytes + 15) & ~size_t{15})); }

} // namespace nimbus::machine::jit

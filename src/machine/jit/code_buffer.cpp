#include "machine/jit/code_buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

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

CodeBuffer::CodeBuffer(size_t bytes) : size_(bytes) {
  const int fd = memfd_create("nimbus-jit-code", MFD_CLOEXEC);
  if (fd < 0) fail("memfd_create");
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    close(fd);
    fail("ftruncate");
  }
  void* w = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  void* x = w == MAP_FAILED ? MAP_FAILED : mmap(nullptr, bytes, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
  close(fd);
  if (w == MAP_FAILED || x == MAP_FAILED) {
    if (w != MAP_FAILED) munmap(w, bytes);
    fail("mmap");
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

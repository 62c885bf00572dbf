#include "machine/jit/code_buffer.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace nimbus::machine::jit {

CodeBuffer::CodeBuffer(size_t bytes) : size_(bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    throw std::runtime_error("JIT: cannot map a " + std::to_string(bytes >> 20) + " MiB code cache: " +
                             std::strerror(errno) + " (run with --jit off)");
  base_ = static_cast<uint8_t*>(p);
}

CodeBuffer::~CodeBuffer() { munmap(base_, size_); }

void CodeBuffer::commit(size_t bytes) { used_ = std::min(size_, used_ + ((bytes + 15) & ~size_t{15})); }

void CodeBuffer::make_writable() {
  if (mprotect(base_, size_, PROT_READ | PROT_WRITE) != 0)
    throw std::runtime_error(std::string("JIT: mprotect(RW) failed: ") + std::strerror(errno));
}

void CodeBuffer::make_executable() {
  if (mprotect(base_, size_, PROT_READ | PROT_EXEC) != 0)
    throw std::runtime_error(std::string("JIT: mprotect(RX) failed: ") + std::strerror(errno));
}

} // namespace nimbus::machine::jit

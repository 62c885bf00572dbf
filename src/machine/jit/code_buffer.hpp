#pragma once
// The JIT's code cache: one fixed shared-memory region mapped twice, writable at one address and
// executable at another (no page is ever both, and no mprotect per block: that cost more than
// translating). Blocks are bump-allocated; when it is full it is reset as a whole, as QEMU
// flushes its translation buffer, and the caller drops every block that pointed into it.
#include <cstddef>
#include <cstdint>

namespace nimbus::machine::jit {

class CodeBuffer {
public:
  explicit CodeBuffer(size_t bytes);
  ~CodeBuffer();
  CodeBuffer(const CodeBuffer&) = delete;
  CodeBuffer& operator=(const CodeBuffer&) = delete;

  // Where the next code is written (the writable view).
  uint8_t* cursor() const { return write_ + used_; }
  size_t remaining() const { return size_ - used_; }
  // The executable address of a byte written at `written` (in the writable view).
  const void* executable(const void* written) const {
    return exec_ + (static_cast<const uint8_t*>(written) - write_);
  }
  // Keeps `bytes` just written at the cursor (rounded up to 16 for alignment).
  void commit(size_t bytes);
  // Forgets everything after the first `keep` bytes (the permanent entry/exit stubs).
  void reset_to(size_t keep) { used_ = keep; }
  size_t used() const { return used_; }
  size_t size() const { return size_; }

private:
  uint8_t* write_ = nullptr;
  const uint8_t* exec_ = nullptr;
  size_t size_ = 0;
  size_t used_ = 0;
};

} // namespace nimbus::machine::jit

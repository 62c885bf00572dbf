#pragma once
// The JIT's code cache: one fixed mapping that translated blocks are bump-allocated from. It is
// writable only while a block is being emitted (W^X) and is reset as a whole when full, as
// QEMU flushes its translation buffer; the caller drops every block that pointed into it.
#include <cstddef>
#include <cstdint>

namespace nimbus::machine::jit {

class CodeBuffer {
public:
  explicit CodeBuffer(size_t bytes);
  ~CodeBuffer();
  CodeBuffer(const CodeBuffer&) = delete;
  CodeBuffer& operator=(const CodeBuffer&) = delete;

  uint8_t* cursor() const { return base_ + used_; }
  size_t remaining() const { return size_ - used_; }
  // Keeps `bytes` just written at the cursor (rounded up to 16 for alignment).
  void commit(size_t bytes);
  // Forgets everything after the first `keep` bytes (the permanent entry/exit stubs).
  void reset_to(size_t keep) { used_ = keep; }
  size_t used() const { return used_; }
  size_t size() const { return size_; }
  void make_writable();
  void make_executable();

private:
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  size_t used_ = 0;
};

} // namespace nimbus::machine::jit

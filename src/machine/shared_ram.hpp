#pragma once
// A bus's own RAM as shared anonymous memory: zero pages that cost host memory once touched, as
// a private anonymous mapping's would, but whose pages can be mapped a second time elsewhere
// (mremap of size 0: a hart's host-mapped window, host_window.hpp), both views the same bytes.
#include <cstddef>
#include <cstdint>

namespace nimbus::machine {

class SharedRam {
public:
  explicit SharedRam(size_t bytes); // throws std::bad_alloc when the host will not map it
  ~SharedRam();
  SharedRam(const SharedRam&) = delete;
  SharedRam& operator=(const SharedRam&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // Gives [offset, offset + len) (whole pages) back to the host; it reads as zeros afterwards,
  // through every view (a shared mapping's MADV_DONTNEED would keep the bytes: MADV_REMOVE).
  // False if the host refused (the caller then writes zeros).
  bool discard(size_t offset, size_t len);

private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

} // namespace nimbus::machine

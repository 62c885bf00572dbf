#pragma once
// Memory that costs nothing until it is written: a private anonymous mapping, all zeros. Large
// per-hart tables whose all-zero state means "empty" (the soft TLB) live here so that a hart
// pays host memory only for the 4 KiB pages it has stored into; reading a page never written
// maps the kernel's shared zero page, which no process is charged for. Sparse tables ask for no
// huge pages (one store would then make 2 MiB resident); a bus's RAM keeps the host's default.
#include <cstddef>

namespace nimbus::machine {

class ZeroPages {
public:
  enum class HugePages { refused, host_default };
  explicit ZeroPages(size_t bytes, HugePages huge = HugePages::refused);
  ~ZeroPages();
  ZeroPages(const ZeroPages&) = delete;
  ZeroPages& operator=(const ZeroPages&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }

private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

} // namespace nimbus::machine

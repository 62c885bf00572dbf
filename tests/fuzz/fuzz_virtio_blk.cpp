// Fuzz target: virtio-blk (machine/devices/virtio_block.*) behind its virtio-mmio transport,
// modern and legacy layouts, on a 64 KiB disk image, with hostile descriptor chains (loops,
// indirect tables, buffers past RAM or in MMIO, huge lengths, requests past the disk's end) and
// any register access.
//
// Beyond "no crash" (ASan sees any access a byte past guest RAM, which is a heap buffer here):
// the checks of virtio_harness.hpp (deterministic, snapshot state round-trips, reset gives the
// power-on state), plus: a read-only image is never changed, a writable one never grows (no write
// lands past the capacity the device reports).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fuzz_support.hpp"
#include "machine/devices/virtio_block.hpp"
#include "virtio_harness.hpp"

using namespace nimbus::machine;
using nimbus::fuzz::VirtioLayout;

namespace {

constexpr uint64_t kDiskSize = 64 * 1024;

struct Disks {
  nimbus::fuzz::ScratchFile disk{kDiskSize, 0x11};
  nimbus::fuzz::ScratchFile other{kDiskSize, 0x11};
  std::vector<uint8_t> original = disk.contents();
  void restore() {
    FILE* f = std::fopen(disk.path().c_str(), "r+b");
    FUZZ_CHECK(f && std::fwrite(original.data(), 1, original.size(), f) == original.size());
    std::fclose(f);
    FUZZ_CHECK(truncate(disk.path().c_str(), static_cast<off_t>(kDiskSize)) == 0);
  }
};
Disks& disks() {
  static Disks d;
  return d;
}

std::vector<uint8_t> request_header(uint32_t type, uint64_t sector) {
  std::vector<uint8_t> h(16, 0);
  std::memcpy(h.data(), &type, 4);
  std::memcpy(h.data() + 8, &sector, 8);
  return h;
}

// A three-descriptor request: header, data, status byte.
void request(nimbus::fuzz::VirtioSeed& s, uint8_t first, uint32_t type, uint64_t sector, uint32_t len, bool write_data) {
  const uint64_t header = VirtioLayout::kBuffers + first * 0x100;
  const uint64_t data = VirtioLayout::kBuffers + 0x4000 + first * 0x200;
  const uint64_t status = header + 0x80;
  s.ram(static_cast<uint16_t>(header - VirtioLayout::kRamBase), request_header(type, sector));
  s.desc(first, header, 16, Virtqueue::kDescNext, static_cast<uint8_t>(first + 1));
  if (len > 0) {
    s.desc(static_cast<uint8_t>(first + 1), data, len,
           static_cast<uint8_t>(Virtqueue::kDescNext | (write_data ? 0 : Virtqueue::kDescWrite)), static_cast<uint8_t>(first + 2));
    s.desc(static_cast<uint8_t>(first + 2), status, 1, Virtqueue::kDescWrite, 0);
  } else {
    s.desc(static_cast<uint8_t>(first + 1), status, 1, Virtqueue::kDescWrite, 0);
  }
  s.available(first);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!nimbus::fuzz::seed_dir()) return 0;
  for (const bool legacy : {false, true}) {
    // What a driver does first: features, a read of sector 0, a write, a flush, the id.
    nimbus::fuzz::VirtioSeed s(legacy);
    s.read_register(VirtioMmio::kMagicValue);
    s.read_register(VirtioMmio::kDeviceId);
    s.read_register(VirtioMmio::kConfig);
    s.init(3);
    request(s, 0, VirtioBlock::kTypeIn, 0, 512, false);
    request(s, 3, VirtioBlock::kTypeOut, 1, 1024, true);
    request(s, 6, VirtioBlock::kTypeFlush, 0, 0, false);
    request(s, 8, VirtioBlock::kTypeGetId, 0, 20, false);
    s.read_register(VirtioMmio::kInterruptStatus);
    nimbus::fuzz::write_seed(legacy ? "blk_requests_legacy" : "blk_requests", s.w.out);
  }
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Disks& d = disks();
  const bool read_only = data[0] & 2;
  d.restore();
  const nimbus::fuzz::DeviceFactory make = [&](int copy) -> std::unique_ptr<VirtioDevice> {
    return std::make_unique<VirtioBlock>(copy == 0 ? d.disk.path() : d.other.path(), read_only);
  };
  nimbus::fuzz::fuzz_virtio(data, size, make, [&] {
    const std::vector<uint8_t> now = d.disk.contents();
    FUZZ_CHECK(now.size() == kDiskSize);
    if (read_only) FUZZ_CHECK(now == d.original);
    d.restore();
  });
  return 0;
}

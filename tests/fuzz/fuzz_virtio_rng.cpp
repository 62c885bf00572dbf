// Fuzz target: virtio-rng (machine/devices/virtio_entropy.*) behind its virtio-mmio transport,
// modern and legacy layouts, seeded (deterministic) so runs repeat, with hostile descriptor
// chains and any register access.
//
// Beyond "no crash" (ASan sees any access a byte past guest RAM, a heap buffer here): the checks
// of virtio_harness.hpp: the same input gives the same RAM and state twice, the snapshot state
// round-trips, reset() gives the power-on state (but for the generator's state, which runs on).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fuzz_support.hpp"
#include "machine/devices/virtio_entropy.hpp"
#include "virtio_harness.hpp"

using namespace nimbus::machine;
using nimbus::fuzz::VirtioLayout;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!nimbus::fuzz::seed_dir()) return 0;
  for (const bool legacy : {false, true}) {
    // Linux's hw_random driver: one 64-byte buffer, then a chain of two, then an indirect table.
    nimbus::fuzz::VirtioSeed s(legacy);
    s.read_register(VirtioMmio::kDeviceId);
    s.init(2);
    s.desc(0, VirtioLayout::kBuffers, 64, Virtqueue::kDescWrite, 0);
    s.available(0);
    s.desc(1, VirtioLayout::kBuffers + 0x100, 16, Virtqueue::kDescWrite | Virtqueue::kDescNext, 2);
    s.desc(2, VirtioLayout::kBuffers + 0x200, 32, Virtqueue::kDescWrite, 0);
    s.available(1);
    // An indirect table of two descriptors in RAM at kBuffers + 0x800.
    std::vector<uint8_t> table(32, 0);
    const uint64_t a0 = VirtioLayout::kBuffers + 0x300, a1 = VirtioLayout::kBuffers + 0x400;
    const uint32_t len = 8;
    const uint16_t next_flags = Virtqueue::kDescWrite | Virtqueue::kDescNext, last_flags = Virtqueue::kDescWrite;
    const uint16_t next = 1;
    std::memcpy(&table[0], &a0, 8);
    std::memcpy(&table[8], &len, 4);
    std::memcpy(&table[12], &next_flags, 2);
    std::memcpy(&table[14], &next, 2);
    std::memcpy(&table[16], &a1, 8);
    std::memcpy(&table[24], &len, 4);
    std::memcpy(&table[28], &last_flags, 2);
    s.ram(static_cast<uint16_t>(VirtioLayout::kBuffers + 0x800 - VirtioLayout::kRamBase), table);
    s.desc(3, VirtioLayout::kBuffers + 0x800, 32, Virtqueue::kDescIndirect, 0);
    s.available(3);
    s.read_register(VirtioMmio::kInterruptStatus);
    nimbus::fuzz::write_seed(legacy ? "rng_requests_legacy" : "rng_requests", s.w.out);
  }
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The generator's state (8 bytes) runs on over a reset: a rebooted guest does not get the same
  // "random" bytes again.
  nimbus::fuzz::fuzz_virtio(data, size, [](int) { return std::make_unique<VirtioEntropy>(true); }, {}, 8);
  return 0;
}

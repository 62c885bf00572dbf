#pragma once
// Generates the flattened device tree (DTB) for the board from what is actually present, laid
// out like QEMU 7.2's virt machine so Linux 6.1, OpenSBI and U-Boot probe it unchanged.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nimbus::machine {

struct DeviceTreeSpec {
  uint64_t ram_base = 0x8000'0000;
  uint64_t ram_size = 0;
  unsigned harts = 1;
  // Linux 6.1 parses single letters plus "_"-separated multi-letter names and ignores the ones
  // it does not know; OpenSBI 1.1 probes CSRs instead of reading this string.
  std::string isa = "rv64imafdc_zicsr_zifencei_zicntr_sstc";
  std::string mmu_type = "riscv,sv57";
  std::string bootargs;
  struct Range {
    uint64_t start;
    uint64_t end; // exclusive
  };
  std::optional<Range> initrd;
  // /chosen/rng-seed, as QEMU 7.2's virt machine gives it (32 bytes): Linux seeds its random
  // number generator from it at boot, so getrandom() need not wait for entropy. Empty: none.
  std::vector<uint8_t> rng_seed;
  std::vector<unsigned> virtio_slots; // occupied virtio-mmio slots (0..7)
  bool rtc = true;
  bool test_finisher = true;
};

// Throws std::runtime_error if libfdt reports a problem (it names the failing step).
std::vector<uint8_t> build_device_tree(const DeviceTreeSpec& spec);

} // namespace nimbus::machine

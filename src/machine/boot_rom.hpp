#pragma once
// The reset-vector ROM at 0x1000 (QEMU's "mrom"): a few instructions that set a0 = mhartid,
// a1 = DTB address, a2 = &fw_dynamic_info and jump to the firmware (or, without firmware, the
// kernel) in M-mode. Every hart starts here.
#include <array>
#include <cstdint>
#include <vector>

#include "machine/mmio_device.hpp"

namespace nimbus::machine {

// OpenSBI's struct fw_dynamic_info (version 2), all fields XLEN wide.
struct FwDynamicInfo {
  static constexpr uint64_t kMagic = 0x4942534f; // "OSBI"
  static constexpr uint64_t kVersion = 2;
  static constexpr uint64_t kNextModeS = 1;
  uint64_t next_addr = 0;
  uint64_t next_mode = kNextModeS;
  uint64_t options = 0;
  uint64_t boot_hart = 0;
};

class BootRom : public MmioDevice {
public:
  static constexpr uint64_t kBase = 0x1000;
  static constexpr uint64_t kSize = 0xf000;
  static constexpr uint64_t kFwDynamicInfoOffset = 0x28;

  // Code and data of the reset vector: jump to start_addr with a1 = dtb_addr.
  static std::vector<uint8_t> build(uint64_t start_addr, uint64_t dtb_addr, const FwDynamicInfo& info);

  // Replaces the ROM image (zero-filled past `bytes`); throws std::invalid_argument if too big.
  // The storage never moves, so code pointers harts hold stay valid across a reboot's reload.
  void set_contents(const std::vector<uint8_t>& bytes);

  std::string_view name() const override { return "boot-rom"; }
  bool read(uint64_t offset, unsigned size, uint64_t& value) override;
  bool write(uint64_t, unsigned, uint64_t) override { return false; } // ROM
  // Harts decode whole pages straight from this storage.
  const uint8_t* code_pointer(uint64_t offset, uint64_t len) const override;

private:
  std::array<uint8_t, kSize> bytes_{};
};

} // namespace nimbus::machine

#include "machine/boot_rom.hpp"

#include <cstring>

namespace nimbus::machine {
namespace {

void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put64(std::vector<uint8_t>& out, uint64_t v) {
  put32(out, static_cast<uint32_t>(v));
  put32(out, static_cast<uint32_t>(v >> 32));
}

} // namespace

std::vector<uint8_t> BootRom::build(uint64_t start_addr, uint64_t dtb_addr, const FwDynamicInfo& info) {
  std::vector<uint8_t> rom;
  put32(rom, 0x00000297); // 1: auipc t0, 0            t0 = 0x1000
  put32(rom, 0x02828613); //    addi  a2, t0, 0x28     a2 = &fw_dynamic_info
  put32(rom, 0xf1402573); //    csrr  a0, mhartid
  put32(rom, 0x0202b583); //    ld    a1, 32(t0)       a1 = dtb address
  put32(rom, 0x0182b283); //    ld    t0, 24(t0)       t0 = start address
  put32(rom, 0x00028067); //    jr    t0
  put64(rom, start_addr); // 0x18
  put64(rom, dtb_addr);   // 0x20
  // 0x28: struct fw_dynamic_info
  put64(rom, FwDynamicInfo::kMagic);
  put64(rom, FwDynamicInfo::kVersion);
  put64(rom, info.next_addr);
  put64(rom, info.next_mode);
  put64(rom, info.options);
  put64(rom, info.boot_hart);
  return rom;
}

bool BootRom::read(uint64_t offset, unsigned size, uint64_t& value) {
  value = 0;
  for (unsigned i = 0; i < size; ++i)
    if (offset + i < bytes_.size()) value |= uint64_t{bytes_[offset + i]} << (8 * i);
  return true;
}

} // namespace nimbus::machine

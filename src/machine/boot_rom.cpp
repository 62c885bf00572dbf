#include "machine/boot_rom.hpp"

#include <cstring>
#include <stdexcept>

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

void BootRom::set_contents(const std::vector<uint8_t>& bytes) {
  if (bytes.size() > bytes_.size()) throw std::invalid_argument("boot ROM image is larger than the ROM");
  bytes_.fill(0);
  std::memcpy(bytes_.data(), bytes.data(), bytes.size());
}

bool BootRom::read(uint64_t offset, unsigned size, uint64_t& value) {
  if (offset > bytes_.size() || size > bytes_.size() - offset) return false;
  value = 0;
  std::memcpy(&value, bytes_.data() + offset, size); // little-endian host
  return true;
}

const uint8_t* BootRom::code_pointer(uint64_t offset, uint64_t len) const {
  if (offset > bytes_.size() || len > bytes_.size() - offset) return nullptr;
  return bytes_.data() + offset;
}

} // namespace nimbus::machine

#include "machine/firmware_errata.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace nimbus::machine {

namespace {

// sbi_hsm_hart_start of OpenSBI 1.1 as Debian builds it (the same bytes in fw_dynamic.bin and
// fw_jump.bin: the calls are pc-relative), from loading hart_data_offset to the last store into
// the target's scratch (s2: its scratch, s1: its hart id; s3, s4, s5: mode, address, argument):
//   ld a0,0(s7); li a2,2; li a1,1; add a0,a0,s2; jal atomic_cmpxchg   state STOPPED -> START_PENDING
//   sext.w a4,a0; beqz a4,EALREADY; li a5,1; bne a4,a5,EINVAL
//   mv a0,s1; jal sbi_init_count; ld a5,8(s7)
//   sd s5,16(s2); sd s4,24(s2); sd s3,32(s2)                         next_arg1, next_addr, next_mode
constexpr std::array<uint8_t, 48> kHsmStartFaulty = {
    0x03, 0xb5, 0x0b, 0x00, 0x09, 0x46, 0x85, 0x45, 0x4a, 0x95, 0xef, 0xa0, 0x7f, 0xce, 0x1b, 0x07,
    0x05, 0x00, 0x39, 0xcb, 0x85, 0x47, 0x63, 0x17, 0xf7, 0x04, 0x26, 0x85, 0xef, 0x70, 0xcf, 0x97,
    0x83, 0xb7, 0x8b, 0x00, 0x23, 0x38, 0x59, 0x01, 0x23, 0x3c, 0x49, 0x01, 0x23, 0x30, 0x39, 0x03};
// The same instructions with the three stores first, so the target sees its start address,
// argument and mode once it sees START_PENDING (the compare-and-swap's fence iorw,ow orders them). The
// relative jumps are re-encoded for their new places (same targets; nothing else jumps into
// these 48 bytes). A failed compare-and-swap (the hart was not stopped) has then written a
// scratch area only read when that hart next starts, as upstream's fix does.
//   sd s5,16(s2); sd s4,24(s2); sd s3,32(s2)
//   ld a0,0(s7); li a2,2; li a1,1; add a0,a0,s2; jal atomic_cmpxchg
//   sext.w a4,a0; beqz a4,EALREADY; li a5,1; bne a4,a5,EINVAL
//   mv a0,s1; jal sbi_init_count; ld a5,8(s7)
constexpr std::array<uint8_t, 48> kHsmStartFixed = {
    0x23, 0x38, 0x59, 0x01, 0x23, 0x3c, 0x49, 0x01, 0x23, 0x30, 0x39, 0x03, 0x03, 0xb5, 0x0b, 0x00,
    0x09, 0x46, 0x85, 0x45, 0x4a, 0x95, 0xef, 0xa0, 0xbf, 0xcd, 0x1b, 0x07, 0x05, 0x00, 0x29, 0xc7,
    0x85, 0x47, 0x63, 0x11, 0xf7, 0x04, 0x26, 0x85, 0xef, 0x70, 0x0f, 0x97, 0x83, 0xb7, 0x8b, 0x00};

} // namespace

std::vector<std::string> fix_firmware_errata(Bus& bus, uint64_t start, uint64_t end) {
  std::vector<std::string> fixed;
  if (end <= start) return fixed;
  uint8_t* image = bus.ram_pointer(start, end - start);
  if (image == nullptr) return fixed;
  uint8_t* const last = image + (end - start);
  uint8_t* found = std::search(image, last, kHsmStartFaulty.begin(), kHsmStartFaulty.end());
  // Exactly one copy, 2-byte aligned (an instruction boundary), or the code is not the one known.
  if (found == last || (found - image) % 2 != 0 ||
      std::search(found + 1, last, kHsmStartFaulty.begin(), kHsmStartFaulty.end()) != last)
    return fixed;
  std::memcpy(found, kHsmStartFixed.data(), kHsmStartFixed.size());
  const uint64_t at = start + static_cast<uint64_t>(found - image);
  bus.mark_dirty(at, kHsmStartFixed.size());
  bus.note_dma_write(at, kHsmStartFixed.size());
  fixed.emplace_back("opensbi-1.1-hsm-hart-start-order");
  return fixed;
}

} // namespace nimbus::machine

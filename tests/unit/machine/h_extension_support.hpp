#pragma once
// H extension test fixture: a hart with G-stage (hgatp) and VS-stage (vsatp) page tables built in
// RAM, guest code entered in VS- or VU-mode, and a run helper that says which trap vector (M, HS
// or VS) the hart parked in.
#include <initializer_list>

#include "hart_test_support.hpp"

namespace nimbus::test {

namespace as {
// HLV/HLVX (funct7 selects the width, rs2 the variant), HSV, HFENCE.
constexpr uint32_t h_mem(uint32_t funct7, uint32_t rs2, uint32_t rd, uint32_t rs1) {
  return (funct7 << 25) | (rs2 << 20) | (rs1 << 15) | (4u << 12) | (rd << 7) | 0x73;
}
constexpr uint32_t hlv_b(uint32_t rd, uint32_t rs1) { return h_mem(0x30, 0, rd, rs1); }
constexpr uint32_t hlv_bu(uint32_t rd, uint32_t rs1) { return h_mem(0x30, 1, rd, rs1); }
constexpr uint32_t hlv_h(uint32_t rd, uint32_t rs1) { return h_mem(0x32, 0, rd, rs1); }
constexpr uint32_t hlv_hu(uint32_t rd, uint32_t rs1) { return h_mem(0x32, 1, rd, rs1); }
constexpr uint32_t hlvx_hu(uint32_t rd, uint32_t rs1) { return h_mem(0x32, 3, rd, rs1); }
constexpr uint32_t hlv_w(uint32_t rd, uint32_t rs1) { return h_mem(0x34, 0, rd, rs1); }
constexpr uint32_t hlv_wu(uint32_t rd, uint32_t rs1) { return h_mem(0x34, 1, rd, rs1); }
constexpr uint32_t hlvx_wu(uint32_t rd, uint32_t rs1) { return h_mem(0x34, 3, rd, rs1); }
constexpr uint32_t hlv_d(uint32_t rd, uint32_t rs1) { return h_mem(0x36, 0, rd, rs1); }
constexpr uint32_t hsv_b(uint32_t rs2, uint32_t rs1) { return h_mem(0x31, rs2, 0, rs1); }
constexpr uint32_t hsv_h(uint32_t rs2, uint32_t rs1) { return h_mem(0x33, rs2, 0, rs1); }
constexpr uint32_t hsv_w(uint32_t rs2, uint32_t rs1) { return h_mem(0x35, rs2, 0, rs1); }
constexpr uint32_t hsv_d(uint32_t rs2, uint32_t rs1) { return h_mem(0x37, rs2, 0, rs1); }
constexpr uint32_t hfence_vvma(uint32_t rs1 = 0, uint32_t rs2 = 0) { return (0x11u << 25) | (rs2 << 20) | (rs1 << 15) | 0x73; }
constexpr uint32_t hfence_gvma(uint32_t rs1 = 0, uint32_t rs2 = 0) { return (0x31u << 25) | (rs2 << 20) | (rs1 << 15) | 0x73; }
} // namespace as

namespace pte {
inline constexpr uint64_t V = 1, R = 2, W = 4, X = 8, U = 16, A = 64, D = 128;
}

inline constexpr uint64_t kVirtualInstruction = 22;
inline constexpr uint64_t kInstructionGuestPageFault = 20, kLoadGuestPageFault = 21, kStoreGuestPageFault = 23;

class HExtensionTest : public HartTest {
protected:
  static constexpr uint64_t kGuestTrap = kRamBase + 0x7200; // vstvec: "j ."
  static constexpr uint64_t kGRoot = kRamBase + 0x400000;   // 16 KiB aligned (x4 root)
  static constexpr uint64_t kVsRoot = kRamBase + 0x500000;
  static constexpr uint64_t kVsTablesEnd = kRamBase + 0x540000;
  static constexpr uint64_t kTarget = kRamBase + 0x600000; // physical data pages for tests

  enum class Parked { Machine, Hypervisor, Guest, Nowhere };

  uint64_t next_g_ = kGRoot + 0x4000;
  uint64_t next_vs_ = kVsRoot + 0x1000;
  int g_levels_ = 3;
  int vs_levels_ = 3;

  void SetUp() override {
    HartTest::SetUp();
    put32(kGuestTrap, as::jal(0, 0));
    hart.set_csr(riscv::csr::kVstvec, kGuestTrap);
  }

  // Builds page tables under `root`: a leaf at `leaf_level` mapping va -> pa. The root level has
  // `root_extra` more index bits (2 for the x4 G-stage root). Table pages are allocated from
  // `next` and written at their physical address (VS tables are identity-mapped by the G-stage).
  uint64_t map_in(uint64_t root, int levels, unsigned root_extra, uint64_t& next, uint64_t va, uint64_t pa,
                  uint64_t flags, int leaf_level) {
    uint64_t table = root;
    for (int level = levels - 1; level > leaf_level; --level) {
      const unsigned bits = 9 + (level == levels - 1 ? root_extra : 0);
      const uint64_t slot = table + ((va >> (12 + 9 * level)) & ((1ull << bits) - 1)) * 8;
      uint64_t entry = get64(slot);
      if (!(entry & pte::V)) {
        entry = ((next >> 12) << 10) | pte::V;
        next += 0x1000;
        put64(slot, entry);
      }
      table = (entry >> 10) << 12;
    }
    const unsigned bits = 9 + (leaf_level == levels - 1 ? root_extra : 0);
    const uint64_t slot = table + ((va >> (12 + 9 * leaf_level)) & ((1ull << bits) - 1)) * 8;
    put64(slot, ((pa >> 12) << 10) | flags);
    return slot;
  }
  uint64_t gmap(uint64_t gpa, uint64_t pa, uint64_t flags, int leaf_level = 0) {
    return map_in(kGRoot, g_levels_, 2, next_g_, gpa, pa, flags, leaf_level);
  }
  uint64_t vsmap(uint64_t gva, uint64_t gpa, uint64_t flags, int leaf_level = 0) {
    return map_in(kVsRoot, vs_levels_, 0, next_vs_, gva, gpa, flags, leaf_level);
  }

  // G-stage on (Sv39x4 by default) with the code/vector pages and the VS tables identity-mapped.
  void use_g_stage(uint64_t mode = 8, int levels = 3) {
    g_levels_ = levels;
    hart.set_csr(riscv::csr::kHgatp, (mode << 60) | (kGRoot >> 12));
    using namespace pte;
    for (uint64_t page = kRamBase; page < kRamBase + 0x8000; page += 0x1000) gmap(page, page, V | R | W | X | U | A | D);
    for (uint64_t page = kVsRoot; page < kVsTablesEnd; page += 0x1000) gmap(page, page, V | R | W | U | A | D);
  }
  // VS-stage on (Sv39) with the code/vector pages identity-mapped for VS-mode.
  void use_vs_stage(uint64_t mode = 8, int levels = 3) {
    vs_levels_ = levels;
    hart.set_csr(riscv::csr::kVsatp, (mode << 60) | (kVsRoot >> 12));
    using namespace pte;
    for (uint64_t page = kRamBase; page < kRamBase + 0x8000; page += 0x1000) vsmap(page, page, V | R | W | X | A | D);
  }

  // Where the hart is parked after running (at most `budget` instructions).
  Parked run_parked(uint64_t budget = 100000) {
    for (uint64_t spent = 0; spent < budget; spent += 64) {
      hart.run(64);
      if (hart.pc() == kMachineTrap) return Parked::Machine;
      if (hart.pc() == kSupervisorTrap) return Parked::Hypervisor;
      if (hart.pc() == kGuestTrap) return Parked::Guest;
      if (hart.waiting()) break;
    }
    return Parked::Nowhere;
  }
  // Writes `code` at kCode and runs it in VS-mode (privilege 1) or VU-mode (0) with V=1.
  Parked run_guest(std::initializer_list<uint32_t> code, unsigned privilege = 1) {
    cursor = kCode;
    emit(code);
    hart.flush_caches();
    hart.set_pc(kCode);
    hart.set_privilege(privilege);
    hart.set_virtualization(true);
    return run_parked();
  }
  // Writes `code` at kCode and runs it with V=0 at `privilege` (1 = HS, 0 = U, 3 = M).
  Parked run_host(std::initializer_list<uint32_t> code, unsigned privilege = 1) {
    cursor = kCode;
    emit(code);
    hart.flush_caches();
    hart.set_pc(kCode);
    hart.set_privilege(privilege);
    hart.set_virtualization(false);
    return run_parked();
  }
  uint64_t csr(uint16_t number) const { return hart.csr(number); }
};

} // namespace nimbus::test

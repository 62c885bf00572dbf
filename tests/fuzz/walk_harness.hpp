#pragma once
// Runs single loads and stores on a hart as S-, U-, VS- or VU-mode would make them, so the
// hart's own page-table walker translates them: the hart sits in M-mode executing from a small
// ROM, with mstatus.MPRV set and MPP (and MPV) naming the privilege the access is made at. Each
// probe ends in the ROM's trap vector; mcause says how it ended (3: the EBREAK after the access,
// so it succeeded).
#include <cstdint>
#include <cstring>

#include "fuzz_support.hpp"
#include "machine/bus.hpp"
#include "machine/hart.hpp"
#include "machine/mmio_device.hpp"
#include "riscv/csr.hpp"

namespace nimbus::fuzz {

class ProbeRom : public machine::MmioDevice {
public:
  static constexpr uint64_t kBase = 0x1000'0000;
  static constexpr uint64_t kSize = 0x1000;
  static constexpr uint64_t kLoad = kBase + 0x0;    // ld a0, 0(a1); ebreak
  static constexpr uint64_t kStore = kBase + 0x8;   // sd a2, 0(a1); ebreak
  static constexpr uint64_t kTrap = kBase + 0x20;   // j .
  ProbeRom() {
    const uint32_t words[] = {0x0005b503, 0x00100073, 0x00c5b023, 0x00100073};
    std::memcpy(code_, words, sizeof words);
    const uint32_t loop = 0x0000006f;
    std::memcpy(code_ + 0x20, &loop, 4);
  }
  std::string_view name() const override { return "probe-rom"; }
  bool read(uint64_t offset, unsigned size, uint64_t& value) override {
    value = machine::load_le(code_ + offset, size);
    return true;
  }
  bool write(uint64_t, unsigned, uint64_t) override { return false; }
  const uint8_t* code_pointer(uint64_t offset, uint64_t len) const override {
    return offset + len <= kSize ? code_ + offset : nullptr;
  }

private:
  uint8_t code_[kSize] = {};
};

struct ProbeResult {
  uint64_t cause = 0; // 3: done; otherwise the exception the access raised
  uint64_t value = 0; // a0 after a load
};

// Opens PMP for S and U (one NAPOT entry over everything) and points mtvec at the ROM's trap.
inline void prepare_hart(machine::Hart& hart) {
  namespace csr = riscv::csr;
  hart.reset(ProbeRom::kTrap);
  hart.set_csr(csr::kPmpaddr0, ~uint64_t{0} >> 10);
  hart.set_csr(csr::kPmpcfg0, 0x1f);
  hart.set_csr(csr::kMtvec, ProbeRom::kTrap);
}

// One access at `va` as privilege `mpp` (0 U, 1 S), V=`mpv`, with SUM/MXR as in `status_bits`.
inline ProbeResult probe(machine::Hart& hart, uint64_t va, bool store, uint64_t value, unsigned mpp, bool mpv,
                         uint64_t status_bits) {
  namespace mst = riscv::csr::mstatus;
  hart.flush_translations();
  hart.set_privilege(3);
  const uint64_t mstatus = (hart.csr(riscv::csr::kMstatus) & ~(mst::kMpp | mst::kMpv | mst::kSum | mst::kMxr)) | mst::kMprv |
                           (uint64_t{mpp} << mst::kMppShift) | (mpv ? mst::kMpv : 0) | status_bits;
  hart.set_csr(riscv::csr::kMstatus, mstatus);
  hart.set_x(11, va);
  hart.set_x(12, value);
  hart.set_x(10, 0);
  hart.set_pc(store ? ProbeRom::kStore : ProbeRom::kLoad);
  for (int i = 0; i < 8 && hart.pc() != ProbeRom::kTrap; ++i) hart.run(2);
  FUZZ_CHECK(hart.pc() == ProbeRom::kTrap);
  return ProbeResult{hart.csr(riscv::csr::kMcause), hart.x(10)};
}

} // namespace nimbus::fuzz

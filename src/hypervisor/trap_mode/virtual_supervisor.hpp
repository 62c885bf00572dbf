#pragma once
// The guest kernel's supervisor state in trap mode, which the hart (always in U-mode) does not
// hold: the virtual privilege and the S-mode CSRs the VMM emulates. sstatus.FS is the exception:
// it lives in the hart's mstatus.FS, so the hart lets U-mode use the FP unit exactly when the
// guest enabled it, and marks it dirty as real hardware would.
#include <cstdint>

#include "riscv/csr.hpp"

namespace nimbus::hypervisor {

struct VirtualSupervisor {
  static constexpr uint64_t kSstatusState = riscv::csr::mstatus::kSie | riscv::csr::mstatus::kSpie |
                                            riscv::csr::mstatus::kSpp | riscv::csr::mstatus::kSum |
                                            riscv::csr::mstatus::kMxr;
  static constexpr uint64_t kSieWritable = riscv::csr::irq::kSupervisorBits;

  bool supervisor = true;   // virtual privilege: S (guest kernel) or U (guest user)
  uint64_t sstatus = 0;     // SIE, SPIE, SPP, SUM, MXR (FS: the hart's)
  uint64_t sie = 0;
  uint64_t stvec = 0, sepc = 0, scause = 0, stval = 0, sscratch = 0;
  uint64_t satp = 0;
  uint64_t scounteren = 0, senvcfg = 0;

  bool sie_enabled() const { return sstatus & riscv::csr::mstatus::kSie; }
  bool sum() const { return sstatus & riscv::csr::mstatus::kSum; }
  bool mxr() const { return sstatus & riscv::csr::mstatus::kMxr; }
};

} // namespace nimbus::hypervisor

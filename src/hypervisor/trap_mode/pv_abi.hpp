#pragma once
// The paravirtual interface of trap mode ("Nimbus PV"): an SBI extension in the
// firmware-specific range that only a trap-mode vCPU offers (BASE probe_extension answers 1
// there; the core's SBI, used by emulate and hw mode, answers 0 and NOT_SUPPORTED).
// The guest side is guests/linux/nimbus-pv.patch (arch/riscv/include/asm/nimbus_pv.h holds the
// same numbers). docs/trap-mode.md, "Paravirtual kernel".
//
// Shared page: each vCPU registers one 4 KiB page of its RAM. The VMM maps it into the guest
// kernel's view (never its user mode) at kSharedVa, the top page of the address space, which
// Linux never maps (ERR_PTR values), so the fields below 0x1000 are reachable as negative
// offsets from x0 (ld t0, -2048(zero)) with no free register. It holds the virtual
// supervisor CSRs: the VMM writes them before every hart run and reads back what the guest
// changed after it, with the same rules as the emulated CSR writes.
#include <cstdint>

namespace nimbus::hypervisor::pv {

inline constexpr uint64_t kExtension = 0x0A4E4D42; // firmware-specific range 0x0A000000-0x0AFFFFFF

// Function ids (a6); arguments in a0.., result in a0 (error) and a1 (value).
inline constexpr uint64_t kSetSharedPage = 0; // a0: guest-physical page (~0: none); a1 <- kSharedVa
inline constexpr uint64_t kSret = 1;          // sret with sstatus/sepc as the page holds them; a6, a7 from the page
inline constexpr uint64_t kSetSatp = 2;       // a0: satp, a1: kSatpFlush or 0
inline constexpr uint64_t kMmuBatch = 3;      // a0: guest-physical MmuOp array, a1: count; a1 <- ops done

inline constexpr uint64_t kSatpFlush = 1;     // also drop every translation (sfence.vma zero, zero)

inline constexpr uint64_t kSharedVa = ~uint64_t{0xfff};
inline constexpr uint64_t kPageSize = 4096;

// Offsets in the page (from x0: offset - 4096). The CSR block is one contiguous run.
inline constexpr uint64_t kCsrBlock = 0x800;
struct SharedCsrs {
  uint64_t sstatus;  // guest-writable: SIE, SPIE, SPP, SUM, MXR, FS (as a csrw sstatus)
  uint64_t sie;      // guest-writable
  uint64_t sip;      // VMM only: pending interrupts when the hart last started
  uint64_t sepc, scause, stval, sscratch; // guest-writable
  uint64_t stvec;    // VMM only (mirror)
  uint64_t satp;     // VMM only (mirror: write it with kSetSatp or csrw)
};
static_assert(sizeof(SharedCsrs) == 72);
inline constexpr uint64_t kSretA6 = 0x848, kSretA7 = 0x850; // the guest's a6, a7 for kSret
inline constexpr uint64_t kSpare = 0x858;                   // the guest's own (trap entry parks t0)
inline constexpr uint64_t kAbiVersionOffset = 0x860;        // written by the VMM at registration
inline constexpr uint64_t kAbiVersion = 1;

// MMU batch operations: 32 bytes each, at most kMaxMmuOps per call, applied in order; the
// first bad one ends the call with its error and a1 = how many were applied.
struct MmuOp {
  uint64_t op, va, gpa, value;
};
static_assert(sizeof(MmuOp) == 32);
inline constexpr uint64_t kMmuFlushPage = 1; // va: drop its translations (every address space)
inline constexpr uint64_t kMmuFlushAsid = 2; // value: ASID (non-global translations)
inline constexpr uint64_t kMmuFlushAll = 3;
inline constexpr uint64_t kMmuWritePte = 4;  // gpa: 8-byte PTE in RAM <- value, then as kMmuFlushPage va
inline constexpr uint64_t kMaxMmuOps = kPageSize / sizeof(MmuOp);

} // namespace nimbus::hypervisor::pv

#pragma once
// CSR numbers and architectural bit fields (privileged spec 1.12, RV64).
#include <cstdint>

namespace nimbus::riscv::csr {

enum Number : uint16_t {
  kFflags = 0x001, kFrm = 0x002, kFcsr = 0x003,
  kCycle = 0xc00, kTime = 0xc01, kInstret = 0xc02, kHpmCounter3 = 0xc03, kHpmCounter31 = 0xc1f,
  kSstatus = 0x100, kSie = 0x104, kStvec = 0x105, kScounteren = 0x106, kSenvcfg = 0x10a,
  kSscratch = 0x140, kSepc = 0x141, kScause = 0x142, kStval = 0x143, kSip = 0x144, kStimecmp = 0x14d,
  kSatp = 0x180,
  kMvendorid = 0xf11, kMarchid = 0xf12, kMimpid = 0xf13, kMhartid = 0xf14, kMconfigptr = 0xf15,
  kMstatus = 0x300, kMisa = 0x301, kMedeleg = 0x302, kMideleg = 0x303, kMie = 0x304, kMtvec = 0x305,
  kMcounteren = 0x306, kMenvcfg = 0x30a, kMcountinhibit = 0x320, kMhpmevent3 = 0x323, kMhpmevent31 = 0x33f,
  kMscratch = 0x340, kMepc = 0x341, kMcause = 0x342, kMtval = 0x343, kMip = 0x344,
  kPmpcfg0 = 0x3a0, kPmpcfg15 = 0x3af, kPmpaddr0 = 0x3b0, kPmpaddr63 = 0x3ef,
  kMcycle = 0xb00, kMinstret = 0xb02, kMhpmcounter3 = 0xb03, kMhpmcounter31 = 0xb1f,
  // H extension: hypervisor CSRs, VS CSRs (substituted for the S CSRs when V=1), M additions.
  kHstatus = 0x600, kHedeleg = 0x602, kHideleg = 0x603, kHie = 0x604, kHtimedelta = 0x605,
  kHcounteren = 0x606, kHgeie = 0x607, kHenvcfg = 0x60a, kHtval = 0x643, kHip = 0x644, kHvip = 0x645,
  kHtinst = 0x64a, kHgatp = 0x680, kHgeip = 0xe12,
  kVsstatus = 0x200, kVsie = 0x204, kVstvec = 0x205, kVsscratch = 0x240, kVsepc = 0x241, kVscause = 0x242,
  kVstval = 0x243, kVsip = 0x244, kVstimecmp = 0x24d, kVsatp = 0x280,
  kMtinst = 0x34a, kMtval2 = 0x34b,
};

// When V=1, an S CSR number names its VS counterpart (0x1xx -> 0x2xx); others are unchanged.
constexpr uint16_t vs_substitute(uint16_t number) {
  switch (number) {
  case kSstatus: case kSie: case kStvec: case kSscratch: case kSepc: case kScause: case kStval: case kSip:
  case kStimecmp: case kSatp:
    return static_cast<uint16_t>(number + 0x100);
  default:
    return number;
  }
}

// mstatus / sstatus fields.
namespace mstatus {
inline constexpr uint64_t kSie = 1ull << 1, kMie = 1ull << 3, kSpie = 1ull << 5, kMpie = 1ull << 7,
                          kSpp = 1ull << 8, kMppShift = 11, kMpp = 3ull << 11, kFsShift = 13, kFs = 3ull << 13,
                          kXs = 3ull << 15, kMprv = 1ull << 17, kSum = 1ull << 18, kMxr = 1ull << 19,
                          kTvm = 1ull << 20, kTw = 1ull << 21, kTsr = 1ull << 22, kUxl = 3ull << 32,
                          kSxl = 3ull << 34, kGva = 1ull << 38, kMpv = 1ull << 39, kSd = 1ull << 63;
inline constexpr uint64_t kXlen64 = 2;
// Bits writable through mstatus (SD, XS, UXL, SXL are derived or fixed).
inline constexpr uint64_t kWritable =
    kSie | kMie | kSpie | kMpie | kSpp | kMpp | kFs | kMprv | kSum | kMxr | kTvm | kTw | kTsr | kGva | kMpv;
// The sstatus view of mstatus.
inline constexpr uint64_t kSstatusView = kSie | kSpie | kSpp | kFs | kXs | kSum | kMxr | kUxl | kSd;
inline constexpr uint64_t kSstatusWritable = kSie | kSpie | kSpp | kFs | kSum | kMxr;
} // namespace mstatus

// Interrupt numbers (mip/mie bit positions and mcause codes).
namespace irq {
inline constexpr unsigned kSsi = 1, kMsi = 3, kSti = 5, kMti = 7, kSei = 9, kMei = 11;
inline constexpr uint64_t kSsip = 1ull << kSsi, kMsip = 1ull << kMsi, kStip = 1ull << kSti, kMtip = 1ull << kMti,
                          kSeip = 1ull << kSei, kMeip = 1ull << kMei;
inline constexpr unsigned kVssi = 2, kVsti = 6, kVsei = 10, kSgei = 12;
inline constexpr uint64_t kVssip = 1ull << kVssi, kVstip = 1ull << kVsti, kVseip = 1ull << kVsei,
                          kSgeip = 1ull << kSgei;
inline constexpr uint64_t kSupervisorBits = kSsip | kStip | kSeip;
inline constexpr uint64_t kVsBits = kVssip | kVstip | kVseip;
// SGEIP/SGEIE are read-only zero: GEILEN = 0 (no guest external interrupt files).
inline constexpr uint64_t kAll = kSupervisorBits | kMsip | kMtip | kMeip | kVsBits;
} // namespace irq

// hstatus fields (VSBE = 0, VGEIN read-only 0 since GEILEN = 0, VSXL fixed at 64 bits).
namespace hstatus {
inline constexpr uint64_t kGva = 1ull << 6, kSpv = 1ull << 7, kSpvp = 1ull << 8, kHu = 1ull << 9,
                          kVtvm = 1ull << 20, kVtw = 1ull << 21, kVtsr = 1ull << 22, kVsxl = 3ull << 32;
inline constexpr uint64_t kWritable = kGva | kSpv | kSpvp | kHu | kVtvm | kVtw | kVtsr;
} // namespace hstatus

// hgatp: MODE 63:60 (Bare, Sv39x4 = 8, Sv48x4 = 9, Sv57x4 = 10), VMID 57:44, PPN 43:0.
namespace hgatp {
inline constexpr uint64_t kVmidMask = 0x3fffull << 44;
} // namespace hgatp

namespace menvcfg {
inline constexpr uint64_t kFiom = 1ull << 0, kStce = 1ull << 63;
}

namespace counteren {
inline constexpr uint64_t kCy = 1, kTm = 2, kIr = 4;
}

// misa: RV64 with A, C, D, F, H, I, M, S, U.
inline constexpr uint64_t kMisaValue = (2ull << 62) | (1ull << 0) | (1ull << 2) | (1ull << 3) | (1ull << 5) |
                                       (1ull << 7) | (1ull << 8) | (1ull << 12) | (1ull << 18) | (1ull << 20);

// satp modes.
namespace satp {
inline constexpr uint64_t kModeBare = 0, kModeSv39 = 8, kModeSv48 = 9, kModeSv57 = 10;
inline constexpr unsigned kModeShift = 60;
inline constexpr uint64_t kAsidMask = 0xffffull << 44, kPpnMask = (1ull << 44) - 1;
} // namespace satp

} // namespace nimbus::riscv::csr

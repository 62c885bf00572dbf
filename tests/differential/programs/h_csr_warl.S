/* H extension CSRs from M-mode: misa.H, and what each hypervisor and VS CSR keeps of an
   all-ones write (WARL masks), the hvip/hip/mip and vsip/vsie aliases, hgatp/vsatp mode
   legalization, henvcfg.STCE gated by menvcfg.STCE. */
#include "common.h"
#include "h_guest.inc"

/* QEMU 7.2 with h=true keeps bits the specification makes read-only:
// QEMU-DIFFERS: hstatus: 0xfffffffeffffffdf => hstatus: 0x00000002007003c0 ; hypervisor.adoc hstatus: only GVA, SPV, SPVP, HU, VTVM, VTW, VTSR are writable here (VSBE 0, VGEIN 0 with GEILEN 0, VSXL 64, the rest reserved)
// QEMU-DIFFERS: hie: 0x0000000000001444 => hie: 0x0000000000000444 ; hypervisor.adoc norm:mideleg_hroz: mideleg[12] is zero when GEILEN = 0, so hie.SGEIE is read-only zero
// QEMU-DIFFERS: hcounteren: 0xffffffffffffffff => hcounteren: 0x00000000ffffffff ; hypervisor.adoc: hcounteren is a 32-bit register
// QEMU-DIFFERS: vsstatus: 0xffffffffffffffff => vsstatus: 0x80000002000c6122 ; hypervisor.adoc vsstatus: the sstatus fields only (SIE SPIE SPP FS SUM MXR writable, UXL 64, SD derived)
// QEMU-DIFFERS: vstvec: 0xffffffffffffffff => vstvec: 0x0000000000000000 ; vstvec MODE >= 2 is reserved: WARL, the write is ignored as for stvec (QEMU ignores it for stvec too)
// QEMU-DIFFERS: vsepc: 0xffffffffffffffff => vsepc: 0xfffffffffffffffe ; priv spec sepc/vsepc: bit 0 is always zero
// QEMU-DIFFERS: medeleg: 0x0000000000f0bfff => medeleg: 0x0000000000f0b7ff ; machine.adoc medeleg: medeleg[11] (ecall from M) is read-only zero
// QEMU-DIFFERS: vsip_with_hideleg: 0x0000000000000002 => vsip_with_hideleg: 0x0000000000000022 ; hypervisor.adoc norm:vsip_vsie_sti: with hideleg[6] set vsip.STIP is an alias of hip.VSTIP
// QEMU-DIFFERS: hgatp_sv39x4: 0x8000000000080403 => hgatp_sv39x4: 0x8000000000080400 ; hypervisor.adoc norm:hgatp_ppn_op: PPN[1:0] always read as zeros in the x4 modes
// QEMU-DIFFERS: hgatp_after_reserved: 0x5000000000000000 => hgatp_after_reserved: 0x0000000000000000 ; hypervisor.adoc norm:hgatp_mode_warl: MODE is WARL, so an unsupported value cannot be read back (Nimbus legalizes it to Bare)
// QEMU-DIFFERS: vsatp_after_reserved: 0x1000000000000000 => vsatp_after_reserved: 0x8000000000080500 ; hypervisor.adoc norm:vsatp_mode_unsupported_v0: ignored as for satp, or WARL: Sv32 cannot be read back on RV64
// QEMU-DIFFERS: henvcfg_stce_without_menvcfg: 0x0000000000000001 => henvcfg_stce_without_menvcfg: 0x0000000000000000 ; machine.adoc norm:menvcfg_stce_op2: with menvcfg.STCE = 0, henvcfg.STCE is read-only zero
*/

.macro WARL name, csr
  li t0, -1
  csrw \csr, t0
  SIG_CSR \name, \csr
  csrw \csr, zero
.endm

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  csrr t0, misa
  srli t0, t0, 7
  andi t0, t0, 1
  SIG misa_h, t0

  SAY "warl"
  WARL hstatus, hstatus
  WARL hedeleg, hedeleg
  WARL hideleg, hideleg
  WARL hvip, hvip
  WARL hie, hie
  WARL hcounteren, hcounteren
  WARL hgeie, hgeie
  WARL htval, htval
  WARL htimedelta, htimedelta
  WARL vsstatus, vsstatus
  WARL vsie_without_hideleg, vsie
  WARL vstvec, vstvec
  WARL vsscratch, vsscratch
  WARL vsepc, vsepc
  WARL vscause, vscause
  WARL vstval, vstval
  WARL mtval2, mtval2
  WARL mtinst, mtinst
  SIG_CSR hgeip, hgeip
  li t0, -1
  csrw medeleg, t0
  SIG_CSR medeleg, medeleg
  csrw medeleg, zero

  SAY "aliases"
  li t0, 0x444
  csrw hvip, t0
  SIG_CSR hip, hip
  csrr t0, mip
  andi t0, t0, 0x444
  SIG mip_vs_bits, t0
  SIG_CSR vsip_without_hideleg, vsip
  li t0, 0x044
  csrw hideleg, t0
  SIG_CSR vsip_with_hideleg, vsip
  li t0, 0x444
  csrw hie, t0
  SIG_CSR vsie_with_hideleg, vsie
  csrw vsip, zero                       /* clears hvip.VSSIP only */
  SIG_CSR hvip_after_vsip_clear, hvip
  csrw vsie, zero                       /* clears the delegated enables only */
  SIG_CSR hie_after_vsie_clear, hie
  li t0, 4
  csrs mip, t0                          /* mip.VSSIP is hvip.VSSIP */
  SIG_CSR hvip_after_mip_set, hvip
  csrw hip, zero
  SIG_CSR hvip_after_hip_clear, hvip
  csrw hvip, zero
  csrw hie, zero
  csrw hideleg, zero

  SAY "translation registers"
  li t0, 8
  slli t0, t0, 60
  li t1, 0x80403
  or t0, t0, t1
  csrw hgatp, t0
  SIG_CSR hgatp_sv39x4, hgatp
  li t0, 5
  slli t0, t0, 60
  csrw hgatp, t0                        /* reserved mode: no effect */
  SIG_CSR hgatp_after_reserved, hgatp
  li t0, 9
  slli t0, t0, 60
  li t1, 0x80400
  or t0, t0, t1
  csrw hgatp, t0
  SIG_CSR hgatp_sv48x4, hgatp
  csrw hgatp, zero
  li t0, 8
  slli t0, t0, 60
  li t1, 0x80500
  or t0, t0, t1
  csrw vsatp, t0
  SIG_CSR vsatp_sv39, vsatp
  li t0, 1
  slli t0, t0, 60
  csrw vsatp, t0
  SIG_CSR vsatp_after_reserved, vsatp
  csrw vsatp, zero

  SAY "henvcfg"
  li t0, -1
  csrw henvcfg, t0
  csrr t0, henvcfg
  srli t0, t0, 63
  SIG henvcfg_stce_without_menvcfg, t0
  li t0, 1
  slli t0, t0, 63
  csrs menvcfg, t0
  li t0, -1
  csrw henvcfg, t0
  csrr t0, henvcfg
  srli t0, t0, 63
  SIG henvcfg_stce_with_menvcfg, t0
  csrw henvcfg, zero
  li t0, 1
  slli t0, t0, 63
  csrc menvcfg, t0

  ld ra, 0(sp)
  addi sp, sp, 16
  ret

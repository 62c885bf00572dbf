/* H extension traps without translation (hgatp and vsatp Bare): ECALL causes from VS and VU,
   virtual-instruction exceptions (hypervisor CSRs from VS/VU, SRET/WFI/SFENCE.VMA from VU,
   VTSR/VTVM/VTW in VS) against illegal-instruction ones, delegation to HS (medeleg: scause,
   hstatus.SPV/SPVP) and on to VS (hedeleg: vscause, vsstatus.SPP), SRET inside VS. */
#include "common.h"
/* M records MPV only: QEMU 7.2 sets mstatus.GVA on every trap from V=1 with a nonzero tval,
   also when tval is an instruction (virtual/illegal instruction), where the spec
   (hypervisor.adoc, mstatus GVA) sets it only for a guest virtual address. The h_g* programs
   compare GVA where it is set. */
#define H_M_BITS_MASK 2
#include "h_guest.inc"

/* Where QEMU 7.2 and the specification disagree:
// QEMU-DIFFERS: vu_sscratch.cause: 0x0000000000000002 => vu_sscratch.cause: 0x0000000000000016 ; hypervisor.adoc norm:H_virtinst_vu_nonhigh_supervisor_allowedhs_tvm0: a supervisor CSR from VU-mode is a virtual-instruction exception
// QEMU-DIFFERS: vu_sret.cause: 0x0000000000000002 => vu_sret.cause: 0x0000000000000016 ; hypervisor.adoc norm:H_virtinst_vu_sret_sfence: SRET in VU-mode is a virtual-instruction exception
// QEMU-DIFFERS: vu_sfence.cause: 0x0000000000000002 => vu_sfence.cause: 0x0000000000000016 ; hypervisor.adoc norm:H_virtinst_vu_sret_sfence: SFENCE.VMA in VU-mode is a virtual-instruction exception
// QEMU-DIFFERS: vs_hlv.tval: 0x0000000012000073 => vs_hlv.tval: 0x000000006c014573 ; hypervisor.adoc norm:H_virtinst_xtval: mtval gets the faulting instruction (hlv.d a0,(sp)); QEMU reports a stale sfence.vma
// QEMU-DIFFERS: vs_satp_vtvm.count: 0x0000000000000000 => vs_satp_vtvm.count: 0x0000000000000001 ; hypervisor.adoc norm:H_virtinst_vs_sfence_sinval_satp_vtvm1: satp from VS-mode with hstatus.VTVM=1 traps; QEMU 7.2 lets it through
// QEMU-DIFFERS: vs_satp_vtvm.cause: 0x0000000000000000 => vs_satp_vtvm.cause: 0x0000000000000016 ; same trap (virtual instruction)
// QEMU-DIFFERS: vs_satp_vtvm.tval: 0x0000000000000000 => vs_satp_vtvm.tval: 0x0000000018002573 ; same trap (the instruction)
// QEMU-DIFFERS: vs_satp_vtvm.bits: 0x0000000000000000 => vs_satp_vtvm.bits: 0x0000000000000002 ; same trap (MPV = 1)
// QEMU-DIFFERS: vs_illegal_from_vu.cause: 0x0000000000000001 => vs_illegal_from_vu.cause: 0x0000000000000002 ; priv spec: an exception keeps its code in vscause; only VS-level interrupt codes are translated (QEMU 7.2 also turns exception 2 into 1)
*/

#define HSTATUS_VTVM (1 << 20)
#define HSTATUS_VTW (1 << 21)
#define HSTATUS_VTSR (1 << 22)

.macro GUEST fn, mode
  la a0, \fn
  li a1, \mode
  call h_run_guest
.endm

  .text
  .option push
  .option norvc
  .balign 4
g_ecall:
  li a7, 0
  ecall
  ret
g_csr_hstatus:
  csrr a0, hstatus
  ret
g_csr_vsstatus:
  csrr a0, vsstatus
  ret
g_csr_mstatus:
  csrr a0, mstatus
  ret
g_csr_sscratch:
  csrr a0, sscratch             /* VS: vsscratch; VU: virtual instruction */
  ret
g_csr_satp:
  csrr a0, satp
  ret
g_sret:
  sret
  ret
g_wfi:
  wfi
  ret
g_sfence:
  sfence.vma
  ret
g_ebreak:
  ebreak
  ret
g_hlv:
  hlv.d a0, (sp)
  ret
g_hfence:
  hfence.gvma
  ret
g_sret_within:                  /* SRET in VS-mode returns through vsepc to VS (SPP = 1) */
  la t0, 1f
  csrw sepc, t0
  li t0, 0x100
  csrs sstatus, t0
  sret
1:
  csrr a0, hstatus              /* still V=1: a virtual instruction */
  ret
  .option pop

  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  la t0, h_hs_handler
  csrw stvec, t0
  la t0, h_vs_handler
  csrw vstvec, t0

  SAY "ecall to M"
  GUEST g_ecall, 1
  H_SIG vs_ecall
  GUEST g_ecall, 0
  H_SIG vu_ecall

  SAY "virtual and illegal instructions"
  GUEST g_csr_hstatus, 1
  H_SIG vs_hstatus
  GUEST g_csr_vsstatus, 1
  H_SIG vs_vsstatus
  GUEST g_csr_hstatus, 0
  H_SIG vu_hstatus
  GUEST g_csr_sscratch, 0
  H_SIG vu_sscratch
  GUEST g_csr_sscratch, 1
  H_SIG vs_sscratch_ok
  GUEST g_csr_mstatus, 1
  H_SIG vs_mstatus
  GUEST g_sret, 0
  H_SIG vu_sret
  GUEST g_wfi, 0
  H_SIG vu_wfi
  GUEST g_sfence, 0
  H_SIG vu_sfence
  GUEST g_hlv, 1
  H_SIG vs_hlv
  GUEST g_hfence, 1
  H_SIG vs_hfence
  li t0, HSTATUS_VTSR
  csrs hstatus, t0
  GUEST g_sret, 1
  H_SIG vs_sret_vtsr
  li t0, HSTATUS_VTSR
  csrc hstatus, t0
  li t0, HSTATUS_VTVM
  csrs hstatus, t0
  GUEST g_sfence, 1
  H_SIG vs_sfence_vtvm
  li t0, HSTATUS_VTVM           /* h_run_guest clobbers t0 */
  csrs hstatus, t0
  GUEST g_csr_satp, 1
  H_SIG_SHORT vs_satp_vtvm
  li t0, HSTATUS_VTVM
  csrc hstatus, t0
  GUEST g_sfence, 1
  H_SIG vs_sfence_ok
  li t0, HSTATUS_VTW
  csrs hstatus, t0
  GUEST g_wfi, 1
  H_SIG vs_wfi_vtw
  li t0, HSTATUS_VTW
  csrc hstatus, t0

  SAY "delegation to HS"
  li t0, (1 << 22) | (1 << 2)
  csrw medeleg, t0
  GUEST g_csr_hstatus, 1
  H_SIG hs_from_vs
  GUEST g_csr_hstatus, 0
  H_SIG hs_from_vu
  GUEST g_csr_mstatus, 1
  H_SIG hs_illegal_from_vs

  SAY "delegation to VS"
  li t0, (1 << 22) | (1 << 3) | (1 << 2)
  csrw medeleg, t0
  li t0, (1 << 3) | (1 << 2)
  csrw hedeleg, t0
  GUEST g_ebreak, 1
  H_SIG vs_from_vs
  GUEST g_ebreak, 0
  H_SIG vs_from_vu
  GUEST g_csr_mstatus, 0
  H_SIG vs_illegal_from_vu
  GUEST g_csr_hstatus, 1
  H_SIG virtual_not_delegable_to_vs
  csrw medeleg, zero
  csrw hedeleg, zero

  SAY "sret inside VS"
  GUEST g_sret_within, 1
  H_SIG vs_sret

  ld ra, 0(sp)
  addi sp, sp, 16
  ret

/* VS-level interrupts: hvip bits delegated by hideleg arrive in VS-mode as the S-level codes
   (VSSI -> 1, VSTI -> 5, VSEI -> 9) when vsstatus.SIE is set (or always in VU-mode), not at
   V=0; undelegated ones go to HS with their own codes; VSEI > VSSI > VSTI; vstimecmp (Sstc with
   henvcfg.STCE) drives VSTIP. The interrupt is pending before the guest enables it, so where it
   is taken is exact, but only count/level/cause are printed. */
#include "common.h"
#include "h_guest.inc"

#define VSSIP (1 << 2)
#define VSTIP (1 << 6)
#define VSEIP (1 << 10)

.macro GUEST fn, mode
  la a0, \fn
  li a1, \mode
  call h_run_guest
.endm
.macro IRQ_RECORD tag
  SIG_MEM \tag\().count, h_record + 8
  SIG_MEM \tag\().level, h_record + 0
  SIG_MEM \tag\().cause, h_record + 16
  HELPER_SAVE
  call h_record_clear
  HELPER_RESTORE
.endm

  .text
  .option push
  .option norvc
  .balign 4
g_enable_and_spin:              /* VS: sstatus.SIE = 1, then a few instructions */
  csrsi sstatus, 2
  nop
  nop
  nop
  ret
g_spin:
  nop
  nop
  nop
  ret
hs_enable_and_spin:             /* HS (V=0): sstatus.SIE = 1 */
  csrsi sstatus, 2
  nop
  nop
  csrci sstatus, 2
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

  csrr t0, mideleg
  // QEMU-DIFFERS: mideleg_at_reset: 0x0000000000000000 => mideleg_at_reset: 0x0000000000000444 ; hypervisor.adoc (mideleg): with H, bits 10, 6, 2 are read-only one (QEMU 7.2 sets them on the first mideleg write)
  SIG mideleg_at_reset, t0
  csrw mideleg, zero
  // QEMU-DIFFERS: mideleg_after_write: 0x0000000000001444 => mideleg_after_write: 0x0000000000000444 ; hypervisor.adoc (mideleg): bit 12 (SGEIP) is read-only one only if GEILEN is nonzero; here hgeie/hgeip are zero (GEILEN = 0)
  SIG_CSR mideleg_after_write, mideleg

  SAY "delegated to VS"
  li t0, VSSIP | VSTIP | VSEIP
  csrw hideleg, t0
  csrw hie, t0
  li t0, VSSIP
  csrw hvip, t0
  csrr t0, vsip
  SIG vsip, t0
  GUEST g_enable_and_spin, 1
  IRQ_RECORD vssi
  li t0, VSTIP
  csrw hvip, t0
  GUEST g_enable_and_spin, 1
  IRQ_RECORD vsti
  csrw hvip, zero
  li t0, VSSIP | VSTIP | VSEIP
  csrw hie, t0
  csrw vsstatus, zero
  li t0, VSSIP | VSTIP | VSEIP  /* all three: VSEI first */
  csrw hvip, t0
  GUEST g_enable_and_spin, 1
  // QEMU-DIFFERS: priority_vsei.cause: 0x8000000000000001 => priority_vsei.cause: 0x8000000000000009 ; machine.adoc/hypervisor.adoc interrupt priority: VSEI > VSSI > VSTI (SEI > SSI > STI once in VS)
  IRQ_RECORD priority_vsei
  li t0, VSSIP | VSTIP
  csrw hie, t0
  csrw hvip, t0
  csrw vsstatus, zero
  GUEST g_enable_and_spin, 1
  IRQ_RECORD priority_vssi
  csrw hvip, zero

  SAY "enables"
  li t0, VSSIP
  csrw hie, t0
  csrw hvip, t0
  csrw vsstatus, zero
  GUEST g_spin, 1               /* vsstatus.SIE = 0: not taken */
  IRQ_RECORD vs_sie_clear
  GUEST g_spin, 0               /* VU-mode: always enabled */
  IRQ_RECORD vu_always
  li t0, VSSIP
  csrw hie, t0
  csrw hvip, t0
  la a0, hs_enable_and_spin
  li a1, 1
  call h_run_host               /* V=0: VS-level interrupts wait */
  IRQ_RECORD not_at_v0
  csrw hvip, zero

  SAY "not delegated: to HS"
  csrw hideleg, zero
  li t0, VSTIP
  csrw hie, t0
  csrw hvip, t0
  GUEST g_spin, 1
  IRQ_RECORD hs_vsti
  csrr t0, hstatus
  srli t0, t0, 7
  andi t0, t0, 1
  SIG hs_vsti_spv, t0
  csrw hvip, zero

  SAY "vstimecmp"
  li t0, VSTIP
  csrw hideleg, t0
  csrw hie, t0
  li t0, 1
  slli t0, t0, 63
  csrs menvcfg, t0
  csrs henvcfg, t0
  li t0, -1
  csrw vstimecmp, t0
  csrr t0, hip
  andi t0, t0, VSTIP
  SIG hip_vstip_not_due, t0
  csrw vstimecmp, zero
  csrr t0, hip
  andi t0, t0, VSTIP
  SIG hip_vstip_due, t0
  csrw vsstatus, zero
  GUEST g_enable_and_spin, 1
  IRQ_RECORD vstimecmp
  li t0, -1
  csrw vstimecmp, t0
  li t0, 1
  slli t0, t0, 63
  csrc henvcfg, t0
  csrc menvcfg, t0
  csrw hideleg, zero
  csrw hie, zero

  ld ra, 0(sp)
  addi sp, sp, 16
  ret

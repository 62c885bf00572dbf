/* Machine interrupts from the CLINT: software interrupt through msip, timer interrupt
   through mtimecmp, pending bits in mip, masking by mie and mstatus.MIE, and WFI waking on a
   pending interrupt even when it is globally disabled. */
#include "common.h"

#define SPIN_LIMIT 50000000

/* Spins until the recording handler has counted a trap, or SPIN_LIMIT iterations. */
.macro WAIT_FOR_TRAP
  li t3, SPIN_LIMIT
1:
  la t2, trap_count
  ld t2, 0(t2)
  bnez t2, 2f
  addi t3, t3, -1
  bnez t3, 1b
2:
.endm

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "irq_clint"
  USE_RECORDING_TRAPS
  li t0, CLINT_MTIMECMP
  li t1, -1
  sd t1, 0(t0)                  /* no timer interrupt until asked */
  csrw mie, zero
  /* software interrupt: pending in mip while disabled, taken once enabled */
  li t0, CLINT_MSIP
  li t1, 1
  sw t1, 0(t0)
  csrr a0, mip
  andi a0, a0, 0x8
  SIG msip_pending, a0
  lw a0, 0(t0)
  SIG msip_register, a0
  li t1, 0x8
  csrs mie, t1
  csrsi mstatus, 0x8            /* MIE */
  WAIT_FOR_TRAP
  csrci mstatus, 0x8
  IRQ_SIG software
  csrr a0, mip
  andi a0, a0, 0x8
  SIG msip_cleared, a0
  csrw mie, zero
  /* timer: mtimecmp in the past makes MTIP pending */
  li t0, CLINT_MTIMECMP
  sd zero, 0(t0)
  csrr a0, mip
  andi a0, a0, 0x80
  SIG mtip_pending_past, a0
  li t1, -1
  sd t1, 0(t0)
  csrr a0, mip
  andi a0, a0, 0x80
  SIG mtip_clear_future, a0
  /* timer interrupt a little in the future */
  li t1, CLINT_MTIME
  ld t2, 0(t1)
  addi t2, t2, 100
  sd t2, 0(t0)
  li t1, 0x80
  csrs mie, t1
  csrsi mstatus, 0x8
  WAIT_FOR_TRAP
  csrci mstatus, 0x8
  IRQ_SIG timer
  csrw mie, zero
  /* mtime advances */
  li t1, CLINT_MTIME
  ld t2, 0(t1)
  li t3, 100000
3:
  addi t3, t3, -1
  bnez t3, 3b
  ld t3, 0(t1)
  sltu a0, t2, t3
  SIG mtime_advances, a0
  /* WFI returns when an enabled interrupt is pending even with mstatus.MIE = 0 */
  li t1, 0x8
  csrs mie, t1
  li t0, CLINT_MSIP
  li t1, 1
  sw t1, 0(t0)
  wfi
  IRQ_SIG wfi_no_trap_when_mie_clear
  csrr a0, mip
  andi a0, a0, 0x8
  SIG wfi_woke_msip_pending, a0
  sw zero, 0(t0)
  csrw mie, zero
  /* timer wakes WFI */
  li t0, CLINT_MTIMECMP
  li t1, CLINT_MTIME
  ld t2, 0(t1)
  addi t2, t2, 1000
  sd t2, 0(t0)
  li t1, 0x80
  csrs mie, t1
  wfi
  csrr a0, mip
  andi a0, a0, 0x80
  SIG wfi_woke_mtip_pending, a0
  li t1, -1
  sd t1, 0(t0)
  csrw mie, zero
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

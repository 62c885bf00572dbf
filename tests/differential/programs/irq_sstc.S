/* Sstc: the supervisor timer compare register stimecmp (menvcfg.STCE = 1) raises STIP, which
   is delegated to S. From S-mode, for deadlines 1 us .. 100 ms ahead, the hart sleeps in WFI
   and checks after the interrupt that time has reached stimecmp (not early) and overshot it
   by less than 50 ms (not lost or late). Also: stimecmp in the past sets sip.STIP at once, and
   a deadline in the future clears it. Linux 6.1 uses stimecmp for its clock events when the
   firmware reports Sstc. */
#include "common.h"

#define CSR_STIMECMP 0x14d
#define CSR_MENVCFG 0x30a
#define LATE_LIMIT 500000           /* 50 ms at 10 MHz */

/* S-mode handler: counts and records scause; silences the supervisor timer (stimecmp = max). */
  .text
  .balign 4
s_timer_handler:
  csrw sscratch, t0
  la t0, s_save
  sd t1, 0(t0)
  la t0, s_count
  ld t1, 0(t0)
  addi t1, t1, 1
  sd t1, 0(t0)
  csrr t1, scause
  sd t1, 8(t0)
  li t1, -1
  csrw CSR_STIMECMP, t1
  la t0, s_save
  ld t1, 0(t0)
  csrr t0, sscratch
  sret

.macro STIMER_CASE name, ticks
  rdtime t1
  li t2, \ticks
  add s1, t1, t2
  csrw CSR_STIMECMP, s1
1:
  wfi
  csrsi sstatus, 0x2
  csrci sstatus, 0x2
  la t0, s_count
  ld t0, 0(t0)
  beqz t0, 1b
  rdtime s2
  sltu a0, s2, s1
  xori a0, a0, 1
  SIG \name\().not_early, a0
  sub t1, s2, s1
  li t2, LATE_LIMIT
  sltu a0, t1, t2
  SIG \name\().not_late, a0
  SIG_MEM \name\().scount, s_count
  SIG_MEM \name\().scause, s_cause
  la t0, s_count
  sd zero, 0(t0)
  sd zero, 8(t0)
.endm

  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "irq_sstc"
  USE_RECORDING_TRAPS
  li t0, 1
  slli t0, t0, 63
  csrs CSR_MENVCFG, t0          /* STCE */
  li t0, 2                      /* TM: S and U may read time */
  csrs mcounteren, t0
  li t0, (1 << 5)               /* delegate the supervisor timer interrupt */
  csrw mideleg, t0
  la t0, s_timer_handler
  csrw stvec, t0
  RUN_IN_MODE in_smode, 1
  csrw mideleg, zero
  IRQ_SIG m_traps_during_s
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

in_smode:
  addi sp, sp, -16
  sd ra, 0(sp)
  /* pending bit follows the comparison, with the interrupt disabled */
  csrw sie, zero
  csrw CSR_STIMECMP, zero
  csrr a0, sip
  andi a0, a0, 0x20
  SIG stip_past_deadline, a0
  li t0, -1
  csrw CSR_STIMECMP, t0
  csrr a0, sip
  andi a0, a0, 0x20
  SIG stip_future_deadline, a0
  li t0, 0x20
  csrs sie, t0
  STIMER_CASE t_1us, 10
  STIMER_CASE t_100us, 1000
  STIMER_CASE t_1ms, 10000
  STIMER_CASE t_10ms, 100000
  STIMER_CASE t_100ms, 1000000
  csrw sie, zero
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

  .bss
  .balign 8
s_count: .dword 0
s_cause: .dword 0
s_save: .dword 0

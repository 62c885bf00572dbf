/* Timer interrupts wake WFI on time: for several deadlines (1 us .. 100 ms ahead at the
   10 MHz timebase) the hart sleeps in WFI with the timer enabled and checks, after the
   interrupt, that mtime has reached mtimecmp (not early) and overshot it by less than
   50 ms (not lost or badly late). Under --deterministic, WFI must still let time reach the
   deadline. Only the two booleans are printed, never times. */
#include "common.h"

#define LATE_LIMIT 500000           /* 50 ms at 10 MHz */

.macro TIMER_CASE name, ticks
  li t0, CLINT_MTIME
  ld t1, 0(t0)
  li t2, \ticks
  add s1, t1, t2                    /* deadline */
  li t0, CLINT_MTIMECMP
  sd s1, 0(t0)
  li t0, 0x80
  csrs mie, t0
  /* Sleep with mstatus.MIE = 0 (a pending enabled interrupt still wakes WFI), then open
     MIE for a moment to take it: no window where the interrupt is taken before WFI and
     WFI then sleeps forever. A spurious wake-up is allowed: sleep again. */
1:
  wfi
  csrsi mstatus, 0x8
  csrci mstatus, 0x8
  la t0, trap_count
  ld t0, 0(t0)
  beqz t0, 1b
  li t0, CLINT_MTIME
  ld s2, 0(t0)                      /* now */
  sltu a0, s2, s1
  xori a0, a0, 1
  SIG \name\().not_early, a0
  sub t1, s2, s1
  li t2, LATE_LIMIT
  sltu a0, t1, t2
  SIG \name\().not_late, a0
  IRQ_SIG \name
  csrw mie, zero
.endm

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "irq_timer_wfi"
  USE_RECORDING_TRAPS
  csrw mie, zero
  TIMER_CASE t_1us, 10
  TIMER_CASE t_100us, 1000
  TIMER_CASE t_1ms, 10000
  TIMER_CASE t_10ms, 100000
  TIMER_CASE t_100ms, 1000000
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

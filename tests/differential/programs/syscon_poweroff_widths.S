/* The syscon (sifive,test) power-off register accepts a 16-bit write: OpenSBI's
   sifive_test driver powers off with writew(0x5555), so Linux's poweroff under OpenSBI
   depends on it. On success the machine stops right after "DONE"; if the write is
   ignored the program says so and fails with exit code 5 through a 32-bit write. */
#include "common.h"

  .text
  .globl test_main
test_main:
  SAY "syscon_poweroff_widths"
  SAY "DONE"
  li t0, SYSCON_BASE
  li t1, 0x5555
  sh t1, 0(t0)
  li t2, 100000
1:
  addi t2, t2, -1
  bnez t2, 1b
  SAY "16-bit write of 0x5555 to the syscon did not power off"
  li a0, 5
  j diff_exit

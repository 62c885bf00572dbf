/* RV64I control flow and memory: every branch condition in both directions, JAL/JALR
   link values and JALR's cleared bit 0, loads with sign/zero extension, stores of each
   width, and little-endian byte order. */
#include "common.h"

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "rv64i_branch_mem"
  li s0, 0              /* bit i set when branch i is taken */
  li t0, -1
  li t1, 1
  beq t0, t0, 1f
  j 2f
1: ori s0, s0, 1
2: bne t0, t1, 1f
  j 2f
1: ori s0, s0, 2
2: blt t0, t1, 1f
  j 2f
1: ori s0, s0, 4
2: bltu t0, t1, 1f
  j 2f
1: ori s0, s0, 8
2: bge t0, t1, 1f
  j 2f
1: ori s0, s0, 16
2: bgeu t0, t1, 1f
  j 2f
1: ori s0, s0, 32
2: beq t0, t1, 1f
  j 2f
1: ori s0, s0, 64
2: bge t1, t1, 1f
  j 2f
1: ori s0, s0, 128
2:
  SIG branches_taken, s0
  /* link registers: JAL and JALR write pc+4; JALR clears bit 0 of the target */
  jal t2, 3f
3:
  la t3, 3b
  sub a0, t2, t3
  SIG jal_link_delta, a0
  la t3, 4f
  addi t3, t3, 1        /* odd target: bit 0 is ignored */
  jalr t2, 0(t3)
  .balign 4
4:
  la t3, 4b
  sub a0, t2, t3
  SIG jalr_link_delta, a0
  /* loads from a known pattern */
  la s1, pattern
  lb a0, 7(s1)
  SIG lb_neg, a0
  lbu a0, 7(s1)
  SIG lbu, a0
  lh a0, 6(s1)
  SIG lh_neg, a0
  lhu a0, 6(s1)
  SIG lhu, a0
  lw a0, 4(s1)
  SIG lw_neg, a0
  lwu a0, 4(s1)
  SIG lwu, a0
  ld a0, 0(s1)
  SIG ld, a0
  lw a0, 0(s1)
  SIG lw_low, a0
  lb a0, -1(s1)         /* negative offset */
  SIG lb_negoff, a0
  /* stores of each width into zeroed memory, read back as a doubleword */
  la s2, scratch
  li a1, 0x1122334455667788
  sd zero, 0(s2)
  sd zero, 8(s2)
  sb a1, 0(s2)
  sh a1, 2(s2)
  sw a1, 4(s2)
  sd a1, 8(s2)
  ld a0, 0(s2)
  SIG stores_low, a0
  ld a0, 8(s2)
  SIG stores_high, a0
  lbu a0, 8(s2)
  SIG little_endian, a0
  /* load into x0 is discarded but still performed */
  lw zero, 0(s2)
  SIG x0_after_load, zero
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

  .data
  .balign 8
  .byte 0, 0, 0, 0, 0, 0, 0, 0x9c
  .balign 8
pattern:
  .dword 0x80f1a2b3fedcba98
  .dword 0
scratch:
  .dword 0, 0

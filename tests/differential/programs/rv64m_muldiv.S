/* RV64M: multiply high parts with mixed signedness, word forms, and the defined results of
   division by zero and signed overflow (no trap; unpriv spec, M chapter, division table). */
#include "common.h"

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "rv64m_muldiv"
  li s0, 0x8000000000000000     /* INT64_MIN */
  li s1, -1
  li s2, 0x123456789abcdef1
  li s3, 0xfedcba9876543210
  li s4, 0x80000000             /* as a word: INT32_MIN */
  mul a0, s2, s3
  SIG mul, a0
  mulh a0, s2, s3
  SIG mulh, a0
  mulhu a0, s2, s3
  SIG mulhu, a0
  mulhsu a0, s3, s2
  SIG mulhsu_neg_pos, a0
  mulhsu a0, s2, s3
  SIG mulhsu_pos_big, a0
  mulh a0, s0, s0
  SIG mulh_min_min, a0
  mulhu a0, s1, s1
  SIG mulhu_max_max, a0
  mulhsu a0, s1, s1
  SIG mulhsu_m1_max, a0
  mulw a0, s2, s3
  SIG mulw, a0
  mulw a0, s4, s4
  SIG mulw_min_min, a0
  /* division */
  div a0, s2, s3
  SIG div, a0
  divu a0, s3, s2
  SIG divu, a0
  rem a0, s3, s2
  SIG rem_neg, a0
  remu a0, s3, s2
  SIG remu, a0
  li t0, -7
  li t1, 2
  div a0, t0, t1
  SIG div_trunc, a0
  rem a0, t0, t1
  SIG rem_sign, a0
  /* by zero */
  div a0, s2, zero
  SIG div_by_zero, a0
  divu a0, s2, zero
  SIG divu_by_zero, a0
  rem a0, s2, zero
  SIG rem_by_zero, a0
  remu a0, s3, zero
  SIG remu_by_zero, a0
  divw a0, s2, zero
  SIG divw_by_zero, a0
  divuw a0, s2, zero
  SIG divuw_by_zero, a0
  remw a0, s2, zero
  SIG remw_by_zero, a0
  remuw a0, s3, zero
  SIG remuw_by_zero, a0
  /* signed overflow */
  div a0, s0, s1
  SIG div_overflow, a0
  rem a0, s0, s1
  SIG rem_overflow, a0
  divw a0, s4, s1
  SIG divw_overflow, a0
  remw a0, s4, s1
  SIG remw_overflow, a0
  /* word forms use only the low 32 bits of the operands */
  li t0, 0xffffffff00000064     /* low word 100 */
  li t1, 0x0000000700000007     /* low word 7 */
  divw a0, t0, t1
  SIG divw_low_words, a0
  remw a0, t0, t1
  SIG remw_low_words, a0
  li t0, 0x00000000fffffff0     /* low word 4294967280 unsigned */
  divuw a0, t0, t1
  SIG divuw, a0
  remuw a0, t0, t1
  SIG remuw, a0
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

/* RV64I integer computation: immediates, shifts, word (W) forms with sign extension,
   comparisons, and edge values (INT64_MIN, -1, shift amounts at the limits). */
#include "common.h"

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "rv64i_alu"
  li t0, 0x7fffffffffffffff
  li t1, 0x8000000000000000
  li t2, -1
  add a0, t0, t2
  SIG add_max_m1, a0
  add a0, t0, t0
  SIG add_overflow, a0
  sub a0, t1, t2
  SIG sub_min_m1, a0
  sub a0, zero, t1
  SIG neg_min, a0
  addi a0, zero, -2048
  SIG addi_min, a0
  addi a0, t0, 2047
  SIG addi_wrap, a0
  lui a0, 0x80000
  SIG lui_signext, a0
  lui a0, 0x7ffff
  SIG lui_pos, a0
1:
  auipc a0, 0
  la a1, 1b
  sub a0, a0, a1
  SIG auipc_delta, a0
  /* word arithmetic: results are sign-extended from bit 31 */
  li a1, 0x7fffffff
  addiw a0, a1, 1
  SIG addiw_overflow, a0
  li a1, 0x123456789abcdef0
  addiw a0, a1, 0
  SIG sextw, a0
  li a2, 0xffffffff00000001
  addw a0, a1, a2
  SIG addw, a0
  subw a0, zero, a2
  SIG subw, a0
  /* shifts: only the low 6 (or 5 for W) bits of the amount count */
  li a2, 65
  sll a0, a1, a2
  SIG sll_65, a0
  srl a0, t1, a2
  SIG srl_65, a0
  sra a0, t1, a2
  SIG sra_65, a0
  slli a0, a1, 63
  SIG slli_63, a0
  srli a0, t2, 63
  SIG srli_63, a0
  srai a0, t1, 63
  SIG srai_63, a0
  li a2, 33
  sllw a0, a1, a2
  SIG sllw_33, a0
  srlw a0, a1, a2
  SIG srlw_33, a0
  sraw a0, a1, a2
  SIG sraw_33, a0
  slliw a0, a1, 31
  SIG slliw_31, a0
  srliw a0, t2, 0
  SIG srliw_0, a0
  sraiw a0, a1, 31
  SIG sraiw_31, a0
  li a3, 0x80000000
  sraiw a0, a3, 4
  SIG sraiw_neg, a0
  srliw a0, a3, 4
  SIG srliw_pos, a0
  /* logic */
  and a0, a1, t2
  SIG and, a0
  or a0, a1, t1
  SIG or, a0
  xor a0, a1, t2
  SIG xor, a0
  andi a0, a1, -16
  SIG andi_neg, a0
  ori a0, zero, -1
  SIG ori_neg, a0
  xori a0, a1, -1
  SIG not, a0
  /* comparisons */
  slt a0, t1, t0
  SIG slt_min_max, a0
  sltu a0, t1, t0
  SIG sltu_min_max, a0
  slti a0, t2, 0
  SIG slti_m1, a0
  sltiu a0, t0, -1
  SIG sltiu_m1, a0
  sltu a0, zero, a1
  SIG snez, a0
  /* x0 stays zero */
  addi zero, zero, 5
  SIG x0, zero
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

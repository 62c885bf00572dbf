/* RV64C: every RV64 compressed instruction class written explicitly (c.* mnemonics), with
   sign-extended immediates, the W forms, stack-pointer-relative loads/stores, jumps and their
   link values, and 2-byte-aligned 4-byte instructions. */
#include "common.h"

  .text
  .globl test_main
test_main:
  addi sp, sp, -32
  sd ra, 0(sp)
  SAY "rvc_compressed"
  .option push
  .option rvc
  c.li a0, -32
  SIG c_li_neg, a0
  c.lui a1, 0xfffe1             /* nzimm[17:12] = -31 */
  SIG c_lui_neg, a1
  c.lui a1, 1
  SIG c_lui_pos, a1
  c.li a2, 31
  c.addi a2, -32
  SIG c_addi, a2
  li a3, 0x7fffffff
  c.addiw a3, 1
  SIG c_addiw_overflow, a3
  c.mv a4, sp
  c.addi16sp sp, -64
  sub a5, a4, sp
  SIG c_addi16sp, a5
  c.addi4spn a5, sp, 1020
  sub a5, a5, sp
  SIG c_addi4spn, a5
  c.addi16sp sp, 64
  li a0, 0x8000000000000001
  c.slli a0, 63
  SIG c_slli, a0
  li a0, 0x8000000000000000
  mv a1, a0
  c.srli a0, 32
  SIG c_srli, a0
  c.srai a1, 32
  SIG c_srai, a1
  li a0, 0x123456789abcdef0
  c.andi a0, -2
  SIG c_andi, a0
  li a1, 0x0f0f0f0f0f0f0f0f
  c.mv a2, a0
  c.and a2, a1
  SIG c_and, a2
  c.mv a2, a0
  c.or a2, a1
  SIG c_or, a2
  c.mv a2, a0
  c.xor a2, a1
  SIG c_xor, a2
  c.mv a2, a0
  c.sub a2, a1
  SIG c_sub, a2
  c.mv a2, a0
  c.add a2, a1
  SIG c_add, a2
  c.mv a2, a0
  c.addw a2, a1
  SIG c_addw, a2
  c.mv a2, a0
  c.subw a2, a1
  SIG c_subw, a2
  /* loads and stores, register based (x8-x15) and sp based */
  la s0, cdata
  c.ld a0, 0(s0)
  SIG c_ld, a0
  c.lw a1, 8(s0)
  SIG c_lw_signext, a1
  c.sw a1, 12(s0)
  c.sd a0, 16(s0)
  ld a2, 8(s0)
  SIG c_sw_readback, a2
  ld a2, 16(s0)
  SIG c_sd_readback, a2
  c.sdsp a0, 8(sp)
  c.swsp a1, 16(sp)
  c.ldsp a3, 8(sp)
  SIG c_sdsp_ldsp, a3
  c.lwsp a4, 16(sp)
  SIG c_swsp_lwsp, a4
  /* control flow */
  li a0, 0
  c.beqz a0, 1f
  c.li a0, 1
1:
  SIG c_beqz_taken, a0
  c.li a1, 5
  c.bnez a1, 2f
  c.li a1, 7
2:
  SIG c_bnez_taken, a1
  c.j 3f
  c.li a1, 9
3:
  SIG c_j_skipped, a1
  la t0, 4f
  c.jalr t0                     /* ra = address of the next instruction */
  c.nop
4:
  la t1, 4b
  sub t2, t1, ra
  SIG c_jalr_link, t2
  la t0, 5f
  c.jr t0
  c.li a1, 11
5:
  SIG c_jr_skipped, a1
  /* a 4-byte instruction at an address that is only 2-byte aligned */
  .balign 4
  c.nop
  li a0, 0x12345
  SIG unaligned_4byte, a0
  .option pop
  ld ra, 0(sp)
  addi sp, sp, 32
  ret

  .data
  .balign 8
cdata:
  .dword 0xfedcba9876543210
  .word 0x80000001, 0
  .dword 0

/* F/D arithmetic on pseudo-random operands in all five rounding modes (set through frm, so every
   instruction uses DYN). Each line is a hash over COUNT results and their fflags for one operation
   and mode: any single wrong bit or flag changes it. Operands come from a fixed LCG; half the
   iterations squeeze exponents near 1.0 (ordinary values), the others use raw bit patterns
   (NaNs, infinities, subnormals, overflow, underflow). The second operand is often a near copy of
   the first, for cancellation. Unpriv spec, F and D chapters. */
#include "common.h"

#define COUNT 400

/* s1 = LCG state, s2 = hash, s3 = loop counter, s4/s5 = LCG constants, s6 = hash multiplier. */
.macro NEXT_RANDOM reg
  mul s1, s1, s4
  add s1, s1, s5
  srli \reg, s1, 17
  xor \reg, \reg, s1
.endm

/* HASH_LOOP name, body : runs body COUNT times with operands in fa0/fa1/fa2 (bit patterns also in
   a0/a1/a2); body leaves its result bits in t0. Prints the hash of results and fflags. */
.macro HASH_LOOP name, body
  li s2, 0
  li s3, COUNT
1:
  NEXT_RANDOM a0
  NEXT_RANDOM a1
  NEXT_RANDOM a2
  andi t1, s3, 2
  beqz t1, 2f
  srli t1, a1, 12                /* near copy: same sign and exponent, different low bits */
  xor a1, a0, t1
2:
  andi t1, s3, 1
  beqz t1, 3f
  li t1, 0x803fffff81ffffff      /* exponents of both the double and the low single near 1.0 */
  li t2, 0x3fc000003e000000
  and a0, a0, t1
  or a0, a0, t2
  and a1, a1, t1
  or a1, a1, t2
  and a2, a2, t1
  or a2, a2, t2
3:
  fmv.d.x fa0, a0
  fmv.d.x fa1, a1
  fmv.d.x fa2, a2
  csrw fflags, zero
  \body
  csrr t1, fflags
  xor s2, s2, t0
  mul s2, s2, s6
  xor s2, s2, t1
  mul s2, s2, s6
  addi s3, s3, -1
  bnez s3, 1b
  SIG \name, s2
.endm

.macro body_fadd_d
  fadd.d fa3, fa0, fa1
  fmv.x.d t0, fa3
.endm
.macro body_fsub_d
  fsub.d fa3, fa0, fa1
  fmv.x.d t0, fa3
.endm
.macro body_fmul_d
  fmul.d fa3, fa0, fa2
  fmv.x.d t0, fa3
.endm
.macro body_fdiv_d
  fdiv.d fa3, fa0, fa1
  fmv.x.d t0, fa3
.endm
.macro body_fsqrt_d
  fabs.d fa3, fa0
  fsqrt.d fa3, fa3
  fmv.x.d t0, fa3
.endm
.macro body_fmadd_d
  fmadd.d fa3, fa0, fa2, fa1
  fmv.x.d t0, fa3
.endm
.macro body_fnmsub_d
  fnmsub.d fa3, fa2, fa0, fa1
  fmv.x.d t0, fa3
.endm
.macro body_fcvt_l_d
  fcvt.l.d t0, fa2
.endm
.macro body_fcvt_wu_d
  fcvt.wu.d t0, fa0
.endm
.macro body_fcvt_d_l
  fcvt.d.l fa3, a1
  fmv.x.d t0, fa3
.endm
.macro body_fcvt_s_d
  fcvt.s.d fa3, fa0
  fmv.x.d t0, fa3
.endm
.macro body_fadd_s
  BOX_SINGLES
  fadd.s fa3, fa0, fa1
  fmv.x.d t0, fa3
.endm
.macro body_fsub_s
  BOX_SINGLES
  fsub.s fa3, fa0, fa1
  fmv.x.d t0, fa3
.endm
.macro body_fmul_s
  BOX_SINGLES
  fmul.s fa3, fa0, fa2
  fmv.x.d t0, fa3
.endm
.macro body_fdiv_s
  BOX_SINGLES
  fdiv.s fa3, fa0, fa1
  fmv.x.d t0, fa3
.endm
.macro body_fsqrt_s
  BOX_SINGLES
  fabs.s fa3, fa0
  fsqrt.s fa3, fa3
  fmv.x.d t0, fa3
.endm
.macro body_fmsub_s
  BOX_SINGLES
  fmsub.s fa3, fa0, fa2, fa1
  fmv.x.d t0, fa3
.endm
.macro body_fcvt_w_s
  BOX_SINGLES
  fcvt.w.s t0, fa0
.endm
.macro body_fcvt_lu_s
  BOX_SINGLES
  fcvt.lu.s t0, fa1
.endm
.macro body_fcvt_s_lu
  fcvt.s.lu fa3, a2
  fmv.x.d t0, fa3
.endm

/* Single-precision operands are the low halves of a0/a1/a2, NaN-boxed by fmv.w.x. */
.macro BOX_SINGLES
  fmv.w.x fa0, a0
  fmv.w.x fa1, a1
  fmv.w.x fa2, a2
.endm

/* ALL_OPS suffix : every operation under the rounding mode currently in frm. */
.macro ALL_OPS suffix
  HASH_LOOP fadd.d.\suffix, body_fadd_d
  HASH_LOOP fsub.d.\suffix, body_fsub_d
  HASH_LOOP fmul.d.\suffix, body_fmul_d
  HASH_LOOP fdiv.d.\suffix, body_fdiv_d
  HASH_LOOP fsqrt.d.\suffix, body_fsqrt_d
  HASH_LOOP fmadd.d.\suffix, body_fmadd_d
  HASH_LOOP fnmsub.d.\suffix, body_fnmsub_d
  HASH_LOOP fcvt.l.d.\suffix, body_fcvt_l_d
  HASH_LOOP fcvt.wu.d.\suffix, body_fcvt_wu_d
  HASH_LOOP fcvt.d.l.\suffix, body_fcvt_d_l
  HASH_LOOP fcvt.s.d.\suffix, body_fcvt_s_d
  HASH_LOOP fadd.s.\suffix, body_fadd_s
  HASH_LOOP fsub.s.\suffix, body_fsub_s
  HASH_LOOP fmul.s.\suffix, body_fmul_s
  HASH_LOOP fdiv.s.\suffix, body_fdiv_s
  HASH_LOOP fsqrt.s.\suffix, body_fsqrt_s
  HASH_LOOP fmsub.s.\suffix, body_fmsub_s
  HASH_LOOP fcvt.w.s.\suffix, body_fcvt_w_s
  HASH_LOOP fcvt.lu.s.\suffix, body_fcvt_lu_s
  HASH_LOOP fcvt.s.lu.\suffix, body_fcvt_s_lu
.endm

  .text
  .globl test_main
test_main:
  addi sp, sp, -64
  sd ra, 0(sp)
  sd s1, 8(sp)
  sd s2, 16(sp)
  sd s3, 24(sp)
  sd s4, 32(sp)
  sd s5, 40(sp)
  sd s6, 48(sp)
  SAY "fp_random"
  li s1, 0x0123456789abcdef
  li s4, 6364136223846793005
  li s5, 1442695040888963407
  li s6, 0x100000001b3
  csrwi frm, 0
  ALL_OPS rne
  csrwi frm, 1
  ALL_OPS rtz
  csrwi frm, 2
  ALL_OPS rdn
  csrwi frm, 3
  ALL_OPS rup
  csrwi frm, 4
  ALL_OPS rmm
  SIG_CSR fcsr.after, fcsr
  ld ra, 0(sp)
  ld s1, 8(sp)
  ld s2, 16(sp)
  ld s3, 24(sp)
  ld s4, 32(sp)
  ld s5, 40(sp)
  ld s6, 48(sp)
  addi sp, sp, 64
  ret

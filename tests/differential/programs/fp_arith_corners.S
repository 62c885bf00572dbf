/* F/D arithmetic corner cases, each in the rounding modes where it matters: ties, overflow to
   infinity versus the largest finite value, underflow with tininess after rounding, signed zeros,
   NaN canonicalization and signaling NaNs, fused multiply-add with one rounding and RISC-V's
   Invalid for 0*inf + qNaN, single-precision NaN-boxing. Unpriv spec, F and D chapters. Each case
   prints the result register (singles with their NaN-box) and the accrued fflags. */
#include "common.h"

.macro SHOW name, freg
  fmv.x.d t1, \freg
  csrr t2, fflags
  SIG \name, t1
  SIG \name\().fflags, t2
.endm

/* Operands are bit patterns; D* use doubles, S* singles (NaN-boxed by fmv.w.x). Printed names get
   a d. or s. prefix. */
.macro D1 name, insn, rm, a
  li t0, \a
  fmv.d.x ft0, t0
  csrw fflags, zero
  \insn ft2, ft0, \rm
  SHOW d.\name, ft2
.endm
.macro D2 name, insn, rm, a, b
  li t0, \a
  fmv.d.x ft0, t0
  li t0, \b
  fmv.d.x ft1, t0
  csrw fflags, zero
  \insn ft2, ft0, ft1, \rm
  SHOW d.\name, ft2
.endm
.macro D3 name, insn, rm, a, b, c
  li t0, \a
  fmv.d.x ft0, t0
  li t0, \b
  fmv.d.x ft1, t0
  li t0, \c
  fmv.d.x ft3, t0
  csrw fflags, zero
  \insn ft2, ft0, ft1, ft3, \rm
  SHOW d.\name, ft2
.endm
.macro S1 name, insn, rm, a
  li t0, \a
  fmv.w.x ft0, t0
  csrw fflags, zero
  \insn ft2, ft0, \rm
  SHOW s.\name, ft2
.endm
.macro S2 name, insn, rm, a, b
  li t0, \a
  fmv.w.x ft0, t0
  li t0, \b
  fmv.w.x ft1, t0
  csrw fflags, zero
  \insn ft2, ft0, ft1, \rm
  SHOW s.\name, ft2
.endm
.macro S3 name, insn, rm, a, b, c
  li t0, \a
  fmv.w.x ft0, t0
  li t0, \b
  fmv.w.x ft1, t0
  li t0, \c
  fmv.w.x ft3, t0
  csrw fflags, zero
  \insn ft2, ft0, ft1, ft3, \rm
  SHOW s.\name, ft2
.endm

/* The same case in all five static rounding modes. */
.macro ALL_RM kind, name, insn, ops:vararg
  \kind \name\().rne, \insn, rne, \ops
  \kind \name\().rtz, \insn, rtz, \ops
  \kind \name\().rdn, \insn, rdn, \ops
  \kind \name\().rup, \insn, rup, \ops
  \kind \name\().rmm, \insn, rmm, \ops
.endm

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "fp_arith_corners"

  SAY "double"
  ALL_RM D2, add_tie, fadd.d, 0x3ff0000000000000, 0x3ca0000000000000        /* 1 + 2^-53 */
  ALL_RM D2, add_tie_odd, fadd.d, 0x3ff0000000000001, 0x3ca0000000000000    /* (1+2^-52) + 2^-53 */
  ALL_RM D2, sub_borrow_tie, fsub.d, 0x3ff0000000000000, 0x3c90000000000000 /* 1 - 2^-54 */
  ALL_RM D2, add_neg_tie, fadd.d, 0xbff0000000000000, 0xbca0000000000000
  ALL_RM D2, add_overflow, fadd.d, 0x7fefffffffffffff, 0x7fefffffffffffff
  ALL_RM D2, add_neg_overflow, fadd.d, 0xffefffffffffffff, 0xffefffffffffffff
  ALL_RM D2, add_max_half_ulp, fadd.d, 0x7fefffffffffffff, 0x7c90000000000000
  ALL_RM D2, sub_self, fsub.d, 0x4009000000000000, 0x4009000000000000
  ALL_RM D2, add_zeros_mixed, fadd.d, 0x0000000000000000, 0x8000000000000000
  D2 add_neg_zeros, fadd.d, rne, 0x8000000000000000, 0x8000000000000000
  D2 sub_subnormals, fsub.d, rne, 0x0010000000000000, 0x0000000000000001
  ALL_RM D2, mul_half_min_sub, fmul.d, 0x0000000000000001, 0x3fe0000000000000
  ALL_RM D2, mul_tiny_after_rounding, fmul.d, 0x3bcffffffffffffe, 0x0430000000000001
  ALL_RM D2, mul_overflow, fmul.d, 0xffefffffffffffff, 0x4000000000000000
  D2 mul_inf_zero, fmul.d, rne, 0x7ff0000000000000, 0x8000000000000000
  ALL_RM D2, div_neg_third, fdiv.d, 0xbff0000000000000, 0x4008000000000000
  D2 div_by_zero, fdiv.d, rne, 0xbff0000000000000, 0x0000000000000000
  D2 div_zero_zero, fdiv.d, rne, 0x0000000000000000, 0x8000000000000000
  D2 div_inf_inf, fdiv.d, rne, 0x7ff0000000000000, 0xfff0000000000000
  ALL_RM D1, sqrt_two, fsqrt.d, 0x4000000000000000
  ALL_RM D1, sqrt_max, fsqrt.d, 0x7fefffffffffffff
  D1 sqrt_neg_zero, fsqrt.d, rne, 0x8000000000000000
  D1 sqrt_neg, fsqrt.d, rne, 0xbff0000000000000
  D1 sqrt_min_sub, fsqrt.d, rne, 0x0000000000000001
  D2 add_snan, fadd.d, rne, 0x7ff0000000000001, 0x3ff0000000000000
  D2 add_qnan_payload, fadd.d, rne, 0xfff800000000abcd, 0x3ff0000000000000
  D2 sub_inf_inf, fsub.d, rne, 0x7ff0000000000000, 0x7ff0000000000000
  ALL_RM D3, fmsub_fused, fmsub.d, 0x3ff0000002000000, 0x3ff0000002000000, 0x3ff0000000000000
  D3 fmadd_inf_zero_qnan, fmadd.d, rne, 0x7ff0000000000000, 0x0000000000000000, 0x7ff8000000000000
  D3 fmadd_qnan_plain, fmadd.d, rne, 0x7ff8000000000000, 0x3ff0000000000000, 0x3ff0000000000000
  D3 fmadd_inf_minus_inf, fmadd.d, rne, 0x7ff0000000000000, 0x3ff0000000000000, 0xfff0000000000000
  ALL_RM D3, fnmadd_zeros, fnmadd.d, 0x0000000000000000, 0x3ff0000000000000, 0x0000000000000000
  ALL_RM D3, fmadd_cancel, fmadd.d, 0x3ff0000000000000, 0x3ff0000000000000, 0xbff0000000000000
  ALL_RM D3, fnmsub_tiny_product, fnmsub.d, 0x0000000000000001, 0x0000000000000001, 0x3ff0000000000000
  D3 fmadd_no_intermediate_overflow, fmadd.d, rne, 0x7fefffffffffffff, 0x4000000000000000, 0xffefffffffffffff

  SAY "single"
  ALL_RM S2, add_tie, fadd.s, 0x3f800000, 0x33800000
  ALL_RM S2, add_tie_odd, fadd.s, 0x3f800001, 0x33800000
  ALL_RM S2, add_neg_tie, fadd.s, 0xbf800000, 0xb3800000
  ALL_RM S2, add_overflow, fadd.s, 0x7f7fffff, 0x7f7fffff
  ALL_RM S2, add_max_half_ulp, fadd.s, 0x7f7fffff, 0x73000000
  ALL_RM S2, add_max_quarter_ulp, fadd.s, 0x7f7fffff, 0x72800000
  ALL_RM S2, sub_self, fsub.s, 0x40490fdb, 0x40490fdb
  ALL_RM S2, mul_three_half_min_sub, fmul.s, 0x00000003, 0x3f000000
  ALL_RM S2, mul_tiny_rounds_to_normal, fmul.s, 0x3f7fffff, 0x00800000
  S2 mul_exact_subnormal, fmul.s, rne, 0x00800000, 0x3f000000
  ALL_RM S2, div_third, fdiv.s, 0x3f800000, 0x40400000
  ALL_RM S2, div_overflow, fdiv.s, 0x7f7fffff, 0x3f000000
  S2 div_by_neg_zero, fdiv.s, rne, 0x3f800000, 0x80000000
  ALL_RM S1, sqrt_two, fsqrt.s, 0x40000000
  S1 sqrt_neg_inf, fsqrt.s, rne, 0xff800000
  S1 sqrt_snan, fsqrt.s, rne, 0x7f800001
  S1 sqrt_sub, fsqrt.s, rne, 0x00000002
  S2 mul_snan_zero, fmul.s, rne, 0x7fa00000, 0x00000000
  ALL_RM S3, fmadd_fused, fmadd.s, 0x3f800800, 0x3f800800, 0xbf800000
  ALL_RM S3, fmadd_error_term, fmadd.s, 0x3f800001, 0x3f800001, 0xbf800002
  S3 fmadd_zero_inf_qnan, fmadd.s, rne, 0x80000000, 0xff800000, 0x7fc00000
  S3 fmadd_snan_addend, fmadd.s, rne, 0x3f800000, 0x3f800000, 0x7f800001
  ALL_RM S3, fmadd_underflowing_product, fmadd.s, 0x0d800000, 0x0d800000, 0x80000000
  S3 fmsub_signs, fmsub.s, rne, 0x40000000, 0x40400000, 0x3f800000
  S3 fnmsub_signs, fnmsub.s, rne, 0x40000000, 0x40400000, 0x3f800000
  S3 fnmadd_signs, fnmadd.s, rne, 0x40000000, 0x40400000, 0x3f800000

  SAY "nan-boxing"
  /* A single operand whose upper 32 bits are not all ones reads as the canonical NaN. */
  li t0, 0x000000003f800000
  fmv.d.x ft0, t0
  li t0, 0x3f800000
  fmv.w.x ft1, t0
  csrw fflags, zero
  fadd.s ft2, ft0, ft1
  SHOW unboxed_operand, ft2

  SAY "dynamic rounding"
  li t0, 3
  fsrm t1, t0                    /* frm = RUP, old value returned */
  SIG old_frm, t1
  D2 dyn_up, fadd.d, dyn, 0x3ff0000000000000, 0x3ca0000000000000
  li t0, 4
  fsrm t0
  S2 dyn_rmm, fadd.s, dyn, 0x3f800000, 0x33800000
  fsrm zero
  /* Accrued flags OR together across instructions. */
  csrw fflags, zero
  li t0, 0x7f7fffff
  fmv.w.x ft0, t0
  fmul.s ft1, ft0, ft0
  fmv.w.x ft2, zero
  fdiv.s ft1, ft0, ft2
  SIG_CSR accrued_fflags, fflags
  SIG_CSR fcsr_after, fcsr

  ld ra, 0(sp)
  addi sp, sp, 16
  ret

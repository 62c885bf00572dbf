/* F/D conversions (to and from integers with the saturation table and 32-bit sign extension,
   single <-> double), FMIN/FMAX with 2.2 NaN and signed-zero rules, quiet FEQ versus signaling
   FLT/FLE, FCLASS, and reserved rounding modes. Unpriv spec, F and D chapters. */
#include "common.h"

/* TOINT name, insn, rm, mv, a : integer result of insn on the float bit pattern a (mv = fmv.d.x or
   fmv.w.x), then fflags. */
.macro TOINT name, insn, rm, mv, a
  li t0, \a
  \mv ft0, t0
  csrw fflags, zero
  \insn t1, ft0, \rm
  csrr t2, fflags
  SIG \name, t1
  SIG \name\().fflags, t2
.endm
/* TOFP name, insn, rm, a : float result (as fmv.x.d shows it) of insn on the integer a.
   FPFP name, insn, rm, mv, a : the same for a float operand. */
.macro TOFP name, insn, rm, a
  li t0, \a
  csrw fflags, zero
  \insn ft1, t0, \rm
  fmv.x.d t1, ft1
  csrr t2, fflags
  SIG \name, t1
  SIG \name\().fflags, t2
.endm
.macro FPFP name, insn, rm, mv, a
  li t0, \a
  \mv ft0, t0
  csrw fflags, zero
  \insn ft1, ft0, \rm
  fmv.x.d t1, ft1
  csrr t2, fflags
  SIG \name, t1
  SIG \name\().fflags, t2
.endm
/* Exact conversions take no rounding mode. */
.macro TOFP_EXACT name, insn, a
  li t0, \a
  csrw fflags, zero
  \insn ft1, t0
  fmv.x.d t1, ft1
  csrr t2, fflags
  SIG \name, t1
  SIG \name\().fflags, t2
.endm
.macro FPFP_EXACT name, insn, mv, a
  li t0, \a
  \mv ft0, t0
  csrw fflags, zero
  \insn ft1, ft0
  fmv.x.d t1, ft1
  csrr t2, fflags
  SIG \name, t1
  SIG \name\().fflags, t2
.endm
/* MINMAX and CMP name, insn, mv, a, b : two-operand instructions without rounding mode; fmin/fmax
   give a float, feq/flt/fle an integer. */
.macro MINMAX name, insn, mv, a, b
  li t0, \a
  \mv ft0, t0
  li t0, \b
  \mv ft1, t0
  csrw fflags, zero
  \insn ft2, ft0, ft1
  fmv.x.d t1, ft2
  csrr t2, fflags
  SIG \name, t1
  SIG \name\().fflags, t2
.endm
.macro CMP name, insn, mv, a, b
  li t0, \a
  \mv ft0, t0
  li t0, \b
  \mv ft1, t0
  csrw fflags, zero
  \insn t1, ft0, ft1
  csrr t2, fflags
  SIG \name, t1
  SIG \name\().fflags, t2
.endm
.macro CLASS name, insn, mv, a
  li t0, \a
  \mv ft0, t0
  \insn t1, ft0
  SIG \name, t1
.endm

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
  SAY "fp_convert_compare"
  USE_RECORDING_TRAPS

  SAY "float to integer"
  ALL_RM TOINT, w_d_2p31_minus_half, fcvt.w.d, fmv.d.x, 0x41dfffffffe00000
  ALL_RM TOINT, w_d_minus_2p31_minus_half, fcvt.w.d, fmv.d.x, 0xc1e0000000100000
  TOINT w_d_nan, fcvt.w.d, rne, fmv.d.x, 0xfff8000000000000
  TOINT w_d_neg_inf, fcvt.w.d, rne, fmv.d.x, 0xfff0000000000000
  TOINT w_d_pos_inf, fcvt.w.d, rne, fmv.d.x, 0x7ff0000000000000
  ALL_RM TOINT, wu_d_minus_0_9, fcvt.wu.d, fmv.d.x, 0xbfeccccccccccccd
  ALL_RM TOINT, lu_d_minus_half, fcvt.lu.d, fmv.d.x, 0xbfe0000000000000
  TOINT wu_d_3e9, fcvt.wu.d, rne, fmv.d.x, 0x41e65a0bc0000000
  TOINT wu_d_nan, fcvt.wu.d, rne, fmv.d.x, 0x7ff8000000000000
  TOINT wu_d_2p32, fcvt.wu.d, rne, fmv.d.x, 0x41f0000000000000
  TOINT l_d_2p63, fcvt.l.d, rne, fmv.d.x, 0x43e0000000000000
  TOINT l_d_minus_2p63, fcvt.l.d, rne, fmv.d.x, 0xc3e0000000000000
  TOINT l_d_below_minus_2p63, fcvt.l.d, rne, fmv.d.x, 0xc3e0000000000001
  TOINT l_d_snan, fcvt.l.d, rne, fmv.d.x, 0x7ff0000000000001
  TOINT lu_d_2p63, fcvt.lu.d, rne, fmv.d.x, 0x43e0000000000000
  TOINT lu_d_2p64, fcvt.lu.d, rne, fmv.d.x, 0x43f0000000000000
  TOINT lu_d_nan, fcvt.lu.d, rne, fmv.d.x, 0x7ff8000000000000
  ALL_RM TOINT, l_d_minus_2_5, fcvt.l.d, fmv.d.x, 0xc004000000000000
  ALL_RM TOINT, w_s_2_5, fcvt.w.s, fmv.w.x, 0x40200000
  ALL_RM TOINT, w_s_min_sub, fcvt.w.s, fmv.w.x, 0x80000001
  TOINT w_s_2p31, fcvt.w.s, rne, fmv.w.x, 0x4f000000
  TOINT wu_s_max, fcvt.wu.s, rne, fmv.w.x, 0x4f7fffff
  TOINT l_s_minus_2p63, fcvt.l.s, rne, fmv.w.x, 0xdf000000
  TOINT lu_s_neg_inf, fcvt.lu.s, rne, fmv.w.x, 0xff800000
  TOINT w_s_unboxed, fcvt.w.s, rne, fmv.d.x, 0x0000000040000000

  SAY "integer to float"
  ALL_RM TOFP, s_w_2p24_plus_1, fcvt.s.w, 0x01000001
  ALL_RM TOFP, s_w_minus_2p24_minus_1, fcvt.s.w, 0xfffffffffeffffff
  ALL_RM TOFP, s_l_max, fcvt.s.l, 0x7fffffffffffffff
  ALL_RM TOFP, d_lu_max, fcvt.d.lu, 0xffffffffffffffff
  ALL_RM TOFP, s_wu_max, fcvt.s.wu, 0xffffffff
  TOFP d_l_min, fcvt.d.l, rne, 0x8000000000000000
  TOFP_EXACT d_w_uses_low_word, fcvt.d.w, 0x12345678ffffffff
  TOFP_EXACT d_wu_uses_low_word, fcvt.d.wu, 0xfedcba9880000000
  TOFP s_w_zero, fcvt.s.w, rne, 0

  SAY "between formats"
  ALL_RM FPFP, s_d_max, fcvt.s.d, fmv.d.x, 0x7fefffffffffffff
  ALL_RM FPFP, s_d_neg_tie_above_max, fcvt.s.d, fmv.d.x, 0xc7effffff0000000
  ALL_RM FPFP, s_d_1e_50, fcvt.s.d, fmv.d.x, 0x358dee7a4ad4b81f
  ALL_RM FPFP, s_d_tiny_after_rounding, fcvt.s.d, fmv.d.x, 0x380fffffe0000000
  ALL_RM FPFP, s_d_not_tiny_after_rounding, fcvt.s.d, fmv.d.x, 0x380ffffff0000000
  FPFP s_d_exact_subnormal, fcvt.s.d, rne, fmv.d.x, 0x3730000000000000
  FPFP s_d_snan, fcvt.s.d, rne, fmv.d.x, 0x7ff0000000000001
  FPFP s_d_qnan_payload, fcvt.s.d, rne, fmv.d.x, 0xfff8000000000123
  FPFP_EXACT d_s_min_sub, fcvt.d.s, fmv.w.x, 0x00000001
  FPFP_EXACT d_s_snan, fcvt.d.s, fmv.w.x, 0x7f800001
  FPFP_EXACT d_s_neg_inf, fcvt.d.s, fmv.w.x, 0xff800000

  SAY "min max"
  MINMAX d_min_zeros, fmin.d, fmv.d.x, 0x0000000000000000, 0x8000000000000000
  MINMAX d_max_zeros, fmax.d, fmv.d.x, 0x8000000000000000, 0x0000000000000000
  MINMAX d_min_qnan_num, fmin.d, fmv.d.x, 0x7ff8000000000000, 0xbff0000000000000
  MINMAX d_max_num_snan, fmax.d, fmv.d.x, 0x3ff0000000000000, 0x7ff4000000000000
  MINMAX d_min_two_nans, fmin.d, fmv.d.x, 0xfff8000000001234, 0x7ff8000000000001
  MINMAX s_min_zeros, fmin.s, fmv.w.x, 0x80000000, 0x00000000
  MINMAX s_max_snan_num, fmax.s, fmv.w.x, 0x7f800001, 0xff800000
  MINMAX s_min_two_nans, fmin.s, fmv.w.x, 0x7f800001, 0xffc00001
  MINMAX s_max_ordinary, fmax.s, fmv.w.x, 0xbf800000, 0x00000001

  SAY "compare"
  CMP d_eq_zeros, feq.d, fmv.d.x, 0x0000000000000000, 0x8000000000000000
  CMP d_lt_zeros, flt.d, fmv.d.x, 0x8000000000000000, 0x0000000000000000
  CMP d_le_zeros, fle.d, fmv.d.x, 0x0000000000000000, 0x8000000000000000
  CMP d_eq_qnan, feq.d, fmv.d.x, 0x7ff8000000000000, 0x7ff8000000000000
  CMP d_eq_snan, feq.d, fmv.d.x, 0x3ff0000000000000, 0x7ff0000000000001
  CMP d_lt_qnan, flt.d, fmv.d.x, 0x7ff8000000000000, 0x3ff0000000000000
  CMP d_le_qnan, fle.d, fmv.d.x, 0x3ff0000000000000, 0xfff8000000000000
  CMP d_lt_neg, flt.d, fmv.d.x, 0xbff0000000000001, 0xbff0000000000000
  CMP s_eq_snan, feq.s, fmv.w.x, 0x7f800001, 0x7f800001
  CMP s_lt_ordinary, flt.s, fmv.w.x, 0xff800000, 0xff7fffff
  CMP s_le_qnan, fle.s, fmv.w.x, 0x7fc00000, 0x3f800000

  SAY "classify"
  CLASS d_neg_inf, fclass.d, fmv.d.x, 0xfff0000000000000
  CLASS d_neg_normal, fclass.d, fmv.d.x, 0xbff0000000000000
  CLASS d_neg_sub, fclass.d, fmv.d.x, 0x800fffffffffffff
  CLASS d_neg_zero, fclass.d, fmv.d.x, 0x8000000000000000
  CLASS d_pos_zero, fclass.d, fmv.d.x, 0x0000000000000000
  CLASS d_pos_sub, fclass.d, fmv.d.x, 0x0000000000000001
  CLASS d_pos_normal, fclass.d, fmv.d.x, 0x7fefffffffffffff
  CLASS d_pos_inf, fclass.d, fmv.d.x, 0x7ff0000000000000
  CLASS d_snan, fclass.d, fmv.d.x, 0x7ff0000000000001
  CLASS d_qnan, fclass.d, fmv.d.x, 0xfff8000000000000
  CLASS s_neg_sub, fclass.s, fmv.w.x, 0x807fffff
  CLASS s_snan, fclass.s, fmv.w.x, 0xffbfffff
  CLASS s_qnan, fclass.s, fmv.w.x, 0x7fc00000
  CLASS s_unboxed, fclass.s, fmv.d.x, 0x00000000ff800000

  SAY "reserved rounding modes"
  /* fadd.d ft2, ft0, ft1 with rm = 5 and 6 (reserved) must be illegal instructions. */
  csrw fflags, zero
  .word 0x02105153
  TRAP_SIG rm5
  .word 0x02106153
  TRAP_SIG rm6
  /* DYN with frm holding a reserved value is illegal too; frm itself accepts the value. */
  li t0, 5
  fsrm t0
  SIG_CSR frm_reserved, frm
  fadd.d ft2, ft0, ft1, dyn
  TRAP_SIG dyn_frm5
  fsrm zero
  SIG_CSR fflags_after_traps, fflags

  ld ra, 0(sp)
  addi sp, sp, 16
  ret

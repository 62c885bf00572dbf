/* F/D state around the arithmetic: loads/stores and moves (NaN-boxing of single values, fmv.x.w
   sign extension), sign injection on boxed and unboxed operands, fcsr/fflags/frm field widths, and
   mstatus.FS (Dirty after an FP write, illegal instruction when Off). Unpriv spec F/D chapters
   ("NaN Boxing of Narrower Values", fcsr); priv spec mstatus.FS. */
#include "common.h"

#define MSTATUS_FS 0x6000
#define MSTATUS_SD 0x8000000000000000

  .data
  .balign 8
fp_scratch:
  .dword 0x1122334455667788
  .dword 0

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "fp_state_moves"
  USE_RECORDING_TRAPS

  SAY "loads stores moves"
  la t3, fp_scratch
  flw ft0, 0(t3)               /* low word 0x55667788, NaN-boxed */
  fmv.x.d a0, ft0
  SIG flw_boxed, a0
  fsw ft0, 8(t3)
  ld a0, 8(t3)
  SIG fsw_low_word, a0
  fld ft1, 0(t3)
  fsw ft1, 8(t3)               /* stores the low 32 bits even though ft1 is not a boxed single */
  ld a0, 8(t3)
  SIG fsw_unboxed, a0
  li t0, 0x80000001
  fmv.w.x ft2, t0
  fmv.x.w a0, ft2              /* sign-extends bit 31 */
  SIG fmv_x_w_sign, a0
  fmv.x.w a0, ft1              /* moves the low bits without checking the box */
  SIG fmv_x_w_unboxed, a0
  fmv.x.d a0, ft1
  SIG fld_fmv_x_d, a0

  SAY "sign injection"
  li t0, 0x3f800000
  fmv.w.x ft3, t0              /* +1.0f */
  li t0, 0xbf800000
  fmv.w.x ft4, t0              /* -1.0f */
  fsgnj.s ft5, ft3, ft4
  fmv.x.d a0, ft5
  SIG fsgnj_s, a0
  fsgnjn.s ft5, ft4, ft4
  fmv.x.d a0, ft5
  SIG fsgnjn_s, a0
  fsgnjx.s ft5, ft4, ft4
  fmv.x.d a0, ft5
  SIG fsgnjx_s, a0
  fsgnj.s ft5, ft1, ft4        /* unboxed rs1 reads as the canonical NaN */
  fmv.x.d a0, ft5
  SIG fsgnj_s_unboxed_rs1, a0
  fsgnj.s ft5, ft3, ft1        /* unboxed rs2: the canonical NaN's sign (+) is injected */
  fmv.x.d a0, ft5
  SIG fsgnj_s_unboxed_rs2, a0
  li t0, 0x7ff0000000000001    /* signaling NaN: sign injection is not arithmetic, no flags */
  fmv.d.x ft6, t0
  csrw fflags, zero
  fneg.d ft7, ft6
  fmv.x.d a0, ft7
  SIG fneg_d_snan, a0
  fabs.d ft7, ft7
  fmv.x.d a0, ft7
  SIG fabs_d_snan, a0
  SIG_CSR fsgnj_fflags, fflags

  SAY "fcsr fields"
  li t0, -1
  csrw fcsr, t0
  SIG_CSR fcsr_all_ones, fcsr
  SIG_CSR frm_all_ones, frm
  SIG_CSR fflags_all_ones, fflags
  csrw fflags, t0
  SIG_CSR fflags_write, fflags
  csrwi frm, 2
  SIG_CSR fcsr_frm2, fcsr
  csrw fcsr, zero
  frflags a0
  SIG frflags_zero, a0

  SAY "mstatus.fs"
  csrr t0, mstatus
  li t1, MSTATUS_FS | MSTATUS_SD
  and t0, t0, t1
  SIG fs_after_fp_writes, t0
  /* Clean, then an FP register write makes it Dirty (and SD set). */
  li t1, MSTATUS_FS
  csrc mstatus, t1
  li t1, 0x4000
  csrs mstatus, t1
  fmv.w.x ft0, zero
  csrr t0, mstatus
  li t1, MSTATUS_FS | MSTATUS_SD
  and t0, t0, t1
  SIG fs_clean_then_write, t0
  /* Off: every F/D instruction and fcsr access is an illegal instruction. */
  li t1, MSTATUS_FS
  csrc mstatus, t1
  fadd.d ft0, ft1, ft2
  TRAP_SIG off_fadd
  csrr a0, fflags
  TRAP_SIG off_fflags
  flw ft0, 0(t3)
  TRAP_SIG off_flw
  li t1, 0x2000
  csrs mstatus, t1
  fmv.x.d a0, ft0
  SIG ft0_unchanged_while_off, a0

  ld ra, 0(sp)
  addi sp, sp, 16
  ret

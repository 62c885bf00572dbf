/* HLV/HLVX/HSV from HS-mode and U-mode (hstatus.HU), through both stages
   (h_tables.inc): widths and sign/zero extension, hstatus.SPVP choosing VS or VU permissions,
   HLVX needing execute (not read) permission, faults with a guest virtual tval and GVA set
   though V=0, a guest-page fault with mtval2, HLV from U-mode without HU (illegal). */
#include "common.h"
#include "h_guest.inc"
#include "h_tables.inc"

/* QEMU 7.2 gets HLVX and the faults of HLV/HSV wrong; the specification wins:
// QEMU-DIFFERS: hlvx_wu: 0xffffffffffffffff => hlvx_wu: 0x0000000055667788 ; hypervisor.adoc (HLVX): HLVX needs execute permission, not read; QEMU 7.2 raises an access fault
// QEMU-DIFFERS: hlvx_hu: 0xffffffffffffffff => hlvx_hu: 0x0000000000007788 ; same: HLVX of an execute-only page succeeds
// QEMU-DIFFERS: hlvx_no_trap.count: 0x0000000000000002 => hlvx_no_trap.count: 0x0000000000000000 ; same: no trap
// QEMU-DIFFERS: hlvx_no_trap.cause: 0x0000000000000005 => hlvx_no_trap.cause: 0x0000000000000000 ; same: no trap
// QEMU-DIFFERS: hlvx_no_trap.tval: 0x00000000c0004008 => hlvx_no_trap.tval: 0x0000000000000000 ; same: no trap
// QEMU-DIFFERS: hlv_w_exec_only.cause: 0x0000000000000005 => hlv_w_exec_only.cause: 0x000000000000000d ; a VS-stage permission failure is a load page fault (13) with a guest virtual tval, so mstatus.GVA = 1 (hypervisor.adoc mstatus GVA); QEMU 7.2 reports an access fault without GVA
// QEMU-DIFFERS: hlv_w_exec_only.bits: 0x0000000000000000 => hlv_w_exec_only.bits: 0x0000000000000001 ; a VS-stage permission failure is a load page fault (13) with a guest virtual tval, so mstatus.GVA = 1 (hypervisor.adoc mstatus GVA); QEMU 7.2 reports an access fault without GVA
// QEMU-DIFFERS: hlvx_not_executable.count: 0x0000000000000000 => hlvx_not_executable.count: 0x0000000000000001 ; hypervisor.adoc (HLVX): a page without execute permission faults even if readable; QEMU 7.2 reads it
// QEMU-DIFFERS: hlvx_not_executable.cause: 0x0000000000000000 => hlvx_not_executable.cause: 0x000000000000000d ; hypervisor.adoc (HLVX): a page without execute permission faults even if readable; QEMU 7.2 reads it
// QEMU-DIFFERS: hlvx_not_executable.tval: 0x0000000000000000 => hlvx_not_executable.tval: 0x00000000c0000008 ; hypervisor.adoc (HLVX): a page without execute permission faults even if readable; QEMU 7.2 reads it
// QEMU-DIFFERS: hlvx_not_executable.bits: 0x0000000000000000 => hlvx_not_executable.bits: 0x0000000000000001 ; hypervisor.adoc (HLVX): a page without execute permission faults even if readable; QEMU 7.2 reads it
// QEMU-DIFFERS: hlv_guest_page_fault.bits: 0x0000000000000000 => hlv_guest_page_fault.bits: 0x0000000000000001 ; hypervisor.adoc mstatus GVA: set when tval is a guest virtual address, which it is for a faulting HLV even at V=0
// QEMU-DIFFERS: hsv_page_fault.cause: 0x0000000000000007 => hsv_page_fault.cause: 0x000000000000000f ; an invalid VS-stage PTE is a store page fault (15) with GVA = 1; QEMU 7.2 reports an access fault without GVA
// QEMU-DIFFERS: hsv_page_fault.bits: 0x0000000000000000 => hsv_page_fault.bits: 0x0000000000000001 ; an invalid VS-stage PTE is a store page fault (15) with GVA = 1; QEMU 7.2 reports an access fault without GVA
// QEMU-DIFFERS: hlv_vu_supervisor_page.cause: 0x0000000000000005 => hlv_vu_supervisor_page.cause: 0x000000000000000d ; a VU access to a supervisor page is a load page fault (13) with GVA = 1; QEMU 7.2 reports an access fault without GVA
// QEMU-DIFFERS: hlv_vu_supervisor_page.bits: 0x0000000000000000 => hlv_vu_supervisor_page.bits: 0x0000000000000001 ; a VU access to a supervisor page is a load page fault (13) with GVA = 1; QEMU 7.2 reports an access fault without GVA
*/

#define HSTATUS_SPVP (1 << 8)
#define HSTATUS_HU (1 << 9)

  .text
  .option push
  .option norvc
u_hlv:                          /* U-mode (V=0): an HLV.D of VA 0xc000_0018 into hlv_result */
  li t0, 0xc0000018
  li t1, -1
  hlv.d t1, (t0)
  la t0, hlv_result
  sd t1, 0(t0)
  ret
  .option pop

  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  call h_build_tables
  li t0, 0x8899aabbccddeeff
  la t1, data_page
  sd t0, 24(t1)
  li a0, 1
  call h_tables_on
  la t0, h_m_handler
  csrw mtvec, t0

  li t0, HSTATUS_SPVP
  csrs hstatus, t0
  la a0, hs_body
  li a1, 1
  call h_run_host
  li t0, HSTATUS_SPVP
  csrc hstatus, t0
  la a0, hs_body_vu
  li a1, 1
  call h_run_host

  SAY "from U"
  li t0, HSTATUS_SPVP
  csrs hstatus, t0
  la a0, u_hlv
  li a1, 0
  call h_run_host
  SIG_MEM u_hlv_without_hu, hlv_result
  /* QEMU-DIFFERS: u_hlv_without_hu.tval: 0x0000000000000000 => u_hlv_without_hu.tval: 0x000000006c02c373 ; both allowed (priv spec: mtval is 0 or the instruction on an illegal-instruction trap); Nimbus always reports the instruction, as QEMU does for other illegal instructions */
  H_SIG u_hlv_without_hu
  li t0, HSTATUS_HU
  csrs hstatus, t0
  la a0, u_hlv
  li a1, 0
  call h_run_host
  SIG_MEM u_hlv_with_hu, hlv_result
  H_SIG u_hlv_with_hu
  csrw hstatus, zero

  csrw hgatp, zero
  csrw vsatp, zero
  hfence.gvma
  ld ra, 0(sp)
  addi sp, sp, 16
  ret


/* In HS-mode (V=0, satp Bare) with hstatus.SPVP = 1: HLV/HSV/HLVX as VS-mode would access. */
  .option push
  .option norvc
hs_body:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "loads as VS (SPVP = 1)"
  li s2, 0xc0000018
  hlv.b a0, (s2)
  SIG hlv_b, a0
  hlv.bu a0, (s2)
  SIG hlv_bu, a0
  hlv.h a0, (s2)
  SIG hlv_h, a0
  hlv.hu a0, (s2)
  SIG hlv_hu, a0
  hlv.w a0, (s2)
  SIG hlv_w, a0
  hlv.wu a0, (s2)
  SIG hlv_wu, a0
  hlv.d a0, (s2)
  SIG hlv_d, a0
  li s2, 0x140000008            /* through the VS table that lives behind the G-stage */
  hlv.d a0, (s2)
  SIG hlv_d_far, a0
  H_SIG loads_no_trap

  SAY "stores"
  li s2, 0xc0000020
  li a0, 0x0102030405060708
  hsv.d a0, (s2)
  addi s2, s2, 8
  hsv.w a0, (s2)
  addi s2, s2, 8
  hsv.h a0, (s2)
  addi s2, s2, 8
  hsv.b a0, (s2)
  la t0, data_page
  ld a0, 0x20(t0)
  SIG hsv_d, a0
  ld a0, 0x28(t0)
  SIG hsv_w, a0
  ld a0, 0x30(t0)
  SIG hsv_h, a0
  ld a0, 0x38(t0)
  SIG hsv_b, a0
  la t0, vs_leaf
  ld a0, 0(t0)
  andi a0, a0, 0xff
  SIG vs_pte_after_hsv, a0

  SAY "HLVX"
  li s2, 0xc0004008             /* execute-only in the VS-stage */
  li a0, -1
  hlvx.wu a0, (s2)
  SIG hlvx_wu, a0
  li a0, -1
  hlvx.hu a0, (s2)
  SIG hlvx_hu, a0
  H_SIG_SHORT hlvx_no_trap
  li a0, -1
  hlv.w a0, (s2)
  H_SIG_SHORT hlv_w_exec_only
  li s2, 0xc0000008             /* readable, not executable */
  hlvx.wu a0, (s2)
  H_SIG_SHORT hlvx_not_executable

  SAY "faults"
  li s2, 0xc0001008
  hlv.d a0, (s2)
  H_SIG_SHORT hlv_guest_page_fault
  li s2, 0xc0002000
  hsv.d a0, (s2)
  H_SIG_SHORT hsv_page_fault
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

/* In HS-mode with hstatus.SPVP = 0: as VU-mode would access. */
hs_body_vu:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "as VU (SPVP = 0)"
  li s2, 0xc0000008
  hlv.d a0, (s2)
  H_SIG_SHORT hlv_vu_supervisor_page
  li s2, 0xc0003008
  li a0, -1
  hlv.d a0, (s2)
  SIG hlv_vu_user_page, a0
  H_SIG_SHORT hlv_vu_user_page

  ld ra, 0(sp)
  addi sp, sp, 16
  ret
  .option pop

  .data
  .balign 8
hlv_result: .dword 0

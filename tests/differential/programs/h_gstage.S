/* Two-stage translation (tables: h_tables.inc). G-stage alone (vsatp Bare): loads and stores
   through Sv39x4 with A/D updates, guest-page faults 20/21/23 with mtval = guest virtual,
   mtval2 = guest physical >> 2, mstatus.GVA/MPV; U required in G-stage leaves; mstatus.MXR;
   GPAs beyond 41 bits. Both stages: VS-stage A/D, page faults of each stage, a VS page table
   reached through the G-stage, a G-stage fault on an implicit VS page-table read, vsstatus.SUM,
   and a guest-page fault delegated to HS (htval, hstatus.GVA/SPV/SPVP). */
#include "common.h"
#include "h_guest.inc"
#include "h_tables.inc"

#define MSTATUS_MXR (1 << 19)

.macro GUEST fn
  la a0, \fn
  li a1, 1
  call h_run_guest
.endm
/* LOAD_AT va, tag : a guest load from va, its value printed as tag.value (-1 if it faulted). */
.macro LOAD_AT va, tag
  li s2, \va
  GUEST g_load
  SIG_MEM \tag\().value, g_result
.endm

  .text
  .option push
  .option norvc
  .balign 4
g_load:
  li t1, -1
  ld t1, 0(s2)
  la t0, g_result
  sd t1, 0(t0)
  ret
g_store:
  sd s3, 0(s2)
  ret
g_fetch:                        /* the handlers return a fetch fault to ra: here, label 1 */
  mv t2, ra
  la ra, 1f
  jalr zero, 0(s2)
1:
  mv ra, t2
  ret
  .option pop

  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  call h_build_tables
  la t0, h_hs_handler
  csrw stvec, t0

  SAY "G-stage only"
  li a0, 0
  call h_tables_on
  LOAD_AT 0x40000008, g_load
  H_SIG g_load
  la t0, g_leaf
  ld t0, 0(t0)
  andi t0, t0, 0xff
  SIG g_pte_after_load, t0
  li s2, 0x40000010
  li s3, 0xabcdef
  GUEST g_store
  H_SIG g_store
  la t0, data_page
  ld t0, 16(t0)
  SIG stored, t0
  la t0, g_leaf
  ld t0, 0(t0)
  andi t0, t0, 0xff
  SIG g_pte_after_store, t0
  li s2, 0x40001008
  GUEST g_store
  H_SIG g_store_read_only
  LOAD_AT 0x40002010, g_invalid
  H_SIG g_invalid
  LOAD_AT 0x40003000, g_no_u
  H_SIG g_no_u
  LOAD_AT 0x40004008, g_exec_only
  H_SIG g_exec_only
  li t0, MSTATUS_MXR
  csrs mstatus, t0
  /* QEMU 7.2 applies only vsstatus.MXR while V=1; mstatus.MXR must reach the G-stage too.
  // QEMU-DIFFERS: g_exec_only_mxr.value: 0xffffffffffffffff => g_exec_only_mxr.value: 0x1122334455667788 ; hypervisor.adoc norm:sstatus_mxr_vm: HS-level MXR makes execute-only pages readable in both stages
  // QEMU-DIFFERS: g_exec_only_mxr.count: 0x0000000000000001 => g_exec_only_mxr.count: 0x0000000000000000 ; same: no fault
  // QEMU-DIFFERS: g_exec_only_mxr.cause: 0x0000000000000015 => g_exec_only_mxr.cause: 0x0000000000000000 ; same: no fault
  // QEMU-DIFFERS: g_exec_only_mxr.tval: 0x0000000040004008 => g_exec_only_mxr.tval: 0x0000000000000000 ; same: no fault
  // QEMU-DIFFERS: g_exec_only_mxr.tval2: 0x0000000010001002 => g_exec_only_mxr.tval2: 0x0000000000000000 ; same: no fault
  // QEMU-DIFFERS: g_exec_only_mxr.bits: 0x0000000000000003 => g_exec_only_mxr.bits: 0x0000000000000000 ; same: no fault
  */
  LOAD_AT 0x40004008, g_exec_only_mxr
  H_SIG_SHORT g_exec_only_mxr
  li t0, MSTATUS_MXR
  csrc mstatus, t0
  li s2, 0x40002000
  GUEST g_fetch
  H_SIG g_fetch
  LOAD_AT 0x20000000000, g_beyond_41_bits
  H_SIG g_beyond_41_bits

  SAY "both stages"
  li a0, 1
  call h_tables_on
  la t0, g_leaf                 /* G A/D clear again, to see both stages set them */
  ld t1, 0(t0)
  andi t1, t1, ~0xc0
  sd t1, 0(t0)
  hfence.gvma
  LOAD_AT 0xc0000008, vs_load
  H_SIG vs_load
  la t0, vs_leaf
  ld t0, 0(t0)
  andi t0, t0, 0xff
  SIG vs_pte_after_load, t0
  li s2, 0xc0000018
  li s3, 0x77
  GUEST g_store
  la t0, vs_leaf
  ld t0, 0(t0)
  andi t0, t0, 0xff
  SIG vs_pte_after_store, t0
  la t0, g_leaf
  ld t0, 0(t0)
  andi t0, t0, 0xff
  SIG g_pte_after_both, t0
  LOAD_AT 0xc0001008, vs_g_fault
  H_SIG vs_g_fault
  LOAD_AT 0xc0002000, vs_fault
  H_SIG vs_fault
  LOAD_AT 0x140000008, vs_table_through_g
  H_SIG vs_table_through_g
  LOAD_AT 0xc0003008, vs_user_page
  H_SIG vs_user_page
  li t0, 1 << 18
  csrs vsstatus, t0
  LOAD_AT 0xc0003008, vs_user_page_sum
  H_SIG vs_user_page_sum
  li t0, 1 << 18
  csrc vsstatus, t0
  li s2, 0x100000000
  li s3, 1
  GUEST g_store
  /* QEMU-DIFFERS: vs_table_g_fault.cause: 0x0000000000000015 => vs_table_g_fault.cause: 0x0000000000000017 ; hypervisor.adoc norm:H_vm_gpapriv: a G-stage fault on an implicit VS page-table access is reported for the original access type (a store here)
  QEMU-DIFFERS: vs_table_g_fault.tinst: 0x0000000000000000 => vs_table_g_fault.tinst: 0x0000000000003000 ; hypervisor.adoc norm:H_trap_xtinst_guestpage: a fault on an implicit VS page-table read with a nonzero GPA in mtval2 must report the read pseudoinstruction, zero is not allowed */
  H_SIG vs_table_g_fault

  SAY "guest-page fault delegated to HS"
  li t0, 1 << 21
  csrw medeleg, t0
  LOAD_AT 0xc0001010, hs_g_fault
  H_SIG hs_g_fault
  csrw medeleg, zero

  csrw hgatp, zero
  csrw vsatp, zero
  hfence.gvma
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

  .data
  .balign 8
g_result: .dword 0

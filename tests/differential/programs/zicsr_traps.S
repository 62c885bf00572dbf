/* Zicsr and M-mode traps: CSR read/write/set/clear forms and their write side effects,
   WARL fields with spec-defined results, illegal CSR accesses, and synchronous exceptions
   (illegal instruction, ecall, ebreak, misaligned AMO, load/store/fetch access faults). */
#include "common.h"

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "zicsr_traps"
  USE_RECORDING_TRAPS
  /* read/write/set/clear on mscratch, register and immediate forms */
  li t0, 0x0123456789abcdef
  csrw mscratch, t0
  csrrs a0, mscratch, zero
  SIG csrrs_read, a0
  li t1, 0xf0
  csrrs a0, mscratch, t1
  SIG csrrs_old, a0
  SIG_CSR csrrs_new, mscratch
  csrrc a0, mscratch, t1
  SIG_CSR csrrc_new, mscratch
  csrrwi a0, mscratch, 0x1f
  SIG csrrwi_old, a0
  SIG_CSR csrrwi_new, mscratch
  csrrsi a0, mscratch, 0x0
  csrrci a0, mscratch, 0x3
  SIG_CSR csrrci_new, mscratch
  /* mepc: bit 0 is always zero (IALIGN = 16 with C) */
  li t0, -1
  csrw mepc, t0
  // QEMU-DIFFERS: mepc_all_ones: 0xffffffffffffffff => mepc_all_ones: 0xfffffffffffffffe ; priv spec 3.1.14 (machine.adoc norm:mepc_align): mepc[0] is always zero
  SIG_CSR mepc_all_ones, mepc
  /* mtvec: direct and vectored modes keep a 4-byte aligned base */
  csrr s0, mtvec
  la t0, vector_table
  ori t0, t0, 1
  csrw mtvec, t0
  csrr a0, mtvec
  la t1, vector_table
  sub a0, a0, t1
  SIG mtvec_vectored_low_bits, a0
  csrw mtvec, s0
  /* mstatus: MPP = S reads back; FS = Dirty sets SD */
  li t0, 0x1800
  csrc mstatus, t0
  li t0, 0x0800
  csrs mstatus, t0
  csrr a0, mstatus
  srli a0, a0, 11
  andi a0, a0, 3
  SIG mstatus_mpp_s, a0
  li t0, 0x6000
  csrs mstatus, t0
  csrr a0, mstatus
  srli a0, a0, 63
  SIG mstatus_sd_when_fs_dirty, a0
  li t0, 0x4000
  csrc mstatus, t0              /* FS = Initial again */
  csrr a0, mstatus
  srli a0, a0, 63
  SIG mstatus_sd_when_fs_initial, a0
  csrr a0, mstatus
  srli a0, a0, 32
  andi a0, a0, 0xf
  SIG mstatus_uxl_sxl, a0
  /* sstatus is a view of mstatus */
  li t0, 0x2                    /* SIE */
  csrs mstatus, t0
  csrr a0, sstatus
  andi a0, a0, 2
  SIG sstatus_sees_sie, a0
  csrc sstatus, t0
  csrr a0, mstatus
  andi a0, a0, 2
  SIG mstatus_sees_sie_clear, a0
  /* spec-defined WARL behaviour */
  csrr a0, misa
  srli a0, a0, 62
  SIG misa_mxl, a0              /* 2 = 64-bit */
  li t0, -1
  csrw medeleg, t0
  csrr a0, medeleg
  srli a0, a0, 11
  andi a0, a0, 1
  // QEMU-DIFFERS: medeleg_bit11_read_only_zero: 0x0000000000000001 => medeleg_bit11_read_only_zero: 0x0000000000000000 ; priv spec machine.adoc (medeleg): medeleg[11] (ecall from M) is read-only zero
  SIG medeleg_bit11_read_only_zero, a0
  csrw medeleg, zero
  li t0, (8 << 60) | 0x12345    /* Sv39, some PPN */
  csrw satp, t0
  li t1, (5 << 60) | 0x54321    /* reserved MODE: the whole write has no effect */
  csrw satp, t1
  csrr a0, satp
  SIG satp_after_reserved_mode_write, a0
  csrw satp, zero
  li t0, 0x1800                 /* MPP = M is invisible through sstatus */
  csrs mstatus, t0
  csrr a0, sstatus
  and a0, a0, t0
  SIG sstatus_hides_mpp, a0
  /* mhartid on hart 0, counters advance */
  SIG_CSR mhartid, mhartid
  csrr t0, minstret
  nop
  csrr t1, minstret
  sltu a0, t0, t1
  SIG minstret_advances, a0
  csrr t0, mcycle
  nop
  csrr t1, mcycle
  sltu a0, t0, t1
  SIG mcycle_advances, a0
  SAY "illegal CSR accesses"
  csrw mhartid, zero            /* read-only CSR written */
  TRAP_SIG write_ro_csr
  csrr a0, 0x7ff                /* unimplemented CSR (custom, none exist) */
  TRAP_SIG unimplemented_csr
  csrrs a0, mvendorid, zero     /* read-only CSR, no write: legal */
  TRAP_SIG ro_csr_read_no_trap
  SAY "exceptions"
  .word 0x00000000              /* all-zero instruction is illegal */
  TRAP_SIG illegal_zero
  .word 0xffffffff              /* all-ones is illegal */
  TRAP_SIG illegal_ones
  .half 0x0000                  /* all-zero compressed instruction is illegal */
  TRAP_SIG illegal_c_zero
  li a7, 0
  ecall
  TRAP_SIG ecall_m
  ebreak
  TRAP_SIG ebreak
  c.ebreak
  TRAP_SIG c_ebreak
  la t0, misaligned_cell
  addi t0, t0, 1
  lr.d a0, (t0)
  TRAP_SIG lr_misaligned
  amoadd.w a0, zero, (t0)
  // QEMU-DIFFERS: amo_misaligned.cause: 0x0000000000000004 => amo_misaligned.cause: 0x0000000000000006 ; priv spec mcause table (machine.adoc): a misaligned AMO raises exception 6, Store/AMO address misaligned, not 4 (Load)
  TRAP_SIG amo_misaligned
  li t0, UNMAPPED_ADDR
  ld a0, 0(t0)
  TRAP_SIG load_access_fault
  sd zero, 8(t0)
  TRAP_SIG store_access_fault
  jalr ra, 0(t0)
  TRAP_SIG fetch_access_fault
  mret_check:
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

  .balign 64
vector_table:
  j vector_table
  .data
  .balign 16
misaligned_cell: .dword 0, 0

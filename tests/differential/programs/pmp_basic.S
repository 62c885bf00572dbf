/* PMP: a read-only NAPOT region and an all-memory TOR region checked from S-mode (store and
   fetch access faults, first matching entry wins), then a locked entry that also binds M. */
#include "common.h"

#define PMP_R 0x01
#define PMP_W 0x02
#define PMP_X 0x04
#define PMP_TOR 0x08
#define PMP_NAPOT 0x18
#define PMP_L 0x80

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "pmp_basic"
  USE_RECORDING_TRAPS
  la t0, guarded_page
  li t1, 0x0123456789abcdef
  sd t1, 0(t0)
  /* entry 0: the guarded page, read-only; entry 1: everything else, RWX */
  la t0, guarded_page
  srli t0, t0, 2
  ori t0, t0, (4096 / 8 - 1)    /* NAPOT 4 KiB */
  csrw pmpaddr0, t0
  li t0, -1
  csrw pmpaddr1, t0
  li t0, ((PMP_NAPOT | PMP_R | PMP_X | PMP_W) << 8) | (PMP_NAPOT | PMP_R)
  csrw pmpcfg0, t0
  /* M-mode ignores unlocked entries */
  la t0, guarded_page
  li t1, 0x0123456789abcdef
  sd t1, 8(t0)
  TRAP_SIG m_store_unlocked_ro
  RUN_IN_MODE s_checks, 1
  /* now lock entry 0: M-mode stores to the page fault too */
  la t0, guarded_page
  srli t0, t0, 2
  ori t0, t0, (4096 / 8 - 1)    /* NAPOT 4 KiB */
  csrw pmpaddr0, t0
  li t0, -1
  csrw pmpaddr1, t0
  li t0, ((PMP_NAPOT | PMP_R | PMP_X | PMP_W) << 8) | (PMP_NAPOT | PMP_R | PMP_L)
  csrw pmpcfg0, t0
  la t0, guarded_page
  ld a0, 0(t0)
  SIG m_load_locked_ro, a0
  sd zero, 0(t0)
  TRAP_SIG m_store_locked_ro
  csrr a0, pmpcfg0
  andi a0, a0, 0xff
  SIG pmpcfg0_entry0, a0
  /* a locked entry ignores writes */
  csrw pmpaddr0, zero
  la t0, guarded_page
  srli t0, t0, 2
  ori t0, t0, (4096 / 8 - 1)
  csrr a0, pmpaddr0
  sub a0, a0, t0
  SIG pmpaddr0_locked_unchanged, a0
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

/* Runs in S under the layout M prepared. */
s_checks:
  addi sp, sp, -16
  sd ra, 0(sp)
  la t0, guarded_page
  ld a0, 8(t0)
  SIG s_load_ro, a0
  TRAP_SIG s_load_ro
  sd zero, 0(t0)
  TRAP_SIG s_store_ro
  jalr ra, 0(t0)
  TRAP_SIG s_fetch_no_x
  la t0, other_data
  sd t0, 0(t0)
  ld a0, 0(t0)
  la t1, other_data
  sub a0, a0, t1
  SIG s_store_rwx_entry, a0
  TRAP_SIG s_store_rwx_entry
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

  .data
  .balign 8
other_data: .dword 0
  .section .pages, "aw", @nobits
  .balign 4096
guarded_page: .skip 4096

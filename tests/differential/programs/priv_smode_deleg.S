/* S- and U-mode with trap delegation: exceptions delegated through medeleg reach stvec with
   scause/sepc/stval; undelegated ones reach M; a delegated supervisor software interrupt;
   M-level interrupts preempt S regardless of mstatus.MIE; privileged instructions and CSRs
   trap in lower modes; counter access from U is gated by mcounteren. */
#include "common.h"

/* S-mode handler: records scause/sepc/stval, skips the instruction (exceptions) or clears
   SSIP (interrupt), counts. */
  .text
  .balign 4
s_handler:
  csrw sscratch, t0
  la t0, s_save
  sd t1, 0(t0)
  sd t2, 8(t0)
  la t1, s_count
  ld t2, 0(t1)
  addi t2, t2, 1
  sd t2, 0(t1)
  csrr t2, scause
  sd t2, 8(t1)
  csrr t2, sepc
  sd t2, 16(t1)
  csrr t2, stval
  sd t2, 24(t1)
  csrr t2, scause
  bltz t2, 2f
  csrr t2, sepc
  lhu t1, 0(t2)
  andi t1, t1, 3
  addi t2, t2, 2
  li t0, 3
  bne t1, t0, 1f
  addi t2, t2, 2
1:
  csrw sepc, t2
  j 3f
2:
  csrci sip, 2
3:
  la t0, s_save
  ld t1, 0(t0)
  ld t2, 8(t0)
  csrr t0, sscratch
  sret

.macro S_TRAP_SIG tag
  SIG_MEM \tag\().scount, s_count
  SIG_MEM \tag\().scause, s_cause
  SIG_MEM \tag\().sepc, s_epc
  SIG_MEM \tag\().stval, s_tval
  HELPER_SAVE
  la t0, s_count
  sd zero, 0(t0)
  sd zero, 8(t0)
  sd zero, 16(t0)
  sd zero, 24(t0)
  HELPER_RESTORE
  SIG_MEM \tag\().mcount, trap_count
  SIG_MEM \tag\().mcause, trap_cause
  HELPER_SAVE
  call diff_trap_clear
  HELPER_RESTORE
.endm

  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "priv_smode_deleg"
  USE_RECORDING_TRAPS
  la t0, s_handler
  csrw stvec, t0
  li t0, (1 << 2) | (1 << 3)    /* illegal instruction, breakpoint */
  csrw medeleg, t0
  li t0, (1 << 1)               /* supervisor software interrupt */
  csrw mideleg, t0
  csrr a0, mideleg
  andi a0, a0, 2
  SIG mideleg_ssi, a0
  csrw mcounteren, zero
  csrw scounteren, zero
  li t0, 8                      /* MSIE: M software interrupts, with mstatus.MIE = 0 */
  csrs mie, t0
  RUN_IN_MODE in_smode, 1
  csrw mie, zero
  SAY "back in M from S"
  li t0, 7
  csrw mcounteren, t0
  csrw scounteren, t0
  RUN_IN_MODE in_umode, 0
  SAY "back in M from U"
  csrr a0, mstatus
  srli a0, a0, 11
  andi a0, a0, 3
  SIG mpp_after_return_from_u, a0
  csrw medeleg, zero
  csrw mideleg, zero
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

in_smode:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "in S"
  .word 0xffffffff              /* illegal: delegated */
  S_TRAP_SIG s_illegal
  ebreak                        /* delegated */
  S_TRAP_SIG s_ebreak
  csrr a0, mstatus              /* M CSR from S: illegal, delegated */
  S_TRAP_SIG s_read_mstatus
  mret                          /* illegal in S, delegated */
  S_TRAP_SIG s_mret
  li a7, 0
  ecall                         /* ecall from S: not delegated, goes to M */
  S_TRAP_SIG s_ecall
  csrr a0, sstatus
  li t0, 0x100                  /* SPP */
  and a0, a0, t0
  SIG sstatus_spp_after_sret_to_s, a0
  /* delegated supervisor software interrupt, raised by S itself through sip */
  csrsi sie, 2
  csrsi sstatus, 2
  csrsi sip, 2
  nop
  nop
  csrci sstatus, 2
  S_TRAP_SIG s_ssi
  /* SSIP pending but sstatus.SIE clear: not taken in S */
  csrsi sip, 2
  nop
  csrr a0, sip
  andi a0, a0, 2
  SIG ssip_pending_masked, a0
  csrci sip, 2
  csrci sie, 2
  /* a machine software interrupt preempts S even though mstatus.MIE = 0 */
  li t0, CLINT_MSIP
  li t1, 1
  sw t1, 0(t0)
  li t1, 1000
1:
  addi t1, t1, -1
  bnez t1, 1b
  SIG_MEM s_msi.mcount, trap_count
  SIG_MEM s_msi.mcause, trap_cause
  HELPER_SAVE
  call diff_trap_clear
  HELPER_RESTORE
  li t0, 8
  csrs mie, t0                  /* M CSR from S: illegal, delegated */
  S_TRAP_SIG s_write_mie
  /* satp is accessible in S (TVM = 0), reads 0 (Bare) */
  csrr a0, satp
  SIG s_satp_bare, a0
  /* sret with TSR = 0 is legal: covered by the return path of every S trap above */
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

in_umode:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "in U"
  csrr a0, sstatus              /* S CSR from U: illegal, delegated to S */
  S_TRAP_SIG u_read_sstatus
  sret                          /* illegal in U */
  S_TRAP_SIG u_sret
  ebreak                        /* delegated to S */
  S_TRAP_SIG u_ebreak
  li a7, 0
  ecall                         /* ecall from U: not delegated, goes to M */
  S_TRAP_SIG u_ecall
  rdtime a0                     /* mcounteren/scounteren.TM = 1: allowed */
  S_TRAP_SIG u_rdtime
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

  .bss
  .balign 8
s_count: .dword 0
s_cause: .dword 0
s_epc: .dword 0
s_tval: .dword 0
s_save: .dword 0, 0

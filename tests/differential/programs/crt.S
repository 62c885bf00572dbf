/* Start-up and helpers for the differential test programs: hart 0 sets a stack, installs
   the default trap handler, turns the FPU on, zeroes .bss, calls test_main, prints "DONE" and powers off
   through the syscon (exit code 0). Other harts park. */
#include "common.h"

  .section .text.init, "ax"
  .globl _start
_start:
  csrr t0, mhartid
  bnez t0, park
  la sp, stack_top
  la t0, trap_unexpected
  csrw mtvec, t0
  li t0, 0x2000         /* mstatus.FS = Initial: FP programs may use F/D at once */
  csrs mstatus, t0
  la t0, __bss_start
  la t1, stack_top
1:
  bgeu t0, t1, 2f
  sd zero, 0(t0)
  addi t0, t0, 8
  j 1b
2:
  call test_main
  SAY "DONE"
  li a0, 0
  j diff_exit
park:
  wfi
  j park

  .text
/* diff_putc(a0 = byte): waits for the transmitter, then writes the byte. */
  .globl diff_putc
diff_putc:
  li t0, UART_BASE
1:
  lbu t1, 5(t0)
  andi t1, t1, 0x20
  beqz t1, 1b
  sb a0, 0(t0)
  ret

/* diff_puts(a0 = NUL-terminated string). */
  .globl diff_puts
diff_puts:
  addi sp, sp, -16
  sd ra, 0(sp)
  sd s0, 8(sp)
  mv s0, a0
1:
  lbu a0, 0(s0)
  beqz a0, 2f
  call diff_putc
  addi s0, s0, 1
  j 1b
2:
  ld ra, 0(sp)
  ld s0, 8(sp)
  addi sp, sp, 16
  ret

/* diff_puthex(a0 = value): 16 lower-case hex digits, no prefix. */
  .globl diff_puthex
diff_puthex:
  addi sp, sp, -32
  sd ra, 0(sp)
  sd s0, 8(sp)
  sd s1, 16(sp)
  mv s0, a0
  li s1, 60
1:
  srl a0, s0, s1
  andi a0, a0, 0xf
  li t2, 10
  blt a0, t2, 2f
  addi a0, a0, 'a' - '0' - 10
2:
  addi a0, a0, '0'
  call diff_putc
  addi s1, s1, -4
  bgez s1, 1b
  ld ra, 0(sp)
  ld s0, 8(sp)
  ld s1, 16(sp)
  addi sp, sp, 32
  ret

/* diff_print_sig(a0 = name, a1 = value): "name: 0x<hex>\n". */
  .globl diff_print_sig
diff_print_sig:
  addi sp, sp, -16
  sd ra, 0(sp)
  sd s0, 8(sp)
  mv s0, a1
  call diff_puts
  la a0, sig_separator
  call diff_puts
  mv a0, s0
  call diff_puthex
  li a0, '\n'
  call diff_putc
  ld ra, 0(sp)
  ld s0, 8(sp)
  addi sp, sp, 16
  ret

/* diff_exit(a0 = code): 0 powers off with PASS (0x5555), else FAIL with the code. */
  .globl diff_exit
diff_exit:
  li t0, SYSCON_BASE
  li t1, 0x5555
  beqz a0, 1f
  slli t1, a0, 16
  li t2, 0x3333
  or t1, t1, t2
1:
  sw t1, 0(t0)
2:
  j 2b

/* Default M-mode handler: any trap not asked for is a failure of the program. */
  .balign 4
trap_unexpected:
  la sp, stack_top
  la a0, unexpected_text
  call diff_puts
  la a0, mcause_name
  csrr a1, mcause
  call diff_print_sig
  la a0, mepc_name
  csrr a1, mepc
  call diff_print_sig
  la a0, mtval_name
  csrr a1, mtval
  call diff_print_sig
  li a0, 3
  j diff_exit

/* Recording M-mode handler: counts the trap, keeps cause/epc/tval, then
   - exceptions on instruction fetch (0 misaligned, 1 access, 12 page fault): returns to ra,
     so a test reaches a bad target with `jalr ra, ...`;
   - ecall from U/S/M (8, 9, 11) and other exceptions: skips the 2- or 4-byte instruction;
   - interrupts: silences the source (MTI: mtimecmp = max; MSI: msip = 0; SSI/STI: clears
     mip.SSIP/STIP) and returns to the interrupted instruction. */
  .balign 4
  .globl trap_record
trap_record:
  csrw mscratch, t0
  la t0, trap_save
  sd t1, 0(t0)
  sd t2, 8(t0)
  csrr t2, mcause               /* ecall from U or S asking to return to M: not recorded */
  li t1, 8
  bltu t2, t1, 3f
  li t1, 9
  bgtu t2, t1, 3f
  li t1, DIFF_RETURN_TO_M
  beq a7, t1, diff_back_in_m
3:
  la t1, trap_count
  ld t2, 0(t1)
  addi t2, t2, 1
  sd t2, 0(t1)
  csrr t2, mcause
  la t1, trap_cause
  sd t2, 0(t1)
  csrr t2, mepc
  la t1, trap_epc
  sd t2, 0(t1)
  csrr t2, mtval
  la t1, trap_tval
  sd t2, 0(t1)
  csrr t2, mcause
  bltz t2, .Lrecord_interrupt
  li t1, 1
  bleu t2, t1, .Lrecord_fetch
  li t1, 12
  beq t2, t1, .Lrecord_fetch
  csrr t2, mepc
  lhu t1, 0(t2)
  andi t1, t1, 3
  addi t2, t2, 2
  li t0, 3
  bne t1, t0, 1f
  addi t2, t2, 2
1:
  csrw mepc, t2
  j .Lrecord_return
.Lrecord_fetch:
  csrw mepc, ra
  j .Lrecord_return
.Lrecord_interrupt:
  slli t2, t2, 1
  srli t2, t2, 1
  li t1, 7
  bne t2, t1, 1f
  li t1, CLINT_MTIMECMP
  li t2, -1
  sd t2, 0(t1)
  j .Lrecord_return
1:
  li t1, 3
  bne t2, t1, 2f
  li t1, CLINT_MSIP
  sw zero, 0(t1)
  j .Lrecord_return
2:
  li t1, 0x22           /* SSIP | STIP (STIP is writable in mip from M-mode) */
  csrc mip, t1
.Lrecord_return:
  la t0, trap_save
  ld t1, 0(t0)
  ld t2, 8(t0)
  csrr t0, mscratch
  mret

/* diff_run_in_mode(a0 = function, a1 = 0 for U or 1 for S): calls the function in that
   privilege mode (same stack, translation as set up by the caller) and returns in M-mode
   when the function returns. If the program has not configured PMP (pmpcfg0 = 0), entry 0 opens all memory to S/U first. The return path is
   an ecall with a7 = DIFF_RETURN_TO_M, which the recording handler recognises, so
   USE_RECORDING_TRAPS must be active (it is installed here); that ecall is not recorded. */
  .globl diff_run_in_mode
diff_run_in_mode:
  la t0, m_context
  sd ra, 0(t0)
  sd sp, 8(t0)
  sd s0, 16(t0)
  sd s1, 24(t0)
  sd s2, 32(t0)
  sd s3, 40(t0)
  sd s4, 48(t0)
  sd s5, 56(t0)
  sd s6, 64(t0)
  sd s7, 72(t0)
  sd s8, 80(t0)
  sd s9, 88(t0)
  sd s10, 96(t0)
  sd s11, 104(t0)
  la t0, trap_record
  csrw mtvec, t0
  csrr t0, pmpcfg0              /* unless the program set up PMP itself */
  bnez t0, 1f
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f                   /* NAPOT, R W X */
  csrw pmpcfg0, t0
1:
  li t0, 0x1800                 /* MPP = U */
  csrc mstatus, t0
  beqz a1, 2f
  li t0, 0x0800                 /* MPP = S */
  csrs mstatus, t0
2:
  csrw mepc, a0
  la ra, diff_mode_trampoline
  mret
diff_mode_trampoline:
  li a7, DIFF_RETURN_TO_M
  ecall
diff_back_in_m:                 /* in the trap handler, M-mode: restore the caller */
  la t0, m_context
  ld ra, 0(t0)
  ld sp, 8(t0)
  ld s0, 16(t0)
  ld s1, 24(t0)
  ld s2, 32(t0)
  ld s3, 40(t0)
  ld s4, 48(t0)
  ld s5, 56(t0)
  ld s6, 64(t0)
  ld s7, 72(t0)
  ld s8, 80(t0)
  ld s9, 88(t0)
  ld s10, 96(t0)
  ld s11, 104(t0)
  ret

/* diff_trap_clear(): forget what the recording handler saw. */
  .globl diff_trap_clear
diff_trap_clear:
  la t0, trap_count
  sd zero, 0(t0)
  sd zero, 8(t0)
  sd zero, 16(t0)
  sd zero, 24(t0)
  ret

  .section .rodata
sig_separator: .asciz ": 0x"
unexpected_text: .asciz "UNEXPECTED TRAP\n"
mcause_name: .asciz "mcause"
mepc_name: .asciz "mepc"
mtval_name: .asciz "mtval"

  .bss
  .balign 8
  .globl trap_count, trap_cause, trap_epc, trap_tval
trap_count: .dword 0
trap_cause: .dword 0
trap_epc: .dword 0
trap_tval: .dword 0
trap_save: .dword 0, 0
m_context: .fill 14, 8, 0

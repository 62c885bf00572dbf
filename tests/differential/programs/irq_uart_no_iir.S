/* A UART driver written the way xv6-riscv writes its own (uartinit / uartputc / uartstart /
   uartintr, interrupts through the PLIC, M-mode context of hart 0): it enables the receive and
   THR-empty interrupts and NEVER reads IIR. On QEMU 7.2 the 16550's THR-empty interrupt stays
   identified, but the PLIC takes a request only when the UART asserts its line anew (the THR
   empties again after a write); a claim clears it and the completion does not re-pend the
   line. A machine whose PLIC re-pends a line still high at completion interrupts this driver
   for ever (Nimbus did: millions of interrupts). The counts of the phases run with interrupts
   masked during the writes are exact; the phase that transmits with interrupts open may take
   one interrupt per byte at most, so only its bound is printed. */
#include "common.h"

#define PLIC_BASE       0x0c000000
#define PLIC_PRIORITY10 (PLIC_BASE + 4 * 10)
#define PLIC_PENDING    (PLIC_BASE + 0x1000)
#define PLIC_ENABLE_C0  (PLIC_BASE + 0x2000)
#define PLIC_THRESH_C0  (PLIC_BASE + 0x200000)
#define PLIC_CLAIM_C0   (PLIC_BASE + 0x200004)
#define UART_IRQ        10
#define SPIN            400000

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  la t0, uart_trap
  csrw mtvec, t0
  csrw mie, zero
  call uartinit
  /* PLIC: source 10 at priority 1 for hart 0's M context, threshold 0 (xv6's plicinit and
     plicinithart, M context instead of S). */
  li t0, PLIC_PRIORITY10
  li t1, 1
  sw t1, 0(t0)
  li t0, PLIC_ENABLE_C0
  li t1, 1 << UART_IRQ
  sw t1, 0(t0)
  li t0, PLIC_THRESH_C0
  sw zero, 0(t0)
  li t0, 0x800                  /* mie.MEIE */
  csrs mie, t0

  /* Phase A: the THR-empty interrupt raised by uartinit's IER write, nothing to send. */
  call open_wait_close
  la t0, irq_count
  ld s0, 0(t0)                  /* phase A count */
  li t0, PLIC_PENDING
  lw s1, 0(t0)
  srli s1, s1, UART_IRQ
  andi s1, s1, 1                /* still pending after the handler completed? */

  /* Phase B: a line through uartputc with interrupts masked, then opened once. */
  la a0, line_b
  call uartputs
  call open_wait_close
  la t0, irq_count
  ld s2, 0(t0)
  sub s2, s2, s0                /* phase B count */

  /* Phase C: xv6's pattern, interrupts masked only inside each uartputc (push_off/pop_off). */
  la t0, irq_count
  ld s3, 0(t0)
  la s4, line_c
  li s5, 0                      /* bytes sent */
1:
  lbu a0, 0(s4)
  beqz a0, 2f
  call uartputc
  addi s5, s5, 1
  addi s4, s4, 1
  csrsi mstatus, 0x8            /* pop_off: interrupts open between bytes */
  li t0, 2000
3:
  addi t0, t0, -1
  bnez t0, 3b
  csrci mstatus, 0x8
  j 1b
2:
  call open_wait_close
  la t0, irq_count
  ld s6, 0(t0)
  sub s6, s6, s3                /* phase C count */

  /* Quiet the UART's interrupts before printing the signature through the polled helpers. */
  li t0, UART_BASE
  sb zero, 1(t0)
  csrw mie, zero
  SIG phase_a.interrupts, s0
  SIG phase_a.pending_after_complete, s1
  SIG phase_b.interrupts, s2
  li t0, 1
  sltu a0, s6, t0
  xori a0, a0, 1                /* at least one */
  addi t0, s5, 2
  sltu a1, s6, t0               /* at most one per byte, plus the final opening */
  and a0, a0, a1
  SIG phase_c.bounded, a0
  SIG phase_c.bytes, s5
  la t0, rx_count
  ld a0, 0(t0)
  SIG received_bytes, a0
  la t0, other_claims
  ld a0, 0(t0)
  SIG other_claims, a0
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

/* Opens interrupts (mstatus.MIE) for SPIN iterations, then masks them again. */
open_wait_close:
  csrsi mstatus, 0x8
  li t0, SPIN
1:
  addi t0, t0, -1
  bnez t0, 1b
  csrci mstatus, 0x8
  ret

/* xv6 uartinit: IER off, 38.4K baud through the divisor latch, 8N1, FIFOs reset, then the
   receive and transmit interrupts on. */
uartinit:
  li t0, UART_BASE
  sb zero, 1(t0)                /* IER = 0 */
  li t1, 0x80
  sb t1, 3(t0)                  /* LCR = BAUD_LATCH */
  li t1, 3
  sb t1, 0(t0)                  /* DLL */
  sb zero, 1(t0)                /* DLM */
  li t1, 3
  sb t1, 3(t0)                  /* LCR = 8 bits, no parity */
  li t1, 7
  sb t1, 2(t0)                  /* FCR = enable | clear both FIFOs */
  li t1, 3
  sb t1, 1(t0)                  /* IER = TX_ENABLE | RX_ENABLE */
  ret

/* uartputc(a0): appends to the transmit ring (interrupts masked meanwhile, as xv6's lock does)
   and starts the transmitter. The ring holds 32 bytes; the transmitter never falls behind far
   enough here to fill it. */
uartputc:
  addi sp, sp, -16
  sd ra, 0(sp)
  csrr t2, mstatus
  csrci mstatus, 0x8
  la t0, tx_w
  ld t1, 0(t0)
  andi t3, t1, 31
  la t0, tx_buf
  add t0, t0, t3
  sb a0, 0(t0)
  addi t1, t1, 1
  la t0, tx_w
  sd t1, 0(t0)
  call uartstart
  andi t2, t2, 0x8
  csrs mstatus, t2
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

/* uartputs(a0 = string): uartputc for each byte. */
uartputs:
  addi sp, sp, -16
  sd ra, 0(sp)
  sd s0, 8(sp)
  mv s0, a0
1:
  lbu a0, 0(s0)
  beqz a0, 2f
  call uartputc
  addi s0, s0, 1
  j 1b
2:
  ld ra, 0(sp)
  ld s0, 8(sp)
  addi sp, sp, 16
  ret

/* xv6 uartstart: sends buffered bytes while LSR says the holding register is empty. Uses only
   t0, t1, t3, a1. */
uartstart:
  la t0, tx_r
  ld t1, 0(t0)
  la t0, tx_w
  ld t3, 0(t0)
  beq t1, t3, 2f                /* empty */
  li t0, UART_BASE
  lbu a1, 5(t0)
  andi a1, a1, 0x20
  beqz a1, 2f                   /* busy: the THR-empty interrupt will call us again */
  andi t3, t1, 31
  la a1, tx_buf
  add a1, a1, t3
  lbu a1, 0(a1)
  sb a1, 0(t0)
  addi t1, t1, 1
  la t0, tx_r
  sd t1, 0(t0)
  j uartstart
2:
  ret

/* xv6 uartintr: drain the receiver through LSR/RHR, then uartstart. No IIR read. */
uartintr:
  addi sp, sp, -16
  sd ra, 0(sp)
1:
  li t0, UART_BASE
  lbu t1, 5(t0)
  andi t1, t1, 1
  beqz t1, 2f
  lbu t1, 0(t0)
  la t0, rx_count
  ld t1, 0(t0)
  addi t1, t1, 1
  sd t1, 0(t0)
  j 1b
2:
  call uartstart
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

/* M-mode trap handler (xv6's devintr for the PLIC): claim, uartintr, complete. Anything else
   than a machine external interrupt is a failure. */
  .balign 4
uart_trap:
  addi sp, sp, -64
  sd ra, 0(sp)
  sd t0, 8(sp)
  sd t1, 16(sp)
  sd t2, 24(sp)
  sd t3, 32(sp)
  sd a0, 40(sp)
  sd a1, 48(sp)
  sd a2, 56(sp)
  csrr t0, mcause
  li t1, 0x800000000000000b
  bne t0, t1, 9f
  li t0, PLIC_CLAIM_C0
  lw a2, 0(t0)
  li t1, UART_IRQ
  beq a2, t1, 1f
  beqz a2, 3f
  la t0, other_claims
  ld t1, 0(t0)
  addi t1, t1, 1
  sd t1, 0(t0)
  j 2f
1:
  la t0, irq_count
  ld t1, 0(t0)
  addi t1, t1, 1
  sd t1, 0(t0)
  call uartintr
2:
  li t0, PLIC_CLAIM_C0
  sw a2, 0(t0)
3:
  ld ra, 0(sp)
  ld t0, 8(sp)
  ld t1, 16(sp)
  ld t2, 24(sp)
  ld t3, 32(sp)
  ld a0, 40(sp)
  ld a1, 48(sp)
  ld a2, 56(sp)
  addi sp, sp, 64
  mret
9:
  li t0, UART_BASE
  sb zero, 1(t0)
  la t0, trap_unexpected_text
  mv a0, t0
  call diff_puts
  li a0, 4
  j diff_exit

  .section .rodata
line_b: .asciz "uartputc with interrupts masked\n"
line_c: .asciz "uartputc with interrupts open\n"
trap_unexpected_text: .asciz "unexpected trap in the UART driver\n"

  .bss
  .balign 8
irq_count: .dword 0
rx_count: .dword 0
other_claims: .dword 0
tx_r: .dword 0
tx_w: .dword 0
tx_buf: .fill 32, 1, 0

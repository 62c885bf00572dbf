/* Conventions and helpers shared by every differential test program (see ../README.md).
   Include with `#include "common.h"` from a .S file; link with crt.S and link.ld.
   Everything printed must be deterministic: no cycle, time or instret values. */
#ifndef NIMBUS_DIFF_COMMON_H
#define NIMBUS_DIFF_COMMON_H

#define UART_BASE    0x10000000   /* NS16550A: THR at +0, LSR at +5 (bit 5 = THR empty) */
#define SYSCON_BASE  0x00100000   /* sifive,test / syscon poweroff */
#define CLINT_BASE   0x02000000
#define CLINT_MSIP   (CLINT_BASE + 0x0)
#define CLINT_MTIMECMP (CLINT_BASE + 0x4000)
#define CLINT_MTIME  (CLINT_BASE + 0xbff8)
#define DIFF_RETURN_TO_M 0x4e494d42 /* a7 value of the ecall that ends diff_run_in_mode */
#define UNMAPPED_ADDR 0x00001000000 /* below RAM, no device on the virt board */

/* Caller-saved registers the helpers use; the macros preserve them all, so a macro can be
   dropped between any two instructions except where sp is the register being printed. */
.macro HELPER_SAVE
  addi sp, sp, -64
  sd ra, 0(sp)
  sd a0, 8(sp)
  sd a1, 16(sp)
  sd t0, 24(sp)
  sd t1, 32(sp)
  sd t2, 40(sp)
  sd t3, 48(sp)
.endm
.macro HELPER_RESTORE
  ld ra, 0(sp)
  ld a0, 8(sp)
  ld a1, 16(sp)
  ld t0, 24(sp)
  ld t1, 32(sp)
  ld t2, 40(sp)
  ld t3, 48(sp)
  addi sp, sp, 64
.endm

/* SIG name, reg : prints "name: 0x<16 hex digits>\n" with the value of reg. */
.macro SIG name, reg
  HELPER_SAVE
  mv a1, \reg
  la a0, .Lsig_name_\@
  call diff_print_sig
  HELPER_RESTORE
  .pushsection .rodata
.Lsig_name_\@: .asciz "\name"
  .popsection
.endm

/* SIG_CSR name, csr : prints the value of a CSR (read into t0 inside the save area). */
.macro SIG_CSR name, csr
  HELPER_SAVE
  csrr a1, \csr
  la a0, .Lsig_name_\@
  call diff_print_sig
  HELPER_RESTORE
  .pushsection .rodata
.Lsig_name_\@: .asciz "\name"
  .popsection
.endm

/* SIG_MEM name, addr_symbol : prints the doubleword stored at a symbol. */
.macro SIG_MEM name, sym
  HELPER_SAVE
  la a1, \sym
  ld a1, 0(a1)
  la a0, .Lsig_name_\@
  call diff_print_sig
  HELPER_RESTORE
  .pushsection .rodata
.Lsig_name_\@: .asciz "\name"
  .popsection
.endm

/* SAY "text" : prints the text and a newline (section headers in the signature). */
.macro SAY text
  HELPER_SAVE
  la a0, .Lsay_text_\@
  call diff_puts
  HELPER_RESTORE
  .pushsection .rodata
.Lsay_text_\@: .asciz "\text\n"
  .popsection
.endm

/* TRAP_SIG tag : prints and clears what the recording trap handler saw since the last
   TRAP_SIG: "<tag>.count/.cause/.epc/.tval". */
.macro TRAP_SIG tag
  SIG_MEM \tag\().count, trap_count
  SIG_MEM \tag\().cause, trap_cause
  SIG_MEM \tag\().epc, trap_epc
  SIG_MEM \tag\().tval, trap_tval
  HELPER_SAVE
  call diff_trap_clear
  HELPER_RESTORE
.endm

/* USE_RECORDING_TRAPS : M-mode traps are recorded and the faulting instruction skipped
   (see crt.S: trap_record). The default handler instead reports an unexpected trap and
   fails the program. */
.macro USE_RECORDING_TRAPS
  HELPER_SAVE
  la t0, trap_record
  csrw mtvec, t0
  HELPER_RESTORE
.endm

/* IRQ_SIG tag : like TRAP_SIG without epc/tval, whose exact values depend on where an
   asynchronous interrupt happened to be taken. */
.macro IRQ_SIG tag
  SIG_MEM \tag\().count, trap_count
  SIG_MEM \tag\().cause, trap_cause
  HELPER_SAVE
  call diff_trap_clear
  HELPER_RESTORE
.endm

/* RUN_IN_MODE function, mode : calls function in U (0) or S (1) mode, back in M afterwards
   (crt.S: diff_run_in_mode). Clobbers caller-saved registers. */
.macro RUN_IN_MODE function, mode
  la a0, \function
  li a1, \mode
  call diff_run_in_mode
.endm

#endif

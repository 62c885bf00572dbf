# A bare-metal M-mode program for test_gdb_stub.sh: calls add_twice five times in a loop (a0 goes
# 0, 7, 14, 21, 28, 35), stores the sum to `result`, then powers off through the test finisher (code 0).
  .section .text.start
  .globl _start
_start:
  la sp, stack_top
  li s0, 0
  li s1, 5
loop:
  mv a0, s0
  call add_twice
  mv s0, a0
  addi s1, s1, -1
  bnez s1, loop
  la t0, result
  sd s0, 0(t0)
  li t0, 0x100000
  li t1, 0x5555
  sw t1, 0(t0)
1: j 1b

  .globl add_twice
add_twice:
  addi a0, a0, 3
  addi a0, a0, 4
  ret

  .data
  .globl result
result: .dword 0x1122334455667788
  .bss
  .space 4096
stack_top:

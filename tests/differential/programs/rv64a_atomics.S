/* RV64A: every AMO in word and doubleword width (old value returned, word results
   sign-extended), min/max signedness, LR/SC success and failure, SC to a different address
   than the reservation, and store-conditional after an intervening store. */
#include "common.h"

.macro AMO_CASE op, width, init, operand
  la s1, cell
  li t0, \init
  sd t0, 0(s1)
  li t1, \operand
  \op\().\width a0, t1, (s1)
  SIG \op\().\width\().old, a0
  ld a0, 0(s1)
  SIG \op\().\width\().mem, a0
.endm

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  SAY "rv64a_atomics"
  AMO_CASE amoswap, d, 0x1111222233334444, 0x5555666677778888
  AMO_CASE amoadd, d, 0x7fffffffffffffff, 1
  AMO_CASE amoxor, d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0
  AMO_CASE amoand, d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0
  AMO_CASE amoor, d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0
  AMO_CASE amomin, d, 0x8000000000000000, 1
  AMO_CASE amomax, d, 0x8000000000000000, 1
  AMO_CASE amominu, d, 0x8000000000000000, 1
  AMO_CASE amomaxu, d, 0x8000000000000000, 1
  /* word AMOs touch only the low word; the returned old value is sign-extended */
  AMO_CASE amoswap, w, 0x1111222283334444, 0x5555666677778888
  AMO_CASE amoadd, w, 0xaaaaaaaa7fffffff, 1
  AMO_CASE amoxor, w, 0xaaaaaaaaff00ff00, 0x0ff00ff0
  AMO_CASE amoand, w, 0xaaaaaaaaff00ff00, 0x0ff00ff0
  AMO_CASE amoor, w, 0xaaaaaaaaff00ff00, 0x0ff00ff0
  AMO_CASE amomin, w, 0x1234567880000000, 0xffffffff00000001
  AMO_CASE amomax, w, 0x1234567880000000, 0x0000000100000001
  AMO_CASE amominu, w, 0x1234567880000000, 1
  AMO_CASE amomaxu, w, 0x1234567880000000, 1
  AMO_CASE amomin, w, 0x12345678ffffffff, 0x7fffffff
  /* LR/SC: success writes and returns 0 */
  la s1, cell
  li t0, 41
  sd t0, 0(s1)
  lr.d a0, (s1)
  addi a0, a0, 1
  sc.d a1, a0, (s1)
  SIG sc_d_success, a1
  ld a0, 0(s1)
  SIG sc_d_value, a0
  /* SC without a reservation (the previous SC consumed it) fails and does not write */
  li t0, 99
  sc.d a1, t0, (s1)
  sltu a1, zero, a1
  SIG sc_no_reservation_failed, a1
  ld a0, 0(s1)
  SIG sc_no_reservation_value, a0
  /* word LR sign-extends */
  li t0, 0x00000000deadbeef
  sd t0, 0(s1)
  lr.w a0, (s1)
  SIG lr_w_signext, a0
  li t1, 0x12345678
  sc.w a1, t1, (s1)
  SIG sc_w_success, a1
  ld a0, 0(s1)
  SIG sc_w_value, a0
  /* LR/SC with acquire/release bits */
  lr.d.aqrl a0, (s1)
  sc.d.aqrl a1, zero, (s1)
  SIG sc_aqrl_success, a1
  ld a0, 0(s1)
  SIG sc_aqrl_value, a0
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

  .data
  .balign 8
cell: .dword 0

/* A bare-metal program that waits for the test: it prints that it waits, polls the UART until
   a byte arrives, prints the byte and ends with a verdict: 'p' passes (crt.S prints DONE and
   powers off with code 0), anything else fails with code 3. The test looks at the running
   machine in between, without racing it. Linked with tests/differential/programs/crt.S and
   link.ld (build_bare_metal in lib.sh). Used by tests/integration/test_bare_machine_jail.sh. */
#include <stdint.h>

void diff_putc(int c);
void diff_puts(const char* s);
void diff_exit(int code);

#define UART_RBR (*(volatile uint8_t*)0x10000000UL)
#define UART_LSR (*(volatile uint8_t*)0x10000005UL) /* bit 0: a received byte is ready */

void test_main(void) {
  diff_puts("NIMBUS-WAIT: waiting for a key\n");
  while ((UART_LSR & 1) == 0) {
  }
  const int key = UART_RBR;
  diff_puts("NIMBUS-WAIT: got ");
  diff_putc(key);
  diff_putc('\n');
  if (key != 'p') diff_exit(3);
}

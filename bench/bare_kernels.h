/* What the bare-metal kernels of bench/int_kernels and bench/fp_kernels share (bench/bare_kernels.sh
 * builds them with the differential test programs' crt.S, which provides the diff_* console
 * output): the clock, and one line per repetition, "NAME MICROSECONDS RESULT_BITS", whose name
 * and bits run.sh compares with QEMU's. ONLY picks the kernel of the file's table, REPS the
 * repetitions. */
#ifndef NIMBUS_BENCH_BARE_KERNELS_H
#define NIMBUS_BENCH_BARE_KERNELS_H
#include <stdint.h>

#define MTIME (*(volatile uint64_t *)0x0200bff8) /* CLINT mtime: 10 MHz on both machines */

#ifndef ONLY
#define ONLY 0
#endif
#ifndef REPS
#define REPS 1
#endif

void diff_putc(int c);
void diff_puts(const char *s);
void diff_puthex(uint64_t v);

static inline void put_dec(uint64_t v) {
  char b[24];
  int n = 0;
  do { b[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) diff_putc(b[--n]);
}

/* One repetition's line: its host time (mtime ticks, so the host's load counts too) and result. */
static inline void report(const char *name, uint64_t t0, uint64_t t1, uint64_t bits) {
  diff_puts(name);
  diff_putc(' ');
  put_dec((t1 - t0) / 10); /* microseconds */
  diff_putc(' ');
  diff_puthex(bits);
  diff_putc('\n');
}
#endif

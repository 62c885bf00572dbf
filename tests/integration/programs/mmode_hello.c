/* A bare-metal program of our own that needs M-mode, the way teaching kernels start: it reads
   machine CSRs (mhartid, misa, mvendorid) that trap in any lower mode, reads the CLINT's mtime
   twice to show time runs, prints what it found and powers off with code 0. Linked with
   tests/differential/programs/crt.S (which calls test_main in M-mode on hart 0) and link.ld.
   Used by tests/integration/test_vm_other_oses.sh and scripts/setup.sh as a `bios = "none"` VM. */
#include <stdint.h>

void diff_putc(int c);
void diff_puts(const char* s);

#define MTIME (*(volatile uint64_t*)0x0200bff8UL)

static void put_hex(uint64_t v) {
  diff_puts("0x");
  for (int s = 60; s >= 0; s -= 4) diff_putc("0123456789abcdef"[(v >> s) & 15]);
}

static uint64_t csr_misa(void) { uint64_t v; __asm__ volatile("csrr %0, misa" : "=r"(v)); return v; }
static uint64_t csr_mhartid(void) { uint64_t v; __asm__ volatile("csrr %0, mhartid" : "=r"(v)); return v; }
static uint64_t csr_mvendorid(void) { uint64_t v; __asm__ volatile("csrr %0, mvendorid" : "=r"(v)); return v; }

void test_main(void) {
  const uint64_t misa = csr_misa();
  char extensions[27];
  int n = 0;
  for (int bit = 0; bit < 26; ++bit)
    if (misa & (1ull << bit)) extensions[n++] = (char)('a' + bit);
  extensions[n] = 0;
  const uint64_t t0 = MTIME;
  while (MTIME - t0 < 1000) { /* 100 us at the virt board's 10 MHz */
  }
  diff_puts("NIMBUS-MMODE: hello from M-mode: hart ");
  put_hex(csr_mhartid());
  diff_puts(", misa rv64");
  diff_puts(extensions);
  diff_puts(", mvendorid ");
  put_hex(csr_mvendorid());
  diff_puts(", mtime advanced\n");
}

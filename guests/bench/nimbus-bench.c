/* nimbus-bench: a CPU-bound guest workload with an integer, a memory and a floating-point
 * part. Usage: nimbus-bench [ROUNDS]  (default 10; one round is a fixed amount of work).
 * Also: nimbus-bench gap SECONDS [DIRTY_MIB [MIB_PER_SECOND]], the clock-gap loop that live
 * migration is measured with (docs/migration.md): it spins reading CLOCK_MONOTONIC and reports
 * the longest time between two consecutive readings (the downtime as the guest sees it), every
 * second and at the end, optionally writing one byte per page of a DIRTY_MIB buffer at a set
 * rate (0 or none: as fast as the loop goes).
 * Prints a checksum that must be identical on every machine (riscv64 on QEMU or Nimbus, and
 * x86-64 natively: built with -ffp-contract=off and no libm, so FP results are bit-exact)
 * and its own elapsed wall time, so guest speed can be compared with the physical limit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MEM_WORDS = 1u << 19 };           /* 4 MiB: well beyond caches and the reach of a TLB */
enum { INT_BYTES = 1u << 16 };
enum { MATRIX_N = 64 };

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t xorshift64(uint64_t *state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return x;
}

/* Integer: table-driven CRC-32 over a pseudo-random buffer, plus multiply/divide mixing. */
static uint64_t integer_part(uint64_t seed) {
  static uint32_t table[256];
  static uint8_t data[INT_BYTES];
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  uint64_t state = seed | 1;
  for (uint32_t i = 0; i < INT_BYTES; ++i) data[i] = (uint8_t)xorshift64(&state);
  uint64_t acc = 0;
  for (int pass = 0; pass < 96; ++pass) {
    uint32_t crc = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < INT_BYTES; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    acc = acc * 6364136223846793005ull + (crc ^ 0xFFFFFFFFu);
    uint64_t divisor = (acc >> 40) | 3;
    acc ^= acc / divisor + acc % divisor;
    data[pass] ^= (uint8_t)acc;
  }
  return acc;
}

/* Memory: a dependent pointer chase through a random cyclic permutation (latency), then a
 * streaming read-modify-write pass (bandwidth). */
static uint64_t memory_part(uint64_t seed, uint64_t *words) {
  uint64_t state = seed | 1;
  for (uint32_t i = 0; i < MEM_WORDS; ++i) words[i] = i;
  /* Sattolo's algorithm: one cycle through all elements. */
  for (uint32_t i = MEM_WORDS - 1; i > 0; --i) {
    uint32_t j = (uint32_t)(xorshift64(&state) % i);
    uint64_t t = words[i];
    words[i] = words[j];
    words[j] = t;
  }
  uint64_t at = 0;
  uint64_t sum = 0;
  for (uint32_t step = 0; step < MEM_WORDS / 2; ++step) {
    at = words[at];
    sum += at;
  }
  for (int pass = 0; pass < 2; ++pass)
    for (uint32_t i = 0; i < MEM_WORDS; ++i) {
      words[i] = words[i] * 3 + sum;
      sum ^= words[i] >> 3;
    }
  return sum ^ at;
}

/* Floating point: a dense matrix product and a Newton square-root iteration, double precision,
 * only + - * / and sqrt (correctly rounded everywhere). */
static uint64_t fp_part(uint64_t seed) {
  static double a[MATRIX_N][MATRIX_N], b[MATRIX_N][MATRIX_N], c[MATRIX_N][MATRIX_N];
  uint64_t state = seed | 1;
  for (int i = 0; i < MATRIX_N; ++i)
    for (int j = 0; j < MATRIX_N; ++j) {
      a[i][j] = (double)(xorshift64(&state) % 2001) / 1000.0 - 1.0;
      b[i][j] = (double)(xorshift64(&state) % 2001) / 1000.0 - 1.0;
    }
  for (int rep = 0; rep < 40; ++rep) {
    for (int i = 0; i < MATRIX_N; ++i)
      for (int j = 0; j < MATRIX_N; ++j) {
        double s = 0.0;
        for (int k = 0; k < MATRIX_N; ++k) s += a[i][k] * b[k][j];
        c[i][j] = s;
      }
    for (int i = 0; i < MATRIX_N; ++i)
      for (int j = 0; j < MATRIX_N; ++j) a[i][j] = c[i][j] / (1.0 + (c[i][j] < 0 ? -c[i][j] : c[i][j]));
  }
  double roots = 0.0;
  for (int i = 1; i <= 200000; ++i) {
    double x = (double)i, r = x;
    for (int k = 0; k < 6; ++k) r = 0.5 * (r + x / r);
    roots += r - __builtin_sqrt(x);
  }
  double total = roots;
  for (int i = 0; i < MATRIX_N; ++i)
    for (int j = 0; j < MATRIX_N; ++j) total += a[i][j] * (double)(i + 1);
  uint64_t bits;
  memcpy(&bits, &total, sizeof bits);
  return bits;
}

static int clock_gap(int argc, char **argv) {
  char *end = NULL;
  const double seconds = argc > 2 ? strtod(argv[2], &end) : 0;
  if (argc < 3 || end == argv[2] || *end != '\0' || seconds <= 0 || seconds > 86400) {
    fprintf(stderr, "usage: nimbus-bench gap SECONDS [DIRTY_MIB [MIB_PER_SECOND]]\n");
    return 2;
  }
  const long dirty_mib = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
  const double rate = argc > 4 ? strtod(argv[4], NULL) : 0;
  if (dirty_mib < 0 || dirty_mib > 65536 || rate < 0) {
    fprintf(stderr, "nimbus-bench gap: DIRTY_MIB must be 0..65536 and MIB_PER_SECOND not negative\n");
    return 2;
  }
  const size_t pages = (size_t)dirty_mib * 256;
  unsigned char *buffer = NULL;
  if (pages) {
    buffer = malloc(pages * 4096);
    if (buffer == NULL) {
      fprintf(stderr, "nimbus-bench gap: cannot allocate %ld MiB\n", dirty_mib);
      return 1;
    }
    memset(buffer, 1, pages * 4096);
  }
  printf("NIMBUS-GAP-START: %.0f s, dirtying %ld MiB at %s MiB/s\n", seconds, dirty_mib,
         rate > 0 ? argv[4] : "full speed");
  fflush(stdout);
  const double start = now_seconds();
  double last = start, worst = 0, worst_at = 0, window = 0, dirtied = 0;
  size_t next_page = 0;
  long report = 1;
  for (;;) {
    const double t = now_seconds();
    const double gap = t - last;
    if (gap > worst) {
      worst = gap;
      worst_at = last - start;
    }
    if (gap > window) window = gap;
    last = t;
    if (t - start >= seconds) break;
    if (pages) {
      const double due = rate > 0 ? rate * 256 * (t - start) : dirtied + 16;
      while (dirtied < due) {
        buffer[next_page * 4096] += 1;
        next_page = next_page + 1 == pages ? 0 : next_page + 1;
        dirtied += 1;
      }
    }
    if (t - start >= report) {
      printf("NIMBUS-GAP: t=%ld s longest gap in this second %.3f ms\n", report, window * 1000);
      fflush(stdout);
      window = 0;
      ++report;
    }
  }
  printf("NIMBUS-GAP-DONE: longest gap %.3f ms at t=%.3f s over %.0f s, %.0f pages dirtied\n", worst * 1000, worst_at,
         seconds, dirtied);
  free(buffer);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "gap") == 0) return clock_gap(argc, argv);
  long rounds = 10;
  if (argc > 1) {
    char *end = NULL;
    rounds = strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || rounds < 1 || rounds > 100000) {
      fprintf(stderr, "nimbus-bench: ROUNDS must be an integer in 1..100000, got '%s'\n", argv[1]);
      return 2;
    }
  }
  uint64_t *words = malloc(sizeof(uint64_t) * MEM_WORDS);
  if (words == NULL) {
    fprintf(stderr, "nimbus-bench: cannot allocate %u MiB\n", (unsigned)(sizeof(uint64_t) * MEM_WORDS >> 20));
    return 1;
  }
  double t_int = 0, t_mem = 0, t_fp = 0;
  uint64_t checksum = 0;
  double start = now_seconds();
  for (long r = 0; r < rounds; ++r) {
    uint64_t seed = 0x9E3779B97F4A7C15ull * (uint64_t)(r + 1);
    double t0 = now_seconds();
    checksum = checksum * 31 + integer_part(seed);
    double t1 = now_seconds();
    checksum = checksum * 31 + memory_part(seed, words);
    double t2 = now_seconds();
    checksum = checksum * 31 + fp_part(seed);
    double t3 = now_seconds();
    t_int += t1 - t0;
    t_mem += t2 - t1;
    t_fp += t3 - t2;
  }
  double elapsed = now_seconds() - start;
  printf("NIMBUS-BENCH: rounds=%ld checksum=0x%016llx elapsed=%.3fs int=%.3fs mem=%.3fs fp=%.3fs\n",
         rounds, (unsigned long long)checksum, elapsed, t_int, t_mem, t_fp);
  free(words);
  return 0;
}

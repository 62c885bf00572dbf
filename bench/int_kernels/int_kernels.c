/* Bare-metal integer kernels for comparing the JIT with QEMU on integer code other than the guest
 * benchmark's (docs/jit.md, "Measured"): CRC table lookups, quicksort, a sieve, a bytecode
 * interpreter (a switch through a jump table), recursive calls, multiply/divide, hash chains,
 * bit loops, byte copies and hashing. Built once per kernel (-DONLY=index, -DREPS=repetitions)
 * by run.sh, which compares the CPU seconds of whole runs; each run also prints the kernel's
 * mtime ticks (10 MHz on both machines), which count host time and so the host's load too.
 * Links with the differential test programs' crt.S and link.ld (M-mode, bare). Mutable data
 * is page-aligned: a store into a page holding decoded code drops that code. */
#include <stdint.h>

#include "../bare_kernels.h"

static uint64_t rng __attribute__((aligned(4096))) = 88172645463325252ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

#define N 65536
static uint8_t bytes[N] __attribute__((aligned(4096)));
static uint32_t words[N];
static uint32_t table[256];

__attribute__((noinline)) static uint64_t k_crc(void) {
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  for (int i = 0; i < N; ++i) bytes[i] = (uint8_t)next();
  uint64_t acc = 0;
  for (int pass = 0; pass < 120; ++pass) {
    uint32_t crc = ~0u;
    for (int i = 0; i < N; ++i) crc = table[(crc ^ bytes[i]) & 0xff] ^ (crc >> 8);
    acc = acc * 31 + crc;
    bytes[pass] ^= (uint8_t)acc;
  }
  return acc;
}

static void qs(uint32_t *a, int lo, int hi) {
  while (lo < hi) {
    uint32_t p = a[(lo + hi) >> 1];
    int i = lo, j = hi;
    while (i <= j) {
      while (a[i] < p) ++i;
      while (a[j] > p) --j;
      if (i <= j) { uint32_t t = a[i]; a[i] = a[j]; a[j] = t; ++i; --j; }
    }
    if (j - lo < hi - i) { qs(a, lo, j); lo = i; } else { qs(a, i, hi); hi = j; }
  }
}
__attribute__((noinline)) static uint64_t k_sort(void) {
  uint64_t acc = 0;
  for (int r = 0; r < 6; ++r) {
    for (int i = 0; i < N; ++i) words[i] = (uint32_t)next();
    qs(words, 0, N - 1);
    acc += words[N / 2] ^ words[7];
  }
  return acc;
}

__attribute__((noinline)) static uint64_t k_sieve(void) {
  uint64_t count = 0;
  for (int r = 0; r < 120; ++r) {
    for (int i = 0; i < N; ++i) bytes[i] = 1;
    for (int i = 2; i * i < N; ++i)
      if (bytes[i])
        for (int j = i * i; j < N; j += i) bytes[j] = 0;
    for (int i = 2; i < N; ++i) count += bytes[i];
  }
  return count;
}

/* A small bytecode machine: a switch dispatched through a jump table. */
enum { OP_PUSH, OP_ADD, OP_SUB, OP_MUL, OP_DUP, OP_SWAP, OP_JNZ, OP_DEC, OP_XOR, OP_SHL, OP_POP, OP_HALT };
__attribute__((noinline)) static uint64_t k_interp(void) {
  static const uint8_t prog[] = {
      OP_PUSH, 7, OP_PUSH, 200, /* acc, counter */
      /* 4: */ OP_SWAP, OP_DUP, OP_PUSH, 3, OP_MUL, OP_XOR, OP_PUSH, 1, OP_SHL, OP_PUSH, 5, OP_ADD, OP_SWAP,
      OP_DEC, OP_DUP, OP_JNZ, 4, OP_POP, OP_HALT};
  uint64_t total = 0;
  for (int r = 0; r < 1500; ++r) {
    uint64_t st[16];
    int sp = 0, pc = 0;
    for (;;) {
      uint8_t op = prog[pc++];
      switch (op) {
      case OP_PUSH: st[sp++] = prog[pc++] + (uint64_t)r; if (pc == 4) st[sp - 1] = 200; break;
      case OP_ADD: sp--; st[sp - 1] += st[sp]; break;
      case OP_SUB: sp--; st[sp - 1] -= st[sp]; break;
      case OP_MUL: sp--; st[sp - 1] *= st[sp]; break;
      case OP_DUP: st[sp] = st[sp - 1]; sp++; break;
      case OP_SWAP: { uint64_t t = st[sp - 1]; st[sp - 1] = st[sp - 2]; st[sp - 2] = t; break; }
      case OP_JNZ: { uint8_t to = prog[pc++]; if (st[--sp]) pc = to; break; }
      case OP_DEC: st[sp - 1]--; break;
      case OP_XOR: sp--; st[sp - 1] ^= st[sp]; break;
      case OP_SHL: sp--; st[sp - 1] <<= (st[sp] & 63); break;
      case OP_POP: sp--; break;
      default: goto done;
      }
    }
  done:
    total += st[0];
  }
  return total;
}

__attribute__((noinline)) static uint64_t fib(uint64_t n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
__attribute__((noinline)) static uint64_t k_fib(void) { return fib(30); }

static uint64_t powmod(uint64_t b, uint64_t e, uint64_t m) {
  uint64_t r = 1;
  b %= m;
  while (e) {
    if (e & 1) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1;
  }
  return r;
}
__attribute__((noinline)) static uint64_t k_muldiv(void) {
  uint64_t acc = 0;
  for (uint64_t i = 1; i < 600000; ++i) {
    acc += powmod(i, 65537 + (i & 255), 4294967291u);
    uint64_t h = i * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    acc += (uint64_t)(((__uint128_t)h * 0xBF58476D1CE4E5B9ull) >> 64);
  }
  return acc;
}

struct node { uint32_t key, value; struct node *next; };
static struct node pool[16384];
static struct node *buckets[1024];
__attribute__((noinline)) static uint64_t k_hash(void) {
  uint64_t found = 0;
  for (int r = 0; r < 30; ++r) {
    for (int i = 0; i < 1024; ++i) buckets[i] = 0;
    for (int i = 0; i < 16384; ++i) {
      uint32_t k = (uint32_t)next();
      uint32_t h = (k * 2654435761u) >> 22;
      pool[i].key = k; pool[i].value = (uint32_t)i; pool[i].next = buckets[h]; buckets[h] = &pool[i];
    }
    for (int i = 0; i < 16384; ++i) {
      uint32_t k = pool[(i * 7) & 16383].key ^ (uint32_t)(i & 1);
      uint32_t h = (k * 2654435761u) >> 22;
      for (struct node *n = buckets[h]; n; n = n->next)
        if (n->key == k) { found += n->value; break; }
    }
  }
  return found;
}

__attribute__((noinline)) static uint64_t k_bits(void) {
  uint64_t acc = 0;
  for (int i = 0; i < N; ++i) words[i] = (uint32_t)next();
  for (int r = 0; r < 30; ++r)
    for (int i = 0; i < N; ++i) {
      uint64_t x = words[i] ^ (uint64_t)r << 32;
      unsigned pc = 0;
      while (x) { x &= x - 1; ++pc; }
      uint32_t w = words[i];
      acc += pc + (w << (r & 31)) + (w >> (pc & 31)) + ((int32_t)w >> 3);
    }
  return acc;
}

__attribute__((noinline)) static void *my_memcpy(uint8_t *d, const uint8_t *s, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) d[i] = s[i];
  return d;
}
__attribute__((noinline)) static uint64_t k_string(void) {
  static uint8_t dst[N];
  uint64_t acc = 0;
  for (int i = 0; i < N; ++i) bytes[i] = (uint8_t)(next() % 26 + 'a');
  for (int r = 0; r < 160; ++r) {
    my_memcpy(dst, bytes + (r & 63), N - 64);
    uint32_t h = 2166136261u;
    for (int i = 0; i < N - 64; ++i) { h ^= dst[i]; h *= 16777619u; }
    uint32_t words_seen = 0;
    for (int i = 0; i < N - 64; ++i) words_seen += dst[i] == 'e';
    acc += h + words_seen;
  }
  return acc;
}

typedef uint64_t (*kernel)(void);
static const struct { const char *name; kernel k; } kernels[] = {
    {"crc", k_crc}, {"sort", k_sort}, {"sieve", k_sieve}, {"interp", k_interp}, {"fib", k_fib},
    {"muldiv", k_muldiv}, {"hash", k_hash}, {"bits", k_bits}, {"string", k_string},
};

void test_main(void) {
  for (int rep = 0; rep < REPS; ++rep) {
    const uint64_t t0 = MTIME;
    const uint64_t v = kernels[ONLY].k();
    const uint64_t t1 = MTIME;
    report(kernels[ONLY].name, t0, t1, v);
  }
}

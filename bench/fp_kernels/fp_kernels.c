/* Bare-metal floating-point kernels, built as gcc builds C by default: -O2 with
 * -ffp-contract=fast, so a * b + c becomes one fused multiply-add (fmadd.d, fmadd.s, fnmsub...),
 * unlike the guest benchmark suite, which is built with -ffp-contract=off for bit-identical
 * checksums on x86-64 (docs/jit.md, "Measured"). A matrix product, an n-body step (sqrt, divide),
 * a single-precision saxpy, a 2D stencil, Horner's polynomials, casts between double, float and
 * integers, single-precision clamping (compares), and libm's rounding functions (static rounding
 * modes, fflags saved and restored). Built once per kernel
 * (-DONLY=index, -DREPS=repetitions) by run.sh, which compares the CPU seconds of whole runs; each
 * run also prints the kernel's mtime ticks and its result's bits (the same on every machine).
 * Links with the differential test programs' crt.S and link.ld (M-mode, bare, FS on). */
#include <stdint.h>

#include "../bare_kernels.h"

#define M 64
static double a[M][M] __attribute__((aligned(4096))), b[M][M], c[M][M];

/* noipa: the kernels are pure, and gcc would otherwise move them across the mtime reads. */
__attribute__((noipa)) static double k_matmul(void) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < M; ++j) {
      a[i][j] = (i * 7 + j) % 13 * 0.25;
      b[i][j] = (i + j * 3) % 11 * 0.5;
    }
  double s = 0;
  for (int r = 0; r < 60; ++r) {
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < M; ++j) {
        double t = 0;
        for (int k = 0; k < M; ++k) t += a[i][k] * b[k][j];
        c[i][j] = t;
      }
    s += c[r % M][(r * 7) % M];
    a[r % M][r % M] += 1e-3;
  }
  return s;
}

__attribute__((noipa)) static double k_nbody(void) {
  double x[5], y[5], z[5], vx[5] = {0}, vy[5] = {0}, vz[5] = {0}, m[5];
  for (int i = 0; i < 5; ++i) {
    x[i] = i * 1.5 + 0.1;
    y[i] = i * 0.7 - 1.0;
    z[i] = (i % 2) * 0.3;
    m[i] = 1.0 + i * 0.1;
  }
  for (int step = 0; step < 100000; ++step) {
    for (int i = 0; i < 5; ++i)
      for (int j = i + 1; j < 5; ++j) {
        const double dx = x[i] - x[j], dy = y[i] - y[j], dz = z[i] - z[j];
        const double d2 = dx * dx + dy * dy + dz * dz + 0.01;
        const double mag = 0.001 / (d2 * __builtin_sqrt(d2));
        vx[i] -= dx * m[j] * mag;
        vy[i] -= dy * m[j] * mag;
        vz[i] -= dz * m[j] * mag;
        vx[j] += dx * m[i] * mag;
        vy[j] += dy * m[i] * mag;
        vz[j] += dz * m[i] * mag;
      }
    for (int i = 0; i < 5; ++i) {
      x[i] += 0.001 * vx[i];
      y[i] += 0.001 * vy[i];
      z[i] += 0.001 * vz[i];
    }
  }
  return x[0] + y[1] + z[2];
}

static float fa[4096] __attribute__((aligned(4096))), fb[4096];
__attribute__((noipa)) static double k_saxpy(void) {
  for (int i = 0; i < 4096; ++i) {
    fa[i] = (float)(i % 17) * 0.125f;
    fb[i] = (float)(i % 5);
  }
  float s = 0;
  for (int r = 0; r < 400; ++r) {
    const float k = 0.5f + r * 1e-4f;
    for (int i = 0; i < 4096; ++i) fb[i] = fb[i] * 0.999f + k * fa[i];
    for (int i = 0; i < 4096; i += 64) s += fb[i];
  }
  return s;
}

#define G 96
static double g0[G][G] __attribute__((aligned(4096))), g1[G][G];
__attribute__((noipa)) static double k_stencil(void) {
  for (int i = 0; i < G; ++i)
    for (int j = 0; j < G; ++j) g0[i][j] = (i == 0 || j == 0) ? 100.0 : (i * j % 9) * 0.1;
  for (int it = 0; it < 120; ++it) {
    for (int i = 1; i < G - 1; ++i)
      for (int j = 1; j < G - 1; ++j)
        g1[i][j] = 0.2 * g0[i][j] + 0.2 * (g0[i - 1][j] + g0[i + 1][j]) + 0.2 * (g0[i][j - 1] + g0[i][j + 1]);
    for (int i = 1; i < G - 1; ++i)
      for (int j = 1; j < G - 1; ++j) g0[i][j] = g1[i][j];
  }
  return g0[G / 2][G / 2] + g0[1][1];
}

__attribute__((noipa)) static double k_horner(void) {
  static const double p[] = {1.0, -0.5, 0.1666666666666667, -0.04166666666666666, 0.008333333333333333,
                             -0.001388888888888889, 0.0001984126984126984, -2.48015873015873e-05};
  double s = 0;
  for (int i = 0; i < 400000; ++i) {
    const double x = (i % 1000) * 0.001;
    double v = p[7];
    for (int k = 6; k >= 0; --k) v = v * x + p[k];
    s += v;
  }
  return s;
}

/* Conversions as C casts make them: double to signed and unsigned integers (truncating),
 * unsigned integers to float, double to float and back. */
__attribute__((noipa)) static double k_convert(void) {
  int64_t n = 0;
  uint64_t u = 0;
  float f = 0;
  double d = 0;
  for (int i = 0; i < 400000; ++i) {
    const double x = i * 0.37 + 0.5;
    n += (int)x + (int64_t)(x * 3.0);
    u += (uint32_t)(x * 2.0) + (uint64_t)(x * 5.0); /* FCVT.WU.D, FCVT.LU.D */
    f += (float)x * 0.5f + (float)(uint32_t)i * 0.25f; /* FCVT.S.WU */
    d += (double)((float)x);
  }
  return (double)n + (double)u + f + d;
}

/* Single-precision compares: clamping, as image and signal code does. */
static float px[4096] __attribute__((aligned(4096)));
__attribute__((noipa)) static double k_clamp(void) {
  for (int i = 0; i < 4096; ++i) px[i] = (float)((i * 37) % 512) - 128.0f;
  float s = 0;
  for (int r = 0; r < 200; ++r) {
    const float lo = -100.0f + r * 0.01f, hi = 200.0f - r * 0.02f;
    for (int i = 0; i < 4096; ++i) {
      float v = px[i] * 1.01f;
      if (v < lo) v = lo;
      if (v > hi) v = hi;
      s += (v > 0.0f ? v : 0.0f) - (v < 10.0f ? v : 10.0f);
    }
  }
  return s;
}

/* floor, ceil, trunc and round as glibc's RISC-V libm writes them: the flags read, a conversion
 * to an integer and back under a static rounding mode (RDN, RUP, RTZ, RMM), the sign copied, the
 * flags written back (so no Inexact leaks): CSR accesses and static rounding modes, which the
 * other kernels never use. Magnitudes of 2^53 and up are integers already and stay as they are. */
#define ROUNDED(name, mode)                                                         \
  static inline double name(double x) {                                            \
    unsigned flags;                                                                 \
    __asm__ volatile("frflags %0" : "=r"(flags));                                   \
    if (x != x) return x + x;                                                       \
    if (__builtin_fabs(x) < 9007199254740992.0) {                                   \
      long i;                                                                       \
      double y;                                                                     \
      __asm__ volatile("fcvt.l.d %0, %1, " mode : "=r"(i) : "f"(x));               \
      __asm__ volatile("fcvt.d.l %0, %1, " mode : "=f"(y) : "r"(i));               \
      x = __builtin_copysign(y, x);                                                 \
      __asm__ volatile("fsflags %0" : : "r"(flags));                                \
    }                                                                               \
    return x;                                                                       \
  }
ROUNDED(floor_rdn, "rdn")
ROUNDED(ceil_rup, "rup")
ROUNDED(trunc_rtz, "rtz")
ROUNDED(round_rmm, "rmm")
__attribute__((noipa)) static double k_round(void) {
  double s = 0;
  for (int i = 0; i < 300000; ++i) {
    const double x = (i - 150000) * 0.37 + 0.25;
    s += floor_rdn(x) + ceil_rup(x * 0.5) - trunc_rtz(x * 1.5) + round_rmm(x * 0.75);
  }
  return s;
}

typedef double (*kernel)(void);
static const struct { const char *name; kernel k; } kernels[] = {
    {"matmul", k_matmul}, {"nbody", k_nbody}, {"saxpy", k_saxpy}, {"stencil", k_stencil}, {"horner", k_horner},
    {"convert", k_convert}, {"clamp", k_clamp}, {"round", k_round},
};

void test_main(void) {
  for (int rep = 0; rep < REPS; ++rep) {
    const uint64_t t0 = MTIME;
    const double v = kernels[ONLY].k();
    const uint64_t t1 = MTIME;
    union { double d; uint64_t u; } bits = {v};
    report(kernels[ONLY].name, t0, t1, bits.u);
  }
}

#pragma once
// FUZZ_CHECK(cond): an invariant of a fuzz target. Unlike assert() it is never compiled out, and
// it aborts with the file, line and condition, which libFuzzer reports as a crash with the input.
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

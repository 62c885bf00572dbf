#pragma once
// How many times the dispatcher interprets a decoded block before the JIT translates it
// (docs/jit.md). Translating a block costs about as much as interpreting it a few hundred times
// (xbyak's assembler), and most of a Linux boot is code that runs only a few times per fill of
// the block cache: 256 boots in about 0.75x the host CPU time 32 took, and the guest benchmark's
// loops, translated after 256 runs instead of 32, are no slower (perf and `nimbus run` timings).
#include <cstdint>

namespace nimbus::machine {

inline constexpr uint32_t kJitHotThreshold = 256;

} // namespace nimbus::machine

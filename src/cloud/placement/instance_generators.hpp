#pragma once
// Generators for the classic benchmark families of Falkenauer (1996), reproducible from a seed.
//  - uniform: capacity 150, weights uniform in [20, 100].
//  - triplet: capacity 1000, items in (250, 500) made three at a time so that each triple fills
//    a bin exactly; since every item exceeds 250 no bin holds four, so the optimum is known by
//    construction: exactly `triplets` bins.
#include <cstdint>

#include "cloud/placement/instance.hpp"

namespace nimbus::cloud::placement {

Instance falkenauer_uniform(std::size_t items, uint64_t seed);
Instance falkenauer_triplet(std::size_t triplets, uint64_t seed);

// A deterministic generator independent of the standard library's distributions (whose
// results differ between implementations).
class SplitMix64 {
public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi] without modulo bias.
  int64_t uniform(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return lo + static_cast<int64_t>(x % span);
  }

private:
  uint64_t state_;
};

} // namespace nimbus::cloud::placement

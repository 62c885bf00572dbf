#pragma once
// Generators for the classic benchmark families of Falkenauer (1996), reproducible from a seed.
//  - uniform: capacity 150, weights uniform in [20, 100].
//  - triplet: capacity 1000, items in (250, 500) made three at a time so that each triple fills
//    a bin exactly; since every item exceeds 250 no bin holds four, so the optimum is known by
//    construction: exactly `triplets` bins.
#include <cstdint>
#include <string>
#include <vector>

#include "cloud/placement/instance.hpp"

namespace nimbus::cloud::placement {

Instance falkenauer_uniform(std::size_t items, uint64_t seed);
Instance falkenauer_triplet(std::size_t triplets, uint64_t seed);

// Scholl, Klein and Juergens (1997), data set 1: capacity 100, 120 or 150, weights uniform in
// [min_weight, 100] with min_weight 1, 20 or 30.
Instance scholl_set1(std::size_t items, int64_t capacity, int64_t min_weight, uint64_t seed);
// Data set 2: capacity 1000, weights uniform in [W(1-d), W(1+d)] around W = 1000/divisor
// (divisor 3, 5, 7 or 9: about 3 to 9 items per bin), spread d = spread_percent/100 (20, 50, 90).
Instance scholl_set2(std::size_t items, int divisor, int spread_percent, uint64_t seed);
// Data set 3 ("hard"): 200 items, capacity 100000, weights uniform in [20000, 35000].
Instance scholl_set3(uint64_t seed);
// Schwerin and Waescher (1997): capacity 1000, weights uniform in [150, 200] (100 or 120 items).
Instance schwerin_waescher(std::size_t items, uint64_t seed);
// In the style of Waescher and Gau (1996): capacity 10000, 57 to 239 items, few distinct
// sizes repeated: half the types large (C/5..C/2), half small (1..C/5), each 1..6 copies.
Instance waescher_gau(uint64_t seed);
// CUTGEN1 (Gau and Waescher 1995), class 1 to 18: capacity L = 1000, m = 10, 20 or 40 order
// lengths uniform in [v1 L, v2 L] with (v1, v2) = (0.01, 0.2), (0.01, 0.8) or (0.2, 0.8), and an
// average demand of 10 or 100 per length, split at random over the lengths (the total is exactly
// m times the average); equal lengths are merged. Classes: (v1, v2) changes every 6, m every 2,
// the average demand every class (class 1: (0.01, 0.2), m 10, demand 10; class 18: (0.2, 0.8),
// m 40, demand 100). Random numbers from the Lehmer (Park-Miller) generator, as CUTGEN uses.
Instance cutgen1(int cls, uint64_t seed);
// In the style of Schoenfield's hard28 set (2002): capacity 1000, 160 to 200 items, sizes
// uniform in [1, 800] (about 2.6 items per bin), and, as Schoenfield kept only the instances his
// solver found hard out of a great many random ones, only candidates on which FFD and BFD both
// miss the Martello-Toth L2 bound while L2 bins would leave less than 0.3 C of room in all.
// Candidates are drawn one after another from the seed until one qualifies (about one in six);
// `candidates_tried` says how many. The optimum is not known by construction (it may even be one
// bin above the LP bound).
Instance schoenfield_style_hard(uint64_t seed, int* candidates_tried = nullptr);
// Hard instances with a planted optimum: capacity 100000, 160 to 200 items, every size in
// (C/5, C/2], built from k bins of 3 or 4 items each filled to C minus a slack, the total slack
// below C: the continuous bound is k and k bins suffice, so the optimum is exactly k, known by
// construction, but few combinations of items fill a bin that tightly.
Instance planted_hard(uint64_t seed, int64_t* optimum = nullptr);

// Vector instances (2 to 4 dimensions).
// In the style of Caprara and Toth (2001), 2 dimensions, capacity 150 x 150 (class 1: both
// demands uniform in [20, 100] independently; 2: positively correlated, second = first +- 10;
// 3: negatively correlated, second = 120 - first +- 10; 4: one large and one small demand).
Instance caprara_toth(std::size_t items, int cls, uint64_t seed);
// In the style of Panigrahy et al. (2011), VM placement: capacity 1000 per dimension,
// `dims` dimensions; class 1 uniform [10%, 40%]; 2 positively correlated; 3 anti-correlated
// (complementary VMs); 4 small VMs [2%, 20%]; 5 a mix of large and small.
Instance panigrahy(std::size_t items, std::size_t dims, int cls, uint64_t seed);

// One instance of a named benchmark kind, the class chosen from the seed where the kind has
// several (u120..u1000, t60..t501, scholl1, scholl2, scholl3, sw, wg, cutgen, hard, planted, ct1..ct4,
// pan1..pan5); `optimum` is set when it is known by construction. Empty name list when unknown.
bool generate_kind(const std::string& kind, uint64_t seed, Instance& out, int64_t* optimum = nullptr);
// Every kind generate_kind accepts (the benchmark kinds), in the order of the report.
const std::vector<std::string>& benchmark_kinds_1d();
const std::vector<std::string>& benchmark_kinds_vector();

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

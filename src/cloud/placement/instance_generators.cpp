#include "cloud/placement/instance_generators.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <utility>

#include "cloud/placement/heuristics.hpp"
#include "cloud/placement/lower_bounds.hpp"

namespace nimbus::cloud::placement {

namespace {
Instance one_dimension(int64_t capacity) {
  Instance instance;
  instance.dimensions = 1;
  instance.dimension_names = default_dimension_names(1);
  HostType bin{"bin", {}, 1.0};
  bin.capacity[0] = capacity;
  instance.host_types.push_back(bin);
  return instance;
}
} // namespace

Instance falkenauer_uniform(std::size_t items, uint64_t seed) {
  Instance instance = one_dimension(150);
  SplitMix64 rng(seed);
  instance.demands.resize(items);
  for (ResourceVector& v : instance.demands) v[0] = rng.uniform(20, 100);
  return instance;
}

Instance falkenauer_triplet(std::size_t triplets, uint64_t seed) {
  Instance instance = one_dimension(1000);
  SplitMix64 rng(seed);
  for (std::size_t t = 0; t < triplets; ++t) {
    // Falkenauer's rule: the first item uniform in [380, 490], leaving s = C - a; the second
    // uniform in [250, s/2]; the third s - b. The second is drawn from 251 (not 250) so that
    // every item exceeds C/4 and no bin can hold four: the optimum stays exactly `triplets`.
    const int64_t a = rng.uniform(380, 490);
    const int64_t s = 1000 - a;
    const int64_t b = rng.uniform(251, s / 2);
    const int64_t c = s - b;
    for (int64_t w : {a, b, c}) {
      ResourceVector v;
      v[0] = w;
      instance.demands.push_back(v);
    }
  }
  // Shuffle so the input order does not reveal the triples.
  for (std::size_t i = instance.demands.size(); i > 1; --i)
    std::swap(instance.demands[i - 1], instance.demands[static_cast<std::size_t>(rng.uniform(0, static_cast<int64_t>(i) - 1))]);
  return instance;
}

} // namespace nimbus::cloud::placement

namespace nimbus::cloud::placement {

namespace {
void add_item(Instance& in, int64_t w0, int64_t w1 = 0, int64_t w2 = 0, int64_t w3 = 0) {
  ResourceVector v;
  v[0] = w0;
  v[1] = w1;
  v[2] = w2;
  v[3] = w3;
  in.demands.push_back(v);
}
void shuffle(Instance& in, SplitMix64& rng) {
  for (std::size_t i = in.demands.size(); i > 1; --i)
    std::swap(in.demands[i - 1], in.demands[static_cast<std::size_t>(rng.uniform(0, static_cast<int64_t>(i) - 1))]);
}
Instance vector_instance(std::size_t dims, int64_t capacity) {
  Instance in;
  in.dimensions = dims;
  in.dimension_names = default_dimension_names(dims);
  HostType bin{"bin", {}, 1.0};
  for (std::size_t d = 0; d < dims; ++d) bin.capacity[d] = capacity;
  in.host_types.push_back(bin);
  return in;
}
} // namespace

Instance scholl_set1(std::size_t items, int64_t capacity, int64_t min_weight, uint64_t seed) {
  Instance in = one_dimension(capacity);
  SplitMix64 rng(seed);
  for (std::size_t i = 0; i < items; ++i) add_item(in, rng.uniform(min_weight, 100));
  return in;
}

Instance scholl_set2(std::size_t items, int divisor, int spread_percent, uint64_t seed) {
  Instance in = one_dimension(1000);
  SplitMix64 rng(seed);
  const int64_t mean = 1000 / divisor;
  const int64_t lo = std::max<int64_t>(1, mean - mean * spread_percent / 100);
  const int64_t hi = mean + mean * spread_percent / 100;
  for (std::size_t i = 0; i < items; ++i) add_item(in, rng.uniform(lo, hi));
  return in;
}

Instance scholl_set3(uint64_t seed) {
  Instance in = one_dimension(100000);
  SplitMix64 rng(seed);
  for (int i = 0; i < 200; ++i) add_item(in, rng.uniform(20000, 35000));
  return in;
}

Instance schwerin_waescher(std::size_t items, uint64_t seed) {
  Instance in = one_dimension(1000);
  SplitMix64 rng(seed);
  for (std::size_t i = 0; i < items; ++i) add_item(in, rng.uniform(150, 200));
  return in;
}

Instance waescher_gau(uint64_t seed) {
  const int64_t c = 10000;
  Instance in = one_dimension(c);
  SplitMix64 rng(seed);
  const auto target = static_cast<std::size_t>(rng.uniform(57, 239));
  bool large = true;
  while (in.demands.size() < target) {
    const int64_t w = large ? rng.uniform(c / 5, c / 2) : rng.uniform(1, c / 5);
    large = !large;
    for (int64_t k = rng.uniform(1, 6); k > 0 && in.demands.size() < target; --k) add_item(in, w);
  }
  shuffle(in, rng);
  return in;
}

Instance cutgen1(int cls, uint64_t seed) {
  const int k = std::clamp(cls, 1, 18) - 1;
  const int64_t length = 1000;
  const double v1[] = {0.01, 0.01, 0.2}, v2[] = {0.2, 0.8, 0.8};
  const std::size_t m = std::array<std::size_t, 3>{10, 20, 40}[static_cast<std::size_t>(k / 2 % 3)];
  const int64_t average = k % 2 == 0 ? 10 : 100;
  const double lo = v1[k / 6], hi = v2[k / 6];
  // Lehmer's minimal standard generator (x <- 16807 x mod 2^31 - 1), seeded away from 0.
  constexpr uint64_t kModulus = 2147483647;
  uint64_t x = seed % (kModulus - 1) + 1;
  auto random = [&] {
    x = x * 16807 % kModulus;
    return static_cast<double>(x) / static_cast<double>(kModulus);
  };
  std::vector<int64_t> lengths(m);
  for (auto& l : lengths) {
    const double r = random();
    l = std::clamp<int64_t>(static_cast<int64_t>((lo + (hi - lo) * r) * static_cast<double>(length) + r), 1, length);
  }
  std::vector<double> share(m);
  double sum = 0;
  for (auto& s : share) sum += (s = random());
  const int64_t total = static_cast<int64_t>(m) * average;
  std::vector<int64_t> demand(m);
  int64_t given = 0;
  for (std::size_t i = 0; i + 1 < m; ++i) {
    demand[i] = std::max<int64_t>(1, static_cast<int64_t>(share[i] / sum * static_cast<double>(total) + 0.5));
    given += demand[i];
  }
  demand[m - 1] = std::max<int64_t>(1, total - given);
  // Equal lengths merged, longest first.
  std::map<int64_t, int64_t, std::greater<>> merged;
  for (std::size_t i = 0; i < m; ++i) merged[lengths[i]] += demand[i];
  Instance in = one_dimension(length);
  for (const auto& [l, d] : merged)
    for (int64_t c = 0; c < d; ++c) add_item(in, l);
  return in;
}

Instance planted_hard(uint64_t seed, int64_t* optimum) {
  const int64_t c = 100000, lo = c / 5 + 1, hi = c / 2;
  Instance in = one_dimension(c);
  SplitMix64 rng(seed);
  const int64_t n = rng.uniform(160, 200);
  const int64_t bins = (n + 3) / 4;  // at least ceil(n / 4) bins of at most 4 items
  // k bins with 3k <= n <= 4k: k = ceil(n / 3.5) keeps a mix of 3- and 4-item bins.
  const int64_t k = std::max<int64_t>(bins, (2 * n + 6) / 7);
  const int64_t fours = n - 3 * k;
  // Slack per bin: the total stays below C so that ceil(total / C) = k.
  const int64_t slack_budget = rng.uniform(c / 4, c - 1);
  int64_t slack_left = slack_budget;
  for (int64_t b = 0; b < k; ++b) {
    const int64_t parts = b < fours ? 4 : 3;
    const int64_t slack = std::min<int64_t>(rng.uniform(0, 2 * slack_budget / k), slack_left);
    slack_left -= slack;
    int64_t left = c - slack;
    for (int64_t p = parts; p > 1; --p) {
      // Leave room for p-1 more items, each in [lo, hi].
      const int64_t low = std::max(lo, left - (p - 1) * hi), high = std::min(hi, left - (p - 1) * lo);
      const int64_t w = rng.uniform(low, high);
      add_item(in, w);
      left -= w;
    }
    add_item(in, left);
  }
  shuffle(in, rng);
  int64_t total = 0;
  for (const auto& v : in.demands) total += v[0];
  if (optimum != nullptr) *optimum = (total + c - 1) / c;  // = k, and k bins are packed above
  return in;
}

Instance schoenfield_style_hard(uint64_t seed, int* candidates_tried) {
  constexpr int64_t c = 1000;
  SplitMix64 rng(seed);
  for (int tried = 1;; ++tried) {
    Instance in = one_dimension(c);
    const int64_t n = rng.uniform(160, 200);
    for (int64_t i = 0; i < n; ++i) add_item(in, rng.uniform(1, 800));
    std::vector<int64_t> sorted;
    int64_t total = 0;
    for (const auto& v : in.demands) {
      sorted.push_back(v[0]);
      total += v[0];
    }
    std::sort(sorted.begin(), sorted.end());
    const int64_t l2 = martello_toth_l2(sorted, c);
    // Kept only when neither simple heuristic meets L2 and L2 bins would leave less than 0.3 C
    // of room in all: the optimum needs nearly every bin nearly full (or one bin more than L2).
    if (l2 * c - total >= 3 * c / 10) continue;
    const auto bins_by = [&](Heuristic h) { return static_cast<int64_t>(heuristic_packing(in, h).bin_count()); };
    if (bins_by(Heuristic::FirstFitDecreasing) <= l2 || bins_by(Heuristic::BestFitDecreasing) <= l2) continue;
    if (candidates_tried != nullptr) *candidates_tried = tried;
    return in;
  }
}

Instance caprara_toth(std::size_t items, int cls, uint64_t seed) {
  Instance in = vector_instance(2, 150);
  SplitMix64 rng(seed);
  for (std::size_t i = 0; i < items; ++i) {
    const int64_t a = rng.uniform(20, 100);
    int64_t b = 0;
    switch (cls) {
      case 2: b = std::clamp<int64_t>(a + rng.uniform(-10, 10), 1, 150); break;
      case 3: b = std::clamp<int64_t>(120 - a + rng.uniform(-10, 10), 1, 150); break;
      case 4: b = rng.uniform(0, 1) != 0 ? rng.uniform(1, 20) : rng.uniform(80, 120); break;
      default: b = rng.uniform(20, 100); break;
    }
    add_item(in, a, b);
  }
  return in;
}

Instance panigrahy(std::size_t items, std::size_t dims, int cls, uint64_t seed) {
  Instance in = vector_instance(dims, 1000);
  SplitMix64 rng(seed);
  for (std::size_t i = 0; i < items; ++i) {
    ResourceVector v;
    const int64_t base = rng.uniform(100, 400);
    for (std::size_t d = 0; d < dims; ++d) {
      switch (cls) {
        case 2: v[d] = std::clamp<int64_t>(base + rng.uniform(-50, 50), 10, 1000); break;
        case 3: v[d] = d % 2 == 0 ? base : std::clamp<int64_t>(500 - base + rng.uniform(-50, 50), 10, 1000); break;
        case 4: v[d] = rng.uniform(20, 200); break;
        case 5: v[d] = i % 3 == 0 ? rng.uniform(300, 600) : rng.uniform(20, 150); break;
        default: v[d] = rng.uniform(100, 400); break;
      }
    }
    in.demands.push_back(v);
  }
  return in;
}

const std::vector<std::string>& benchmark_kinds_1d() {
  static const std::vector<std::string> kinds{"u120", "u250", "u500", "u1000", "t60", "t120", "t249", "t501",
                                              "scholl1", "scholl2", "scholl3", "sw", "wg", "cutgen", "hard", "planted"};
  return kinds;
}
const std::vector<std::string>& benchmark_kinds_vector() {
  static const std::vector<std::string> kinds{"ct1", "ct2", "ct3", "ct4", "pan1", "pan2", "pan3", "pan4", "pan5"};
  return kinds;
}

bool generate_kind(const std::string& kind, uint64_t seed, Instance& out, int64_t* optimum) {
  if (optimum != nullptr) *optimum = -1;
  auto number = [&](std::size_t prefix) { return static_cast<std::size_t>(std::stoul(kind.substr(prefix))); };
  if (kind == "u120" || kind == "u250" || kind == "u500" || kind == "u1000") {
    out = falkenauer_uniform(number(1), seed);
  } else if (kind == "t60" || kind == "t120" || kind == "t249" || kind == "t501") {
    out = falkenauer_triplet(number(1) / 3, seed);
    if (optimum != nullptr) *optimum = static_cast<int64_t>(number(1) / 3);
  } else if (kind == "scholl1") {
    // The 36 classes (n, C, min weight) cycle with the seed.
    const std::size_t n[] = {50, 100, 200, 500};
    const int64_t cap[] = {100, 120, 150}, low[] = {1, 20, 30};
    const uint64_t s = seed - 1;
    out = scholl_set1(n[s % 4], cap[s / 4 % 3], low[s / 12 % 3], seed);
  } else if (kind == "scholl2") {
    const std::size_t n[] = {50, 100, 200, 500};
    const int div[] = {3, 5, 7, 9}, spread[] = {20, 50, 90};
    const uint64_t s = seed - 1;
    out = scholl_set2(n[s % 4], div[s / 4 % 4], spread[s / 16 % 3], seed);
  } else if (kind == "scholl3") {
    out = scholl_set3(seed);
  } else if (kind == "sw") {
    out = schwerin_waescher(seed % 2 == 0 ? 120 : 100, seed);
  } else if (kind == "wg") {
    out = waescher_gau(seed);
  } else if (kind == "cutgen") {
    out = cutgen1(static_cast<int>((seed - 1) % 18) + 1, seed);  // the 18 classes cycle with the seed
  } else if (kind == "hard") {
    out = schoenfield_style_hard(seed);
  } else if (kind == "planted") {
    out = planted_hard(seed, optimum);
  } else if (kind.rfind("ct", 0) == 0 && kind.size() == 3 && kind[2] >= '1' && kind[2] <= '4') {
    out = caprara_toth(seed % 2 == 0 ? 50 : 25, kind[2] - '0', seed);
  } else if (kind.rfind("pan", 0) == 0 && kind.size() == 4 && kind[3] >= '1' && kind[3] <= '5') {
    out = panigrahy(seed % 2 == 0 ? 50 : 25, 2 + seed % 3, kind[3] - '0', seed);
  } else {
    return false;
  }
  return true;
}

} // namespace nimbus::cloud::placement

#include "cloud/placement/instance_generators.hpp"

#include <algorithm>
#include <utility>

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
    // a in [380, 490]; b chosen so that c = 1000 - a - b also lies in [251, 499].
    const int64_t a = rng.uniform(380, 490);
    const int64_t b = rng.uniform(std::max<int64_t>(251, 1000 - a - 499), std::min<int64_t>(499, 1000 - a - 251));
    const int64_t c = 1000 - a - b;
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

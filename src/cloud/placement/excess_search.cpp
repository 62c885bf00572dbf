#include "cloud/placement/excess_search.hpp"

#include <algorithm>
#include <random>

namespace nimbus::cloud::placement {

namespace {

constexpr std::size_t kPairItems = 24;  // pairs of a bin only among its first items (bins with many small items)

struct Subset {
  int64_t weight = 0;
  uint32_t item[2] = {0, 0};
  uint8_t size = 0;
};

class ExcessSearch {
public:
  ExcessSearch(const std::vector<int64_t>& sizes, int64_t capacity, int64_t bins, uint64_t seed)
      : w_(sizes), capacity_(capacity), k_(static_cast<std::size_t>(bins)), rng_(seed), tabu_bin_(sizes.size(), -1),
        tabu_until_(sizes.size(), 0) {}

  bool init(const std::vector<int32_t>& start) {
    int32_t m = 0;
    for (int32_t b : start) m = std::max(m, b + 1);
    std::vector<std::vector<uint32_t>> all(static_cast<std::size_t>(m));
    for (std::size_t i = 0; i < start.size(); ++i) {
      if (start[i] < 0) return false;
      all[static_cast<std::size_t>(start[i])].push_back(static_cast<uint32_t>(i));
    }
    auto load_of = [&](const std::vector<uint32_t>& b) {
      int64_t s = 0;
      for (uint32_t i : b) s += w_[i];
      return s;
    };
    // Keep the fullest bins; the items of the others go where they fit best, or else to the
    // emptiest bin.
    std::sort(all.begin(), all.end(), [&](const auto& a, const auto& b) { return load_of(a) > load_of(b); });
    bins_.assign(k_, {});
    load_.assign(k_, 0);
    std::vector<uint32_t> rest;
    for (std::size_t b = 0; b < all.size(); ++b) {
      if (b < k_) {
        bins_[b] = all[b];
        load_[b] = load_of(all[b]);
      } else {
        rest.insert(rest.end(), all[b].begin(), all[b].end());
      }
    }
    std::sort(rest.begin(), rest.end(), [&](uint32_t a, uint32_t b) { return w_[a] > w_[b]; });
    for (uint32_t i : rest) {
      std::size_t best = k_, emptiest = 0;
      for (std::size_t b = 0; b < k_; ++b) {
        if (load_[b] + w_[i] <= capacity_ && (best == k_ || load_[b] > load_[best])) best = b;
        if (load_[b] < load_[emptiest]) emptiest = b;
      }
      if (best == k_) best = emptiest;
      bins_[best].push_back(i);
      load_[best] += w_[i];
    }
    for (std::size_t b = 0; b < k_; ++b) excess_ += excess(load_[b]);
    return true;
  }

  bool run(SearchDeadline& deadline, uint64_t& iterations) {
    while (excess_ > 0) {
      if (deadline.expired()) return false;
      ++iterations;
      ++t_;
      step();
    }
    return true;
  }

  std::vector<int32_t> bin_of() const {
    std::vector<int32_t> out(w_.size(), -1);
    for (std::size_t b = 0; b < k_; ++b)
      for (uint32_t i : bins_[b]) out[i] = static_cast<int32_t>(b);
    return out;
  }

private:
  const std::vector<int64_t>& w_;
  int64_t capacity_;
  std::size_t k_;
  std::mt19937_64 rng_;
  std::vector<std::vector<uint32_t>> bins_;
  std::vector<int64_t> load_;
  std::vector<int32_t> tabu_bin_;     // an item that left this bin ...
  std::vector<uint64_t> tabu_until_;  // ... may not go back before this iteration
  int64_t excess_ = 0;
  uint64_t t_ = 0;

  int64_t excess(int64_t load) const { return load > capacity_ ? load - capacity_ : 0; }

  // Subsets of 0 to 2 items of a bin.
  void subsets(std::size_t b, std::vector<Subset>& out) const {
    out.clear();
    out.push_back(Subset{});
    const auto& items = bins_[b];
    for (std::size_t a = 0; a < items.size(); ++a) {
      Subset one;
      one.weight = w_[items[a]];
      one.item[0] = items[a];
      one.size = 1;
      out.push_back(one);
    }
    const std::size_t n = std::min(items.size(), kPairItems);
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t c = a + 1; c < n; ++c) {
        Subset two;
        two.weight = w_[items[a]] + w_[items[c]];
        two.item[0] = items[a];
        two.item[1] = items[c];
        two.size = 2;
        out.push_back(two);
      }
  }

  bool tabu(const Subset& s, std::size_t to) const {
    for (uint8_t q = 0; q < s.size; ++q)
      if (tabu_bin_[s.item[q]] == static_cast<int32_t>(to) && tabu_until_[s.item[q]] > t_) return true;
    return false;
  }

  // The best exchange between an over-full bin and another bin, by the change of the total excess
  // (ties at random); tabu moves only when they reach excess zero.
  void step() {
    int64_t best_delta = INT64_MAX;
    uint64_t ties = 0;
    std::size_t best_a = 0, best_b = 0;
    Subset best_s, best_t;
    std::vector<Subset> sa, sb;
    for (std::size_t a = 0; a < k_; ++a) {
      if (load_[a] <= capacity_) continue;
      subsets(a, sa);
      for (std::size_t b = 0; b < k_; ++b) {
        if (b == a) continue;
        subsets(b, sb);
        const int64_t before = excess(load_[a]) + excess(load_[b]);
        for (const Subset& s : sa) {
          const bool s_tabu = tabu(s, b);
          for (const Subset& t : sb) {
            if (t.weight == s.weight) continue;  // nothing changes
            if (s.size == 0 && t.size == 0) continue;
            const int64_t la = load_[a] - s.weight + t.weight, lb = load_[b] + s.weight - t.weight;
            const int64_t delta = excess(la) + excess(lb) - before;
            if (delta > best_delta) continue;
            if ((s_tabu || tabu(t, a)) && excess_ + delta > 0) continue;
            if (delta < best_delta) {
              best_delta = delta;
              ties = 0;
            }
            if (rng_() % ++ties == 0) {
              best_a = a;
              best_b = b;
              best_s = s;
              best_t = t;
            }
          }
        }
      }
    }
    if (best_delta == INT64_MAX) {
      std::fill(tabu_until_.begin(), tabu_until_.end(), 0);  // everything tabu: forget
      return;
    }
    const uint64_t tenure = 5 + rng_() % 10;
    auto move = [&](const Subset& s, std::size_t from, std::size_t to) {
      for (uint8_t q = 0; q < s.size; ++q) {
        const uint32_t i = s.item[q];
        auto& f = bins_[from];
        f.erase(std::find(f.begin(), f.end(), i));
        bins_[to].push_back(i);
        load_[from] -= w_[i];
        load_[to] += w_[i];
        tabu_bin_[i] = static_cast<int32_t>(from);
        tabu_until_[i] = t_ + tenure;
      }
    };
    excess_ -= excess(load_[best_a]) + excess(load_[best_b]);
    move(best_s, best_a, best_b);
    move(best_t, best_b, best_a);
    excess_ += excess(load_[best_a]) + excess(load_[best_b]);
  }
};

} // namespace

ExcessSearchResult excess_search(const std::vector<int64_t>& sizes, int64_t capacity, int64_t bins,
                                 const std::vector<int32_t>& start, SearchDeadline& deadline, uint64_t seed) {
  ExcessSearchResult r;
  if (bins <= 0 || start.size() != sizes.size()) return r;
  for (int64_t s : sizes)
    if (s <= 0 || s > capacity) return r;
  ExcessSearch search(sizes, capacity, bins, seed);
  if (!search.init(start)) return r;
  if (search.run(deadline, r.iterations)) {
    r.found = true;
    r.bin_of = search.bin_of();
  }
  return r;
}

} // namespace nimbus::cloud::placement

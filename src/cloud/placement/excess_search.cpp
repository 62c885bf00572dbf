#include "cloud/placement/excess_search.hpp"

#include <algorithm>
#include <limits>
#include <random>

namespace nimbus::cloud::placement {

namespace {

constexpr std::size_t kPairItems = 24;  // pairs of a bin only among its first items (bins with many small items)

struct Subset {
  ResourceVector weight;
  uint32_t item[2] = {0, 0};
  uint8_t size = 0;
};

class ExcessSearch {
public:
  ExcessSearch(const std::vector<ResourceVector>& demands, const ResourceVector& capacity, std::size_t dims, int64_t bins,
               uint64_t seed)
      : w_(demands), capacity_(capacity), dims_(dims), k_(static_cast<std::size_t>(bins)), rng_(seed),
        tabu_bin_(demands.size(), -1), tabu_until_(demands.size(), 0) {
    // The excess of a dimension counts relative to its capacity (exact integers in one dimension).
    for (std::size_t d = 0; d < dims_; ++d) unit_[d] = dims_ == 1 ? 1.0 : 1.0 / static_cast<double>(capacity_[d]);
  }

  bool init(const std::vector<int32_t>& start) {
    int32_t m = 0;
    for (int32_t b : start) m = std::max(m, b + 1);
    std::vector<std::vector<uint32_t>> all(static_cast<std::size_t>(m));
    for (std::size_t i = 0; i < start.size(); ++i) {
      if (start[i] < 0) return false;
      all[static_cast<std::size_t>(start[i])].push_back(static_cast<uint32_t>(i));
    }
    auto load_of = [&](const std::vector<uint32_t>& b) {
      ResourceVector s;
      for (uint32_t i : b) s += w_[i];
      return s;
    };
    auto fill = [&](const ResourceVector& load) {
      double f = 0;
      for (std::size_t d = 0; d < dims_; ++d) f += static_cast<double>(load[d]) / static_cast<double>(capacity_[d]);
      return f;
    };
    // Keep the fullest bins; the items of the others go where they fit best, or else to the
    // emptiest bin.
    std::vector<double> full(all.size());
    for (std::size_t b = 0; b < all.size(); ++b) full[b] = fill(load_of(all[b]));
    std::vector<std::size_t> order(all.size());
    for (std::size_t b = 0; b < order.size(); ++b) order[b] = b;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return full[a] > full[b]; });
    std::vector<std::vector<uint32_t>> sorted;
    for (std::size_t b : order) sorted.push_back(std::move(all[b]));
    all = std::move(sorted);
    bins_.assign(k_, {});
    load_.assign(k_, ResourceVector{});
    std::vector<uint32_t> rest;
    for (std::size_t b = 0; b < all.size(); ++b) {
      if (b < k_) {
        bins_[b] = all[b];
        load_[b] = load_of(all[b]);
      } else {
        rest.insert(rest.end(), all[b].begin(), all[b].end());
      }
    }
    std::stable_sort(rest.begin(), rest.end(), [&](uint32_t a, uint32_t b) { return fill(w_[a]) > fill(w_[b]); });
    for (uint32_t i : rest) {
      std::size_t best = k_, emptiest = 0;
      for (std::size_t b = 0; b < k_; ++b) {
        if ((load_[b] + w_[i]).fits_in(capacity_) && (best == k_ || fill(load_[b]) > fill(load_[best]))) best = b;
        if (fill(load_[b]) < fill(load_[emptiest])) emptiest = b;
      }
      if (best == k_) best = emptiest;
      bins_[best].push_back(i);
      load_[best] += w_[i];
    }
    return true;
  }

  bool run(SearchDeadline& deadline, uint64_t& iterations) {
    for (;;) {
      bool over = false;
      for (std::size_t b = 0; b < k_ && !over; ++b) over = !load_[b].fits_in(capacity_);
      if (!over) break;
      if (deadline.expired_now()) return false;  // (one step can take long on big instances)
      ++iterations;
      ++t_;
      step(deadline);
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
  const std::vector<ResourceVector>& w_;
  ResourceVector capacity_;
  std::size_t dims_;
  std::array<double, kMaxDimensions> unit_{};
  std::size_t k_;
  std::mt19937_64 rng_;
  std::vector<std::vector<uint32_t>> bins_;
  std::vector<ResourceVector> load_;
  std::vector<int32_t> tabu_bin_;     // an item that left this bin ...
  std::vector<uint64_t> tabu_until_;  // ... may not go back before this iteration
  uint64_t t_ = 0;
  double best_total_ = std::numeric_limits<double>::infinity();
  std::vector<std::vector<Subset>> cache_;  // subsets of each bin ...
  std::vector<char> dirty_;                 // ... to recompute after the bin changed
  uint64_t last_best_ = 0;

  double excess(const ResourceVector& load) const {
    double e = 0;
    for (std::size_t d = 0; d < dims_; ++d)
      if (load[d] > capacity_[d]) e += static_cast<double>(load[d] - capacity_[d]) * unit_[d];
    return e;
  }

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
  // Returns without a move when the deadline passes during the scan (large instances: one scan
  // is bins x bins x subsets^2 and may take seconds).
  void step(SearchDeadline& deadline) {
    std::size_t over = 0;  // over-full bins
    double total = 0;
    for (std::size_t b = 0; b < k_; ++b) {
      over += load_[b].fits_in(capacity_) ? 0 : 1;
      total += excess(load_[b]);
    }
    // Stagnation (no new best excess for a while; the exchanges can cycle despite the tabu
    // lists): move a random item of an over-full bin to a random other bin.
    if (total < best_total_) {
      best_total_ = total;
      last_best_ = t_;
    } else if (t_ - last_best_ > 100 + 10 * k_ && k_ > 1) {
      last_best_ = t_;
      best_total_ = std::numeric_limits<double>::infinity();
      std::vector<std::size_t> full;
      for (std::size_t b = 0; b < k_; ++b)
        if (!load_[b].fits_in(capacity_)) full.push_back(b);
      const std::size_t a = full[rng_() % full.size()];
      std::size_t b = rng_() % (k_ - 1);
      if (b >= a) ++b;
      const uint32_t i = bins_[a][rng_() % bins_[a].size()];
      bins_[a].erase(std::find(bins_[a].begin(), bins_[a].end(), i));
      bins_[b].push_back(i);
      if (!dirty_.empty()) dirty_[a] = dirty_[b] = 1;
      load_[a] -= w_[i];
      load_[b] += w_[i];
      tabu_bin_[i] = static_cast<int32_t>(a);
      tabu_until_[i] = t_ + 10;
      return;
    }
    double best_delta = std::numeric_limits<double>::infinity();
    uint64_t ties = 0;
    std::size_t best_a = 0, best_b = 0;
    Subset best_s, best_t;
    if (cache_.size() != k_) {
      cache_.assign(k_, {});
      dirty_.assign(k_, 1);
    }
    for (std::size_t b = 0; b < k_; ++b)
      if (dirty_[b]) {
        subsets(b, cache_[b]);
        dirty_[b] = 0;
      }
    std::vector<char> t_tabu;
    for (std::size_t a = 0; a < k_; ++a) {
      if (load_[a].fits_in(capacity_)) continue;
      const std::vector<Subset>& sa = cache_[a];
      for (std::size_t b = 0; b < k_; ++b) {
        if (b == a) continue;
        if (deadline.expired()) return;
        const std::vector<Subset>& sb = cache_[b];
        t_tabu.resize(sb.size());
        for (std::size_t q = 0; q < sb.size(); ++q) t_tabu[q] = tabu(sb[q], a) ? 1 : 0;
        const double before = excess(load_[a]) + excess(load_[b]);
        const bool others_fit = over == 1 + (load_[b].fits_in(capacity_) ? 0 : 1);
        for (const Subset& s : sa) {
          const bool s_tabu = tabu(s, b);
          for (std::size_t q = 0; q < sb.size(); ++q) {
            const Subset& t = sb[q];
            if (t.weight == s.weight) continue;  // nothing changes
            if (s.size == 0 && t.size == 0) continue;
            const ResourceVector la = load_[a] - s.weight + t.weight, lb = load_[b] + s.weight - t.weight;
            const double delta = excess(la) + excess(lb) - before;
            if (delta > best_delta) continue;
            // Tabu unless it leaves no bin over-full (aspiration).
            if ((s_tabu || t_tabu[q] != 0) && !(others_fit && la.fits_in(capacity_) && lb.fits_in(capacity_))) continue;
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
    if (best_delta == std::numeric_limits<double>::infinity()) {
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
        dirty_[from] = dirty_[to] = 1;
        load_[from] -= w_[i];
        load_[to] += w_[i];
        tabu_bin_[i] = static_cast<int32_t>(from);
        tabu_until_[i] = t_ + tenure;
      }
    };
    move(best_s, best_a, best_b);
    move(best_t, best_b, best_a);
  }
};

} // namespace

ExcessSearchResult excess_search_vector(const std::vector<ResourceVector>& demands, const ResourceVector& capacity,
                                        std::size_t dimensions, int64_t bins, const std::vector<int32_t>& start,
                                        SearchDeadline& deadline, uint64_t seed) {
  ExcessSearchResult r;
  if (bins <= 0 || start.size() != demands.size() || dimensions < 1 || dimensions > kMaxDimensions) return r;
  for (const ResourceVector& v : demands)
    if (!v.fits_in(capacity)) return r;
  for (std::size_t d = 0; d < dimensions; ++d)
    if (capacity[d] <= 0) return r;
  ExcessSearch search(demands, capacity, dimensions, bins, seed);
  if (!search.init(start)) return r;
  if (search.run(deadline, r.iterations)) {
    r.found = true;
    r.bin_of = search.bin_of();
  }
  return r;
}

ExcessSearchResult excess_search(const std::vector<int64_t>& sizes, int64_t capacity, int64_t bins,
                                 const std::vector<int32_t>& start, SearchDeadline& deadline, uint64_t seed) {
  for (int64_t s : sizes)
    if (s <= 0) return {};
  std::vector<ResourceVector> demands(sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) demands[i][0] = sizes[i];
  ResourceVector cap;
  cap[0] = capacity;
  return excess_search_vector(demands, cap, 1, bins, start, deadline, seed);
}

} // namespace nimbus::cloud::placement

#include "cloud/placement/local_search.hpp"

#include <algorithm>
#include <numeric>

#include "cloud/placement/search_deadline.hpp"

namespace nimbus::cloud::placement {

namespace {

constexpr double kEpsilon = 1e-12;
constexpr int kMaxPasses = 50;
constexpr std::size_t kMaxPoolConsidered = 24;  // keeps pair swaps cheap when the pool grows

class BinEmptier {
public:
  BinEmptier(const Instance& instance, const Packing& start, SearchDeadline& deadline, LocalSearchStats& stats)
      : in_(instance), deadline_(deadline), stats_(stats) {
    contents_.resize(start.bin_count());
    load_.assign(start.bin_count(), ResourceVector{});
    type_ = start.bin_host_type;
    for (std::size_t i = 0; i < start.bin_of_item.size(); ++i) {
      const auto b = static_cast<std::size_t>(start.bin_of_item[i]);
      contents_[b].push_back(static_cast<uint32_t>(i));
      load_[b] += in_.demands[i];
    }
  }

  void run() {
    bool improved = true;
    while (improved && !deadline_.expired_now()) {
      improved = false;
      std::vector<std::size_t> order(contents_.size());
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return fill(a) < fill(b); });
      for (std::size_t source : order) {
        if (deadline_.expired_now()) break;
        if (try_empty(source)) {
          improved = true;
          break;
        }
      }
    }
  }

  Packing packing() const {
    Packing p;
    p.bin_of_item.assign(in_.item_count(), -1);
    for (std::size_t b = 0; b < contents_.size(); ++b) {
      p.bin_host_type.push_back(type_[b]);
      for (uint32_t i : contents_[b]) p.bin_of_item[i] = static_cast<int32_t>(b);
    }
    drop_empty_bins(p);
    return p;
  }

private:
  const Instance& in_;
  SearchDeadline& deadline_;
  LocalSearchStats& stats_;
  std::vector<std::vector<uint32_t>> contents_;
  std::vector<ResourceVector> load_;
  std::vector<int32_t> type_;

  const ResourceVector& capacity(std::size_t b) const { return in_.host_types[static_cast<std::size_t>(type_[b])].capacity; }
  double fill(std::size_t b) const { return normalized_size(load_[b], capacity(b), in_.dimensions); }
  double size_in(uint32_t item, std::size_t b) const { return normalized_size(in_.demands[item], capacity(b), in_.dimensions); }

  bool try_empty(std::size_t source) {
    if (contents_[source].empty()) return false;
    const auto saved_contents = contents_;
    const auto saved_load = load_;
    std::vector<uint32_t> pool = std::move(contents_[source]);
    contents_[source].clear();
    load_[source] = ResourceVector{};
    for (int pass = 0; pass < kMaxPasses && !pool.empty(); ++pass) {
      if (deadline_.expired()) break;
      bool changed = false;
      for (std::size_t b = 0; b < contents_.size() && !pool.empty(); ++b) {
        if (b == source || contents_[b].empty()) continue;
        changed |= insert_into(b, pool);
        changed |= swap_into(b, pool);
      }
      if (!changed) break;
    }
    if (pool.empty()) {
      ++stats_.bins_emptied;
      return true;
    }
    contents_ = saved_contents;
    load_ = saved_load;
    return false;
  }

  bool insert_into(std::size_t b, std::vector<uint32_t>& pool) {
    bool changed = false;
    std::sort(pool.begin(), pool.end(), [&](uint32_t x, uint32_t y) { return size_in(x, b) > size_in(y, b); });
    for (std::size_t k = 0; k < pool.size();) {
      if ((load_[b] + in_.demands[pool[k]]).fits_in(capacity(b))) {
        load_[b] += in_.demands[pool[k]];
        contents_[b].push_back(pool[k]);
        pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(k));
        ++stats_.moves;
        changed = true;
      } else {
        ++k;
      }
    }
    return changed;
  }

  // Tries every exchange of 1-2 bin items for 1-2 pool items; applies the first that fits and
  // makes the bin strictly fuller.
  bool swap_into(std::size_t b, std::vector<uint32_t>& pool) {
    std::vector<uint32_t>& bin = contents_[b];
    const std::size_t pool_n = std::min(pool.size(), kMaxPoolConsidered);
    const double before = fill(b);
    for (std::size_t out_count = 1; out_count <= 2; ++out_count) {
      for (std::size_t o1 = 0; o1 < bin.size(); ++o1) {
        for (std::size_t o2 = out_count == 2 ? o1 + 1 : bin.size(); o2 <= bin.size(); ++o2) {
          if (out_count == 2 && o2 == bin.size()) break;
          ResourceVector out_demand = in_.demands[bin[o1]];
          if (out_count == 2) out_demand += in_.demands[bin[o2]];
          const ResourceVector base = load_[b] - out_demand;
          for (std::size_t p1 = 0; p1 < pool_n; ++p1) {
            for (std::size_t p2 = p1; p2 <= pool_n; ++p2) {
              // p2 == p1 means a single pool item.
              if (p2 == pool_n) break;
              ResourceVector in_demand = in_.demands[pool[p1]];
              if (p2 != p1) in_demand += in_.demands[pool[p2]];
              const ResourceVector next = base + in_demand;
              if (!next.fits_in(capacity(b))) continue;
              if (normalized_size(next, capacity(b), in_.dimensions) <= before + kEpsilon) continue;
              apply_swap(b, pool, o1, out_count == 2 ? o2 : bin.size(), p1, p2 != p1 ? p2 : pool.size());
              return true;
            }
          }
        }
      }
    }
    return false;
  }

  void apply_swap(std::size_t b, std::vector<uint32_t>& pool, std::size_t o1, std::size_t o2, std::size_t p1,
                  std::size_t p2) {
    std::vector<uint32_t>& bin = contents_[b];
    std::vector<uint32_t> leaving{bin[o1]}, entering{pool[p1]};
    if (o2 < bin.size()) leaving.push_back(bin[o2]);
    if (p2 < pool.size()) entering.push_back(pool[p2]);
    auto erase_positions = [](std::vector<uint32_t>& v, std::size_t a, std::size_t c) {
      if (c < v.size()) v.erase(v.begin() + static_cast<std::ptrdiff_t>(c));
      v.erase(v.begin() + static_cast<std::ptrdiff_t>(a));
    };
    erase_positions(bin, o1, o2);
    erase_positions(pool, p1, p2);
    for (uint32_t i : leaving) {
      load_[b] -= in_.demands[i];
      pool.push_back(i);
    }
    for (uint32_t i : entering) {
      load_[b] += in_.demands[i];
      bin.push_back(i);
    }
    ++stats_.moves;
  }
};

} // namespace

Packing improve_by_local_search(const Instance& instance, const Packing& start, double time_limit_seconds,
                                LocalSearchStats* stats) {
  LocalSearchStats local;
  SearchDeadline deadline(time_limit_seconds);
  BinEmptier emptier(instance, start, deadline, stats ? *stats : local);
  emptier.run();
  Packing result = emptier.packing();
  right_size_bins(instance, result);
  // Never return something worse than the start (right-sizing and emptying only lower cost).
  if (packing_cost(instance, result) > packing_cost(instance, start)) return start;
  return result;
}

} // namespace nimbus::cloud::placement

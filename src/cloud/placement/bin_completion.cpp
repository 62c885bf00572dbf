// Bin completion for one-dimensional bin packing (see exact_solver.hpp).
#include <algorithm>
#include <map>
#include <numeric>

#include "cloud/placement/exact_solver.hpp"
#include "cloud/placement/search_deadline.hpp"

namespace nimbus::cloud::placement {

namespace {

// Completions kept per node; beyond it the search is no longer exhaustive, so a failure then
// proves nothing (reported as a time-out, never as infeasibility).
constexpr std::size_t kMaxCompletions = 4096;

class BinCompletion {
public:
  BinCompletion(std::vector<int64_t> size, std::vector<int64_t> count, int64_t capacity, int64_t bins,
                SearchDeadline& deadline)
      : size_(std::move(size)), count_(std::move(count)), capacity_(capacity), bins_(bins), deadline_(deadline) {
    int64_t total = 0;
    for (std::size_t j = 0; j < size_.size(); ++j) total += size_[j] * count_[j];
    budget_ = bins * capacity - total;
    for (std::size_t j = 0; j < size_.size(); ++j)
      if (2 * size_[j] > capacity) large_ += count_[j];
  }

  // 1 found, 0 proven impossible, -1 stopped (deadline or completion cap).
  int run() {
    if (budget_ < 0) return 0;
    const bool found = search(0, 0);
    if (found) return 1;
    return (deadline_.expired_now() || truncated_) ? -1 : 0;
  }

  const std::vector<std::vector<std::pair<std::size_t, int64_t>>>& bins() const { return chosen_; }
  uint64_t nodes() const { return nodes_; }

private:
  std::vector<int64_t> size_;   // distinct sizes, decreasing
  std::vector<int64_t> count_;  // remaining items of each size
  int64_t capacity_, bins_, budget_;
  int64_t large_ = 0;  // remaining items larger than C/2
  SearchDeadline& deadline_;
  uint64_t nodes_ = 0;
  bool truncated_ = false;
  std::vector<std::vector<std::pair<std::size_t, int64_t>>> chosen_;  // per bin: (size index, how many)

  struct Completion {
    std::vector<std::pair<std::size_t, int64_t>> take;
    int64_t waste;
  };

  // Martello-Toth L2 over the remaining items, in one sweep over the distinct sizes.
  int64_t remaining_l2() const {
    const std::size_t m = size_.size();
    std::size_t half = 0;  // first index with 2*size <= C (sizes decrease)
    while (half < m && 2 * size_[half] > capacity_) ++half;
    int64_t n2 = 0, s2 = 0, s3 = 0;
    for (std::size_t j = 0; j < half; ++j) {
      n2 += count_[j];
      s2 += size_[j] * count_[j];
    }
    for (std::size_t j = half; j < m; ++j) s3 += size_[j] * count_[j];
    int64_t n1 = 0;
    auto value = [&] {
      const int64_t spill = s3 - (n2 * capacity_ - s2);
      return n1 + n2 + (spill > 0 ? (spill + capacity_ - 1) / capacity_ : 0);
    };
    int64_t best = value();
    std::size_t p = 0;
    for (std::size_t j = m; j-- > half;) {
      if (count_[j] == 0) continue;
      const int64_t k = size_[j];
      while (p < half && size_[p] > capacity_ - k) {
        n1 += count_[p];
        n2 -= count_[p];
        s2 -= size_[p] * count_[p];
        ++p;
      }
      best = std::max(best, value());
      s3 -= size_[j] * count_[j];
    }
    return best;
  }

  void take(const std::vector<std::pair<std::size_t, int64_t>>& items, int sign) {
    for (const auto& [j, c] : items) {
      count_[j] -= sign * c;
      if (2 * size_[j] > capacity_) large_ -= sign * c;
    }
  }

  bool search(int64_t bins_used, int64_t waste_used) {
    ++nodes_;
    if (deadline_.expired()) return false;
    std::size_t first = 0;
    while (first < size_.size() && count_[first] == 0) ++first;
    if (first == size_.size()) return true;
    if (bins_used >= bins_ || bins_used + large_ > bins_) return false;
    if (bins_used + remaining_l2() > bins_) return false;

    const std::vector<std::pair<std::size_t, int64_t>> largest{{first, 1}};
    take(largest, +1);
    const int64_t room = capacity_ - size_[first];
    std::vector<Completion> completions;
    std::vector<std::pair<std::size_t, int64_t>> current;
    generate(first, room, budget_ - waste_used, current, completions);
    // Fullest bins first; the generator already lists larger items first among equals.
    std::stable_sort(completions.begin(), completions.end(),
                     [](const Completion& a, const Completion& b) { return a.waste < b.waste; });
    // Dominance: a single item that fills the bin exactly is at least as good as any completion.
    if (!completions.empty() && completions[0].waste == 0 && completions[0].take.size() == 1 &&
        completions[0].take[0].second == 1)
      completions.resize(1);

    bool found = false;
    for (Completion& c : completions) {
      c.take.insert(c.take.begin(), largest[0]);
      take(std::vector<std::pair<std::size_t, int64_t>>(c.take.begin() + 1, c.take.end()), +1);
      chosen_.push_back(c.take);
      found = search(bins_used + 1, waste_used + c.waste);
      if (found) break;
      chosen_.pop_back();
      take(std::vector<std::pair<std::size_t, int64_t>>(c.take.begin() + 1, c.take.end()), -1);
      if (deadline_.expired()) break;
    }
    if (!found) take(largest, -1);
    return found;
  }

  // Enumerates maximal completions of `room` with items from index j on, leaving at most
  // `budget` unused.
  void generate(std::size_t j, int64_t room, int64_t budget, std::vector<std::pair<std::size_t, int64_t>>& current,
                std::vector<Completion>& out) {
    if (out.size() >= kMaxCompletions) {
      truncated_ = true;
      return;
    }
    if (deadline_.expired()) return;  // a node's enumeration can itself be long
    while (j < size_.size() && (count_[j] == 0 || size_[j] > room)) ++j;
    if (j == size_.size()) {
      // Maximal: no remaining item fits the leftover room.
      if (room > budget) return;
      for (std::size_t s = size_.size(); s-- > 0;) {
        int64_t left = count_[s];
        for (const auto& [k, c] : current)
          if (k == s) left -= c;
        if (left > 0) {
          if (size_[s] <= room) return;
          break;
        }
      }
      out.push_back({current, room});
      return;
    }
    // Even taking everything that remains from j on cannot bring the waste within budget.
    int64_t available = 0;
    for (std::size_t s = j; s < size_.size() && available < room; ++s) available += size_[s] * count_[s];
    if (room - available > budget) return;
    const int64_t most = std::min(count_[j], room / size_[j]);
    for (int64_t c = most; c >= 0; --c) {
      if (c > 0) current.push_back({j, c});
      generate(j + 1, room - c * size_[j], budget, current, out);
      if (c > 0) current.pop_back();
      if (out.size() >= kMaxCompletions) {
        truncated_ = true;
        return;
      }
    }
  }
};

} // namespace

int bin_completion_decide(const std::vector<int64_t>& sizes, int64_t capacity, int64_t bins, double time_limit_seconds,
                          std::vector<int32_t>& bin_of, uint64_t& nodes) {
  std::map<int64_t, std::vector<uint32_t>, std::greater<>> by_size;
  for (std::size_t i = 0; i < sizes.size(); ++i) by_size[sizes[i]].push_back(static_cast<uint32_t>(i));
  std::vector<int64_t> size, count;
  for (const auto& [s, members] : by_size) {
    size.push_back(s);
    count.push_back(static_cast<int64_t>(members.size()));
  }
  SearchDeadline deadline(time_limit_seconds);
  BinCompletion search(size, count, capacity, bins, deadline);
  const int result = search.run();
  nodes = search.nodes();
  if (result != 1) return result;
  // Hand out concrete items of each size to the bins.
  std::vector<std::vector<uint32_t>> members;
  for (auto& [s, m] : by_size) members.push_back(std::move(m));
  bin_of.assign(sizes.size(), -1);
  int32_t bin = 0;
  for (const auto& contents : search.bins()) {
    for (const auto& [j, c] : contents)
      for (int64_t k = 0; k < c; ++k) {
        bin_of[members[j].back()] = bin;
        members[j].pop_back();
      }
    ++bin;
  }
  return 1;
}

} // namespace nimbus::cloud::placement

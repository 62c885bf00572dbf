#include "cloud/placement/online/free_capacity_index.hpp"

#include <algorithm>

namespace nimbus::cloud::placement::online {

namespace {
constexpr uint32_t kNotListed = UINT32_MAX;
}

int FreeCapacityIndex::default_levels(std::size_t dimensions) {
  switch (dimensions) {
  case 1: return 1024;
  case 2: return 64;
  case 3: return 16;
  default: return 8;
  }
}

void FreeCapacityIndex::configure(std::size_t dimensions, int levels, const ResourceVector& reference) {
  if (dimensions == 0 || dimensions > kMaxDimensions) throw PlacementError("index: dimensions must be 1..4");
  if (levels < 1) throw PlacementError("index: levels must be positive");
  dimensions_ = dimensions;
  levels_ = levels;
  reference_ = reference;
  std::size_t cells = 1;
  for (std::size_t d = 0; d < dimensions_; ++d) {
    reference_[d] = std::max<int64_t>(reference_[d], 1);
    step_[d] = std::max<int64_t>(1, (reference_[d] + levels_ - 1) / levels_);
    cells *= static_cast<std::size_t>(levels_);
  }
  buckets_.assign(cells, Bucket{});
  for (std::size_t id = 0; id < cells; ++id) {
    std::size_t rest = id;
    for (std::size_t d = 0; d < dimensions_; ++d) {
      const int64_t q = static_cast<int64_t>(rest % static_cast<std::size_t>(levels_));
      rest /= static_cast<std::size_t>(levels_);
      buckets_[id].low[d] = q * step_[d];
      // The top level also holds anything above the grid (free can reach the reference).
      buckets_[id].high[d] = q == levels_ - 1 ? INT64_MAX : (q + 1) * step_[d] - 1;
    }
  }
  nonempty_.clear();
  nonempty_position_.assign(cells, kNotListed);
  where_.clear();
  size_ = 0;
}

uint32_t FreeCapacityIndex::bucket_of(const ResourceVector& free) const {
  uint32_t id = 0;
  uint32_t scale = 1;
  for (std::size_t d = 0; d < dimensions_; ++d) {
    const int64_t q = std::clamp<int64_t>(free[d] / step_[d], 0, levels_ - 1);
    id += static_cast<uint32_t>(q) * scale;
    scale *= static_cast<uint32_t>(levels_);
  }
  return id;
}

double FreeCapacityIndex::key_of(const ResourceVector& free) const {
  double key = 0;
  for (std::size_t d = 0; d < dimensions_; ++d)
    key += static_cast<double>(free[d]) / static_cast<double>(reference_[d]);
  return key;
}

void FreeCapacityIndex::insert(HostId host, const ResourceVector& free) {
  if (host >= where_.size()) where_.resize(static_cast<std::size_t>(host) + 1);
  if (where_[host].present) erase(host);
  Location loc{key_of(free), bucket_of(free), true};
  Bucket& b = buckets_[loc.bucket];
  if (b.hosts.empty()) {
    nonempty_position_[loc.bucket] = static_cast<uint32_t>(nonempty_.size());
    nonempty_.push_back(loc.bucket);
  }
  b.hosts.emplace(loc.key, host);
  where_[host] = loc;
  ++size_;
}

void FreeCapacityIndex::erase(HostId host) {
  if (!contains(host)) return;
  Location& loc = where_[host];
  Bucket& b = buckets_[loc.bucket];
  b.hosts.erase({loc.key, host});
  if (b.hosts.empty()) {
    // Swap-remove the bucket from the non-empty list.
    const uint32_t pos = nonempty_position_[loc.bucket];
    const uint32_t last = nonempty_.back();
    nonempty_[pos] = last;
    nonempty_position_[last] = pos;
    nonempty_.pop_back();
    nonempty_position_[loc.bucket] = kNotListed;
  }
  loc.present = false;
  --size_;
}

void FreeCapacityIndex::candidate_buckets(const ResourceVector& demand, std::vector<uint32_t>& out) const {
  out.clear();
  for (uint32_t id : nonempty_) {
    const Bucket& b = buckets_[id];
    bool can_hold = true;
    for (std::size_t d = 0; d < dimensions_ && can_hold; ++d) can_hold = b.high[d] >= demand[d];
    if (can_hold) out.push_back(id);
  }
}

} // namespace nimbus::cloud::placement::online

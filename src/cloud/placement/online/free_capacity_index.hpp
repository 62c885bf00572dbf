#pragma once
// An index of hosts by free capacity, so a placement decision looks at a few buckets of similar
// hosts instead of scanning the fleet. Free capacity is quantized per dimension into `levels`
// steps of the fleet's reference capacity; a bucket is one cell of that grid and keeps its hosts
// ordered by total normalized free capacity (fullest first). A decision enumerates only the
// non-empty cells whose range can hold the demand (at most levels^dims, and never more than
// the number of distinct host shapes present).
#include <cstddef>
#include <set>
#include <utility>
#include <vector>

#include "cloud/placement/online/online_types.hpp"

namespace nimbus::cloud::placement::online {

class FreeCapacityIndex {
 public:
  struct Bucket {
    std::set<std::pair<double, HostId>> hosts;  // (normalized free total, host), fullest first
    ResourceVector low;                         // every host here has free >= low ...
    ResourceVector high;                        // ... and free <= high, per dimension
  };

  // Empties the index and fixes its grid.
  void configure(std::size_t dimensions, int levels, const ResourceVector& reference);

  void insert(HostId host, const ResourceVector& free);
  void erase(HostId host);  // no-op when the host is not indexed
  bool contains(HostId host) const { return host < where_.size() && where_[host].present; }
  std::size_t size() const { return size_; }

  // Non-empty buckets whose range can hold `demand` in every dimension.
  void candidate_buckets(const ResourceVector& demand, std::vector<uint32_t>& out) const;
  const Bucket& bucket(uint32_t id) const { return buckets_[id]; }
  const ResourceVector& reference() const { return reference_; }

  // Levels per dimension that keep the grid at about 4096 cells.
  static int default_levels(std::size_t dimensions);

 private:
  struct Location {
    double key = 0;
    uint32_t bucket = 0;
    bool present = false;
  };
  uint32_t bucket_of(const ResourceVector& free) const;
  double key_of(const ResourceVector& free) const;

  std::size_t dimensions_ = 0;
  int levels_ = 1;
  ResourceVector reference_;
  ResourceVector step_;
  std::vector<Bucket> buckets_;
  std::vector<uint32_t> nonempty_;           // ids of buckets holding at least one host
  std::vector<uint32_t> nonempty_position_;  // bucket id -> position in nonempty_
  std::vector<Location> where_;              // host id -> where it is indexed
  std::size_t size_ = 0;
};

} // namespace nimbus::cloud::placement::online

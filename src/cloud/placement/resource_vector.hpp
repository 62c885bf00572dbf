#pragma once
// A demand or a capacity over several resource dimensions (e.g. vCPU, memory MiB, disk GiB).
// Shared by the offline solvers and the online engine. Values are integers so that feasibility
// checks are exact; the number of dimensions is fixed per instance (at most kMaxDimensions).
#include <array>
#include <cstddef>
#include <cstdint>

namespace nimbus::cloud::placement {

inline constexpr std::size_t kMaxDimensions = 4;

struct ResourceVector {
  std::array<int64_t, kMaxDimensions> v{};

  int64_t& operator[](std::size_t d) { return v[d]; }
  int64_t operator[](std::size_t d) const { return v[d]; }

  ResourceVector& operator+=(const ResourceVector& o) {
    for (std::size_t d = 0; d < kMaxDimensions; ++d) v[d] += o.v[d];
    return *this;
  }
  ResourceVector& operator-=(const ResourceVector& o) {
    for (std::size_t d = 0; d < kMaxDimensions; ++d) v[d] -= o.v[d];
    return *this;
  }
  friend ResourceVector operator+(ResourceVector a, const ResourceVector& b) { return a += b; }
  friend ResourceVector operator-(ResourceVector a, const ResourceVector& b) { return a -= b; }
  friend bool operator==(const ResourceVector&, const ResourceVector&) = default;

  // True when every component of this fits within `capacity` (unused dimensions are zero).
  bool fits_in(const ResourceVector& capacity) const {
    for (std::size_t d = 0; d < kMaxDimensions; ++d)
      if (v[d] > capacity.v[d]) return false;
    return true;
  }
};

} // namespace nimbus::cloud::placement

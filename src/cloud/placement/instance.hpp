#pragma once
// A bin-packing instance: items (VMs) with integer demands over 1..kMaxDimensions resources, and
// one or more host types, each with a capacity and a cost per host. Supply of each type is
// unlimited; the objective is the total cost of the hosts used (the number of hosts when every
// cost is 1, as in the classic formats).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cloud/placement/resource_vector.hpp"

namespace nimbus::cloud::placement {

// Largest accepted demand or capacity: with at most kMaxItems items, every sum (and count times
// capacity) stays below 2^63.
inline constexpr int64_t kMaxQuantity = 100'000'000'000;  // 10^11
// Largest accepted number of items after expanding counts (memory guard against bad input).
inline constexpr std::size_t kMaxItems = 20'000'000;

struct HostType {
  std::string name;
  ResourceVector capacity;
  double cost = 1.0;
};

struct Instance {
  std::size_t dimensions = 1;
  std::vector<std::string> dimension_names;  // one per dimension
  std::vector<HostType> host_types;          // at least one
  std::vector<ResourceVector> demands;       // one per item
  std::vector<std::string> item_names;       // empty, or one per item

  std::size_t item_count() const { return demands.size(); }
  bool single_host_type() const { return host_types.size() == 1; }
  std::string item_name(std::size_t i) const {
    return item_names.empty() ? std::to_string(i) : item_names[i];
  }
};

// Default names: "size" for one dimension, "d0".."d3" otherwise.
std::vector<std::string> default_dimension_names(std::size_t dimensions);

// Index of the cheapest host type whose capacity holds `demand`, or -1 if none does.
int cheapest_fitting_host_type(const Instance& instance, const ResourceVector& demand);

// Demand of an item as a fraction of a capacity, summed over dimensions (the "size" used to
// order items and compare fills in several dimensions).
double normalized_size(const ResourceVector& demand, const ResourceVector& capacity, std::size_t dimensions);

} // namespace nimbus::cloud::placement

#pragma once
// Constructive packing heuristics.
//  - Item-centric fit rules: First, Best and Worst Fit, in input order or Decreasing
//    (decreasing by size in one dimension; by the sum of capacity-normalized demands in several).
//  - Vector FFD orders: by the sum, the product or the L2 norm of the normalized demands.
//  - Bin-centric heuristics of Panigrahy et al. (2011): fill one bin at a time, each time adding
//    the fitting item with the largest dot product with the bin's residual capacity, or the one
//    leaving the smallest L2 norm of residual capacity.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "cloud/placement/instance.hpp"
#include "cloud/placement/packing.hpp"

namespace nimbus::cloud::placement {

enum class Heuristic {
  FirstFit,
  BestFit,
  WorstFit,
  FirstFitDecreasing,
  BestFitDecreasing,
  WorstFitDecreasing,
  FfdSum,
  FfdProduct,
  FfdL2,
  DotProduct,
  L2Norm,
};

inline constexpr Heuristic kAllHeuristics[] = {
    Heuristic::FirstFit,   Heuristic::BestFit,    Heuristic::WorstFit, Heuristic::FirstFitDecreasing,
    Heuristic::BestFitDecreasing, Heuristic::WorstFitDecreasing, Heuristic::FfdSum, Heuristic::FfdProduct,
    Heuristic::FfdL2,      Heuristic::DotProduct, Heuristic::L2Norm};

std::string_view heuristic_name(Heuristic h);  // "ff", "bfd", "ffd-l2", "dot-product", ...
std::optional<Heuristic> heuristic_from_name(std::string_view name);

// Bins for a subset of items with one capacity: bin_of[k] is the bin of items[k].
struct SubPacking {
  std::vector<int32_t> bin_of;
  int32_t bins = 0;
};

struct ItemSet {
  const std::vector<ResourceVector>& demands;  // all items of the instance
  std::span<const uint32_t> items;             // the ones to pack
  ResourceVector capacity;
  std::size_t dimensions;
};

// Order of `items` (positions 0..n-1 into items) for the decreasing forms; stable.
std::vector<uint32_t> decreasing_order(const ItemSet& set, Heuristic h);

SubPacking fit_pack(const ItemSet& set, Heuristic h);          // FF/BF/WF families and FFD orders
SubPacking bin_centric_pack(const ItemSet& set, Heuristic h);  // DotProduct, L2Norm
SubPacking pack_item_set(const ItemSet& set, Heuristic h);

// Packs a whole instance. With several host types, each type in turn is tried as the main one
// (items that do not fit it go to their cheapest fitting type), bins are right-sized, and the
// cheapest result is kept.
Packing heuristic_packing(const Instance& instance, Heuristic h);

} // namespace nimbus::cloud::placement

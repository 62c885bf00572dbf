// Bin-centric heuristics (Panigrahy et al., "Heuristics for Vector Bin Packing", 2011): open one
// bin, keep adding the best fitting item until none fits, then open the next. Identical items are
// grouped so each step scans the distinct demands rather than every item.
#include <algorithm>
#include <map>

#include "cloud/placement/heuristics.hpp"

namespace nimbus::cloud::placement {

namespace {
struct DemandGroup {
  ResourceVector demand;
  std::vector<uint32_t> members;  // positions into set.items, consumed from the back
  std::array<double, kMaxDimensions> normalized{};
};
} // namespace

SubPacking bin_centric_pack(const ItemSet& set, Heuristic h) {
  SubPacking out;
  out.bin_of.assign(set.items.size(), -1);
  std::map<std::array<int64_t, kMaxDimensions>, std::size_t> index;
  std::vector<DemandGroup> groups;
  for (std::size_t k = set.items.size(); k-- > 0;) {  // back-to-front so members pop in input order
    const ResourceVector& demand = set.demands[set.items[k]];
    if (!demand.fits_in(set.capacity)) continue;
    auto [it, inserted] = index.try_emplace(demand.v, groups.size());
    if (inserted) {
      DemandGroup g;
      g.demand = demand;
      for (std::size_t d = 0; d < set.dimensions; ++d)
        g.normalized[d] = static_cast<double>(demand[d]) / static_cast<double>(set.capacity[d]);
      groups.push_back(std::move(g));
    }
    groups[it->second].members.push_back(static_cast<uint32_t>(k));
  }
  std::size_t left = 0;
  for (const DemandGroup& g : groups) left += g.members.size();

  while (left > 0) {
    const int32_t bin = out.bins++;
    ResourceVector residual = set.capacity;
    for (;;) {
      std::array<double, kMaxDimensions> r{};
      for (std::size_t d = 0; d < set.dimensions; ++d)
        r[d] = static_cast<double>(residual[d]) / static_cast<double>(set.capacity[d]);
      int64_t chosen = -1;
      double chosen_score = 0;
      for (std::size_t g = 0; g < groups.size(); ++g) {
        if (groups[g].members.empty() || !groups[g].demand.fits_in(residual)) continue;
        double score = 0;
        for (std::size_t d = 0; d < set.dimensions; ++d) {
          if (h == Heuristic::DotProduct) {
            score += groups[g].normalized[d] * r[d];
          } else {
            const double gap = r[d] - groups[g].normalized[d];
            score -= gap * gap;  // smaller residual norm is better: maximize its negation
          }
        }
        if (chosen < 0 || score > chosen_score) {
          chosen = static_cast<int64_t>(g);
          chosen_score = score;
        }
      }
      if (chosen < 0) break;
      DemandGroup& g = groups[static_cast<std::size_t>(chosen)];
      out.bin_of[g.members.back()] = bin;
      g.members.pop_back();
      residual -= g.demand;
      --left;
    }
  }
  return out;
}

} // namespace nimbus::cloud::placement

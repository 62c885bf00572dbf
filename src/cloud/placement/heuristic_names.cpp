#include "cloud/placement/heuristics.hpp"

namespace nimbus::cloud::placement {

std::string_view heuristic_name(Heuristic h) {
  switch (h) {
  case Heuristic::FirstFit: return "ff";
  case Heuristic::BestFit: return "bf";
  case Heuristic::WorstFit: return "wf";
  case Heuristic::FirstFitDecreasing: return "ffd";
  case Heuristic::BestFitDecreasing: return "bfd";
  case Heuristic::WorstFitDecreasing: return "wfd";
  case Heuristic::FfdSum: return "ffd-sum";
  case Heuristic::FfdProduct: return "ffd-product";
  case Heuristic::FfdL2: return "ffd-l2";
  case Heuristic::DotProduct: return "dot-product";
  case Heuristic::L2Norm: return "l2-norm";
  }
  return "?";
}

std::optional<Heuristic> heuristic_from_name(std::string_view name) {
  for (Heuristic h : kAllHeuristics)
    if (heuristic_name(h) == name) return h;
  return std::nullopt;
}

} // namespace nimbus::cloud::placement

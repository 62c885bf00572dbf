#pragma once
// "Do k bins suffice?" decided exactly when k is just above the LP bound, by enumerating every
// pattern that a k-bin packing could use (Baldacci, Christofides & Mingozzi's reduced-cost
// enumeration, as branch-cut-and-price solvers do once the gap is small).
//
// The argument, in integers: take any non-negative integer values Y_j per item type and let M be
// the exact largest value of a pattern (a multiset of types that fits a bin). A pattern's slack
// is M - Y(p) >= 0. In a packing with k bins every item is in exactly one bin, so the slacks of
// its bins add up to exactly G = k*M - sum_j n_j Y_j. Hence every bin of every k-bin packing is a
// pattern with slack at most G. When Y comes from near-optimal LP duals and k = ceil(LP), G is a
// tiny fraction of M (on the hard instances a few thousandths of a bin), and the patterns with
// slack <= G are few: all of them are listed, and an integer program over exactly those (each
// type covered exactly n_j times, at most k patterns) has a solution if and only if k bins
// suffice. Cbc finishing it (cbc_run.hpp) with no solution proves k + 1; a solution is a packing.
// (G < 0 is Farley's bound: k bins cannot suffice at all.)
//
// It settles both sides of the non-IRUP question where the branch-and-price tree wanders: when
// the optimum is ceil(LP) the packing is among few candidate patterns, and when it is one more,
// the proof is an infeasible program over those same patterns.
#include <cstdint>
#include <string>
#include <vector>

#include "cloud/placement/column_generation.hpp"
#include "cloud/placement/search_deadline.hpp"

namespace nimbus::cloud::placement {

struct GapEnumerationInput {
  std::vector<int64_t> sizes;   // per item type (one dimension), each in [1, capacity]
  std::vector<int64_t> counts;  // items of each type
  int64_t capacity = 0;
  int64_t bins = 0;             // k: do k bins suffice?
  std::vector<double> duals;    // per type, e.g. the LP's duals (any values: clamped to [0, 1])
  std::size_t max_patterns = 200'000;  // more than this: give up (unknown)
  uint64_t cover_node_limit = 2'000'000;  // the exact cover search's nodes, before the integer program
};

struct GapEnumerationResult {
  enum class Answer { Yes, No, Unknown };
  Answer answer = Answer::Unknown;
  std::vector<Pattern> packing;  // Yes: at most k patterns (copies per type) covering every item exactly
  std::string why;               // Unknown: why; No: how it was proven
  uint64_t patterns = 0;         // patterns with slack <= G
  uint64_t cover_nodes = 0;      // nodes of the exact cover search
  uint64_t cover_lps = 0;        // LPs it solved (nodes that inherit their parent's solution solve none)
  double gap_bins = 0;           // G / M: how far k is above the dual bound, in bins
};

GapEnumerationResult decide_by_gap_enumeration(const GapEnumerationInput& input, SearchDeadline& deadline);

} // namespace nimbus::cloud::placement

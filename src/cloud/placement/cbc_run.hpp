#pragma once
// Runs Cbc's branch-and-bound under a wall-clock limit and says whether the search truly
// finished, which is the only case where its answer ("nothing below the cutoff") is a proof.
//
// Why this needs care (the false proofs of issue 8, second cause): Cbc checks its own clock
// between nodes only, so the LPs inside it must stop at the limit too, which Clp does through
// an ABSOLUTE wall-clock deadline armed when the limit is set. Once that deadline passes, every
// node LP stops at once, Cbc treats the unfinished nodes as pruned, empties its tree quickly
// and reports status 0 ("finished") with `isSecondsLimitReached()` false. Measured: an arc-flow
// program that needs minutes "finished" at exactly its time limit (20 s, 40 s) with nothing
// below the cutoff. So a run counts as finished only if Cbc says so, its secondary status is
// "completed" or "relaxation infeasible", no limit was reported, AND the Clp deadline had not
// yet passed when it returned (no LP can have been cut short by the clock).
#include <CbcModel.hpp>
#include <OsiClpSolverInterface.hpp>

#include <algorithm>
#include <chrono>
#include <memory>

namespace nimbus::cloud::placement {

struct CbcRunOutcome {
  std::unique_ptr<CbcModel> model;  // for the best solution found
  bool finished = false;   // the tree was explored completely: the result is a proof
  bool timed_out = false;  // stopped by the clock (Cbc's or the LPs' deadline)
};

// `solver` must be the solver Cbc copies; the limit covers the whole branch-and-bound.
inline CbcRunOutcome run_cbc(OsiClpSolverInterface& solver, double cutoff, double seconds) {
  using Clock = std::chrono::steady_clock;
  seconds = std::max(0.01, seconds);
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  solver.getModelPtr()->setMaximumWallSeconds(seconds);  // the LPs stop at the limit too
  CbcRunOutcome out;
  out.model = std::make_unique<CbcModel>(solver);
  CbcModel* model = out.model.get();
  model->setLogLevel(0);
  model->messageHandler()->setLogLevel(0);
  model->setUseElapsedTime(true);
  model->setMaximumSeconds(seconds);
  model->setCutoff(cutoff);
  model->branchAndBound();
  // A margin for the difference between Clp's clock and ours.
  const bool before_deadline = Clock::now() + std::chrono::milliseconds(20) < deadline;
  const int secondary = model->secondaryStatus();
  out.finished = model->status() == 0 && (secondary == 0 || secondary == 1) && !model->isSecondsLimitReached() &&
                 !model->isNodeLimitReached() && !model->isSolutionLimitReached() && before_deadline;
  out.timed_out = model->isSecondsLimitReached() || !before_deadline;
  return out;
}

} // namespace nimbus::cloud::placement

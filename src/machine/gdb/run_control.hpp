#pragma once
// What a run loop does with a gdb stub attached (Machine::run, a VM's run under the VMM): between
// slices it asks turn() whether its harts run, stay stopped, or one of them steps, and reports
// a hart that stopped at a breakpoint. All-stop: while the debugger holds the machine no hart
// runs (the loop keeps looking at quit and timeout only).
#include <chrono>
#include <functional>
#include <optional>

#include "machine/gdb/stub.hpp"

namespace nimbus::machine::gdb {

class RunControl {
public:
  // `wait`: start stopped, until a debugger connects and resumes (--wait-for-gdb).
  RunControl(Stub& stub, bool wait);

  enum class Turn {
    hold,    // stay stopped (nothing ran)
    stepped, // one hart ran one instruction (the loop may tick devices; others did not run)
    run,     // every hart runs a slice
    kill,    // the debugger killed the machine: end it
  };
  // `step(hart)` must run exactly one instruction of that hart (Hart::set_single_step) and
  // handle whatever exit it makes, as the loop would. `patience`: how long to wait for the
  // debugger when it holds the machine before returning hold.
  Turn turn(const std::function<void(unsigned)>& step,
            std::chrono::milliseconds patience = std::chrono::milliseconds(100));
  // A hart stopped at a breakpoint during its slice: the loop stops every hart.
  void breakpoint_hit(unsigned hart);
  bool stopped() const { return stopped_; }
  // Whether `hart` may run now (after a resume of one hart only, the others stay stopped).
  bool may_run(unsigned hart) const { return !only_ || *only_ == hart; }
  Stub& stub() { return stub_; }

private:
  Stub& stub_;
  bool stopped_ = false;
  StopReason reason_ = StopReason::attached;
  unsigned hart_ = 0;
  std::optional<unsigned> only_;
};

} // namespace nimbus::machine::gdb

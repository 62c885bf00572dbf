#include "machine/gdb/run_control.hpp"

namespace nimbus::machine::gdb {

RunControl::RunControl(Stub& stub, bool wait) : stub_(stub), stopped_(wait) {}

void RunControl::breakpoint_hit(unsigned hart) {
  stopped_ = true;
  only_.reset();
  reason_ = StopReason::breakpoint;
  hart_ = hart;
}

RunControl::Turn RunControl::turn(const std::function<void(unsigned)>& step, std::chrono::milliseconds patience) {
  if (!stopped_) {
    const std::optional<StopReason> reason = stub_.poll();
    if (!reason) return Turn::run;
    stopped_ = true;
    only_.reset();
    reason_ = *reason;
  }
  const Resume resume = stub_.serve(reason_, hart_, patience);
  switch (resume.kind) {
  case Resume::Kind::waiting: return Turn::hold;
  case Resume::Kind::kill: return Turn::kill;
  case Resume::Kind::detached:
    stopped_ = false;
    only_.reset();
    return Turn::run;
  case Resume::Kind::run:
    stopped_ = false;
    only_.reset();
    if (resume.only_hart) only_ = resume.hart;
    // gdb steps over its own breakpoints before continuing; a hart resumed on one anyway (after
    // "jump", or stopped there by Ctrl-C) runs that instruction rather than stop again at once.
    for (unsigned i = 0; i < stub_.hart_count(); ++i)
      if (may_run(i) && stub_.on_breakpoint(i)) step(i);
    return Turn::run;
  case Resume::Kind::step:
    step(resume.hart);
    reason_ = StopReason::step;
    hart_ = resume.hart;
    return Turn::stepped;
  }
  return Turn::hold;
}

} // namespace nimbus::machine::gdb

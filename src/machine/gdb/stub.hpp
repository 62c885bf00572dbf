#pragma once
// The gdb remote stub: the commands of the GDB Remote Serial Protocol over a set of harts (each a
// gdb thread, ids 1..n), in all-stop mode. It does not run harts itself: the run loop that owns
// them (Machine::run, a VM's vCPU loop) asks poll() between slices whether to stop, and when
// stopped hands control to serve(), which answers the debugger until it resumes and says how.
// Supported: qSupported, qXfer:features:read (machine/gdb/registers.hpp), ?, g/G, p/P, m/M/X,
// Z0/z0 and Z1/z1 (breakpoints), c/C, s/S, Ctrl-C, D, k, H, T, qfThreadInfo/qsThreadInfo, qC,
// qThreadExtraInfo, qAttached, QStartNoAckMode. Anything else gets the empty "unsupported" reply.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "machine/gdb/packet.hpp"
#include "machine/gdb/transport.hpp"

namespace nimbus::machine {
class Hart;
}

namespace nimbus::machine::gdb {

enum class StopReason {
  attached,    // a debugger connected (or the machine waits for one): SIGTRAP
  interrupted, // Ctrl-C: SIGINT
  breakpoint,  // SIGTRAP
  step,        // a single step ended: SIGTRAP
};

struct Resume {
  enum class Kind {
    waiting,  // nothing decided yet (no debugger, or it is quiet): call serve() again
    run,      // continue every hart, or only `hart` (the loop first steps a hart that sits on a breakpoint)
    step,     // run exactly one instruction of `hart`, the others stay stopped, then stop again
    detached, // the debugger left (D or hang-up): breakpoints are gone, run freely
    kill,     // k: end the machine
  };
  Kind kind = Kind::waiting;
  unsigned hart = 0;
  // run: only `hart` runs, the others stay stopped (c after Hc with a thread: gdb steps a thread
  // over a breakpoint, or single-steps in software, that way).
  bool only_hart = false;
};

class Stub {
public:
  Stub(Transport& transport, std::vector<Hart*> harts);

  // While the harts run, between slices; never blocks. A reason to stop now: Ctrl-C, or a
  // debugger just connected (gdb expects a stopped target).
  std::optional<StopReason> poll();
  // The harts are stopped for `reason` at `hart`: report it if the debugger is waiting for a
  // stop, then answer it until it resumes. Returns waiting after about `patience` without a
  // decision (so the caller can look at its timeout and quit keys), and then expects to be
  // called again with the same stop.
  Resume serve(StopReason reason, unsigned hart, std::chrono::milliseconds patience = std::chrono::milliseconds(100));
  // The machine powered off with `code`: a debugger waiting for a stop hears that the program
  // exited (W), then is disconnected.
  void exited(int code);
  // The machine stopped otherwise (timeout, quit): the debugger hears the program was killed.
  void terminated();
  // Whether any breakpoint is set (the caller may step a hart over one before running).
  bool has_breakpoints() const { return !breakpoints_.empty(); }
  bool on_breakpoint(unsigned hart) const;
  unsigned hart_count() const { return static_cast<unsigned>(harts_.size()); }

private:
  std::optional<Resume> handle(const std::string& payload);
  void reply(std::string payload);
  void apply_breakpoints();
  std::string stop_reply() const;
  bool read_events(std::chrono::milliseconds timeout); // false: hung up
  std::optional<unsigned> thread(std::string_view id, bool allow_any) const;
  std::string read_memory(std::string_view args);
  std::string write_memory(std::string_view args, bool binary);
  std::string breakpoint(std::string_view args, bool insert);
  std::string query_xfer(std::string_view args);
  void forget_debugger();

  Transport& transport_;
  std::vector<Hart*> harts_;
  PacketReader reader_;
  std::vector<Event> events_;  // received, not yet handled
  std::string last_reply_;     // framed, for a '-'
  bool no_ack_ = false;
  bool awaiting_stop_ = false; // the debugger sent c or s and waits for a stop reply
  bool was_connected_ = false;
  StopReason reason_ = StopReason::attached;
  unsigned stop_hart_ = 0;
  unsigned g_hart_ = 0;        // Hg: registers and memory
  std::optional<unsigned> c_hart_; // Hc: which hart s steps (none: the stopped one)
  std::vector<uint64_t> breakpoints_;
};

} // namespace nimbus::machine::gdb

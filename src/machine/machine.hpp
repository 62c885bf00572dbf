#pragma once
// A whole computer: RAM, harts, the virt board, and the loop that runs them.
//
// Several harts run in parallel, each on its own host thread (hart_threads, the default; not with
// a deterministic clock or a debugger): the calling thread then only ticks the timer devices,
// polls the devices, moves console input into the UART and checks for power-off, quit, timeout
// and the instruction limit, and a hart waiting for an interrupt sleeps until a pin of its rises
// or its own timer is due. Otherwise harts are interleaved on the calling thread in slices
// (deterministic): between slices the loop retires time and does the same checks, and when every
// hart waits it sleeps until the next timer deadline or console input (or, with a deterministic
// clock, jumps time straight to that deadline).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "machine/board.hpp"
#include "machine/console_backend.hpp"
#include "machine/jit_threshold.hpp"
#include "machine/locked_console.hpp"

namespace nimbus::machine {

class Hart;
class ReservationSet;
namespace gdb {
class RunControl;
class Stub;
}

struct MachineConfig {
  uint64_t ram_size = 256ull << 20;
  unsigned harts = 1;
  bool deterministic = false;
  std::string bios = "opensbi"; // "opensbi", "none", or a firmware path
  std::string kernel;
  std::string initrd;
  std::string append;
  std::optional<std::string> drive;
  bool drive_read_only = false;
  bool virtio_legacy = false; // legacy virtio-mmio (version 1) transports, QEMU 7.2's default
  std::vector<ExtraLoad> loads;
  std::vector<NicSpec> nics;            // virtio-net devices (docs/networking.md)
  bool balloon = false;                 // virtio-balloon with free page reporting (docs/board.md)
  bool virtio_console = false;          // a virtio-console port writing to the same console
  bool console_input_hvc = false;       // console input goes to the virtio console, not the UART
  std::chrono::milliseconds timeout{0}; // zero: none
  uint64_t max_instructions = 0;       // zero: none
  bool jit = true;                     // the JIT tier (docs/jit.md); false: the interpreter only
  uint32_t jit_threshold = kJitHotThreshold;         // runs of a block before it is translated
  bool hart_threads = true;            // several harts: each on its own host thread
};

enum class StopCause { PowerOff, Reboot, UserQuit, Timeout, InstructionLimit };

struct RunResult {
  StopCause cause = StopCause::PowerOff;
  int exit_code = 0; // the guest's power-off code when cause is PowerOff
  uint64_t instructions = 0;
  std::chrono::nanoseconds elapsed{0};
  // Where each hart was when the machine stopped ("hart 0: pc=... S-mode, waiting"), so a
  // timeout says where the guest was stuck.
  std::vector<std::string> hart_states;
};

class Machine {
public:
  // Builds the board and loads firmware, kernel and initrd; throws std::runtime_error (with a
  // message naming the file and the problem) when an image cannot be used.
  Machine(const MachineConfig& config, ConsoleBackend& console);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  RunResult run();

  // A gdb stub (machine/gdb, docs/gdb.md) for the harts of this machine, which must outlive
  // run(). With `wait`, run() starts with every hart stopped until the debugger resumes them.
  void attach_debugger(gdb::Stub& stub, bool wait);

  Bus& bus();
  Hart& hart(unsigned index);
  unsigned hart_count() const;

private:
  void idle(uint64_t now);
  void feed_console_input();
  // Why the run must end now, if it must: the board powered off or reset, the user quit, the
  // instruction limit or the timeout was reached (a power-off's code goes into `result`).
  std::optional<StopCause> stop_cause(uint64_t instructions, std::chrono::steady_clock::time_point started,
                                      RunResult& result);
  bool runs_parallel() const;
  RunResult run_parallel();
  RunResult finish(RunResult& result, StopCause cause, std::chrono::steady_clock::time_point started);
  std::unique_ptr<gdb::RunControl> debugger_;

  MachineConfig config_;
  LockedConsole console_; // harts on other threads write to it
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<ReservationSet> reservations_;
  std::vector<std::unique_ptr<Hart>> harts_;
  std::unique_ptr<Board> board_;
};

std::string_view to_string(StopCause cause);

} // namespace nimbus::machine

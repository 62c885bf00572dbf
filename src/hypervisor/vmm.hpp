#pragma once
// The VMM of `nimbus run --vm a.toml --vm b.toml ...`: builds the machine-wide frame pool, one Vm
// and one VmConsole per configuration, schedules the VMs on host worker threads (weights, caps,
// reservations) and runs until every VM stopped or the timeout. While it runs it rewrites
// <state-dir>/stats.json once a second (and at the end): what `nimbus stats` prints.
// Each VM also gets a control socket, <state-dir>/<name>.control (vm_control.hpp), through which
// `nimbus snapshot NAME --to DIR` snapshots it (docs/migration.md).
//
// Each VM is one scheduler entry (see vm.hpp: a VM's vCPUs share one host hart at a time), so
// a cap or reservation above 100 % of one hart is clamped to 100 %.
#include <sys/types.h>

#include <chrono>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hypervisor/net_switch.hpp"
#include "hypervisor/net_tap.hpp"
#include "hypervisor/net_tunnel.hpp"
#include "hypervisor/vm.hpp"
#include "hypervisor/vm_config.hpp"
#include "machine/console_backend.hpp"
#include "machine/jit_threshold.hpp"

namespace nimbus::hypervisor {

class ThreadedHost;

struct VmmOptions {
  uint64_t machine_memory = 0;              // 0: the sum of the VMs' memory
  uint32_t host_harts = 1;                  // worker threads
  bool deterministic = false;
  // Each vCPU of a multi-vCPU VM on its own host thread where the VM allows it (Vm::vcpus_in_parallel:
  // emulate mode, not deterministic, no gdb); false interleaves them on one (docs/smp.md).
  bool vcpu_threads = true;
  bool jit = true;                          // the JIT tier for every vCPU (docs/jit.md)
  uint32_t jit_threshold = machine::kJitHotThreshold; // runs of a block before it is translated
  std::chrono::milliseconds timeout{0};     // 0: none
  std::filesystem::path state_dir;          // sockets and stats.json
  std::filesystem::path log_dir;            // <name>.log
  bool echo_stdout = false;                 // every VM's output on stdout as "name| line"
  // Log each guest "NIMBUS-" line with the VM's counters to <state-dir>/<name>.markers.jsonl.
  bool marker_log = false;
  // A single VM may use this console (the user's terminal) instead of log + socket.
  machine::ConsoleBackend* terminal = nullptr;
  // Messages from the VMM itself (a VM stopped, why); default: stderr.
  std::function<void(const std::string&)> log;
  // Polled about every 100 ms: when it returns true, the run ends as at a timeout (for SIGINT).
  std::function<bool()> stop_requested;
  // Snapshots (one VM): polled about every 100 ms; when it returns true the VM writes a snapshot
  // into snapshot_dir (which must exist) at its next round boundary and runs on.
  std::function<bool()> snapshot_requested;
  std::filesystem::path snapshot_dir;
  // Restore (one VM, whose configuration came from this snapshot) instead of booting.
  std::shared_ptr<const SnapshotImage> restore;
  std::chrono::steady_clock::time_point restore_began{};
  // Live migration's destination (one VM, built with VmOptions::incoming): called with the VM
  // before it first runs, to receive its memory and state (migration.hpp). An exception fails
  // the VM (it never runs); incoming_refused hears why a VM could not even be built.
  std::function<void(Vm&)> incoming;
  std::function<void(const std::string&)> incoming_refused;
  // Networking (docs/networking.md): every VM's [[net]] interfaces join this VMM's virtual
  // switch; with a tunnel, the switch's networks extend over UDP to the VMMs of its peers.
  std::optional<TunnelSpec> tunnel;
  // TAP devices joining networks to the host's own stack (at most one per network).
  std::vector<TapSpec> taps;
  // Called once every VM's devices and memory are set up, just before the vCPUs start (the
  // seccomp sandbox goes on here). An exception ends the run as a setup error would.
  std::function<void()> after_setup;
  // The VMM's pid as the host sees it, for stats.json, when it differs from getpid() (a jailed
  // VMM is pid 1 of its own PID namespace); 0: getpid().
  pid_t host_pid = 0;
};

struct VmOutcome {
  std::string name;
  Vm::State state = Vm::State::running;   // running: still running when the run ended (timeout)
  int exit_code = 0;
  std::string reason;
};

struct VmmResult {
  bool timed_out = false;
  bool interrupted = false;   // stop_requested said so
  std::vector<VmOutcome> vms;
  // 0 if every VM powered off with 0; else the first VM's (in configuration order) non-zero
  // code (1 for a VM that failed); 124 on timeout; 130 when interrupted.
  int exit_code() const;
};

inline constexpr int kVmmExitTimeout = 124;
inline constexpr int kVmmExitInterrupted = 130;

class Vmm {
public:
  // Builds the pool and the VMs. A VM that cannot be built (its images do not load) is a failed
  // VM, reported in the result; the others still run. Throws std::runtime_error for problems of
  // the whole VMM (the state directory, a pool that cannot be mapped, a scheduler refusal).
  Vmm(std::vector<VmConfig> configs, VmmOptions options);
  ~Vmm();
  Vmm(const Vmm&) = delete;
  Vmm& operator=(const Vmm&) = delete;

  VmmResult run();
  VirtualSwitch& network_switch() { return *switch_; }
  UdpTunnel* tunnel() { return tunnel_.get(); }

  // The stats file's contents now (counters_to_json plus each VM's state).
  std::string stats_json() const;
  static std::filesystem::path stats_path(const std::filesystem::path& state_dir) { return state_dir / "stats.json"; }
  static std::filesystem::path marker_log_path(const std::filesystem::path& state_dir, const std::string& vm) {
    return state_dir / (vm + ".markers.jsonl");
  }
  static std::filesystem::path console_path(const std::filesystem::path& state_dir, const std::string& vm) {
    return state_dir / (vm + ".console");
  }

private:
  struct Slot;
  void write_stats() const;
  void report_stopped(Slot& slot);
  // A control-socket request for `slot` (vm_control.hpp); blocks until the snapshot is written.
  std::string control(Slot& slot, ThreadedHost& host, const std::atomic<bool>& stopping, const std::string& request, int& fd);
  std::string migrate(Slot& slot, ThreadedHost& host, const std::string& request, int& fd);
  std::string balloon(Slot& slot, ThreadedHost& host, const std::string& request);

  VmmOptions options_;
  std::unique_ptr<FramePool> pool_;
  // Before the slots: destroyed after the VMs, whose interfaces are its ports; the tunnel and
  // the TAP links go before the switch.
  std::unique_ptr<VirtualSwitch> switch_;
  std::unique_ptr<UdpTunnel> tunnel_;
  std::vector<std::unique_ptr<TapLink>> taps_;
  std::vector<std::unique_ptr<Slot>> slots_;
  const ThreadedHost* host_ = nullptr;   // while run() runs the VMs
};

// The default state directory: $XDG_RUNTIME_DIR/nimbus, else /tmp/nimbus-<uid>.
std::filesystem::path default_state_dir();

} // namespace nimbus::hypervisor

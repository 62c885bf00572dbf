#pragma once
// One virtual machine: guest memory from the machine-wide frame pool, its own bus and virt board
// (UART, PLIC, CLINT, RTC, virtio entropy, virtio block if it has a disk), its own clock, its
// vCPUs (made by the factory of its mode) and the SBI, with the VMM as its firmware: there is no
// OpenSBI inside; vCPU 0 enters the kernel in S-mode with a0 = 0, a1 = the DTB, the others stay
// stopped until the guest starts them through HSM.
//
// Two ways to run it under a scheduler (docs/smp.md):
//  - run() is one VcpuRun for the whole VM: it interleaves the VM's vCPUs in short slices on the
//    calling worker thread, as machine::Machine::run does. Repeatable (--deterministic), and the
//    only way for a VM with a gdb stub.
//  - run_vcpu_thread(i) is vCPU i's own VcpuRun (vcpus_in_parallel()): each vCPU a scheduler
//    entry of its own, so a VM of N vCPUs may use N host harts at once. The devices lock their
//    own state; the VM's housekeeping (device time, console, boundary work) is done by whichever
//    vCPU thread takes its turn; SBI calls that act on other vCPUs become requests
//    (vcpu_requests.hpp).
// A VM is driven one way or the other, never both.
// A VM that fails (a fatal vCPU exit, an exception in the VMM) stops alone, with its reason.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hypervisor/frame_pool.hpp"
#include "hypervisor/guest_cpu.hpp"
#include "hypervisor/guest_cpu_factory.hpp"
#include "hypervisor/guest_memory.hpp"
#include "hypervisor/net_switch.hpp"
#include "hypervisor/sbi.hpp"
#include "hypervisor/vcpu_run.hpp"
#include "hypervisor/vm_config.hpp"
#include "hypervisor/vm_snapshot.hpp"
#include "hypervisor/vm_counters.hpp"
#include "machine/board.hpp"
#include "machine/bus.hpp"
#include "machine/jit_threshold.hpp"
#include "machine/clock.hpp"
#include "machine/dirty_log.hpp"
#include "machine/console_backend.hpp"
#include "machine/hart_reservation_set.hpp"
#include "machine/locked_console.hpp"

namespace nimbus::machine::gdb {
class RunControl;
class Stub;
class TcpTransport;
} // namespace nimbus::machine::gdb

namespace nimbus::hypervisor {

class VcpuRequests;

struct VmOptions {
  bool deterministic = false;   // time from retired instructions (runs repeat exactly)
  // The JIT tier (docs/jit.md) for every vCPU, in every mode; the threshold is how many times a
  // block is interpreted before it is translated.
  bool jit = true; // false: the interpreter only
  uint32_t jit_threshold = machine::kJitHotThreshold;
  // The longest a waiting VM sleeps before it looks at its console again; for consoles that
  // cannot wake the scheduler themselves (a terminal). Unset: only timers and wake() wake it.
  std::optional<Nanoseconds> max_idle;
  // Resume from this snapshot instead of booting (its VMCF section must have produced the
  // configuration the Vm is built with). Only emulate mode can restore.
  std::shared_ptr<const SnapshotImage> restore;
  // When the restore began (for the "first guest instruction after N ms" report).
  std::chrono::steady_clock::time_point restore_began{};
  // Live migration's destination (migration.hpp): build the VM without booting it and with its
  // disk opened but not locked; the migration fills its RAM, restores its state and takes the
  // disk lock at the hand-off, before the VM first runs.
  bool incoming = false;
  // The switch the VM's network interfaces ([[net]]) join; nullptr: they are plugged into
  // nothing (the guest sees an interface whose frames go nowhere). Must outlive the Vm.
  VirtualSwitch* network = nullptr;
  // Messages about snapshots and restores (from the thread that runs the VM); default: none.
  std::function<void(const std::string&)> log;
};

class Vm {
public:
  // migrated: the VM left this VMM for a live migration's destination (it runs there now).
  enum class State { running, powered_off, failed, migrated };

  // Builds everything and loads kernel, initrd and DTB. Throws std::runtime_error (naming the VM
  // and the problem) for images that cannot be loaded, a disk that cannot be opened, or a mode
  // that is not available (UnsupportedModeError).
  Vm(const VmConfig& config, FramePool& pool, machine::ConsoleBackend& console, const VmOptions& options = {});
  ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  // VcpuRun: runs the VM for about `budget` of host time.
  RunResult run(Nanoseconds budget);

  // Whether the VM may run its vCPUs on their own host threads (run_vcpu_thread): more than one
  // vCPU, emulate mode, host time (not --deterministic) and no gdb stub.
  bool vcpus_in_parallel() const { return parallel_capable_; }
  // Who makes vCPU i's scheduler entry runnable again (an IPI, HSM start or interrupt pin for a
  // vCPU waiting in WFI). Any thread; empty: nobody (after the scheduler is gone).
  void set_vcpu_waker(std::function<void(unsigned)> wake);
  // VcpuRun of vCPU `index` on its own host thread: runs it for about `budget` of host time. The
  // VM's vCPUs may call this concurrently, each for its own index.
  RunResult run_vcpu_thread(unsigned index, Nanoseconds budget);

  const std::string& name() const { return config_.name; }
  const VmConfig& config() const { return config_; }
  // Thread-safe: state() may be read from any thread; exit_code() and reason() once state() is
  // no longer running.
  State state() const { return state_.load(std::memory_order_acquire); }
  int exit_code() const { return exit_code_; }
  const std::string& reason() const { return reason_; }
  VmCounters& counters() { return counters_; }
  const VmCounters& counters() const { return counters_; }
  uint64_t resident_bytes() const;   // guest RAM backed by machine frames so far

  // Snapshots. request_snapshot (any thread) asks the VM to write a snapshot into `dir` (which
  // must exist) at its next round boundary, then run on; the outcome goes to VmOptions::log
  // and to `done` (optional, called on the VM's thread: true and the report, or false and the
  // error). save_snapshot writes it now (never while run() runs). Throws SnapshotUnsupported in
  // a mode that cannot snapshot, std::runtime_error for I/O errors.
  using SnapshotDone = std::function<void(bool ok, const std::string& message)>;
  void request_snapshot(std::filesystem::path dir, SnapshotDone done = {});
  struct SnapshotStats {
    uint64_t memory_pages = 0;   // 4 KiB pages written
    uint64_t state_bytes = 0;
    std::chrono::nanoseconds elapsed{0};
  };
  SnapshotStats save_snapshot(const std::filesystem::path& dir);

  // Live migration (migration.hpp). run_at_boundary (any thread) queues `work` to run on the
  // VM's thread at its next round boundary: every vCPU between two blocks, no VMM exit pending,
  // no MMIO access half done, no block request in flight; the vCPUs wait while it runs. The
  // caller wakes the VM (it may sleep in WFI). Work still queued when the VM stops is destroyed
  // unrun. The functions below run inside such work (or before the VM first runs).
  void run_at_boundary(std::function<void()> work);
  // Whether the write paths of this VM's mode feed the dirty log (every mode's vCPUs do).
  bool dirty_logging_supported() const;
  // Starts logging: every vCPU's write translations are dropped, so each first store to a
  // page from now on marks it.
  void start_dirty_log();
  // The pages written since the start or the last take (bit p = 4 KiB page p from the start of
  // RAM), cleared; write translations are dropped again in the same step.
  std::vector<uint64_t> take_dirty_log();
  void stop_dirty_log();
  // --with-disk: the 4 KiB blocks of the VM's disk image that OUT requests wrote since the start
  // or the last take (VirtioBlock::set_write_log). start_disk_log throws std::runtime_error when
  // the VM has no disk. Run at a round boundary (no request in flight).
  void start_disk_log();
  std::vector<uint64_t> take_disk_log();
  void stop_disk_log();
  // The VM's state without its configuration and memory (VMST, RSRV, CPU_, the devices), and
  // back into a VM built from the same configuration whose RAM is already in place. Throws
  // machine::snapshot::FormatError naming `where` and the section.
  std::vector<machine::snapshot::Section> save_state_sections() const;
  void restore_state_sections(const std::vector<machine::snapshot::Section>& sections, const std::string& where);
  // Moves the guest's clock forward (the time a migrated VM was stopped: its clocks keep
  // following real time across the hand-off).
  void advance_clock(uint64_t ticks);
  // A migrated VM: just before its first instruction here, its clocks move on by the real time
  // since CLOCK_REALTIME `paused_at_ns` on the source (at most a minute), so the guest sees the
  // gap it was really away, no more, no less.
  // (The clock is set from the value the source saved, not moved on from the restore: it has
  // been running since the state was restored.)
  void catch_up_clock_at_start(int64_t paused_at_ns) { catch_up_from_ns_ = paused_at_ns; }
  // Ends a VM that must never run (an incoming migration that failed): State::failed.
  void abandon(std::string reason) { finish(State::failed, 1, std::move(reason)); }
  // The VM's network interfaces, in configuration order.
  const std::vector<machine::VirtioNet*>& nics() const { return board_->nics(); }
  // After a restore or an incoming migration, before the VM runs: every interface announces its
  // MAC (VirtioNet::announce), so the networks learn where the VM is now.
  void announce_nics() {
    for (machine::VirtioNet* nic : board_->nics()) nic->announce();
  }
  // The VM's disk, or nullptr.
  machine::VirtioBlock* disk() { return board_->block(); }
  // The VM's balloon (balloon = true), or nullptr. Its set_target and request_stats may be
  // called from any thread; the caller then wakes the VM so its driver hears of it.
  machine::VirtioBalloon* balloon() const { return board_->balloon(); }
  // The host memory the VM's RAM holds now, and what its balloon gave back so far.
  uint64_t host_resident_bytes() const { return memory_->host_resident_bytes(); }
  uint64_t discarded_bytes() const { return memory_->discarded_bytes(); }
  // What of it went back to the machine's frame pool as whole frames (emulate mode), free for
  // any VM; the guest takes fresh frames when it touches those pages again.
  uint64_t pool_returned_bytes() const { return memory_->frames_given_back() * pool_.frame_size(); }
  // Ends this copy of the VM: it runs on a migration's destination now.
  void migrated_away(std::string reason) { finish(State::migrated, 0, std::move(reason)); }

  // For tests and diagnostics (not thread-safe while the VM runs).
  GuestCpu& vcpu(unsigned index) { return *vcpus_.at(index); }
  unsigned vcpu_count() const { return static_cast<unsigned>(vcpus_.size()); }
  GuestMemory& memory() { return *memory_; }
  machine::Bus& bus() { return *bus_; }
  machine::Board& board() { return *board_; }
  uint64_t instructions() const { return instructions_ + parallel_retired_.load(std::memory_order_relaxed); }
  std::vector<std::string> vcpu_states() const;
  // The gdb stub's port (config gdb; port 0 picks a free one), 0 without a stub.
  uint16_t gdb_port() const;

private:
  // Rings a vCPU's waker when one of its interrupt pins rises (parallel vCPUs only).
  struct VcpuDoorbell final : machine::InterruptPins::Waker {
    Vm* vm = nullptr;
    unsigned index = 0;
    void ring() override { vm->wake_vcpu(index); }
  };
  void wake_vcpu(unsigned index);
  void start_parallel();
  // Housekeeping of a VM whose vCPUs run in parallel: done by whichever vCPU thread gets it.
  void housekeep(bool service_now);
  // Every vCPU thread out of the guest until resume_vcpus (called by the housekeeper).
  void pause_vcpus();
  void resume_vcpus();
  // Pieces of a round shared by run() and the parallel housekeeping.
  bool boundary_work_due() const;
  // How long a waiting vCPU may sleep: until `deadline` (guest ticks; ~0 for none), at most
  // options_.max_idle.
  std::optional<Nanoseconds> idle_wake(uint64_t deadline, uint64_t now) const;
  void at_round_boundary();                 // snapshots, boundary work, frames given back, clock catch-up
  bool stop_if_memory_exhausted();          // true: the VM stopped
  void service_devices(uint64_t now);       // device time, polling, console, power-off

  bool parallel_capable_ = false;
  std::unique_ptr<machine::LockedConsole> locked_console_;   // several vCPU threads write to it
  std::mutex waker_mutex_;
  std::function<void(unsigned)> vcpu_waker_;
  std::once_flag parallel_started_;
  std::unique_ptr<VcpuRequests> requests_;
  std::vector<VcpuDoorbell> doorbells_;
  std::mutex housekeeping_mutex_;
  std::atomic<bool> pause_{false};
  std::atomic<uint64_t> parallel_retired_{0};
  std::chrono::steady_clock::time_point last_service_{};
  std::mutex finish_mutex_;

  void finish(State state, int exit_code, std::string reason);
  void on_reset(const SystemResetRequest& request);
  // One round: every runnable vCPU runs one slice. Returns the instructions retired.
  uint64_t round(uint64_t slice);
  // Runs one vCPU and handles its exit (SBI call, fatal). Returns the instructions retired.
  uint64_t run_vcpu(unsigned index, uint64_t budget);
  void attach_gdb();
  std::unique_ptr<machine::gdb::TcpTransport> gdb_transport_;
  std::unique_ptr<machine::gdb::Stub> gdb_stub_;
  std::unique_ptr<machine::gdb::RunControl> gdb_control_;

  VmConfig config_;
  VmOptions options_;
  machine::ConsoleBackend& console_;   // the VM's console, through locked_console_ if it has one
  FramePool& pool_;
  VmCounters counters_;
  std::unique_ptr<GuestMemory> memory_;
  std::unique_ptr<machine::Bus> bus_;
  std::unique_ptr<machine::Clock> clock_;
  std::unique_ptr<machine::ReservationSet> reservations_;
  std::unique_ptr<VmModeState> mode_state_;   // after the vCPUs are gone (declared before them)
  std::vector<std::unique_ptr<GuestCpu>> vcpus_;
  std::unique_ptr<machine::Board> board_;
  std::unique_ptr<Sbi> sbi_;
  void restore_from(const SnapshotImage& image);
  void take_requested_snapshot();
  std::atomic<bool> snapshot_requested_{false};
  void run_boundary_work();
  std::atomic<bool> boundary_work_pending_{false};
  std::mutex boundary_mutex_;
  std::vector<std::function<void()>> boundary_work_;
  std::unique_ptr<machine::DirtyLog> dirty_log_;
  std::unique_ptr<machine::DirtyLog> disk_log_;
  int64_t catch_up_from_ns_ = 0;
  uint64_t restored_ticks_ = 0;   // the clock reading in the last restored VMST section
  std::mutex snapshot_mutex_;
  std::filesystem::path snapshot_dir_;
  std::vector<SnapshotDone> snapshot_waiters_;
  std::filesystem::path last_memory_file_;   // the memory file of the last snapshot (or restore)
  bool report_resume_ = false;               // restored: report the first guest instruction
  std::chrono::steady_clock::time_point restored_at_{};
  uint64_t instructions_ = 0;
  std::atomic<State> state_{State::running};
  int exit_code_ = 0;
  std::string reason_;
};

std::string_view to_string(Vm::State state);

} // namespace nimbus::hypervisor

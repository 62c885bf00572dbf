#include "hypervisor/vm.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "hypervisor/guest_cpu_factory.hpp"
#include "hypervisor/vcpu_requests.hpp"
#include "machine/gdb/run_control.hpp"
#include "machine/gdb/stub.hpp"
#include "machine/gdb/transport.hpp"
#include "machine/hart.hpp"

namespace nimbus::hypervisor {

namespace {

// Instructions a vCPU runs before the VM looks at devices, time and its console again (as
// machine::Machine: short enough for timely timer interrupts; with several vCPUs shorter, so
// spinlocks and IPIs between them stay responsive).
constexpr uint64_t kSliceSingle = 32768;
constexpr uint64_t kSliceSmp = 4096;
constexpr uint64_t kNoDeadline = ~uint64_t{0};
constexpr uint64_t kNanosecondsPerTick = 1'000'000'000 / machine::Clock::kTimebaseHz;

} // namespace

std::string_view to_string(Vm::State state) {
  switch (state) {
  case Vm::State::running: return "running";
  case Vm::State::powered_off: return "powered off";
  case Vm::State::failed: return "failed";
  case Vm::State::migrated: return "migrated";
  }
  return "unknown";
}

Vm::Vm(const VmConfig& config, FramePool& pool, machine::ConsoleBackend& console, const VmOptions& options)
    : locked_console_(config.vcpus > 1 ? std::make_unique<machine::LockedConsole>(console) : nullptr),
      config_(config), options_(options), console_(locked_console_ ? *locked_console_ : console), pool_(pool) {
  try {
    memory_ = std::make_unique<GuestMemory>(pool, config.name, machine::Board::kRamBase, config.memory_bytes);
    bus_ = std::make_unique<machine::Bus>(machine::Board::kRamBase, config.memory_bytes, *memory_);
    // Frames a balloon gave back return to the pool only where harts reach RAM through the
    // view alone (GuestMemory::set_release_given_back).
    memory_->set_release_given_back(config.mode == VirtMode::emulate);
    clock_ = std::make_unique<machine::Clock>(options.deterministic);
    reservations_ = std::make_unique<machine::ReservationSet>();
    std::vector<machine::InterruptPins*> pins;
    std::vector<GuestCpu*> raw;
    for (unsigned i = 0; i < config.vcpus; ++i) {
      vcpus_.push_back(make_guest_cpu(config.mode, GuestCpuContext{i, *bus_, *clock_, *reservations_, *memory_, pool, mode_state_}));
      vcpus_.back()->attach_counters(counters_);
      vcpus_.back()->set_jit(options.jit, options.jit_threshold);
      pins.push_back(&vcpus_.back()->pins());
      raw.push_back(vcpus_.back().get());
    }
    machine::BoardConfig board;
    board.ram_size = config.memory_bytes;
    board.harts = config.vcpus;
    board.bootargs = config.append;
    if (!config.disk.empty()) board.drive_path = config.disk;
    board.drive_read_only = config.disk_read_only;
    board.drive_lock_deferred = options.incoming;
    for (const NicConfig& nic : config.nics)
      board.nics.push_back(machine::NicSpec{
          nic.mac, options.network ? options.network->connect(nic.network, nic.mac, fmt::format("VM '{}'", config.name))
                                   : nullptr});
    board.balloon = config.balloon;
    if (config.virtio_console) board.virtio_console = &console_;
    board_ = std::make_unique<machine::Board>(board, *bus_, *clock_, std::move(pins));
    board_->uart().set_sink([this](uint8_t byte) { console_.write(byte); });

    if (options.incoming) {
      // Everything arrives from the migration stream (migration.hpp) before the VM first runs.
      sbi_ = std::make_unique<Sbi>(raw, *memory_, console_, [this](const SystemResetRequest& r) { on_reset(r); });
    } else if (options.restore) {
      sbi_ = std::make_unique<Sbi>(raw, *memory_, console_, [this](const SystemResetRequest& r) { on_reset(r); });
      restore_from(*options.restore);
    } else {
      const bool own_firmware = config.bios != "vmm";
      if (own_firmware && config.mode != VirtMode::emulate)
        throw std::runtime_error(fmt::format("bios = '{}' needs mode = emulate (the VM's own M-mode); {} mode runs "
                                             "under the VMM's SBI only",
                                             config.bios, to_string(config.mode)));
      machine::BootSpec boot;
      boot.bios = own_firmware ? config.bios : "none"; // "vmm": the VMM is the firmware
      boot.kernel = config.kernel;
      if (!config.initrd.empty()) boot.initrd = config.initrd;
      const machine::BootInfo info = board_->boot(boot);
      sbi_ = std::make_unique<Sbi>(raw, *memory_, console_, [this](const SystemResetRequest& r) { on_reset(r); });
      if (own_firmware) {
        // As the bare machine (and QEMU): every hart in M-mode at the reset ROM, which hands the
        // firmware (or, with "none", the kernel at 0x8000_0000) a0 = hart id, a1 = the DTB.
        for (auto& cpu : vcpus_)
          if (!cpu->power_on_in_machine_mode(info.reset_pc))
            throw std::runtime_error(fmt::format("{} mode cannot run the VM's own firmware", to_string(config.mode)));
      } else {
        vcpus_[0]->start(*info.kernel_entry, info.dtb_address);
      }
    }
    if (!config.gdb.empty()) attach_gdb();
    // Every mode (docs/smp.md): a trap-mode vCPU's shadows are its own, hw mode's G-stage table
    // takes a lock. Repeatable runs and the gdb stub need the vCPUs interleaved.
    parallel_capable_ = config.vcpus > 1 && !options.deterministic && !gdb_stub_;
    // Bytes the SBI writes into guest RAM reach the harts as DMA does (stale decoded code).
    sbi_->set_guest_write_listener([this](uint64_t gpa, uint64_t len) { bus_->note_dma_write(gpa, len); });
  } catch (const std::exception& error) {
    throw std::runtime_error(fmt::format("VM '{}': {}", config.name, error.what()));
  }
}

// The gdb stub over this VM's vCPUs (docs/gdb.md): listens now, serves from run().
void Vm::attach_gdb() {
  std::vector<machine::Hart*> harts;
  for (const auto& cpu : vcpus_) {
    machine::Hart* hart = cpu->debug_hart();
    if (hart == nullptr)
      throw std::runtime_error(fmt::format("gdb = '{}': the gdb stub needs mode = emulate or hw, not {}",
                                           config_.gdb, to_string(config_.mode)));
    harts.push_back(hart);
  }
  gdb_transport_ = std::make_unique<machine::gdb::TcpTransport>(config_.gdb);
  gdb_stub_ = std::make_unique<machine::gdb::Stub>(*gdb_transport_, std::move(harts));
  gdb_control_ = std::make_unique<machine::gdb::RunControl>(*gdb_stub_, config_.gdb_wait);
  if (options_.log)
    options_.log(fmt::format("VM '{}': gdb stub listening on port {}{}", config_.name, gdb_transport_->port(),
                             config_.gdb_wait ? " (the VM waits for gdb to continue)" : ""));
}

uint16_t Vm::gdb_port() const { return gdb_transport_ ? gdb_transport_->port() : 0; }

Vm::~Vm() {
  if (gdb_stub_) gdb_stub_->terminated();
  for (auto& cpu : vcpus_)
    if (!doorbells_.empty()) cpu->pins().set_waker(nullptr);
  // The vCPUs and the board refer to the bus and memory: tear down in reverse order of use.
  boundary_work_.clear();
  if (bus_) bus_->set_dirty_log(nullptr);
  if (memory_) memory_->set_dirty_log(nullptr);
  sbi_.reset();
  board_.reset();
  vcpus_.clear();
  mode_state_.reset();
  bus_.reset();
  memory_.reset();
}

uint64_t Vm::resident_bytes() const { return memory_->resident_pages() * pool_.frame_size(); }

std::vector<std::string> Vm::vcpu_states() const {
  std::vector<std::string> states;
  for (size_t i = 0; i < vcpus_.size(); ++i) states.push_back(fmt::format("vCPU {}: {}", i, vcpus_[i]->describe()));
  return states;
}

void Vm::finish(State state, int exit_code, std::string reason) {
  std::lock_guard lock(finish_mutex_);   // vCPU threads (SBI shutdown, fatal exits) may race here
  if (state_.load(std::memory_order_relaxed) != State::running) return;
  if (gdb_stub_) { // a debugger waiting for a stop hears how the VM ended
    if (state == State::powered_off)
      gdb_stub_->exited(exit_code);
    else
      gdb_stub_->terminated();
  }
  exit_code_ = exit_code;
  reason_ = std::move(reason);
  state_.store(state, std::memory_order_release);
  console_.flush();
  // vCPUs on their own threads that wait (WFI, HSM-stopped) run once more to see the VM ended.
  if (requests_)
    for (unsigned i = 0; i < vcpus_.size(); ++i) wake_vcpu(i);
}

void Vm::on_reset(const SystemResetRequest& request) {
  counters_.count_exit(ExitReason::shutdown);
  switch (request.kind) {
  case SystemResetRequest::Kind::shutdown:
    finish(State::powered_off, request.exit_code(),
           request.reason == 0 ? "SBI shutdown" : "SBI shutdown (system failure)");
    break;
  case SystemResetRequest::Kind::cold_reboot:
  case SystemResetRequest::Kind::warm_reboot:
    // A reboot ends the VM too: whoever runs it decides whether to start it again.
    finish(State::powered_off, request.exit_code(), "SBI reboot");
    break;
  }
}

uint64_t Vm::run_vcpu(unsigned index, uint64_t budget) {
  GuestCpu& cpu = *vcpus_[index];
  const CpuExit exit = cpu.run(budget);
  switch (exit.kind) {
  case CpuExit::Kind::sbi_call: sbi_->handle(index); break;
  case CpuExit::Kind::fatal: finish(State::failed, 1, exit.reason); break;
  case CpuExit::Kind::budget:
  case CpuExit::Kind::wait:
  case CpuExit::Kind::stopped: break;
  }
  return exit.instructions;
}

uint64_t Vm::round(uint64_t slice) {
  uint64_t retired = 0;
  for (unsigned i = 0; i < vcpus_.size() && state() == State::running; ++i) {
    GuestCpu& cpu = *vcpus_[i];
    if (!cpu.running() || cpu.waiting()) continue;
    if (gdb_control_ && !gdb_control_->may_run(i)) continue; // held by the debugger
    retired += run_vcpu(i, slice);
    if (gdb_control_ && cpu.debug_hart()->stopped_at_breakpoint()) {
      gdb_control_->breakpoint_hit(i); // every vCPU stops: the rest of the round does not run
      break;
    }
  }
  return retired;
}

RunResult Vm::run(Nanoseconds budget) {
  const auto began = std::chrono::steady_clock::now();
  auto result = [&](RunResult::Stop stop, std::optional<Nanoseconds> wake_after = std::nullopt) {
    if (stop == RunResult::Stop::budget_spent) counters_.count_exit(ExitReason::preempted);
    return RunResult{stop, std::chrono::steady_clock::now() - began, wake_after};
  };
  if (state() != State::running) return result(RunResult::Stop::halt);
  const uint64_t slice = vcpus_.size() == 1 ? kSliceSingle : kSliceSmp;
  try {
    for (;;) {
      if (boundary_work_due()) {
        at_round_boundary();
        if (state() != State::running) return result(RunResult::Stop::halt);
      }
      uint64_t retired = 0;
      if (gdb_control_) {
        using Turn = machine::gdb::RunControl::Turn;
        const Turn turn = gdb_control_->turn(
            [&](unsigned i) { // one instruction of one vCPU, its exit handled as in a round
              machine::Hart& hart = *vcpus_[i]->debug_hart();
              hart.set_single_step(true);
              retired += run_vcpu(i, 1);
              hart.set_single_step(false);
            },
            std::chrono::milliseconds(20));
        if (turn == Turn::kill) {
          finish(State::powered_off, 0, "killed from gdb");
          return result(RunResult::Stop::halt);
        }
        // Held in the debugger: give the host hart back, look again soon (no device time passes).
        if (turn == Turn::hold) return result(RunResult::Stop::wait, std::chrono::milliseconds(10));
        if (turn == Turn::run) retired += round(slice);
      } else {
        retired = round(slice);
      }
      if (stop_if_memory_exhausted()) return result(RunResult::Stop::halt);
      instructions_ += retired;
      clock_->retire(retired);
      const uint64_t now = clock_->now();
      service_devices(now);
      if (state() != State::running) return result(RunResult::Stop::halt);

      bool any_running = false, all_waiting = true;
      // A device deadline already past (a CLINT comparator the guest cannot take in S-mode) must
      // not keep an idle VM spinning.
      uint64_t deadline = board_->next_deadline();
      if (deadline <= now) deadline = kNoDeadline;
      for (const auto& cpu : vcpus_) {
        if (!cpu->running()) continue;
        any_running = true;
        if (!cpu->waiting()) {
          all_waiting = false;
          break;
        }
        // A timer already due cannot wake a vCPU that waits: its interrupt is masked.
        if (const uint64_t timer = cpu->timer_deadline(); timer > now) deadline = std::min(deadline, timer);
      }
      if (!any_running) {
        finish(State::failed, 1, "every vCPU is stopped (HSM hart_stop on the last running hart)");
        return result(RunResult::Stop::halt);
      }
      if (all_waiting) {
        if (clock_->deterministic()) {
          // Time is virtual: jump to the deadline. With none, only console input can wake the VM.
          if (deadline != kNoDeadline) {
            clock_->skip_to(deadline);
          } else {
            return result(RunResult::Stop::wait, options_.max_idle);
          }
        } else if (deadline == kNoDeadline || deadline > now) {
          return result(RunResult::Stop::wait, idle_wake(deadline, now));
        }
      }
      if (std::chrono::steady_clock::now() - began >= budget) return result(RunResult::Stop::budget_spent);
    }
  } catch (const std::exception& error) {
    finish(State::failed, 1, fmt::format("VMM error: {}", error.what()));
    return result(RunResult::Stop::halt);
  }
}


std::optional<Nanoseconds> Vm::idle_wake(uint64_t deadline, uint64_t now) const {
  std::optional<Nanoseconds> wake;
  if (deadline != kNoDeadline) wake = Nanoseconds((deadline - now) * kNanosecondsPerTick);
  if (options_.max_idle && (!wake || *wake > *options_.max_idle)) wake = options_.max_idle;
  return wake;
}

bool Vm::boundary_work_due() const {
  return snapshot_requested_.load(std::memory_order_acquire) || boundary_work_pending_.load(std::memory_order_acquire) ||
         memory_->given_back_pending() || catch_up_from_ns_ != 0 || report_resume_;
}

// With every vCPU between two slices.
void Vm::at_round_boundary() {
  if (snapshot_requested_.load(std::memory_order_acquire)) take_requested_snapshot();
  if (boundary_work_pending_.load(std::memory_order_acquire)) {
    run_boundary_work();
    if (state() != State::running) return;
  }
  if (memory_->given_back_pending()) {
    // Between rounds: no vCPU holds a host pointer into RAM once its soft TLB and decoded
    // code are dropped, so the frames the guest gave back can leave the VM.
    for (const auto& cpu : vcpus_) cpu->flush_guest_code();
    memory_->release_given_back();
  }
  if (catch_up_from_ns_ != 0) {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    const int64_t away = std::clamp<int64_t>(int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec - catch_up_from_ns_, 0,
                                             60'000'000'000);
    catch_up_from_ns_ = 0;
    clock_->restore(restored_ticks_ + static_cast<uint64_t>(away) / kNanosecondsPerTick, clock_->retired());
    if (options_.log)
      options_.log(fmt::format("VM '{}': first guest instruction after the migration; its clocks moved on {:.1f} ms, "
                               "the time it was stopped",
                               config_.name, static_cast<double>(away) / 1e6));
  }
  if (report_resume_) {
    report_resume_ = false;
    using Ms = std::chrono::duration<double, std::milli>;
    const auto first = std::chrono::steady_clock::now();
    const Ms ms = first - options_.restore_began;
    const Ms built = restored_at_ - options_.restore_began;
    if (options_.log)
      options_.log(fmt::format("VM '{}' resumed from snapshot {}: first guest instruction {:.2f} ms after the "
                               "restore began (VM state restored after {:.2f} ms; {} MiB of RAM {} the memory "
                               "file; CLOCK_MONOTONIC {:.6f} s)",
                               config_.name, options_.restore->dir.string(), ms.count(), built.count(),
                               memory_->resident_pages() * pool_.frame_size() >> 20,
                               memory_->snapshot_mapped() ? "mapped from"
                               : memory_->snapshot_frames_waiting() != 0 ? "faulting in from"
                                                                         : "copied from",
                               std::chrono::duration<double>(first.time_since_epoch()).count()));
  }
}

bool Vm::stop_if_memory_exhausted() {
  if (auto refused = memory_->take_exhaustion()) {
    // The policy for memory the machine does not have (docs/board.md, "Memory given back"):
    // the VM that asked for it stops with this error at the end of the round in which its
    // access was refused; other VMs run on untouched.
    finish(State::failed, 1,
           fmt::format("{} (it had given {} MiB back to the pool earlier); more --machine-mem, or fewer "
                       "busy VMs, would let it run",
                       *refused, memory_->frames_given_back() * pool_.frame_size() >> 20));
    // It never runs again: its frames go back to the pool now, for the VMs that run on.
    memory_->release_all();
    return true;
  }
  return false;
}

void Vm::service_devices(uint64_t now) {
  board_->tick(now);
  board_->poll_devices();
  if (machine::VirtioConsole* hvc = board_->virtio_console(); hvc && config_.console_input_hvc) {
    while (hvc->can_accept_input()) {
      const auto byte = console_.read();
      if (!byte) break;
      hvc->push_input(*byte);
    }
  } else {
    machine::Uart16550& uart = board_->uart();
    while (uart.can_accept_input()) {
      const auto byte = console_.read();
      if (!byte) break;
      uart.push_input(*byte);
    }
  }
  console_.flush();

  // The board's own power-off device (syscon-poweroff in the device tree) works too.
  const machine::ShutdownRequest request = board_->shutdown_request();
  if (request.kind == machine::ShutdownRequest::Kind::kPowerOff) {
    counters_.count_exit(ExitReason::shutdown);
    finish(State::powered_off, static_cast<int>(request.exit_code), "power-off device");
  } else if (request.kind == machine::ShutdownRequest::Kind::kReboot) {
    counters_.count_exit(ExitReason::shutdown);
    finish(State::powered_off, 0, "reboot device");
  }
  if (console_.quit_requested()) finish(State::powered_off, 0, "quit from the console");
}

} // namespace nimbus::hypervisor

// ---- snapshots (docs/migration.md)

namespace nimbus::hypervisor {

namespace {

using machine::snapshot::FormatError;
using machine::snapshot::Reader;
using machine::snapshot::Section;
using machine::snapshot::Writer;

void write_file(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: {}", path.string(), std::strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      throw std::runtime_error(fmt::format("{}: write failed: {}", path.string(), std::strerror(error)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error(fmt::format("{}: fsync failed: {}", path.string(), std::strerror(error)));
  }
  ::close(fd);
}

void rename_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    throw std::runtime_error(fmt::format("cannot rename {} to {}: {}", from.string(), to.string(), std::strerror(errno)));
}

} // namespace

void Vm::request_snapshot(std::filesystem::path dir, SnapshotDone done) {
  {
    std::lock_guard lock(snapshot_mutex_);
    snapshot_dir_ = std::move(dir);
    if (done) snapshot_waiters_.push_back(std::move(done));
  }
  snapshot_requested_.store(true, std::memory_order_release);
}

void Vm::take_requested_snapshot() {
  std::filesystem::path dir;
  std::vector<SnapshotDone> waiters;
  {
    std::lock_guard lock(snapshot_mutex_);
    dir = snapshot_dir_;
    waiters.swap(snapshot_waiters_);
    snapshot_requested_.store(false, std::memory_order_relaxed);
  }
  bool ok = false;
  std::string message;
  try {
    const SnapshotStats stats = save_snapshot(dir);
    ok = true;
    message = fmt::format("VM '{}': snapshot written to {} in {:.1f} ms ({} pages = {} MiB of memory, {} bytes of "
                          "state); running on",
                          config_.name, dir.string(), std::chrono::duration<double, std::milli>(stats.elapsed).count(),
                          stats.memory_pages, stats.memory_pages * GuestMemory::kSnapshotPage >> 20, stats.state_bytes);
  } catch (const std::exception& error) {
    // A failed snapshot leaves the VM running and the directory's previous snapshot intact.
    message = fmt::format("VM '{}': snapshot to {} failed: {}", config_.name, dir.string(), error.what());
  }
  if (options_.log) options_.log(message);
  for (auto& done : waiters) done(ok, message);
}

Vm::SnapshotStats Vm::save_snapshot(const std::filesystem::path& dir) {
  const auto began = std::chrono::steady_clock::now();
  if (!snapshot_supported(config_.mode))
    throw SnapshotUnsupported(fmt::format("snapshots are not supported in {} mode",
                                          to_string(config_.mode)));
  std::vector<Section> sections;
  sections.push_back(encode_config(config_));
  for (auto& section : save_state_sections()) sections.push_back(std::move(section));

  // Memory: a fresh file per snapshot (a restored VM may still map the previous one), named in
  // the state file, which is renamed into place last: the directory always holds one whole
  // snapshot, the previous or the new one.
  const auto stamp = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  const std::string memory_name = fmt::format("memory-{:016x}", stamp ^ (uint64_t(::getpid()) << 40));
  const std::filesystem::path memory_path = dir / memory_name;
  const int fd = ::open(memory_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: {}", memory_path.string(), std::strerror(errno)));
  std::vector<GuestMemory::PageRun> runs;
  try {
    runs = memory_->save_pages(fd, memory_path.string());
    if (::fsync(fd) != 0) throw std::runtime_error(fmt::format("{}: fsync failed: {}", memory_path.string(), std::strerror(errno)));
  } catch (...) {
    ::close(fd);
    ::unlink(memory_path.c_str());
    throw;
  }
  ::close(fd);
  uint64_t pages = 0;
  {
    Writer w;
    w.string(memory_name);
    w.u64(memory_->ram_size());
    w.u64(GuestMemory::kSnapshotPage);
    w.u32(static_cast<uint32_t>(runs.size()));
    for (const auto& run : runs) {
      w.u64(run.first);
      w.u64(run.count);
      pages += run.count;
    }
    sections.push_back(Section{snapshot_tags::kMemory, 0, w.take()});
  }
  const std::vector<uint8_t> state = machine::snapshot::encode(sections, snapshot_format_version(config_));
  const std::filesystem::path temp = dir / (std::string(kSnapshotStateFile) + ".tmp");
  try {
    write_file(temp, state);
    rename_file(temp, dir / kSnapshotStateFile);
  } catch (...) {
    ::unlink(temp.c_str());
    ::unlink(memory_path.c_str());
    throw;
  }
  // The memory file of the snapshot this one replaced in the same directory is garbage now.
  if (!last_memory_file_.empty() && last_memory_file_.parent_path() == memory_path.parent_path() &&
      last_memory_file_ != memory_path)
    ::unlink(last_memory_file_.c_str());
  last_memory_file_ = memory_path;
  return SnapshotStats{pages, state.size(), std::chrono::steady_clock::now() - began};
}

void Vm::restore_from(const SnapshotImage& image) {
  if (!snapshot_supported(config_.mode))
    throw SnapshotUnsupported(fmt::format("restoring a snapshot is not supported in {} mode",
                                          to_string(config_.mode)));
  const std::string where = (image.dir / kSnapshotStateFile).string();
  try {
    // Memory first: the devices check their virtqueues against RAM.
    {
      Reader r(image.get(snapshot_tags::kMemory));
      const std::string name = r.string(255);
      if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
        r.fail(fmt::format("memory file name '{}' is not a plain file name", name));
      if (r.u64() != config_.memory_bytes) r.fail("RAM size differs from the configuration's");
      if (r.u64() != GuestMemory::kSnapshotPage) r.fail("page size is not 4096");
      const uint32_t count = r.count(static_cast<uint32_t>(config_.memory_bytes / GuestMemory::kSnapshotPage), "run count");
      std::vector<GuestMemory::PageRun> runs(count);
      for (auto& run : runs) {
        run.first = r.u64();
        run.count = r.u64();
      }
      r.expect_end();
      const std::filesystem::path memory_path = image.dir / name;
      const int fd = ::open(memory_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw std::runtime_error(fmt::format("memory file {}: {}", memory_path.string(), std::strerror(errno)));
      try {
        // emulate: mapped copy-on-write, pages fault in from the file on demand. hw and trap: the
        // harts address frames by machine address (G-stage or shadow tables), so each frame is
        // filled from the file by its first touch (the shadow or G-stage fill that needs it).
        if (config_.mode == VirtMode::emulate)
          memory_->map_snapshot(fd, runs, fmt::format("memory file {}", memory_path.string()));
        else
          memory_->attach_snapshot(fd, runs, fmt::format("memory file {}", memory_path.string()));
      } catch (...) {
        ::close(fd);
        throw;
      }
      ::close(fd); // the mappings keep the file
      last_memory_file_ = memory_path;
    }
  } catch (const FormatError& error) {
    throw FormatError(fmt::format("snapshot {}: {}", where, error.what()));
  }
  restore_state_sections(image.sections, "snapshot " + where);
  report_resume_ = true;
  restored_at_ = std::chrono::steady_clock::now();
}

} // namespace nimbus::hypervisor

// ---- live migration (migration.hpp, docs/migration.md)

namespace nimbus::hypervisor {

using machine::snapshot::FormatError;
using machine::snapshot::Reader;
using machine::snapshot::Section;
using machine::snapshot::Writer;

namespace {
const Section* find_section(const std::vector<Section>& sections, uint32_t tag, uint32_t instance = 0) {
  for (const auto& s : sections)
    if (s.tag == tag && s.instance == instance) return &s;
  return nullptr;
}
const Section& get_section(const std::vector<Section>& sections, uint32_t tag, uint32_t instance = 0) {
  if (const Section* s = find_section(sections, tag, instance)) return *s;
  throw FormatError(fmt::format("no section {} {}", machine::snapshot::tag_name(tag), instance));
}
} // namespace

std::vector<Section> Vm::save_state_sections() const {
  // Network interfaces: VMCF names their networks and MACs (the new VM joins the same networks
  // on its VMM's switch), each device's VIRT section its transport and virtio-net state. Frames
  // in flight (the receive backlog, what the switch or tunnel holds) are not saved: a snapshot
  // or a move loses them as a NIC loses frames on a link flap, and the guest's TCP resends.
  std::vector<Section> sections;
  {
    Writer w;
    w.u64(clock_->now());
    w.u64(clock_->retired());
    w.boolean(clock_->deterministic());
    w.u64(instructions_);
    sections.push_back(Section{snapshot_tags::kVm, 0, w.take()});
  }
  {
    Writer w;
    reservations_->save_state(w);
    sections.push_back(Section{snapshot_tags::kReservation, 0, w.take()});
  }
  for (unsigned i = 0; i < vcpus_.size(); ++i) {
    Writer w;
    vcpus_[i]->save_state(w);
    sections.push_back(Section{snapshot_tags::kCpu, i, w.take()});
  }
  board_->save_state(sections);
  return sections;
}

void Vm::restore_state_sections(const std::vector<Section>& sections, const std::string& where) {
  try {
    {
      Reader r(get_section(sections, snapshot_tags::kVm));
      const uint64_t now = r.u64(), retired = r.u64();
      const bool deterministic = r.boolean();
      instructions_ = r.u64();
      r.expect_end();
      if (deterministic != clock_->deterministic())
        throw FormatError(fmt::format("the VM ran {} --deterministic; resume it the same way",
                                      deterministic ? "with" : "without"));
      clock_->restore(now, retired);
      restored_ticks_ = now;
    }
    {
      Reader r(get_section(sections, snapshot_tags::kReservation));
      reservations_->restore_state(r);
      // trap and hw harts reserve machine addresses, which mean other frames in this VM: the
      // reservation is dropped (a later SC fails and the guest's LR/SC loop retries, as the
      // ISA allows any SC to fail).
      if (config_.mode != VirtMode::emulate) reservations_->clear();
    }
    for (const auto& s : sections)
      if (s.tag == snapshot_tags::kCpu && s.instance >= vcpus_.size())
        throw FormatError(fmt::format("section CPU_ {} for a VM of {} vCPUs", s.instance, vcpus_.size()));
    for (unsigned i = 0; i < vcpus_.size(); ++i) {
      Reader r(get_section(sections, snapshot_tags::kCpu, i));
      vcpus_[i]->restore_state(r);
      r.expect_end();
    }
    board_->restore_state(sections);
  } catch (const FormatError& error) {
    throw FormatError(fmt::format("{}: {}", where, error.what()));
  }
}

void Vm::advance_clock(uint64_t ticks) { clock_->restore(clock_->now() + ticks, clock_->retired()); }

void Vm::run_at_boundary(std::function<void()> work) {
  {
    std::lock_guard lock(boundary_mutex_);
    boundary_work_.push_back(std::move(work));
  }
  boundary_work_pending_.store(true, std::memory_order_release);
}

void Vm::run_boundary_work() {
  std::vector<std::function<void()>> work;
  {
    std::lock_guard lock(boundary_mutex_);
    work.swap(boundary_work_);
    boundary_work_pending_.store(false, std::memory_order_relaxed);
  }
  // Work queued behind an item that ended the VM (a migration's hand-off) is dropped unrun, as
  // documented: nothing may act for a VM that runs elsewhere now.
  for (auto& item : work) {
    if (state() != State::running) break;
    item();
  }
}

bool Vm::dirty_logging_supported() const {
  return std::all_of(vcpus_.begin(), vcpus_.end(), [](const auto& cpu) { return cpu->tracks_dirty_pages(); });
}

void Vm::start_dirty_log() {
  if (!dirty_logging_supported())
    throw std::runtime_error(fmt::format("dirty-page logging is not available in {} mode", to_string(config_.mode)));
  // A restored VM's frames not touched yet are read in now: the sender reads RAM page by page.
  memory_->load_attached_snapshot();
  if (!dirty_log_) dirty_log_ = std::make_unique<machine::DirtyLog>(config_.memory_bytes);
  bus_->set_dirty_log(dirty_log_.get());
  memory_->set_dirty_log(dirty_log_.get());
  for (auto& cpu : vcpus_) cpu->flush_write_translations();
}

std::vector<uint64_t> Vm::take_dirty_log() {
  if (!dirty_log_) throw std::logic_error("take_dirty_log without start_dirty_log");
  std::vector<uint64_t> bits = dirty_log_->take();
  for (auto& cpu : vcpus_) cpu->flush_write_translations();
  return bits;
}

void Vm::stop_dirty_log() {
  bus_->set_dirty_log(nullptr);
  memory_->set_dirty_log(nullptr);
  dirty_log_.reset();
}

void Vm::start_disk_log() {
  machine::VirtioBlock* block = disk();
  if (block == nullptr) throw std::runtime_error(fmt::format("VM '{}' has no disk to copy", config_.name));
  if (!disk_log_) disk_log_ = std::make_unique<machine::DirtyLog>(block->capacity_bytes());
  block->set_write_log(disk_log_.get());
}

std::vector<uint64_t> Vm::take_disk_log() {
  if (!disk_log_) throw std::logic_error("take_disk_log without start_disk_log");
  return disk_log_->take();
}

void Vm::stop_disk_log() {
  if (machine::VirtioBlock* block = disk()) block->set_write_log(nullptr);
  disk_log_.reset();
}

} // namespace nimbus::hypervisor

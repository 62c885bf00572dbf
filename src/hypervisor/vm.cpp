#include "hypervisor/vm.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "hypervisor/guest_cpu_factory.hpp"

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
  }
  return "unknown";
}

Vm::Vm(const VmConfig& config, FramePool& pool, machine::ConsoleBackend& console, const VmOptions& options)
    : config_(config), options_(options), console_(console), pool_(pool) {
  try {
    memory_ = std::make_unique<GuestMemory>(pool, config.name, machine::Board::kRamBase, config.memory_bytes);
    bus_ = std::make_unique<machine::Bus>(machine::Board::kRamBase, config.memory_bytes, *memory_);
    clock_ = std::make_unique<machine::Clock>(options.deterministic);
    reservations_ = std::make_unique<machine::ReservationSet>();
    std::vector<machine::InterruptPins*> pins;
    std::vector<GuestCpu*> raw;
    for (unsigned i = 0; i < config.vcpus; ++i) {
      vcpus_.push_back(make_guest_cpu(config.mode, GuestCpuContext{i, *bus_, *clock_, *reservations_, *memory_, pool, mode_state_}));
      vcpus_.back()->attach_counters(counters_);
      pins.push_back(&vcpus_.back()->pins());
      raw.push_back(vcpus_.back().get());
    }
    machine::BoardConfig board;
    board.ram_size = config.memory_bytes;
    board.harts = config.vcpus;
    board.bootargs = config.append;
    if (!config.disk.empty()) board.drive_path = config.disk;
    board.drive_read_only = config.disk_read_only;
    board_ = std::make_unique<machine::Board>(board, *bus_, *clock_, std::move(pins));
    board_->uart().set_sink([this](uint8_t byte) { console_.write(byte); });

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
  } catch (const std::exception& error) {
    throw std::runtime_error(fmt::format("VM '{}': {}", config.name, error.what()));
  }
}

Vm::~Vm() {
  // The vCPUs and the board refer to the bus and memory: tear down in reverse order of use.
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
  if (state_.load(std::memory_order_relaxed) != State::running) return;
  exit_code_ = exit_code;
  reason_ = std::move(reason);
  state_.store(state, std::memory_order_release);
  console_.flush();
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

uint64_t Vm::round(uint64_t slice) {
  uint64_t retired = 0;
  for (unsigned i = 0; i < vcpus_.size() && state() == State::running; ++i) {
    GuestCpu& cpu = *vcpus_[i];
    if (!cpu.running() || cpu.waiting()) continue;
    const CpuExit exit = cpu.run(slice);
    retired += exit.instructions;
    switch (exit.kind) {
    case CpuExit::Kind::sbi_call: sbi_->handle(i); break;
    case CpuExit::Kind::fatal: finish(State::failed, 1, exit.reason); break;
    case CpuExit::Kind::budget:
    case CpuExit::Kind::wait:
    case CpuExit::Kind::stopped: break;
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
      const uint64_t retired = round(slice);
      instructions_ += retired;
      clock_->retire(retired);
      const uint64_t now = clock_->now();
      board_->tick(now);
      machine::Uart16550& uart = board_->uart();
      while (uart.can_accept_input()) {
        const auto byte = console_.read();
        if (!byte) break;
        uart.push_input(*byte);
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
        deadline = std::min(deadline, cpu->timer_deadline());
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
          std::optional<Nanoseconds> wake;
          if (deadline != kNoDeadline) wake = Nanoseconds((deadline - now) * kNanosecondsPerTick);
          if (options_.max_idle && (!wake || *wake > *options_.max_idle)) wake = options_.max_idle;
          return result(RunResult::Stop::wait, wake);
        }
      }
      if (std::chrono::steady_clock::now() - began >= budget) return result(RunResult::Stop::budget_spent);
    }
  } catch (const std::exception& error) {
    finish(State::failed, 1, fmt::format("VMM error: {}", error.what()));
    return result(RunResult::Stop::halt);
  }
}

} // namespace nimbus::hypervisor

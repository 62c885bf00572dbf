#include "machine/machine.hpp"

#include <optional>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "machine/gdb/run_control.hpp"
#include "machine/hart.hpp"

namespace nimbus::machine {

namespace {

// Instructions a hart runs before the loop looks at devices, time and the console again. Short
// enough that timer interrupts land within ~0.1 ms, long enough that the checks cost nothing.
constexpr uint64_t kSliceSingleHart = 32768;
// With several harts, shorter slices keep spinlocks and IPIs between them responsive.
constexpr uint64_t kSliceSmp = 4096;
// The longest the host sleeps while every hart waits, so quit and timeout are noticed.
constexpr auto kMaxIdleSleep = std::chrono::milliseconds(50);
// With network interfaces, frames arrive on other threads and cannot interrupt the console's
// wait: an idle machine looks for them this often (the latency a frame for a sleeping guest
// may see).
constexpr auto kNetworkIdlePoll = std::chrono::microseconds(500);

} // namespace

std::string_view to_string(StopCause cause) {
  switch (cause) {
  case StopCause::PowerOff: return "power-off";
  case StopCause::Reboot: return "reboot";
  case StopCause::UserQuit: return "quit";
  case StopCause::Timeout: return "timeout";
  case StopCause::InstructionLimit: return "instruction-limit";
  }
  return "unknown";
}

Machine::Machine(const MachineConfig& config, ConsoleBackend& console)
    : config_(config),
      console_(console),
      clock_(std::make_unique<Clock>(config.deterministic)),
      bus_(std::make_unique<Bus>(Board::kRamBase, config.ram_size)),
      reservations_(std::make_unique<ReservationSet>()) {
  std::vector<InterruptPins*> pins;
  for (unsigned i = 0; i < config.harts; ++i) {
    harts_.push_back(std::make_unique<Hart>(i, *bus_, *clock_, *reservations_));
    pins.push_back(&harts_.back()->pins());
  }
  BoardConfig board_config;
  board_config.ram_size = config.ram_size;
  board_config.harts = config.harts;
  board_config.bootargs = config.append;
  board_config.drive_path = config.drive;
  board_config.drive_read_only = config.drive_read_only;
  board_config.virtio_legacy = config.virtio_legacy;
  board_config.nics = config.nics;
  board_config.balloon = config.balloon;
  if (config.virtio_console) board_config.virtio_console = &console_;
  board_ = std::make_unique<Board>(board_config, *bus_, *clock_, std::move(pins));
  board_->uart().set_sink([this](uint8_t byte) { console_.write(byte); });

  BootSpec spec;
  spec.bios = config.bios;
  if (!config.kernel.empty()) spec.kernel = config.kernel;
  if (!config.initrd.empty()) spec.initrd = config.initrd;
  spec.extra = config.loads;
  const BootInfo info = board_->boot(spec);
  // A measurement knob, not an option: NIMBUS_JIT_REGION_BLOCKS=1 translates every block alone
  // (docs/jit.md, "Regions"), to compare with units of several blocks in the same binary.
  const char* region = std::getenv("NIMBUS_JIT_REGION_BLOCKS");
  for (auto& hart : harts_) {
    hart->reset(info.reset_pc);
    if (region != nullptr) hart->set_jit_region_blocks(static_cast<unsigned>(std::strtoul(region, nullptr, 10)));
    hart->set_jit(config.jit, config.jit_threshold);
  }
}

Machine::~Machine() = default;

void Machine::attach_debugger(gdb::Stub& stub, bool wait) { debugger_ = std::make_unique<gdb::RunControl>(stub, wait); }

Bus& Machine::bus() { return *bus_; }
Hart& Machine::hart(unsigned index) { return *harts_.at(index); }
unsigned Machine::hart_count() const { return static_cast<unsigned>(harts_.size()); }

RunResult Machine::finish(RunResult& result, StopCause cause, std::chrono::steady_clock::time_point started) {
  console_.flush();
  result.cause = cause;
  for (const auto& hart : harts_)
    result.hart_states.push_back(fmt::format("hart {}: pc={:#x} {}-mode{}", hart->id(), hart->pc(),
                                             "US?M"[hart->privilege() & 3], hart->waiting() ? ", waiting (wfi)" : ""));
  result.elapsed = std::chrono::steady_clock::now() - started;
  if (debugger_ != nullptr) {
    if (cause == StopCause::PowerOff)
      debugger_->stub().exited(result.exit_code);
    else
      debugger_->stub().terminated();
  }
  return result;
}

// Console input goes to the UART, or to the virtio console with console_input_hvc, as fast as
// the device takes it.
void Machine::feed_console_input() {
  if (VirtioConsole* hvc = board_->virtio_console(); hvc && config_.console_input_hvc) {
    while (hvc->can_accept_input()) {
      const auto byte = console_.read();
      if (!byte) break;
      hvc->push_input(*byte);
    }
    return;
  }
  Uart16550& uart = board_->uart();
  while (uart.can_accept_input()) {
    const auto byte = console_.read();
    if (!byte) break;
    uart.push_input(*byte);
  }
}

std::optional<StopCause> Machine::stop_cause(uint64_t instructions, std::chrono::steady_clock::time_point started,
                                            RunResult& result) {
  const ShutdownRequest request = board_->shutdown_request();
  if (request.kind == ShutdownRequest::Kind::kPowerOff) {
    result.exit_code = static_cast<int>(request.exit_code);
    return StopCause::PowerOff;
  }
  if (request.kind == ShutdownRequest::Kind::kReboot) return StopCause::Reboot;
  if (console_.quit_requested()) return StopCause::UserQuit;
  if (config_.max_instructions && instructions >= config_.max_instructions) return StopCause::InstructionLimit;
  if (config_.timeout.count() && std::chrono::steady_clock::now() - started >= config_.timeout) return StopCause::Timeout;
  return std::nullopt;
}

RunResult Machine::run() {
  const auto started = std::chrono::steady_clock::now();
  const uint64_t slice = harts_.size() == 1 ? kSliceSingleHart : kSliceSmp;
  RunResult result;
  if (runs_parallel()) return run_parallel();
  const auto finish = [&](StopCause cause) { return this->finish(result, cause, started); };

  using Turn = gdb::RunControl::Turn;
  uint64_t retired = 0;
  const auto step = [&](unsigned index) { // one instruction of one hart, for the debugger
    Hart& hart = *harts_.at(index);
    reservations_->switch_to(hart.id());
    hart.set_single_step(true);
    retired += hart.run(1);
    hart.set_single_step(false);
  };
  for (;;) {
    retired = 0;
    Turn turn = Turn::run;
    if (debugger_ != nullptr) {
      turn = debugger_->turn(step);
      if (turn == Turn::kill) return finish(StopCause::UserQuit);
      if (turn == Turn::hold) { // stopped in the debugger: only quit and timeout go on
        if (console_.quit_requested()) return finish(StopCause::UserQuit);
        if (config_.timeout.count() && std::chrono::steady_clock::now() - started >= config_.timeout)
          return finish(StopCause::Timeout);
        continue;
      }
    }
    bool all_waiting = turn == Turn::run;
    for (auto& hart : harts_) {
      if (turn != Turn::run) break;
      if (debugger_ != nullptr && !debugger_->may_run(hart->id())) { // held by the debugger
        all_waiting = false;
        continue;
      }
      if (!hart->waiting()) {
        reservations_->switch_to(hart->id());
        retired += hart->run(slice);
        if (hart->stopped_at_breakpoint()) {
          debugger_->breakpoint_hit(hart->id());
          all_waiting = false;
          break;
        }
      }
      all_waiting = all_waiting && hart->waiting();
    }
    result.instructions += retired;
    clock_->retire(retired);
    const uint64_t now = clock_->now();
    board_->tick(now);
    board_->poll_devices();

    feed_console_input();
    console_.flush();

    if (const auto cause = stop_cause(result.instructions, started, result)) return finish(*cause);

    if (all_waiting) idle(now);
  }
}

// Every hart waits for an interrupt: nothing happens until a timer fires or input arrives.
void Machine::idle(uint64_t now) {
  uint64_t deadline = board_->next_deadline();
  for (auto& hart : harts_) {
    if (!hart->waiting()) return; // a device interrupt arrived during tick()
    deadline = std::min(deadline, hart->timer_deadline());
  }
  if (clock_->deterministic()) {
    // Time is virtual: jump to the deadline. With no deadline only input can wake the guest.
    if (deadline != Clint::kNoDeadline)
      clock_->skip_to(deadline);
    else
      console_.wait_for_input(kMaxIdleSleep);
    return;
  }
  std::chrono::nanoseconds sleep = kMaxIdleSleep;
  if (!board_->nics().empty()) sleep = kNetworkIdlePoll;
  if (deadline != Clint::kNoDeadline) {
    const uint64_t ticks = deadline > now ? deadline - now : 0;
    sleep = std::min<std::chrono::nanoseconds>(
        sleep, std::chrono::nanoseconds(ticks * (1'000'000'000 / Clock::kTimebaseHz)));
  }
  console_.wait_for_input(sleep);
}

} // namespace nimbus::machine

namespace nimbus::machine {

namespace {

// With harts on their own threads, the loop that ticks the timers and polls devices and the
// console wakes at least this often (the lateness a CLINT timer interrupt may see; a pin driven
// by a device or another hart wakes a sleeping hart at once).
constexpr auto kParallelTick = std::chrono::microseconds(250);

// Wakes the harts sleeping in WFI when an interrupt pin of theirs rises.
class Doorbell final : public InterruptPins::Waker {
public:
  void ring() override {
    { std::lock_guard lock(mutex); } // a hart between its last look and its wait sees the ring
    rung.notify_all();
  }
  std::mutex mutex;
  std::condition_variable rung;
};

} // namespace

bool Machine::runs_parallel() const {
  return config_.hart_threads && harts_.size() > 1 && !clock_->deterministic() && debugger_ == nullptr;
}

RunResult Machine::run_parallel() {
  const auto started = std::chrono::steady_clock::now();
  RunResult result;
  Doorbell doorbell;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> instructions{0};
  std::mutex failure_mutex;
  std::string failure;

  const auto hart_loop = [&](Hart& hart) {
    try {
      while (!stopping.load(std::memory_order_acquire)) {
        if (hart.waiting()) {
          std::unique_lock lock(doorbell.mutex);
          if (stopping.load(std::memory_order_acquire) || !hart.waiting()) continue;
          std::chrono::nanoseconds sleep = kMaxIdleSleep;
          const uint64_t deadline = hart.timer_deadline(); // Sstc: its own timer
          if (deadline != ~uint64_t{0}) {
            const uint64_t now = clock_->now();
            const uint64_t ticks = deadline > now ? deadline - now : 0;
            sleep = std::min<std::chrono::nanoseconds>(
                sleep, std::chrono::nanoseconds(ticks * (1'000'000'000 / Clock::kTimebaseHz)));
          }
          doorbell.rung.wait_for(lock, sleep);
          continue;
        }
        instructions.fetch_add(hart.run(kSliceSingleHart), std::memory_order_relaxed);
      }
    } catch (const std::exception& error) {
      std::lock_guard lock(failure_mutex);
      if (failure.empty()) failure = fmt::format("hart {}: {}", hart.id(), error.what());
      stopping.store(true, std::memory_order_release);
    }
  };

  reservations_->set_parallel(true);
  for (auto& hart : harts_) hart->pins().set_waker(&doorbell);
  std::vector<std::thread> threads;
  struct Join { // every path out stops and joins the harts first
    std::atomic<bool>& stopping;
    Doorbell& doorbell;
    std::vector<std::thread>& threads;
    std::vector<std::unique_ptr<Hart>>& harts;
    ReservationSet& reservations;
    ~Join() {
      stopping.store(true, std::memory_order_release);
      doorbell.ring();
      for (auto& thread : threads) thread.join();
      for (auto& hart : harts) hart->pins().set_waker(nullptr);
      reservations.set_parallel(false);
    }
  } join{stopping, doorbell, threads, harts_, *reservations_};
  for (auto& hart : harts_) threads.emplace_back(hart_loop, std::ref(*hart));

  const auto stop = [&](StopCause cause) {
    stopping.store(true, std::memory_order_release);
    doorbell.ring();
    for (auto& thread : threads) thread.join();
    threads.clear();
    result.instructions = instructions.load();
    {
      std::lock_guard lock(failure_mutex);
      if (!failure.empty()) throw std::runtime_error(failure);
    }
    return finish(result, cause, started);
  };
  for (;;) {
    const uint64_t now = clock_->now();
    board_->tick(now);
    board_->poll_devices();
    feed_console_input();
    console_.flush();

    if (const auto cause = stop_cause(instructions.load(std::memory_order_relaxed), started, result)) return stop(*cause);
    if (stopping.load(std::memory_order_acquire)) return stop(StopCause::PowerOff); // a hart failed: stop() throws

    std::chrono::nanoseconds sleep = kParallelTick;
    const uint64_t deadline = board_->next_deadline();
    const uint64_t at = clock_->now();
    if (deadline != Clint::kNoDeadline && deadline > at) // one already due has raised its pin
      sleep = std::min<std::chrono::nanoseconds>(
          sleep, std::chrono::nanoseconds((deadline - at) * (1'000'000'000 / Clock::kTimebaseHz)));
    console_.wait_for_input(sleep);
  }
}

} // namespace nimbus::machine

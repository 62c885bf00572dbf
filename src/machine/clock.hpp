#pragma once
// The machine's time base (mtime), 10 MHz as on QEMU's virt board.
// Host mode follows the host's monotonic clock. Deterministic mode derives time from retired
// instructions, so a run is exactly repeatable.
#include <chrono>
#include <cstdint>

namespace nimbus::machine {

class Clock {
public:
  static constexpr uint64_t kTimebaseHz = 10'000'000;
  // In deterministic mode every kInstructionsPerTick retired instructions advance mtime by 1.
  static constexpr uint64_t kInstructionsPerTick = 10;

  explicit Clock(bool deterministic) : deterministic_(deterministic), start_(std::chrono::steady_clock::now()) {}

  bool deterministic() const { return deterministic_; }

  uint64_t now() const {
    if (deterministic_) return offset_ + retired_ / kInstructionsPerTick;
    const auto elapsed = std::chrono::steady_clock::now() - start_;
    return offset_ + static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()) /
                         (1'000'000'000 / kTimebaseHz);
  }

  // Called by the run loop with the instructions retired since the last call (all harts).
  void retire(uint64_t instructions) { retired_ += instructions; }

  // Jumps time forward to `ticks` when every hart is idle (never backwards). In host mode this
  // is only used by the deterministic path; idle host-mode machines sleep instead.
  void skip_to(uint64_t ticks) {
    const uint64_t current = now();
    if (ticks > current) offset_ += ticks - current;
  }

  // Snapshots: the reading now and the instructions retired (deterministic time needs both).
  // restore() makes now() continue from `ticks`: time as a suspended machine sees it (no jump).
  uint64_t retired() const { return retired_; }
  void restore(uint64_t ticks, uint64_t retired) {
    start_ = std::chrono::steady_clock::now();
    retired_ = retired;
    const uint64_t base = deterministic_ ? retired_ / kInstructionsPerTick : 0;
    offset_ = ticks - base;
  }

private:
  bool deterministic_;
  std::chrono::steady_clock::time_point start_;
  uint64_t retired_ = 0;
  uint64_t offset_ = 0;
};

} // namespace nimbus::machine

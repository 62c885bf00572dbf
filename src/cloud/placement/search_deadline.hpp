#pragma once
// A wall-clock deadline that search loops poll cheaply (the clock is read every 64 polls).
#include <chrono>
#include <cstdint>

namespace nimbus::cloud::placement {

class SearchDeadline {
public:
  using Clock = std::chrono::steady_clock;
  explicit SearchDeadline(double seconds)
      : end_(Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds))) {}

  bool expired() {
    if (expired_) return true;
    if ((++polls_ & 63u) == 0 && Clock::now() >= end_) expired_ = true;
    return expired_;
  }
  double seconds_left() const { return std::chrono::duration<double>(end_ - Clock::now()).count(); }
  Clock::time_point end() const { return end_; }
  bool expired_now() {
    if (!expired_ && Clock::now() >= end_) expired_ = true;
    return expired_;
  }

private:
  Clock::time_point end_;
  uint64_t polls_ = 0;
  bool expired_ = false;
};

} // namespace nimbus::cloud::placement

#pragma once
// Counters and latency histograms for GET /metrics (Prometheus text format).
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace nimbus::cloud::controller {

class Histogram {
 public:
  static constexpr std::array<double, 10> kBounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0};
  void observe(double seconds);
  std::string text(const std::string& name, const std::string& help) const;

 private:
  mutable std::mutex mu_;
  std::array<uint64_t, kBounds.size()> buckets_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

struct Metrics {
  Histogram placement_latency;  // request received -> decision committed (or refused)
  Histogram etcd_latency;       // each etcd request the controller makes
  std::mutex mu;
  std::map<std::string, uint64_t> decisions;  // result -> count
  std::atomic<uint64_t> conflicts{0};
  std::atomic<uint64_t> moves{0};
  std::atomic<uint64_t> requests{0};
  void count_decision(const std::string& result) {
    std::lock_guard<std::mutex> lock(mu);
    ++decisions[result];
  }
};

// Times a scope into a histogram.
class ScopedTimer {
 public:
  explicit ScopedTimer(Histogram& h) : h_(h), start_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer() { h_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()); }

 private:
  Histogram& h_;
  std::chrono::steady_clock::time_point start_;
};

} // namespace nimbus::cloud::controller

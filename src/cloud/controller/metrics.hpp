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
  // Fine below 10 ms, where the placement bar (p99 <= 5 ms) is judged.
  static constexpr std::array<double, 20> kBounds{0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002,
                                                  0.0025, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025,
                                                  0.05, 0.1, 0.25, 0.5, 1.0, 2.0};
  void observe(double seconds, uint64_t times = 1);  // `times` observations of the same value
  std::string text(const std::string& name, const std::string& help) const;

 private:
  mutable std::mutex mu_;
  std::array<uint64_t, kBounds.size()> buckets_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

struct Metrics {
  Histogram placement_latency;  // request received -> decision committed (or refused)
  Histogram placement_decision; // choosing the host in the placement cache (no etcd)
  Histogram placement_queue;    // request received -> its batch starts (waiting for the batch ahead)
  Histogram placement_commit;   // the etcd transaction committing a decision's batch, per decision
  Histogram delete_latency;     // delete request -> committed (or refused)
  Histogram etcd_latency;       // each etcd request the controller makes
  std::atomic<uint64_t> model_rebuilds{0};  // full rebuilds of the placement cache
  std::atomic<uint64_t> create_batches{0};          // create transactions sent
  std::atomic<uint64_t> create_batches_chained{0};  // ... of them decided while another was in flight
  std::atomic<uint64_t> create_batches_refused{0};  // ... of them refused by their compares (re-decided)
  std::atomic<uint64_t> create_batches_resent{0};   // chained ones that reached etcd first, sent again
  std::mutex mu;
  std::map<std::string, uint64_t> decisions;  // result -> count
  std::atomic<uint64_t> conflicts{0};
  std::atomic<uint64_t> moves{0};          // stop-and-restart moves
  std::atomic<uint64_t> live_moves{0};     // live moves switched over
  std::atomic<uint64_t> live_failures{0};  // live moves aborted (the VM stayed on its source)
  std::atomic<uint64_t> vm_restarts{0};    // VMs booted again by their agent (restarted_in_place)
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

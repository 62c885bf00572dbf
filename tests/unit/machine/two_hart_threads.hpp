#pragma once
// Two harts run at once, each on its own host thread, as a parallel machine runs them
// (docs/smp.md, "Tests").
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::test {

// Runs both harts until each parks at `parked` (their M-mode trap vector), started together (a
// thread started first could otherwise finish alone on a busy host) and for at most a minute (on
// a busy host a hart may spin a long time for one whose thread is not running). Both must have
// parked there on EBREAK: use as ASSERT_NO_FATAL_FAILURE(run_on_two_threads(...)).
inline void run_on_two_threads(machine::Hart& first, machine::Hart& second, uint64_t parked) {
  std::atomic<int> ready{0};
  const auto run = [&ready, parked](machine::Hart* h) {
    ready.fetch_add(1);
    while (ready.load() < 2) {
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (h->pc() != parked && std::chrono::steady_clock::now() < until) h->run(4096);
  };
  std::thread a(run, &first), b(run, &second);
  a.join();
  b.join();
  ASSERT_EQ(first.pc(), parked);
  ASSERT_EQ(second.pc(), parked);
  constexpr uint64_t kBreakpointCause = 3;
  EXPECT_EQ(first.csr(riscv::csr::kMcause), kBreakpointCause);
  EXPECT_EQ(second.csr(riscv::csr::kMcause), kBreakpointCause);
}

} // namespace nimbus::test

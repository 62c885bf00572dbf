#pragma once
// A GuestCpu that only records what the VMM core asked of it, for the SBI tests.
#include <array>
#include <cstdint>
#include <deque>
#include <string>

#include "hypervisor/guest_cpu.hpp"
#include "machine/console_backend.hpp"

namespace nimbus::hypervisor::testing {

class FakeGuestCpu final : public GuestCpu {
public:
  CpuExit run(uint64_t) override { return {}; }
  uint64_t reg(unsigned index) const override { return index < 32 ? regs[index] : 0; }
  void set_reg(unsigned index, uint64_t value) override {
    if (index != 0 && index < 32) regs[index] = value;
  }
  uint64_t pc() const override { return pc_value; }
  void advance_pc(unsigned bytes) override { pc_value += bytes; }
  void start(uint64_t pc, uint64_t a1) override {
    is_running = true;
    pc_value = pc;
    started_a1 = a1;
    ++starts;
  }
  void stop() override { is_running = false; }
  bool running() const override { return is_running; }
  void set_timer(uint64_t deadline) override { timer = deadline; }
  void raise_software_interrupt() override { ++software_interrupts; }
  void flush_guest_tlb() override { ++tlb_flushes; }
  void flush_guest_code() override { ++code_flushes; }
  machine::InterruptPins& pins() override { return pins_; }
  bool waiting() const override { return false; }
  uint64_t timer_deadline() const override { return timer; }
  uint64_t instret() const override { return 0; }
  std::string describe() const override { return "fake"; }
  void attach_counters(VmCounters&) override {}

  // Loads an SBI call into a0-a7 (a7 = extension, a6 = function).
  void call(uint64_t eid, uint64_t fid, std::array<uint64_t, 6> args = {}) {
    for (unsigned i = 0; i < 6; ++i) regs[10 + i] = args[i];
    regs[16] = fid;
    regs[17] = eid;
  }
  int64_t error() const { return static_cast<int64_t>(regs[10]); }
  uint64_t value() const { return regs[11]; }

  std::array<uint64_t, 32> regs{};
  uint64_t pc_value = 0x80001000;
  bool is_running = false;
  uint64_t started_a1 = 0;
  unsigned starts = 0;
  uint64_t timer = ~uint64_t{0};
  unsigned software_interrupts = 0, tlb_flushes = 0, code_flushes = 0;

private:
  machine::InterruptPins pins_;
};

// A console that keeps output and serves queued input.
class BufferConsole final : public machine::ConsoleBackend {
public:
  void write(uint8_t byte) override { output.push_back(static_cast<char>(byte)); }
  std::optional<uint8_t> read() override {
    if (input.empty()) return std::nullopt;
    const uint8_t byte = input.front();
    input.pop_front();
    return byte;
  }
  void wait_for_input(std::chrono::nanoseconds) override {}

  std::string output;
  std::deque<uint8_t> input;
};

} // namespace nimbus::hypervisor::testing

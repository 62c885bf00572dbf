#pragma once
// SiFive PLIC (platform-level interrupt controller) with QEMU virt's layout: 96 sources (source
// 0 is reserved), priorities 0..7, two contexts per hart (2h = M-mode -> MEIP, 2h+1 = S-mode ->
// SEIP). The gateways behave as QEMU 7.2's: a device asserting its line (IrqLine called with
// true) makes a request pending, lowering it withdraws an unclaimed request, a claim clears the
// pending bit, and a claimed source is not delivered again until it is completed. Completion
// does NOT re-pend a line that stayed high (the PLIC spec's level gateway would); software
// written for QEMU (xv6's UART driver never reads IIR) depends on that.
#include "machine/snapshot_format.hpp"
#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

#include "machine/interrupt_pins.hpp"
#include "machine/mmio_device.hpp"

namespace nimbus::machine {

class Plic : public MmioDevice {
public:
  static constexpr uint64_t kBase = 0x0c00'0000;
  static constexpr uint64_t kSize = 0x60'0000;
  static constexpr unsigned kSources = 96; // ids 0..95; the device tree says riscv,ndev = 95
  static constexpr uint32_t kMaxPriority = 7;
  static constexpr uint64_t kPriorityOffset = 0x0;
  static constexpr uint64_t kPendingOffset = 0x1000;
  static constexpr uint64_t kEnableOffset = 0x2000;
  static constexpr uint64_t kEnableStride = 0x80;
  static constexpr uint64_t kContextOffset = 0x20'0000;
  static constexpr uint64_t kContextStride = 0x1000;
  static constexpr unsigned kMeipBit = 11;
  static constexpr unsigned kSeipBit = 9;

  explicit Plic(std::vector<InterruptPins*> hart_pins);

  std::string_view name() const override { return "plic"; }
  bool read(uint64_t offset, unsigned size, uint64_t& value) override;
  bool write(uint64_t offset, unsigned size, uint64_t value) override;

  // Power-on state: priorities, enables and thresholds zero, nothing claimed. Line levels are
  // kept (they belong to the devices) and re-enter the gateways as fresh requests.
  void reset();

  // A device's interrupt line: true asserts it (a new request, also when it was high already),
  // false lowers it. Source 0 and ids >= kSources are ignored.
  void set_irq(unsigned source, bool level);

  // Snapshots (devices/device_state.cpp): registers and internal state, not the wiring.
  // restore_state throws snapshot::FormatError for a payload that does not fit this device.
  void save_state(snapshot::Writer& out) const;
  void restore_state(snapshot::Reader& in);
  unsigned contexts() const { return static_cast<unsigned>(contexts_.size()); }
  bool pending(unsigned source) const;

private:
  static constexpr unsigned kWords = kSources / 32;
  struct Context {
    std::array<uint32_t, kWords> enable{};
    uint32_t threshold = 0;
  };

  bool read_register(uint64_t offset, uint32_t& value);
  bool write_register(uint64_t offset, uint32_t value);
  uint32_t claim(unsigned context);
  void complete(unsigned context, uint32_t source);
  // Highest-priority enabled pending source above the threshold (lowest id on ties), or 0.
  unsigned best_source(unsigned context) const;
  void update_outputs();

  std::vector<InterruptPins*> pins_;
  std::vector<Context> contexts_;
  using Bits = std::array<uint32_t, kWords>; // one bit per source, as the pending registers
  static bool test(const Bits& bits, unsigned source) { return bits[source / 32] >> (source % 32) & 1; }
  static void assign(Bits& bits, unsigned source, bool value) {
    const uint32_t mask = uint32_t{1} << (source % 32);
    bits[source / 32] = value ? bits[source / 32] | mask : bits[source / 32] & ~mask;
  }

  std::array<uint32_t, kSources> priority_{};
  Bits line_{};    // current level of each device line
  Bits pending_{}; // a request not yet claimed (may be set while claimed: delivered after completion)
  Bits claimed_{}; // claimed and not yet completed
  mutable std::mutex mutex_;
};

} // namespace nimbus::machine

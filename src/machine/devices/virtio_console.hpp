#pragma once
// virtio-console (device ID 3, virtio 1.x section 5.3) with one port and no multiport: a second
// console next to the UART (Linux's hvc driver names it hvc0, or hvc1 when the SBI console took
// hvc0). What the guest writes to transmitq goes to a ConsoleBackend, the same kind of host side
// the UART has (the VM's console log and socket, the terminal). Input goes to the UART unless the
// machine routes it here (`console_input = "hvc"`): the run loop then hands the console's bytes
// to push_input(), they wait in a bounded buffer, and poll() fills the receive buffers the
// driver posted (receiveq, 5.3.6) with them, in order.
//
// A transmit request larger than kMaxWrite is cut there (the rest is counted as dropped); a
// driver-readable buffer on the receive queue is a structural fault (DEVICE_NEEDS_RESET).
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>

#include "machine/console_backend.hpp"
#include "machine/devices/virtio_device.hpp"

namespace nimbus::machine {

class VirtioConsole : public VirtioDevice {
public:
  static constexpr uint32_t kDeviceId = 3;
  static constexpr unsigned kReceiveQueue = 0, kTransmitQueue = 1;
  static constexpr uint32_t kMaxWrite = 64 * 1024;
  static constexpr size_t kInputBytes = 4096; // host input waiting for the driver's buffers

  // `backend` must outlive the device.
  explicit VirtioConsole(ConsoleBackend& backend) : backend_(backend) {}

  uint32_t device_id() const override { return kDeviceId; }
  uint64_t features() const override { return 0; } // no SIZE, MULTIPORT or EMERG_WRITE
  unsigned queue_count() const override { return 2; }
  // cols, rows, max_nr_ports, emerg_wr: all zero without the features that give them meaning.
  std::vector<uint8_t> config() const override { return std::vector<uint8_t>(12, 0); }
  Result process(unsigned queue, const DescriptorChain& chain) override;
  bool wants_service(unsigned queue) const override;
  void reset() override;
  void driver_ok(uint64_t features) override;

  // Host input for the guest (the run loop's thread): room for one more byte, and the byte.
  // There is none before the driver is up, so typing ahead waits in the console, not here
  // (the driver's reset at probe time would lose it).
  bool can_accept_input() const;
  void push_input(uint8_t byte);
  uint64_t bytes_read() const { return read_.load(std::memory_order_relaxed); }

  uint64_t bytes_written() const { return written_.load(std::memory_order_relaxed); }
  uint64_t bytes_dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
  ConsoleBackend& backend_;
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> read_{0}; // input bytes given to the driver
  mutable std::mutex input_mutex_;
  std::deque<uint8_t> input_;
  std::atomic<bool> input_waiting_{false};
  bool driver_up_ = false; // guarded by input_mutex_
};

} // namespace nimbus::machine

#pragma once
// virtio-console (device ID 3, virtio 1.x section 5.3) with one port and no multiport: a second
// console next to the UART (Linux's hvc driver names it hvc0, or hvc1 when the SBI console took
// hvc0). What the guest writes to transmitq goes to a ConsoleBackend, the same kind of host side
// the UART has (the VM's console log and socket, the terminal). Input stays with the UART: the
// receive buffers the driver posts stay in its ring, unused.
//
// A transmit request larger than kMaxWrite is cut there (the rest is counted as dropped); a
// driver-readable buffer on the receive queue is a structural fault (DEVICE_NEEDS_RESET).
#include <atomic>
#include <cstdint>

#include "machine/console_backend.hpp"
#include "machine/devices/virtio_device.hpp"

namespace nimbus::machine {

class VirtioConsole : public VirtioDevice {
public:
  static constexpr uint32_t kDeviceId = 3;
  static constexpr unsigned kReceiveQueue = 0, kTransmitQueue = 1;
  static constexpr uint32_t kMaxWrite = 64 * 1024;

  // `backend` must outlive the device.
  explicit VirtioConsole(ConsoleBackend& backend) : backend_(backend) {}

  uint32_t device_id() const override { return kDeviceId; }
  uint64_t features() const override { return 0; } // no SIZE, MULTIPORT or EMERG_WRITE
  unsigned queue_count() const override { return 2; }
  // cols, rows, max_nr_ports, emerg_wr: all zero without the features that give them meaning.
  std::vector<uint8_t> config() const override { return std::vector<uint8_t>(12, 0); }
  Result process(unsigned queue, const DescriptorChain& chain) override;

  uint64_t bytes_written() const { return written_.load(std::memory_order_relaxed); }
  uint64_t bytes_dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
  ConsoleBackend& backend_;
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> dropped_{0};
};

} // namespace nimbus::machine

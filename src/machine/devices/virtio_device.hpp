#pragma once
// The device half of a virtio device (block, entropy, ...), independent of the transport.
// The transport owns feature negotiation, queues and interrupts; the device serves requests.
#include "machine/snapshot_format.hpp"
#include <cstdint>
#include <vector>

#include "machine/devices/descriptor_chain.hpp"

namespace nimbus::machine {

class VirtioDevice {
public:
  // Outcome of one request: bytes written into the chain's writable part, or a fault in the
  // request's structure that only a device reset can clear.
  struct Result {
    bool ok;
    uint32_t written;
  };

  virtual ~VirtioDevice() = default;
  virtual uint32_t device_id() const = 0;
  // Device-specific feature bits (the transport adds VERSION_1 and INDIRECT_DESC).
  virtual uint64_t features() const = 0;
  virtual unsigned queue_count() const = 0;
  virtual uint16_t max_queue_size() const { return 256; }
  // The device-specific configuration space, little-endian as the guest reads it.
  virtual std::vector<uint8_t> config() const = 0;
  // Serves one request from queue `queue`; called synchronously on QueueNotify.
  virtual Result process(unsigned queue, const DescriptorChain& chain) = 0;
  // Snapshots of device-specific state (default: none). Requests are served synchronously, so
  // none is ever in flight between guest instructions.
  virtual void save_state(snapshot::Writer& out) const { (void)out; }
  virtual void restore_state(snapshot::Reader& in) { (void)in; }
  // The driver reset the device (status 0).
  virtual void reset() {}
};

} // namespace nimbus::machine

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
  // request's structure that only a device reset can clear. deferred: the device has nothing
  // for this buffer yet (a receive queue with no frame waiting); the transport puts the chain
  // back in the available ring, unused, and serves it later.
  struct Result {
    bool ok;
    uint32_t written;
    bool deferred = false;
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
  // The driver set DRIVER_OK with these features accepted (their meaning is settled from now on).
  virtual void driver_ok(uint64_t features) { (void)features; }
  // Whether queue `queue` has work the device started itself (a frame arrived for a receive
  // queue); the board's poll() then serves that queue as if the driver had notified it.
  // Any thread may make this true; only the device's thread reads it.
  virtual bool wants_service(unsigned queue) const { (void)queue; return false; }
  // A driver write to the configuration space (byte offset, 1, 2 or 4 bytes, little-endian);
  // default: every field is read-only and the write is ignored.
  virtual void write_config(uint64_t offset, unsigned size, uint64_t value) { (void)offset, (void)size, (void)value; }
  // Whether the device changed its configuration since the last call (the transport then raises
  // a configuration-change interrupt and bumps ConfigGeneration). Any thread may make this true;
  // only the device's thread takes it.
  virtual bool take_config_change() { return false; }
  // Whether the buffers of queue `queue` only name guest memory the device never reads or
  // writes (a balloon's free page reports): the transport then checks they lie in RAM without
  // making the host back them, and the chain's segments carry no host pointer.
  virtual bool buffers_are_addresses(unsigned queue) const { (void)queue; return false; }
};

} // namespace nimbus::machine

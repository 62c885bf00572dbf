#pragma once
// A split virtqueue (virtio 1.x, section 2.7) living in guest RAM. Every guest-provided address,
// length and index is checked before use: rings must lie in RAM, buffers must lie in RAM, chains
// may not loop or exceed the queue size, indirect tables may not nest. A violation makes pop()
// report an error (the transport then sets DEVICE_NEEDS_RESET); host memory outside guest RAM is
// never touched.
#include "machine/snapshot_format.hpp"
#include <cstdint>
#include <string>

#include "machine/bus.hpp"
#include "machine/devices/descriptor_chain.hpp"

namespace nimbus::machine {

class Virtqueue {
public:
  static constexpr uint16_t kDescNext = 1;
  static constexpr uint16_t kDescWrite = 2;
  static constexpr uint16_t kDescIndirect = 4;
  static constexpr uint64_t kDescSize = 16;
  // No request needs more than this many bytes of buffers; anything larger is hostile.
  static constexpr uint64_t kMaxChainBytes = 256ull << 20;

  enum class PopResult { kEmpty, kChain, kError };

  // Queue registers as the transport sets them.
  uint32_t size = 0;
  bool ready = false;
  uint64_t desc_addr = 0;
  uint64_t driver_addr = 0; // available ring
  uint64_t device_addr = 0; // used ring

  void reset();
  // Checks size and ring placement before the queue goes live; the error names the problem.
  bool validate(const Bus& bus, uint32_t max_size, std::string& error) const;
  // Takes the next available chain into `chain`. addresses_only: the buffers are checked to lie
  // in RAM but not backed, and their segments have no host pointer (VirtioDevice::
  // buffers_are_addresses).
  PopResult pop(Bus& bus, DescriptorChain& chain, std::string& error, bool addresses_only = false);
  // Puts the chain pop() just took back at the head of the available ring (the device had no
  // use for it yet); the next pop() walks it again.
  void unpop() { --last_avail_; }
  // Returns a chain to the driver through the used ring. The caller reports the RAM write to
  // the bus (Bus::note_dma_write), once for a whole batch.
  bool push_used(Bus& bus, uint16_t head, uint32_t written, std::string& error);

  // Snapshots: registers and ring indices (the rings themselves are in guest RAM).
  void save_state(snapshot::Writer& out) const;
  void restore_state(snapshot::Reader& in);
  uint16_t last_avail_index() const { return last_avail_; }

private:
  bool walk(Bus& bus, uint64_t table, uint32_t entries, uint16_t first, bool indirect_allowed, bool addresses_only,
            DescriptorChain& chain, std::string& error);

  uint16_t last_avail_ = 0;
  uint16_t used_index_ = 0;
};

} // namespace nimbus::machine

#pragma once
// Drives one virtio-mmio transport and its device as a hostile guest would: the input is a
// stream of register accesses, writes into guest RAM, descriptor writes, requests made available
// and notified, and the driver's initialisation sequence (so the fuzzer starts from a working
// queue rather than having to discover the handshake). Guest RAM is a heap buffer of exactly its
// size behind a RamBacking, so ASan reports any device access a byte past it.
//
// Checks shared by the virtio targets: the same input run twice on fresh RAM and a fresh device
// gives the same RAM and the same transport state (requests are served deterministically, the
// entropy source is seeded); the transport's snapshot state restores into a fresh transport and
// saves back identically; reset() returns it to the power-on state.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "device_state_check.hpp"
#include "fuzz_support.hpp"
#include "machine/bus.hpp"
#include "machine/devices/virtio_mmio.hpp"
#include "machine/devices/virtqueue.hpp"
#include "mmio_ops.hpp"

namespace nimbus::fuzz {

class HeapRam : public machine::RamBacking {
public:
  explicit HeapRam(uint64_t size) : bytes_(size) {}
  uint8_t* view() override { return bytes_.data(); }
  bool commit(uint64_t, uint64_t) override { return true; }
  std::vector<uint8_t>& bytes() { return bytes_; }

private:
  std::vector<uint8_t> bytes_;
};

struct VirtioLayout {
  static constexpr uint64_t kRamBase = 0x8000'0000;
  static constexpr uint64_t kRamSize = 64 * 1024;
  static constexpr uint64_t kDesc = kRamBase + 0x1000;
  static constexpr uint64_t kAvail = kRamBase + 0x2000;
  static constexpr uint64_t kUsed = kRamBase + 0x3000;
  static constexpr uint64_t kBuffers = kRamBase + 0x4000;
};

// Writes one split-ring descriptor (virtio 1.x 2.7.5: addr, len, flags, next) at `at`.
inline void write_descriptor(machine::Bus& bus, uint64_t at, uint64_t addr, uint32_t len, uint16_t flags,
                             uint16_t next) {
  uint8_t d[16];
  std::memcpy(d, &addr, 8);
  std::memcpy(d + 8, &len, 4);
  std::memcpy(d + 12, &flags, 2);
  std::memcpy(d + 14, &next, 2);
  bus.copy_to_ram(at, d, 16);
}

// Opcodes of the input stream (the first byte of the input chooses the layout and options).
namespace virtio_op {
inline constexpr uint8_t kRegister = 0x00;  // 0x00-0x7f: a register access (mmio_ops.hpp)
inline constexpr uint8_t kRam = 0x80;       // offset u16, length u8, bytes
inline constexpr uint8_t kDescriptor = 0xa0;// index u8, addr u16 (+RAM base) or u64 (bit 0), len u32, flags u8, next u8
inline constexpr uint8_t kAvailable = 0xc0; // head u8: add to the avail ring and notify queue 0
inline constexpr uint8_t kInit = 0xd0;      // the driver's initialisation, queue size 1 << (opcode & 7)
inline constexpr uint8_t kReset = 0xf0;     // the machine resets the transport
} // namespace virtio_op

// `copy` 0 makes the device under test, 1 an independent one of the same configuration (for the
// restore check: a disk image cannot be opened twice for writing).
using DeviceFactory = std::function<std::unique_ptr<machine::VirtioDevice>(int copy)>;

class VirtioRun {
public:
  VirtioRun(const DeviceFactory& make, bool legacy, int copy = 0)
      : ram_(VirtioLayout::kRamSize), bus_(VirtioLayout::kRamBase, VirtioLayout::kRamSize, ram_),
        transport_(bus_, make(copy), [](bool) {}, legacy ? machine::VirtioMmio::Layout::legacy : machine::VirtioMmio::Layout::modern),
        legacy_(legacy) {}

  machine::VirtioMmio& transport() { return transport_; }
  machine::Bus& bus() { return bus_; }
  const std::vector<uint8_t>& ram() { return ram_.bytes(); }

  void run(ByteReader& in) {
    for (unsigned n = 0; n < 2048 && !in.empty(); ++n) step(in);
  }

private:
  void reg(uint64_t offset, uint32_t value) { transport_.write(offset, 4, value); }
  void store16(uint64_t at, uint16_t v) { bus_.copy_to_ram(at, &v, 2); }

  void init(unsigned queue_size) {
    using M = machine::VirtioMmio;
    queue_size_ = static_cast<uint16_t>(queue_size);
    avail_idx_ = 0;
    reg(M::kStatus, 0);
    reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver);
    if (!legacy_) {
      reg(M::kDriverFeaturesSel, 0);
      uint64_t low = 0;
      transport_.read(M::kDeviceFeatures, 4, low);
      reg(M::kDriverFeatures, static_cast<uint32_t>(low));
      reg(M::kDriverFeaturesSel, 1);
      reg(M::kDriverFeatures, static_cast<uint32_t>(M::kFeatureVersion1 >> 32));
      reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk);
      reg(M::kQueueSel, 0);
      reg(M::kQueueNum, queue_size);
      reg(M::kQueueDescLow, static_cast<uint32_t>(VirtioLayout::kDesc));
      reg(M::kQueueDescHigh, 0);
      reg(M::kQueueDriverLow, static_cast<uint32_t>(VirtioLayout::kAvail));
      reg(M::kQueueDriverHigh, 0);
      reg(M::kQueueDeviceLow, static_cast<uint32_t>(VirtioLayout::kUsed));
      reg(M::kQueueDeviceHigh, 0);
      reg(M::kQueueReady, 1);
      reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk | M::kStatusDriverOk);
    } else {
      // Legacy: one contiguous queue at a page frame; the avail ring follows the table, the
      // used ring at the next 4 KiB boundary.
      reg(M::kLegacyGuestPageSize, 4096);
      reg(M::kQueueSel, 0);
      reg(M::kQueueNum, queue_size);
      reg(M::kLegacyQueueAlign, 4096);
      reg(M::kLegacyQueuePfn, static_cast<uint32_t>(VirtioLayout::kDesc >> 12));
      reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusDriverOk);
    }
  }

  uint64_t avail_ring() const {
    if (!legacy_) return VirtioLayout::kAvail;
    return VirtioLayout::kDesc + 16ull * queue_size_;
  }

  void step(ByteReader& in) {
    const uint8_t opcode = in.u8();
    if (opcode < 0x80) {
      const MmioOp op = read_mmio_op(opcode, in, machine::VirtioMmio::kSlotSize);
      uint64_t value = 0;
      if (op.write) transport_.write(op.offset, op.size, op.value);
      else if (transport_.read(op.offset, op.size, value) && op.size < 8) FUZZ_CHECK(value >> (8 * op.size) == 0);
    } else if (opcode < virtio_op::kDescriptor) {
      const uint64_t offset = in.u16() % VirtioLayout::kRamSize;
      const auto bytes = in.bytes(in.u8());
      const uint64_t len = std::min<uint64_t>(bytes.size(), VirtioLayout::kRamSize - offset);
      if (len > 0) std::memcpy(ram_.bytes().data() + offset, bytes.data(), len);
    } else if (opcode < virtio_op::kAvailable) {
      const uint8_t index = in.u8();
      const uint64_t addr = (opcode & 1) ? in.u64() : VirtioLayout::kRamBase + in.u16();
      const uint32_t len = in.u32();
      const auto flags = static_cast<uint16_t>(in.u8() & 7);
      const uint16_t next = in.u8();
      write_descriptor(bus_, VirtioLayout::kDesc + 16ull * (index % 128), addr, len, flags, next);
    } else if (opcode < virtio_op::kInit) {
      const uint16_t head = in.u8();
      const uint16_t size = queue_size_ ? queue_size_ : 1;
      store16(avail_ring() + 4 + 2ull * (avail_idx_ % size), head);
      ++avail_idx_;
      store16(avail_ring() + 2, avail_idx_);
      reg(machine::VirtioMmio::kQueueNotify, 0);
    } else if (opcode < virtio_op::kReset) {
      init(1u << (opcode & 7));
    } else {
      transport_.reset();
    }
  }

  HeapRam ram_;
  machine::Bus bus_;
  machine::VirtioMmio transport_;
  bool legacy_;
  uint16_t queue_size_ = 0;
  uint16_t avail_idx_ = 0;
};

inline std::vector<uint8_t> transport_state(const machine::VirtioMmio& t) {
  machine::snapshot::Writer w;
  t.save_state(w);
  return w.take();
}

// Runs the input, then the shared checks. `between` runs between the two runs (restoring a disk).
// `kept_over_reset`: bytes of device state (saved last, after a u32 length) that a reset leaves
// as they are on purpose, left out of the reset check.
inline void fuzz_virtio(const uint8_t* data, size_t size, const DeviceFactory& make,
                        const std::function<void()>& between = {}, size_t kept_over_reset = 0) {
  if (size == 0) return;
  const bool legacy = data[0] & 1;
  std::vector<uint8_t> ram_first, state_first;
  {
    VirtioRun first(make, legacy);
    ByteReader in(data + 1, size - 1);
    first.run(in);
    ram_first = first.ram();
    state_first = transport_state(first.transport());

    // The state restores into a fresh transport over the same RAM and saves back identically;
    // reset() gives the power-on state.
    VirtioRun fresh(make, legacy, 1);
    const std::vector<uint8_t> power_on = transport_state(fresh.transport());
    std::memcpy(const_cast<uint8_t*>(fresh.ram().data()), ram_first.data(), ram_first.size());
    machine::snapshot::Reader r(state_first, "virtio transport");
    fresh.transport().restore_state(r);
    r.expect_end();
    FUZZ_CHECK(transport_state(fresh.transport()) == state_first);
    first.transport().reset();
    const std::vector<uint8_t> after_reset = transport_state(first.transport());
    FUZZ_CHECK(after_reset.size() == power_on.size() && power_on.size() >= kept_over_reset);
    FUZZ_CHECK(std::equal(power_on.begin(), power_on.end() - static_cast<ptrdiff_t>(kept_over_reset), after_reset.begin()));
  }
  if (between) between();
  VirtioRun second(make, legacy);
  ByteReader in(data + 1, size - 1);
  second.run(in);
  FUZZ_CHECK(second.ram() == ram_first);
  FUZZ_CHECK(transport_state(second.transport()) == state_first);
}

// Seed building: the same opcodes the run reads.
struct VirtioSeed {
  ByteWriter w;
  explicit VirtioSeed(bool legacy) { w.u8(legacy ? 1 : 0); }
  void init(unsigned log2_queue_size) { w.u8(static_cast<uint8_t>(virtio_op::kInit | log2_queue_size)); }
  void ram(uint16_t offset, const std::vector<uint8_t>& bytes) {
    w.u8(virtio_op::kRam);
    w.u16(offset);
    w.u8(static_cast<uint8_t>(bytes.size()));
    w.bytes(bytes);
  }
  void desc(uint8_t index, uint64_t addr, uint32_t len, uint8_t flags, uint8_t next) {
    w.u8(virtio_op::kDescriptor | 1);
    w.u8(index);
    w.u64(addr);
    w.u32(len);
    w.u8(flags);
    w.u8(next);
  }
  void available(uint8_t head) {
    w.u8(virtio_op::kAvailable);
    w.u8(head);
  }
  void read_register(uint64_t offset) { write_mmio_op(w, MmioOp{offset, 4, false, 0}); }
};

} // namespace nimbus::fuzz

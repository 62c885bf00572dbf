#pragma once
// Drives a modern virtio-mmio transport with up to four queues as a hostile guest would, for
// devices whose interesting queue is not queue 0 (console, balloon): the input is a stream of
// register accesses, writes into guest RAM, descriptors of any queue, heads made available and
// notified on any queue, the run loop's poll, resets, and device-specific host events
// (`host_event`, given the opcode's low bits and the reader). Unless the input's first bit says
// otherwise, it starts from the driver's initialisation with every feature the device offers,
// so the fuzzer need not find the handshake. Guest RAM is a heap buffer of exactly its size, so
// ASan sees one byte past it.
#include <cassert>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>

#include "fuzz_support.hpp"
#include "machine/bus.hpp"
#include "machine/devices/virtio_mmio.hpp"
#include "mmio_ops.hpp"
#include "virtio_harness.hpp"

namespace nimbus::fuzz {

namespace multi_queue_op {
inline constexpr uint8_t kRegister = 0x00;   // 0x00-0x7f: a register access (mmio_ops.hpp)
inline constexpr uint8_t kRam = 0x80;        // 0x80-0x9f: offset u16, length u8, bytes
inline constexpr uint8_t kDescriptor = 0xa0; // 0xa0-0xbf: queue (bits 0-1), index u8, addr, len, flags u8, next u8
inline constexpr uint8_t kAvailable = 0xc0;  // 0xc0-0xcf: queue (bits 0-1), head u8, then notify
inline constexpr uint8_t kHost = 0xd0;       // 0xd0-0xef: the device's host event 0-31 (opcode - kHost)
inline constexpr uint8_t kPoll = 0xf0;       // 0xf0-0xfd: the run loop's poll
inline constexpr uint8_t kReset = 0xfe;      // 0xfe-0xff: the machine resets the transport
} // namespace multi_queue_op

struct MultiQueueLayout {
  static constexpr uint64_t kRamBase = 0x8000'0000, kRamSize = 64 * 1024;
  static constexpr uint16_t kQueueSize = 8;
  static constexpr uint64_t desc(unsigned q) { return kRamBase + 0x1000 + q * 0x1000; }
  static constexpr uint64_t avail(unsigned q) { return kRamBase + 0x5000 + q * 0x400; }
  static constexpr uint64_t used(unsigned q) { return kRamBase + 0x6000 + q * 0x400; }
  static constexpr uint64_t kBuffers = kRamBase + 0x8000;
};

class MultiQueueRun {
public:
  using HostEvent = std::function<void(uint8_t event, ByteReader& in)>;

  // `make` builds the device over this run's bus (a balloon releases RAM through it).
  MultiQueueRun(const std::function<std::unique_ptr<machine::VirtioDevice>(machine::Bus&)>& make, HostEvent host_event)
      : ram_(MultiQueueLayout::kRamSize), bus_(MultiQueueLayout::kRamBase, MultiQueueLayout::kRamSize, ram_),
        transport_(bus_, make(bus_), [](bool) {}), host_event_(std::move(host_event)) {}

  machine::VirtioMmio& transport() { return transport_; }
  machine::Bus& bus() { return bus_; }
  const std::vector<uint8_t>& ram() { return ram_.bytes(); }

  void run(ByteReader& in) {
    if (!in.empty() && (in.u8() & 1) == 0) init();
    for (unsigned n = 0; n < 2048 && !in.empty(); ++n) step(in);
  }

private:
  void reg(uint64_t offset, uint32_t v) { transport_.write(offset, 4, v); }

  void init() {
    using M = machine::VirtioMmio;
    reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver);
    for (uint32_t sel = 0; sel < 2; ++sel) {
      uint64_t offered = 0;
      reg(M::kDeviceFeaturesSel, sel);
      transport_.read(M::kDeviceFeatures, 4, offered);
      reg(M::kDriverFeaturesSel, sel);
      reg(M::kDriverFeatures, static_cast<uint32_t>(offered));
    }
    reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk);
    for (unsigned q = 0; q < 4; ++q) {
      reg(M::kQueueSel, q);
      reg(M::kQueueNum, MultiQueueLayout::kQueueSize);
      reg(M::kQueueDescLow, static_cast<uint32_t>(MultiQueueLayout::desc(q)));
      reg(M::kQueueDriverLow, static_cast<uint32_t>(MultiQueueLayout::avail(q)));
      reg(M::kQueueDeviceLow, static_cast<uint32_t>(MultiQueueLayout::used(q)));
      reg(M::kQueueReady, 1);
    }
    reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk | M::kStatusDriverOk);
  }

  void step(ByteReader& in) {
    using L = MultiQueueLayout;
    const uint8_t opcode = in.u8();
    if (opcode < multi_queue_op::kRam) {
      const MmioOp op = read_mmio_op(opcode, in, machine::VirtioMmio::kSlotSize);
      uint64_t value = 0;
      if (op.write) transport_.write(op.offset, op.size, op.value);
      else if (transport_.read(op.offset, op.size, value) && op.size < 8) FUZZ_CHECK(value >> (8 * op.size) == 0);
    } else if (opcode < multi_queue_op::kDescriptor) {
      const uint64_t offset = in.u16() % L::kRamSize;
      const auto bytes = in.bytes(in.u8());
      bus_.copy_to_ram(L::kRamBase + offset, bytes.data(), std::min<uint64_t>(bytes.size(), L::kRamSize - offset));
    } else if (opcode < multi_queue_op::kAvailable) {
      const unsigned q = opcode & 3;
      const uint8_t index = in.u8() % L::kQueueSize;
      const uint64_t addr = (opcode & 4) ? in.u64() : L::kRamBase + in.u16();
      const uint32_t len = (opcode & 8) ? in.u32() : in.u16();
      const auto flags = static_cast<uint16_t>(in.u8() & 7);
      const uint16_t next = in.u8();
      write_descriptor(bus_, L::desc(q) + 16ull * index, addr, len, flags, next);
    } else if (opcode < multi_queue_op::kHost) {
      const unsigned q = opcode & 3;
      const uint16_t head = in.u8();
      bus_.copy_to_ram(L::avail(q) + 4 + 2ull * (avail_idx_[q] % L::kQueueSize), &head, 2);
      ++avail_idx_[q];
      bus_.copy_to_ram(L::avail(q) + 2, &avail_idx_[q], 2);
      reg(machine::VirtioMmio::kQueueNotify, q);
    } else if (opcode < multi_queue_op::kPoll) {
      host_event_(static_cast<uint8_t>(opcode - multi_queue_op::kHost), in);
    } else if (opcode < multi_queue_op::kReset) {
      transport_.poll();
    } else {
      transport_.reset();
    }
  }

  HeapRam ram_;
  machine::Bus bus_;
  machine::VirtioMmio transport_;
  HostEvent host_event_;
  uint16_t avail_idx_[4] = {0, 0, 0, 0};
};

// The transport's saved `state` (over `ram`) restores into a fresh transport and device made by
// `make` and saves back identically.
inline void check_state_restores(const std::function<std::unique_ptr<machine::VirtioDevice>(machine::Bus&)>& make,
                                 const std::vector<uint8_t>& ram, const std::vector<uint8_t>& state) {
  MultiQueueRun fresh(make, [](uint8_t, ByteReader&) {});
  fresh.bus().copy_to_ram(MultiQueueLayout::kRamBase, ram.data(), ram.size());
  machine::snapshot::Reader r(state, "virtio transport");
  fresh.transport().restore_state(r);
  r.expect_end();
  FUZZ_CHECK(transport_state(fresh.transport()) == state);
}

// Seeds in the same opcodes.
struct MultiQueueSeed {
  ByteWriter w;
  MultiQueueSeed() { w.u8(0); } // start from the driver's initialisation
  void ram(uint16_t offset, const std::vector<uint8_t>& bytes) {
    w.u8(multi_queue_op::kRam);
    w.u16(offset);
    w.u8(static_cast<uint8_t>(bytes.size()));
    w.bytes(bytes);
  }
  void desc(unsigned queue, uint8_t index, uint64_t addr, uint32_t len, uint8_t flags, uint8_t next) {
    w.u8(static_cast<uint8_t>(multi_queue_op::kDescriptor | queue | 4 | 8));
    w.u8(index);
    w.u64(addr);
    w.u32(len);
    w.u8(flags);
    w.u8(next);
  }
  void available(unsigned queue, uint8_t head) {
    w.u8(static_cast<uint8_t>(multi_queue_op::kAvailable | queue));
    w.u8(head);
  }
  void host(uint8_t event) { // 0-31
    assert(event < 32);
    w.u8(static_cast<uint8_t>(multi_queue_op::kHost + event));
  }
  void poll() { w.u8(multi_queue_op::kPoll); }
};

} // namespace nimbus::fuzz

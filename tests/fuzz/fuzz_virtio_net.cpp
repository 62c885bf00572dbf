// Fuzz target: virtio-net (machine/devices/virtio_net.*) behind a modern virtio-mmio transport
// with both queues live, driven by any register access, any RAM and descriptor contents, frames
// arriving from the network at any time and the run loop's poll between them.
//
// Beyond "no crash" (guest RAM is a heap buffer, so ASan sees one byte past it): every frame the
// device puts on the wire is 14..1518 bytes (a copy of what the guest put after
// its header), or a request for checksum or segmentation work whose header passes
// check_offload() and finishes into such frames; the device's counters add up: every frame
// offered is delivered, dropped (backlog full, runt or giant, no room in the buffer, a header
// that lies, discarded by a reset), still waiting, or replaced by its finished segments.
// The driver negotiates a subset of the offloads the input picks, and frames arrive with any
// offload header, half of them in front of a plausible Ethernet + IPv4/IPv6 + TCP header.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_support.hpp"
#include "machine/devices/virtio_net.hpp"
#include "mmio_ops.hpp"
#include "virtio_harness.hpp"

using namespace nimbus::machine;
using nimbus::fuzz::ByteReader;
using nimbus::fuzz::HeapRam;

namespace {

constexpr uint64_t kRamBase = 0x8000'0000, kRamSize = 64 * 1024;
constexpr uint16_t kQueueSize = 8;
uint64_t desc(unsigned q) { return kRamBase + 0x1000 + q * 0x1000; }
uint64_t avail(unsigned q) { return kRamBase + 0x3000 + q * 0x1000; }
uint64_t used(unsigned q) { return kRamBase + 0x5000 + q * 0x1000; }

struct CountingLink : NetLink {
  void attach(FrameSink* s) override { sink = s; }
  void transmit(std::span<const uint8_t> frame) override {
    FUZZ_CHECK(frame.size() >= kMinFrameBytes && frame.size() <= kMaxFrameBytes);
    ++sent;
  }
  void transmit_offloaded(std::span<const uint8_t> frame, const NetOffload& offload) override {
    FUZZ_CHECK(check_offload(frame, offload) == nullptr);
    FUZZ_CHECK(finish_offload(frame, offload, [](std::span<const uint8_t> f) {
      FUZZ_CHECK(f.size() >= kMinFrameBytes && f.size() <= kMaxFrameBytes);
    }));
    ++sent;
  }
  FrameSink* sink = nullptr;
  uint64_t sent = 0;
};

// Seeds in the input's own language: the driver's set-up (first byte), then operations.
struct NetSeed {
  nimbus::fuzz::ByteWriter w;
  explicit NetSeed(uint8_t setup) { w.u8(setup); }
  void ram(uint16_t offset, const std::vector<uint8_t>& bytes) {
    w.u8(0x80);
    w.u16(offset);
    w.u8(static_cast<uint8_t>(bytes.size()));
    w.bytes(bytes);
  }
  void desc(unsigned q, uint8_t index, uint16_t offset, uint16_t len, uint8_t flags, uint8_t next) {
    w.u8(static_cast<uint8_t>(0xa0 | q)); // a RAM address kRamBase + offset, a 16-bit length
    w.u8(index);
    w.u16(offset);
    w.u16(len);
    w.u8(flags);
    w.u8(next);
  }
  void available(unsigned q, uint8_t head) {
    w.u8(static_cast<uint8_t>(0xc0 | q));
    w.u8(head);
  }
  void frame(uint16_t len) { // plain, from the network
    w.u8(0xe1);
    w.u16(len);
  }
  void offloaded_frame(bool v6, uint16_t len, const std::vector<uint8_t>& header) {
    w.u8(static_cast<uint8_t>(0xd1 | (v6 ? 2 : 0)));
    w.u16(len);
    w.bytes(header);
  }
  void poll() { w.u8(0xf0); }
};

// An Ethernet + IPv4 + TCP frame of 60 bytes after a 12-byte virtio-net header (all zero: no
// offload), as a driver transmits it.
std::vector<uint8_t> tx_packet(const std::vector<uint8_t>& header) {
  std::vector<uint8_t> p(header);
  p.resize(12, 0);
  const std::vector<uint8_t> frame = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 1, 2, 3, 0x08, 0x00,
                                      0x45, 0, 0, 46, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
                                      0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0};
  p.insert(p.end(), frame.begin(), frame.end());
  p.resize(12 + 60, 0);
  return p;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!nimbus::fuzz::seed_dir()) return 0;
  constexpr uint8_t kWrite = Virtqueue::kDescWrite, kNext = Virtqueue::kDescNext;
  {
    // Transmit one frame, in one buffer and as header + frame in a chain; receive a frame into a
    // posted buffer and one into a buffer too small for it.
    NetSeed s(0);
    s.ram(0x100, tx_packet({}));
    s.desc(1, 0, 0x100, 72, 0, 0);
    s.available(1, 0);
    s.desc(1, 1, 0x100, 12, kNext, 2);
    s.desc(1, 2, 0x10c, 60, 0, 0);
    s.available(1, 1);
    s.desc(0, 0, 0x800, 1526, kWrite, 0);
    s.available(0, 0);
    s.frame(60);
    s.poll();
    s.desc(0, 1, 0xe00, 40, kWrite, 0);
    s.available(0, 1);
    s.frame(200);
    s.poll();
    nimbus::fuzz::write_seed("net_tx_rx", s.w.out);
  }
  {
    // Every offload negotiated: a TSO frame and a frame that needs its checksum arrive into a
    // large buffer; the driver transmits a frame asking for its TCP checksum (csum_start 34,
    // csum_offset 16).
    NetSeed s(0x7e);
    s.desc(0, 0, 0x8000, 0x8000, kWrite, 0); // above the rings
    s.available(0, 0);
    s.offloaded_frame(false, 3000, {1, 1, 54, 0, 0xb4, 0x05, 34, 0, 16, 0}); // GSO TCPv4, MSS 1460
    s.poll();
    s.desc(0, 1, 0x7000, 0x1000, kWrite, 0);
    s.available(0, 1);
    s.offloaded_frame(true, 200, {1, 0, 0, 0, 0, 0, 54, 0, 16, 0}); // IPv6, NEEDS_CSUM
    s.poll();
    s.ram(0x100, tx_packet({1, 0, 0, 0, 0, 0, 34, 0, 16, 0}));
    s.desc(1, 0, 0x100, 72, 0, 0);
    s.available(1, 0);
    s.poll();
    nimbus::fuzz::write_seed("net_offloads", s.w.out);
  }
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  HeapRam ram(kRamSize);
  Bus bus(kRamBase, kRamSize, ram);
  auto link = std::make_shared<CountingLink>();
  auto device = std::make_unique<VirtioNet>(MacAddress{0x52, 0x54, 0, 1, 2, 3}, link);
  VirtioNet& net = *device;
  VirtioMmio t(bus, std::move(device), [](bool) {});
  auto reg = [&](uint64_t offset, uint32_t v) { t.write(offset, 4, v); };
  auto store16 = [&](uint64_t at, uint16_t v) { bus.copy_to_ram(at, &v, 2); };
  uint16_t avail_idx[2] = {0, 0};
  uint64_t offered = 0;
  // The driver's initialisation with both queues, unless the input's first bit says not to.
  const uint8_t setup = in.empty() ? 1 : in.u8();
  if ((setup & 1) == 0) {
    // Bits 1..6 of the first byte pick the offloads the driver accepts.
    static constexpr uint64_t kOffloads[] = {VirtioNet::kFeatureCsum,      VirtioNet::kFeatureGuestCsum,
                                             VirtioNet::kFeatureGuestTso4, VirtioNet::kFeatureGuestTso6,
                                             VirtioNet::kFeatureHostTso4,  VirtioNet::kFeatureHostTso6};
    uint32_t low = 0;
    for (unsigned i = 0; i < 6; ++i)
      if (setup & (2u << i)) low |= static_cast<uint32_t>(kOffloads[i]);
    reg(VirtioMmio::kStatus, VirtioMmio::kStatusAcknowledge | VirtioMmio::kStatusDriver);
    reg(VirtioMmio::kDriverFeaturesSel, 0);
    reg(VirtioMmio::kDriverFeatures, low);
    reg(VirtioMmio::kDriverFeaturesSel, 1);
    reg(VirtioMmio::kDriverFeatures, 1); // VERSION_1
    reg(VirtioMmio::kStatus, VirtioMmio::kStatusAcknowledge | VirtioMmio::kStatusDriver | VirtioMmio::kStatusFeaturesOk);
    for (unsigned q = 0; q < 2; ++q) {
      reg(VirtioMmio::kQueueSel, q);
      reg(VirtioMmio::kQueueNum, kQueueSize);
      reg(VirtioMmio::kQueueDescLow, static_cast<uint32_t>(desc(q)));
      reg(VirtioMmio::kQueueDriverLow, static_cast<uint32_t>(avail(q)));
      reg(VirtioMmio::kQueueDeviceLow, static_cast<uint32_t>(used(q)));
      reg(VirtioMmio::kQueueReady, 1);
    }
    reg(VirtioMmio::kStatus, 0xf);
  }
  for (unsigned n = 0; n < 2048 && !in.empty(); ++n) {
    const uint8_t opcode = in.u8();
    if (opcode < 0x80) { // a register access
      const auto op = nimbus::fuzz::read_mmio_op(opcode, in, VirtioMmio::kSlotSize);
      uint64_t value = 0;
      if (op.write) t.write(op.offset, op.size, op.value);
      else t.read(op.offset, op.size, value);
    } else if (opcode < 0xa0) { // RAM bytes
      const uint64_t offset = in.u16() % kRamSize;
      const auto bytes = in.bytes(in.u8());
      bus.copy_to_ram(kRamBase + offset, bytes.data(), std::min<uint64_t>(bytes.size(), kRamSize - offset));
    } else if (opcode < 0xc0) { // a descriptor of queue (opcode & 1)
      const unsigned q = opcode & 1;
      const uint8_t index = in.u8() % kQueueSize;
      const uint64_t addr = (opcode & 2) ? in.u64() : kRamBase + in.u16();
      const uint32_t len = (opcode & 4) ? in.u32() : in.u16();
      const auto flags = static_cast<uint16_t>(in.u8() & 7);
      const uint16_t next = in.u8();
      nimbus::fuzz::write_descriptor(bus, desc(q) + 16ull * index, addr, len, flags, next);
    } else if (opcode < 0xd0) { // make a head available on queue (opcode & 1) and notify
      const unsigned q = opcode & 1;
      store16(avail(q) + 4 + 2ull * (avail_idx[q] % kQueueSize), in.u8());
      store16(avail(q) + 2, ++avail_idx[q]);
      reg(VirtioMmio::kQueueNotify, q);
    } else if (opcode < 0xe0) { // a frame with an offload header arrives
      const size_t len = in.u16() % (kMaxOffloadFrameBytes + 64);
      std::vector<uint8_t> frame(len);
      for (size_t i = 0; i < len; ++i) frame[i] = static_cast<uint8_t>(i * 31 + opcode);
      if ((opcode & 1) && len >= 54) { // Ethernet, IPv4 or IPv6, TCP, lengths as the frame's
        const bool v6 = opcode & 2;
        const size_t l3 = 14, l4 = l3 + (v6 ? 40 : 20);
        frame[12] = v6 ? 0x86 : 0x08, frame[13] = v6 ? 0xdd : 0x00;
        frame[l3] = v6 ? 0x60 : 0x45;
        const size_t ip_len = v6 ? len - l3 - 40 : len - l3;
        frame[l3 + (v6 ? 4 : 2)] = static_cast<uint8_t>(ip_len >> 8);
        frame[l3 + (v6 ? 5 : 3)] = static_cast<uint8_t>(ip_len);
        if (!v6) frame[l3 + 6] = 0, frame[l3 + 9] = 6;
        else frame[l3 + 6] = 6;
        if (l4 + 20 <= len) frame[l4 + 12] = 0x50;
      }
      uint8_t header[10];
      const auto bytes = in.bytes(10);
      std::memset(header, 0, sizeof header);
      if (!bytes.empty()) std::memcpy(header, bytes.data(), bytes.size()); // an empty vector's data() may be null
      link->sink->receive_offloaded(frame, NetOffload::parse(header));
      ++offered;
    } else if (opcode < 0xf0) { // a frame arrives (any length, including runts and giants)
      const size_t len = (opcode & 1) ? in.u16() % 2048 : in.u8();
      std::vector<uint8_t> frame(len);
      for (size_t i = 0; i < len; ++i) frame[i] = static_cast<uint8_t>(i * 31 + opcode);
      link->sink->receive(frame);
      ++offered;
    } else if (opcode < 0xfe) {
      t.poll();
    } else {
      t.reset();
    }
  }
  const VirtioNet::Counters c = net.counters();
  FUZZ_CHECK(c.tx_frames == link->sent);
  FUZZ_CHECK(c.rx_frames + c.rx_dropped + net.backlog() + c.rx_finished_from == offered + c.rx_finished);
  FUZZ_CHECK(c.rx_bytes <= c.rx_frames * kMaxOffloadFrameBytes && c.rx_bytes >= c.rx_frames * kMinFrameBytes);
  FUZZ_CHECK(c.tx_bytes <= c.tx_frames * kMaxOffloadFrameBytes && c.tx_bytes >= c.tx_frames * kMinFrameBytes);
  FUZZ_CHECK(c.tx_offloaded <= c.tx_frames && c.tx_bad_offload <= c.tx_dropped);
  return 0;
}

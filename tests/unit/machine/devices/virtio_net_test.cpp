// virtio-net: configuration space, transmit and receive through the transport's queues, and
// hostile requests (short, oversized, offload requests, readable receive buffers, buffers
// outside RAM), which are dropped or break the device but never crash or touch other memory.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "machine/bus.hpp"
#include "machine/devices/virtio_mmio.hpp"
#include "machine/devices/virtio_net.hpp"
#include "machine/snapshot_format.hpp"
#include "tcp_frames.hpp"

namespace nimbus::machine {
namespace {

using M = VirtioMmio;
constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint16_t kQueueSize = 8;
constexpr uint64_t kBuffers = kRamBase + 0x20000;

// Records what the device transmits; frames for the guest are pushed through the sink.
class RecordingLink : public NetLink {
public:
  void attach(FrameSink* s) override { sink = s; }
  void transmit(std::span<const uint8_t> frame) override { sent.emplace_back(frame.begin(), frame.end()); }
  void transmit_offloaded(std::span<const uint8_t> frame, const NetOffload& offload) override {
    sent.emplace_back(frame.begin(), frame.end());
    offloads.push_back(offload);
  }
  FrameSink* sink = nullptr;
  std::vector<std::vector<uint8_t>> sent;
  std::vector<NetOffload> offloads;
};

std::vector<uint8_t> frame_of(size_t len, uint8_t fill) {
  std::vector<uint8_t> f(len, fill);
  const uint8_t dst[6] = {0x52, 0x54, 0, 1, 2, 3}, src[6] = {0x52, 0x54, 0, 4, 5, 6};
  std::memcpy(f.data(), dst, 6);
  std::memcpy(f.data() + 6, src, 6);
  return f;
}

struct VirtioNetTest : ::testing::Test {
  Bus bus{kRamBase, 1 << 20};
  std::shared_ptr<RecordingLink> link = std::make_shared<RecordingLink>();
  VirtioNet* net = nullptr;
  int irqs = 0;
  std::unique_ptr<M> transport = make();
  uint16_t avail[2] = {0, 0};
  uint16_t next_desc[2] = {0, 0};

  std::unique_ptr<M> make() {
    auto dev = std::make_unique<VirtioNet>(MacAddress{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}, link);
    net = dev.get();
    return std::make_unique<M>(bus, std::move(dev), [this](bool level) { irqs += level; });
  }
  static uint64_t desc(unsigned q) { return kRamBase + 0x1000 + q * 0x4000; }
  static uint64_t avail_ring(unsigned q) { return desc(q) + 0x1000; }
  static uint64_t used_ring(unsigned q) { return desc(q) + 0x2000; }

  uint32_t reg(uint64_t offset) {
    uint64_t v = 0;
    EXPECT_TRUE(transport->read(offset, 4, v));
    return static_cast<uint32_t>(v);
  }
  void set_reg(uint64_t offset, uint32_t v) { EXPECT_TRUE(transport->write(offset, 4, v)); }
  bool init(uint64_t features = VirtioNet::kFeatureMac | VirtioNet::kFeatureStatus | M::kFeatureVersion1) {
    set_reg(M::kStatus, 0);
    set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver);
    set_reg(M::kDriverFeaturesSel, 0);
    set_reg(M::kDriverFeatures, static_cast<uint32_t>(features));
    set_reg(M::kDriverFeaturesSel, 1);
    set_reg(M::kDriverFeatures, static_cast<uint32_t>(features >> 32));
    set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk);
    if (!(reg(M::kStatus) & M::kStatusFeaturesOk)) return false;
    for (unsigned q = 0; q < 2; ++q) {
      set_reg(M::kQueueSel, q);
      set_reg(M::kQueueNum, kQueueSize);
      set_reg(M::kQueueDescLow, static_cast<uint32_t>(desc(q)));
      set_reg(M::kQueueDescHigh, 0);
      set_reg(M::kQueueDriverLow, static_cast<uint32_t>(avail_ring(q)));
      set_reg(M::kQueueDriverHigh, 0);
      set_reg(M::kQueueDeviceLow, static_cast<uint32_t>(used_ring(q)));
      set_reg(M::kQueueDeviceHigh, 0);
      set_reg(M::kQueueReady, 1);
    }
    set_reg(M::kStatus, M::kStatusAcknowledge | M::kStatusDriver | M::kStatusFeaturesOk | M::kStatusDriverOk);
    return true;
  }
  // One-descriptor chain on queue q; returns its head.
  uint16_t post(unsigned q, uint64_t addr, uint32_t len, uint16_t flags) {
    const uint16_t index = next_desc[q]++ % kQueueSize;
    uint8_t d[16];
    std::memcpy(d, &addr, 8);
    std::memcpy(d + 8, &len, 4);
    std::memcpy(d + 12, &flags, 2);
    std::memset(d + 14, 0, 2);
    EXPECT_TRUE(bus.copy_to_ram(desc(q) + 16ull * index, d, 16));
    store16(avail_ring(q) + 4 + 2ull * (avail[q] % kQueueSize), index);
    ++avail[q];
    store16(avail_ring(q) + 2, avail[q]);
    return index;
  }
  // Transmits header + frame from guest RAM at kBuffers.
  void send(const std::vector<uint8_t>& header, const std::vector<uint8_t>& frame) {
    std::vector<uint8_t> bytes = header;
    bytes.insert(bytes.end(), frame.begin(), frame.end());
    ASSERT_TRUE(bus.copy_to_ram(kBuffers, bytes.data(), bytes.size()));
    post(VirtioNet::kTransmitQueue, kBuffers, static_cast<uint32_t>(bytes.size()), 0);
    set_reg(M::kQueueNotify, VirtioNet::kTransmitQueue);
  }
  void store16(uint64_t at, uint16_t v) { ASSERT_TRUE(bus.copy_to_ram(at, &v, 2)); }
  uint16_t used_idx(unsigned q) {
    uint16_t v = 0;
    EXPECT_TRUE(bus.copy_from_ram(used_ring(q) + 2, &v, 2));
    return v;
  }
  uint32_t used_len(unsigned q, uint16_t n) {
    uint32_t v = 0;
    EXPECT_TRUE(bus.copy_from_ram(used_ring(q) + 4 + 8ull * (n % kQueueSize) + 4, &v, 4));
    return v;
  }
  std::vector<uint8_t> ram(uint64_t at, size_t n) {
    std::vector<uint8_t> v(n);
    EXPECT_TRUE(bus.copy_from_ram(at, v.data(), n));
    return v;
  }
  bool broken() { return (reg(M::kStatus) & M::kStatusNeedsReset) != 0; }
};

TEST_F(VirtioNetTest, ConfigSpaceHoldsMacAndLinkUp) {
  EXPECT_EQ(reg(M::kDeviceId), 1u);
  set_reg(M::kDeviceFeaturesSel, 0);
  const uint32_t low = reg(M::kDeviceFeatures);
  EXPECT_TRUE(low & VirtioNet::kFeatureMac);
  EXPECT_TRUE(low & VirtioNet::kFeatureStatus);
  EXPECT_FALSE(low & VirtioNet::kFeatureMrgRxbuf);
  EXPECT_TRUE(low & VirtioNet::kFeatureCsum);
  EXPECT_TRUE(low & VirtioNet::kFeatureGuestCsum);
  EXPECT_TRUE(low & VirtioNet::kFeatureHostTso4);
  EXPECT_TRUE(low & VirtioNet::kFeatureGuestTso6);
  uint64_t b = 0;
  const uint8_t want[8] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, 1, 0};
  for (unsigned i = 0; i < 8; ++i) {
    ASSERT_TRUE(transport->read(M::kConfig + i, 1, b));
    EXPECT_EQ(b, want[i]) << "config byte " << i;
  }
  ASSERT_TRUE(transport->read(M::kConfig + 6, 2, b));
  EXPECT_EQ(b, VirtioNet::kStatusLinkUp);
  // A driver may not accept what is not offered (mergeable receive buffers).
  EXPECT_FALSE(init(VirtioNet::kFeatureMac | M::kFeatureVersion1 | VirtioNet::kFeatureMrgRxbuf));
}

TEST_F(VirtioNetTest, TransmitsFrameWithoutHeader) {
  ASSERT_TRUE(init());
  const auto frame = frame_of(60, 0x5a);
  send(std::vector<uint8_t>(12, 0), frame);
  ASSERT_EQ(link->sent.size(), 1u);
  EXPECT_EQ(link->sent[0], frame);
  EXPECT_EQ(used_idx(1), 1);
  EXPECT_EQ(used_len(1, 0), 0u);
  EXPECT_EQ(net->counters().tx_frames, 1u);
  EXPECT_FALSE(broken());
}

TEST_F(VirtioNetTest, MalformedTransmitsAreDroppedNotSent) {
  ASSERT_TRUE(init());
  send(std::vector<uint8_t>(12, 0), {});                          // header only
  send(std::vector<uint8_t>(12, 0), std::vector<uint8_t>(13, 1)); // shorter than an Ethernet header
  send(std::vector<uint8_t>(12, 0), frame_of(kMaxFrameBytes + 1, 2));
  std::vector<uint8_t> csum(12, 0);
  csum[0] = 1; // NEEDS_CSUM, not negotiated
  send(csum, frame_of(60, 3));
  std::vector<uint8_t> gso(12, 0);
  gso[1] = 1; // GSO_TCPV4, not negotiated
  send(gso, frame_of(60, 4));
  EXPECT_TRUE(link->sent.empty());
  EXPECT_EQ(net->counters().tx_dropped, 5u);
  EXPECT_EQ(used_idx(1), 5) << "dropped requests are still completed";
  EXPECT_FALSE(broken());
  send(std::vector<uint8_t>(12, 0), frame_of(kMaxFrameBytes, 5));
  EXPECT_EQ(link->sent.size(), 1u) << "the largest frame goes out";
}

TEST_F(VirtioNetTest, ReceivesIntoPostedBuffers) {
  const auto early = frame_of(64, 1);
  link->sink->receive(early);
  EXPECT_EQ(net->counters().rx_dropped, 1u) << "before DRIVER_OK frames are dropped";
  ASSERT_TRUE(init());
  const auto frame = frame_of(100, 7);
  link->sink->receive(frame);
  EXPECT_TRUE(net->wants_service(VirtioNet::kReceiveQueue));
  transport->poll(); // no buffer yet: the frame waits
  EXPECT_EQ(used_idx(0), 0);
  EXPECT_EQ(net->backlog(), 1u);
  post(0, kBuffers, 1526, 2 /* WRITE */);
  const int before = irqs;
  set_reg(M::kQueueNotify, 0);
  ASSERT_EQ(used_idx(0), 1);
  EXPECT_EQ(used_len(0, 0), 12u + frame.size());
  EXPECT_GT(irqs, before);
  const auto header = ram(kBuffers, 12);
  EXPECT_EQ(header[10], 1) << "num_buffers";
  EXPECT_EQ(ram(kBuffers + 12, frame.size()), frame);
  // A second buffer waits for the next frame, which poll() then delivers.
  post(0, kBuffers + 0x1000, 1526, 2);
  set_reg(M::kQueueNotify, 0);
  EXPECT_EQ(used_idx(0), 1);
  link->sink->receive(frame_of(70, 8));
  transport->poll();
  EXPECT_EQ(used_idx(0), 2);
  EXPECT_EQ(used_len(0, 1), 12u + 70);
  EXPECT_EQ(net->counters().rx_frames, 2u);
}

TEST_F(VirtioNetTest, LegacyDriverGetsTenByteHeader) {
  ASSERT_TRUE(init(VirtioNet::kFeatureMac));
  post(0, kBuffers, 1526, 2);
  set_reg(M::kQueueNotify, 0);
  const auto frame = frame_of(60, 9);
  link->sink->receive(frame);
  transport->poll();
  ASSERT_EQ(used_idx(0), 1);
  EXPECT_EQ(used_len(0, 0), 10u + 60);
  EXPECT_EQ(ram(kBuffers + 10, 60), frame);
  send(std::vector<uint8_t>(10, 0), frame_of(60, 3));
  EXPECT_EQ(link->sent.size(), 1u);
}

TEST_F(VirtioNetTest, FrameTooBigForBufferIsDroppedAndBufferKept) {
  ASSERT_TRUE(init());
  post(0, kBuffers, 12 + 80, 2);
  set_reg(M::kQueueNotify, 0);
  link->sink->receive(frame_of(200, 1)); // does not fit
  link->sink->receive(frame_of(80, 2));  // fits exactly
  transport->poll();
  ASSERT_EQ(used_idx(0), 1);
  EXPECT_EQ(used_len(0, 0), 92u);
  EXPECT_EQ(ram(kBuffers + 12, 80), frame_of(80, 2));
  EXPECT_EQ(net->counters().rx_dropped, 1u);
  EXPECT_FALSE(broken());
}

TEST_F(VirtioNetTest, ReadableReceiveBufferBreaksTheDevice) {
  ASSERT_TRUE(init());
  post(0, kBuffers, 1526, 0); // driver-readable: forbidden for receive buffers
  set_reg(M::kQueueNotify, 0);
  link->sink->receive(frame_of(60, 1));
  transport->poll();
  EXPECT_TRUE(broken());
  EXPECT_EQ(used_idx(0), 0);
  // A broken device serves nothing until reset; a reset makes it usable again.
  send(std::vector<uint8_t>(12, 0), frame_of(60, 2));
  EXPECT_TRUE(link->sent.empty());
  ASSERT_TRUE(init());
  EXPECT_FALSE(broken());
}

TEST_F(VirtioNetTest, BufferOutsideRamBreaksTheDeviceWithoutTouchingIt) {
  ASSERT_TRUE(init());
  post(0, kRamBase + (1 << 20) - 16, 1526, 2); // runs past the end of RAM
  set_reg(M::kQueueNotify, 0);
  link->sink->receive(frame_of(60, 1));
  transport->poll();
  EXPECT_TRUE(broken());
  EXPECT_NE(transport->last_error().find("not guest RAM"), std::string::npos) << transport->last_error();
  ASSERT_TRUE(init());
  post(1, 0x1000'0000, 100, 0); // into MMIO space
  set_reg(M::kQueueNotify, 1);
  EXPECT_TRUE(broken());
  EXPECT_TRUE(link->sent.empty());
}

TEST_F(VirtioNetTest, FullBacklogDrops) {
  ASSERT_TRUE(init());
  const auto frame = frame_of(60, 1);
  for (size_t i = 0; i < VirtioNet::kBacklogFrames + 10; ++i) link->sink->receive(frame);
  EXPECT_EQ(net->backlog(), VirtioNet::kBacklogFrames);
  EXPECT_EQ(net->counters().rx_dropped, 10u);
  link->sink->receive(std::vector<uint8_t>(10, 0)); // runt
  link->sink->receive(std::vector<uint8_t>(kMaxFrameBytes + 1, 0));
  EXPECT_EQ(net->counters().rx_dropped, 12u);
}

TEST_F(VirtioNetTest, ResetDropsBacklogAndStopsAccepting) {
  ASSERT_TRUE(init());
  link->sink->receive(frame_of(60, 1));
  set_reg(M::kStatus, 0);
  EXPECT_EQ(net->backlog(), 0u);
  EXPECT_FALSE(net->wants_service(0));
  link->sink->receive(frame_of(60, 1));
  EXPECT_EQ(net->backlog(), 0u);
}

TEST_F(VirtioNetTest, DeviceStateRoundTripsAndRejectsNonsense) {
  ASSERT_TRUE(init(VirtioNet::kFeatureMac)); // legacy header
  snapshot::Writer w;
  net->save_state(w);
  const std::vector<uint8_t> bytes = w.take();
  snapshot::Section section{snapshot::make_tag("VIRT"), 0, bytes};
  // The state names its MAC: a device of another MAC (a configuration that does not match the
  // snapshot's) refuses it.
  VirtioNet stranger(MacAddress{0x52, 0x54, 0, 0, 0, 1}, nullptr);
  snapshot::Reader stranger_in(section);
  EXPECT_THROW(stranger.restore_state(stranger_in), snapshot::FormatError);
  VirtioNet other(net->mac(), nullptr);
  snapshot::Reader in(section);
  other.restore_state(in);
  other.receive(frame_of(60, 1));
  EXPECT_EQ(other.backlog(), 1u) << "restored as accepting";
  std::vector<uint8_t> bad = bytes;
  bad[0] = 11;
  snapshot::Section bad_section{snapshot::make_tag("VIRT"), 0, bad};
  snapshot::Reader bad_in(bad_section);
  EXPECT_THROW(other.restore_state(bad_in), snapshot::FormatError);
}

std::vector<uint8_t> header_of(const NetOffload& o) {
  std::vector<uint8_t> h(12, 0);
  o.write(h.data());
  return h;
}

constexpr uint64_t kModern = VirtioNet::kFeatureMac | M::kFeatureVersion1;

TEST_F(VirtioNetTest, OffloadedTransmitsKeepTheirHeaderAndHostileOnesAreDropped) {
  using namespace tcp_frames;
  ASSERT_TRUE(init(kModern | VirtioNet::kFeatureCsum | VirtioNet::kFeatureHostTso4));
  auto big = tcp_frame(3000);
  seed(big, false, 0);
  send(header_of(gso_request(false, 1448)), big);
  ASSERT_EQ(link->sent.size(), 1u);
  EXPECT_EQ(link->sent[0], big);
  EXPECT_EQ(link->offloads[0].gso_size, 1448);
  EXPECT_EQ(net->counters().tx_offloaded, 1u);
  // Each of these is dropped and counted; the device keeps working.
  const auto hostile = [&](const char* what, auto change, std::vector<uint8_t> frame) {
    NetOffload o = gso_request(false, 1448);
    change(o);
    const uint64_t before = net->counters().tx_bad_offload;
    send(header_of(o), frame);
    EXPECT_EQ(net->counters().tx_bad_offload, before + 1) << what;
    EXPECT_EQ(link->sent.size(), 1u) << what;
    EXPECT_FALSE(broken()) << what;
  };
  hostile("gso_size 0", [](NetOffload& o) { o.gso_size = 0; }, big);
  hostile("gso_size huge", [](NetOffload& o) { o.gso_size = 0xffff; }, big);
  hostile("hdr_len past the frame", [](NetOffload& o) { o.hdr_len = 0xffff; }, big);
  hostile("csum_start past the frame", [](NetOffload& o) { o.csum_start = 0xfff0; }, big);
  hostile("csum_offset past the frame", [](NetOffload& o) { o.csum_offset = 0xfff0; }, big);
  hostile("TCPV6, not negotiated", [](NetOffload& o) { o.gso_type = NetOffload::kGsoTcpV6; }, tcp_frame(3000, true));
  hostile("UDP fragmentation", [](NetOffload& o) { o.gso_type = NetOffload::kGsoUdp; }, big);
  hostile("checksum only, past the frame", [](NetOffload& o) { o.gso_type = 0, o.csum_start = 200; }, tcp_frame(100));
  // The ordinary limit still holds without segmentation, and DATA_VALID from a driver is ignored.
  hostile("a long frame without gso", [](NetOffload& o) { o.gso_type = 0; }, big);
  NetOffload valid_flag;
  valid_flag.flags = NetOffload::kDataValid;
  send(header_of(valid_flag), tcp_frame(100));
  ASSERT_EQ(link->sent.size(), 2u);
  EXPECT_EQ(net->counters().tx_offloaded, 1u);
}

TEST_F(VirtioNetTest, OffloadRequestsOfADriverWithoutTheFeaturesAreDropped) {
  using namespace tcp_frames;
  ASSERT_TRUE(init(kModern | VirtioNet::kFeatureCsum)); // checksums, no TSO
  send(header_of(gso_request(false, 1448)), tcp_frame(3000));
  EXPECT_EQ(net->counters().tx_dropped, 1u) << "longer than a frame without TSO";
  send(header_of(gso_request(false, 500)), tcp_frame(1000)); // fits a frame, but TSO was not negotiated
  EXPECT_TRUE(link->sent.empty());
  EXPECT_EQ(net->counters().tx_bad_offload, 1u);
  auto small = tcp_frame(100);
  send(header_of(csum_request(false)), small);
  EXPECT_EQ(link->sent.size(), 1u);
}

TEST_F(VirtioNetTest, AGuestWithoutOffloadsGetsFinishedFrames) {
  using namespace tcp_frames;
  ASSERT_TRUE(init(kModern));
  auto big = tcp_frame(3000);
  seed(big, false, 0);
  link->sink->receive_offloaded(big, gso_request(false, 1448));
  auto small = tcp_frame(101);
  seed(small, false, small.size() - 34);
  link->sink->receive_offloaded(small, csum_request(false));
  EXPECT_EQ(net->backlog(), 4u);
  EXPECT_EQ(net->counters().rx_finished, 4u);
  for (unsigned i = 0; i < 4; ++i) post(0, kBuffers + i * 0x1000, 1526, 2);
  set_reg(M::kQueueNotify, 0);
  ASSERT_EQ(used_idx(0), 4);
  for (unsigned i = 0; i < 4; ++i) {
    const uint32_t len = used_len(0, static_cast<uint16_t>(i));
    const auto got = ram(kBuffers + i * 0x1000, len);
    EXPECT_EQ(got[0], 0) << "no flags for a driver without GUEST_CSUM";
    EXPECT_EQ(got[1], 0) << "no gso";
    EXPECT_TRUE(checksums_ok(std::vector<uint8_t>(got.begin() + 12, got.end()), false)) << "frame " << i;
  }
}

TEST_F(VirtioNetTest, AGuestWithOffloadsGetsTheHeaderOrSegmentsWhenItsBufferIsSmall) {
  using namespace tcp_frames;
  ASSERT_TRUE(init(kModern | VirtioNet::kFeatureGuestCsum | VirtioNet::kFeatureGuestTso4));
  auto big = tcp_frame(3000);
  seed(big, false, 0);
  const NetOffload request = gso_request(false, 1448);
  // A big-packet buffer takes the whole request with its header.
  post(0, kBuffers, 12 + 65550, 2);
  set_reg(M::kQueueNotify, 0);
  link->sink->receive_offloaded(big, request);
  transport->poll();
  ASSERT_EQ(used_idx(0), 1);
  ASSERT_EQ(used_len(0, 0), 12u + big.size());
  const auto got = ram(kBuffers, 12 + big.size());
  EXPECT_EQ(NetOffload::parse(got.data()).gso_size, 1448);
  EXPECT_EQ(NetOffload::parse(got.data()).gso_type, NetOffload::kGsoTcpV4);
  EXPECT_TRUE(NetOffload::parse(got.data()).needs_csum());
  EXPECT_EQ(std::vector<uint8_t>(got.begin() + 12, got.end()), big);
  // Ordinary buffers: the request is segmented, each segment marked DATA_VALID.
  for (unsigned i = 0; i < 3; ++i) post(0, kBuffers + 0x20000 + i * 0x1000, 1526, 2);
  set_reg(M::kQueueNotify, 0);
  link->sink->receive_offloaded(big, request);
  transport->poll();
  ASSERT_EQ(used_idx(0), 4);
  for (unsigned i = 1; i < 4; ++i) {
    const auto seg = ram(kBuffers + 0x20000 + (i - 1) * 0x1000, used_len(0, static_cast<uint16_t>(i)));
    EXPECT_EQ(seg[0], NetOffload::kDataValid);
    EXPECT_TRUE(checksums_ok(std::vector<uint8_t>(seg.begin() + 12, seg.end()), false)) << "segment " << i;
  }
  EXPECT_EQ(net->counters().rx_finished, 3u);
  // A TCPV6 request is segmented at once: GUEST_TSO6 was not negotiated.
  auto v6 = tcp_frame(2000, true);
  seed(v6, true, 0);
  link->sink->receive_offloaded(v6, gso_request(true, 1000));
  EXPECT_EQ(net->backlog(), 2u);
}

TEST_F(VirtioNetTest, NegotiatedOffloadsSurviveASnapshot) {
  using namespace tcp_frames;
  ASSERT_TRUE(init(kModern | VirtioNet::kFeatureGuestCsum | VirtioNet::kFeatureGuestTso4));
  snapshot::Writer w;
  net->save_state(w);
  const std::vector<uint8_t> bytes = w.take();
  snapshot::Section section{snapshot::make_tag("VIRT"), 0, bytes};
  VirtioNet other(net->mac(), nullptr);
  snapshot::Reader in(section);
  other.restore_state(in);
  auto big = tcp_frame(3000);
  other.receive_offloaded(big, gso_request(false, 1448));
  EXPECT_EQ(other.backlog(), 1u) << "taken whole, as before the snapshot";
  std::vector<uint8_t> bad = bytes;
  bad[bad.size() - 1] = 0x80; // a feature never offered
  snapshot::Section bad_section{snapshot::make_tag("VIRT"), 0, bad};
  snapshot::Reader bad_in(bad_section);
  EXPECT_THROW(other.restore_state(bad_in), snapshot::FormatError);
}

TEST(MacAddress, ParsesAndRefusesNonsense) {
  MacAddress mac{};
  EXPECT_TRUE(parse_mac("52:54:00:AB:cd:0f", mac));
  EXPECT_EQ(format_mac(mac), "52:54:00:ab:cd:0f");
  for (const char* bad : {"", "52:54:00:ab:cd", "52:54:00:ab:cd:0g", "52-54-00-ab-cd-0f", "01:00:5e:00:00:01",
                          "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "52:54:00:ab:cd:0f0"})
    EXPECT_FALSE(parse_mac(bad, mac)) << bad;
}

} // namespace
} // namespace nimbus::machine

// The virtual switch's isolation rules: a VM sees only frames of its own network; spoofed
// source MACs are dropped; broadcasts stay in their network; the uplink obeys the same rules.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "hypervisor/net_switch.hpp"
#include "machine/devices/tcp_frames.hpp"

namespace nimbus::hypervisor {
namespace {

using machine::MacAddress;

struct Nic : machine::FrameSink {
  Nic(VirtualSwitch& sw, const std::string& network, MacAddress mac) : mac(mac), link(sw.connect(network, mac, "test")) {
    link->attach(this);
  }
  ~Nic() override { link->attach(nullptr); }
  void receive(std::span<const uint8_t> frame) override { got.emplace_back(frame.begin(), frame.end()); }
  void send(const MacAddress& dst, uint8_t tag, const MacAddress* src = nullptr, size_t len = 60) {
    std::vector<uint8_t> f(len, tag);
    std::memcpy(f.data(), dst.data(), 6);
    std::memcpy(f.data() + 6, (src ? *src : mac).data(), 6);
    link->transmit(f);
  }
  MacAddress mac;
  std::shared_ptr<machine::NetLink> link;
  std::vector<std::vector<uint8_t>> got;
};

struct RecordingUplink : NetUplink {
  void send(uint32_t network, std::span<const uint8_t> frame) override {
    sent.emplace_back(network, std::vector<uint8_t>(frame.begin(), frame.end()));
  }
  std::vector<std::pair<uint32_t, std::vector<uint8_t>>> sent;
};

const MacAddress kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
const MacAddress kA1{0x52, 0x54, 0, 0, 0, 0xa1}, kA2{0x52, 0x54, 0, 0, 0, 0xa2}, kB1{0x52, 0x54, 0, 0, 0, 0xb1};

struct NetSwitchTest : ::testing::Test {
  VirtualSwitch sw;
  Nic a1{sw, "a", kA1}, a2{sw, "a", kA2}, b1{sw, "b", kB1};
};

TEST_F(NetSwitchTest, BroadcastStaysInItsNetwork) {
  a1.send(kBroadcast, 1);
  EXPECT_EQ(a2.got.size(), 1u);
  EXPECT_TRUE(a1.got.empty()) << "not echoed to the sender";
  EXPECT_TRUE(b1.got.empty());
  b1.send(kBroadcast, 2);
  EXPECT_EQ(a1.got.size(), 0u);
  EXPECT_EQ(a2.got.size(), 1u);
  EXPECT_EQ(sw.stats("a").flooded, 1u);
}

TEST_F(NetSwitchTest, UnicastReachesOnlyItsOwnerInTheSameNetwork) {
  a1.send(kA2, 3);
  ASSERT_EQ(a2.got.size(), 1u);
  EXPECT_EQ(a2.got[0][20], 3);
  EXPECT_TRUE(b1.got.empty());
  // Network a cannot reach b's MAC, even knowing it.
  a1.send(kB1, 4);
  EXPECT_TRUE(b1.got.empty());
  EXPECT_EQ(sw.stats("a").unknown, 1u);
  b1.send(kA1, 5);
  EXPECT_TRUE(a1.got.empty());
}

TEST_F(NetSwitchTest, SpoofedSourceMacIsDropped) {
  a1.send(kA2, 6, &kB1);        // claims b1's MAC
  a1.send(kBroadcast, 7, &kA2); // claims a2's MAC
  EXPECT_TRUE(a2.got.empty());
  EXPECT_TRUE(b1.got.empty());
  EXPECT_EQ(sw.stats("a").spoofed, 2u);
}

TEST_F(NetSwitchTest, MalformedFramesAreDropped) {
  a1.send(kA2, 8, nullptr, 13);
  a1.send(kA2, 8, nullptr, machine::kMaxFrameBytes + 1);
  EXPECT_TRUE(a2.got.empty());
  EXPECT_EQ(sw.stats("a").malformed, 2u);
}

TEST_F(NetSwitchTest, MacsAreUniquePerNetworkAndNamesChecked) {
  EXPECT_THROW(sw.connect("a", kA1, "dup"), std::invalid_argument);
  EXPECT_NO_THROW(sw.connect("b", kA1, "other network"));
  EXPECT_THROW(sw.connect("bad name", MacAddress{0x52, 0, 0, 0, 0, 9}, "x"), std::invalid_argument);
  EXPECT_THROW(sw.connect("a", kBroadcast, "x"), std::invalid_argument);
}

TEST_F(NetSwitchTest, LeavingPortFreesItsMac) {
  { Nic a3(sw, "a", MacAddress{0x52, 0x54, 0, 0, 0, 0xa3}); }
  a1.send(MacAddress{0x52, 0x54, 0, 0, 0, 0xa3}, 9); // nobody there now
  EXPECT_EQ(sw.stats("a").unknown, 1u);
  EXPECT_NO_THROW(Nic(sw, "a", MacAddress{0x52, 0x54, 0, 0, 0, 0xa3}));
}

TEST_F(NetSwitchTest, UplinkCarriesFloodsAndUnknownsTaggedWithTheNetwork) {
  RecordingUplink up;
  sw.set_uplink(&up);
  a1.send(kBroadcast, 1);
  a1.send(MacAddress{0x52, 0x54, 0, 9, 9, 9}, 2); // remote
  a1.send(kA2, 3);                                 // local: not sent out
  sw.set_uplink(nullptr);
  ASSERT_EQ(up.sent.size(), 2u);
  EXPECT_EQ(up.sent[0].first, network_id("a"));
  EXPECT_EQ(up.sent[1].second[20], 2);
}

TEST_F(NetSwitchTest, FramesFromUplinkReachOnlyTheirNetworkAndCannotSpoofLocalMacs) {
  std::vector<uint8_t> f(60, 0x77);
  const MacAddress remote{0x52, 0x54, 0, 9, 9, 9};
  std::memcpy(f.data(), kBroadcast.data(), 6);
  std::memcpy(f.data() + 6, remote.data(), 6);
  EXPECT_TRUE(sw.from_uplink(network_id("b"), f));
  EXPECT_EQ(b1.got.size(), 1u);
  EXPECT_TRUE(a1.got.empty() && a2.got.empty());
  // A frame claiming a local VM's MAC is refused.
  std::memcpy(f.data() + 6, kB1.data(), 6);
  EXPECT_FALSE(sw.from_uplink(network_id("b"), f));
  EXPECT_EQ(sw.stats("b").uplink_spoofed, 1u);
  // Unknown network, runt frame.
  std::memcpy(f.data() + 6, remote.data(), 6);
  EXPECT_FALSE(sw.from_uplink(network_id("no-such-network"), f));
  EXPECT_FALSE(sw.from_uplink(network_id("a"), std::span<const uint8_t>(f.data(), 10)));
  EXPECT_EQ(b1.got.size(), 1u);
}

struct RecordingHost : HostLink {
  void send_to_host(std::span<const uint8_t> frame) override { sent.emplace_back(frame.begin(), frame.end()); }
  std::vector<std::vector<uint8_t>> sent;
};

std::vector<uint8_t> frame_from(const MacAddress& dst, const MacAddress& src, uint8_t tag) {
  std::vector<uint8_t> f(60, tag);
  std::memcpy(f.data(), dst.data(), 6);
  std::memcpy(f.data() + 6, src.data(), 6);
  return f;
}

TEST_F(NetSwitchTest, HostLinkGetsItsNetworksFloodsAndUnknownUnicastOnly) {
  RecordingHost host;
  sw.attach_host_link("a", &host);
  const MacAddress host_mac{0x0a, 0, 0, 0, 0, 0x01};
  a1.send(kBroadcast, 1);   // ARP who-has: host and a2
  a1.send(host_mac, 2);     // to the host's MAC, unknown to the switch
  a1.send(kA2, 3);          // VM to VM: not the host's business
  b1.send(kBroadcast, 4);   // another network's broadcast
  b1.send(host_mac, 5);     // another network, even knowing the host's MAC
  ASSERT_EQ(host.sent.size(), 2u);
  EXPECT_EQ(host.sent[0][20], 1);
  EXPECT_EQ(host.sent[1][20], 2);
  EXPECT_EQ(sw.stats("a").to_host, 2u);
  EXPECT_EQ(sw.stats("b").to_host, 0u);
  EXPECT_EQ(sw.stats("b").unknown, 1u);
  EXPECT_THROW(sw.attach_host_link("a", &host), std::invalid_argument) << "one host link per network";
  sw.attach_host_link("a", nullptr);
  a1.send(kBroadcast, 6);
  EXPECT_EQ(host.sent.size(), 2u) << "detached";
}

TEST_F(NetSwitchTest, FramesFromTheHostReachOnlyItsNetworkAndCannotSpoofLocalMacs) {
  RecordingHost host;
  RecordingUplink up;
  sw.attach_host_link("a", &host);
  sw.set_uplink(&up);
  const MacAddress host_mac{0x0a, 0, 0, 0, 0, 0x01};
  EXPECT_TRUE(sw.from_host("a", frame_from(kA1, host_mac, 1)));
  EXPECT_TRUE(sw.from_host("a", frame_from(kBroadcast, host_mac, 2)));
  EXPECT_FALSE(sw.from_host("a", frame_from(kA2, kA1, 3))) << "claims a1's MAC";
  EXPECT_TRUE(sw.from_host("a", frame_from(kB1, host_mac, 4))) << "not here: on to the uplink";
  EXPECT_FALSE(sw.from_host("no-such-network", frame_from(kA1, host_mac, 5)));
  auto runt = frame_from(kA1, host_mac, 6);
  EXPECT_FALSE(sw.from_host("a", std::span<const uint8_t>(runt.data(), 10)));
  ASSERT_EQ(a1.got.size(), 2u);
  EXPECT_EQ(a1.got[0][20], 1);
  EXPECT_EQ(a2.got.size(), 1u) << "the broadcast only";
  EXPECT_TRUE(b1.got.empty());
  EXPECT_TRUE(host.sent.empty()) << "never echoed back to the host";
  EXPECT_EQ(sw.stats("a").host_spoofed, 1u);
  EXPECT_EQ(sw.stats("a").malformed, 1u);
  // The broadcast and the unicast for a MAC not here (kB1 is on another network) go on to other
  // hosts of network a, as a VM's would.
  ASSERT_EQ(up.sent.size(), 2u);
  EXPECT_EQ(up.sent[0].first, network_id("a"));
  // And from the uplink, unknown unicast may be for the host.
  std::vector<uint8_t> remote = frame_from(host_mac, MacAddress{0x52, 0x54, 0, 9, 9, 9}, 7);
  EXPECT_TRUE(sw.from_uplink(network_id("a"), remote));
  EXPECT_EQ(host.sent.size(), 1u);
  EXPECT_EQ(up.sent.size(), 2u) << "never back out of the uplink";
  sw.set_uplink(nullptr);
  sw.attach_host_link("a", nullptr);
}

// A frame with offload work reaches a VM port with its header (the port's device decides), and
// leaves by the host link and the uplink finished: ordinary frames with complete checksums.
TEST(NetSwitchOffloads, PortsGetTheHeaderExitsGetFinishedFrames) {
  using namespace machine::tcp_frames;
  struct OffloadNic : Nic {
    using Nic::Nic;
    void receive_offloaded(std::span<const uint8_t> f, const machine::NetOffload& o) override {
      got.emplace_back(f.begin(), f.end());
      headers.push_back(o);
    }
    std::vector<machine::NetOffload> headers;
  };
  VirtualSwitch sw;
  Nic sender{sw, "o", kA1}, plain{sw, "o", kB1};
  OffloadNic taker{sw, "o", kA2};
  RecordingHost host;
  RecordingUplink uplink;
  sw.attach_host_link("o", &host);
  sw.set_uplink(&uplink);
  auto request = [&](const MacAddress& dst) {
    auto f = tcp_frame(3000);
    std::memcpy(f.data(), dst.data(), 6);
    std::memcpy(f.data() + 6, kA1.data(), 6);
    seed(f, false, 0);
    sender.link->transmit_offloaded(f, gso_request(false, 1448));
    return f;
  };
  const auto whole = request(kA2);
  ASSERT_EQ(taker.got.size(), 1u);
  EXPECT_EQ(taker.got[0], whole);
  EXPECT_EQ(taker.headers[0].gso_size, 1448);
  request(kB1); // a sink that knows nothing of offloads
  ASSERT_EQ(plain.got.size(), 3u);
  request(MacAddress{0x0a, 0, 0, 0, 0, 2}); // unknown: the host link and the uplink
  ASSERT_EQ(host.sent.size(), 3u);
  ASSERT_EQ(uplink.sent.size(), 3u);
  for (const auto& f : plain.got) EXPECT_TRUE(checksums_ok(f, false));
  for (const auto& f : host.sent) {
    EXPECT_LE(f.size(), machine::kMaxFrameBytes);
    EXPECT_TRUE(checksums_ok(f, false));
  }
  for (const auto& [net, f] : uplink.sent) EXPECT_TRUE(checksums_ok(f, false));
  EXPECT_EQ(sw.stats("o").to_host, 3u);
  EXPECT_EQ(sw.stats("o").to_uplink, 3u);
  // A port may send 64 KiB only as a segmentation request.
  sender.link->transmit(std::vector<uint8_t>(3000, 0));
  EXPECT_EQ(sw.stats("o").malformed, 1u);
  sw.set_uplink(nullptr);
  sw.attach_host_link("o", nullptr);
}

TEST(NetworkId, IsTwentyFourBitsAndNeverZero) {
  for (const char* name : {"a", "b", "blue", "red", "tenant-1.net"}) {
    const uint32_t id = network_id(name);
    EXPECT_NE(id, 0u);
    EXPECT_LT(id, 1u << 24);
  }
  EXPECT_NE(network_id("blue"), network_id("red"));
}

} // namespace
} // namespace nimbus::hypervisor

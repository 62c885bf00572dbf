// The host's switch for tenant networks (cloud/host/host_network.hpp), two of them on loopback
// with fake VMMs (UDP sockets speaking the VMM tunnel's authenticated protocol): frames cross
// hosts only within their network, spoofed source MACs, wrong keys, replays, strangers and
// frames from a host that does not run the source MAC are dropped and counted.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "cloud/host/host_network.hpp"
#include "hypervisor/net_switch.hpp"
#include "hypervisor/net_tunnel.hpp"

using namespace nimbus;
using namespace nimbus::cloud::host;

namespace {

machine::MacAddress mac(uint8_t last) { return {0x02, 0x00, 0x00, 0x00, 0x00, last}; }

std::vector<uint8_t> frame(const machine::MacAddress& dst, const machine::MacAddress& src, uint8_t payload) {
  std::vector<uint8_t> f(dst.begin(), dst.end());
  f.insert(f.end(), src.begin(), src.end());
  f.push_back(0x08);
  f.push_back(0x00);
  f.resize(60, payload);
  return f;
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

// One VMM's end of its tunnel to the host switch.
struct FakeVmm {
  int fd = -1;
  uint16_t switch_port;
  hypervisor::TunnelAuthenticator auth;
  std::vector<uint32_t> wire_ids;

  FakeVmm(HostNetwork& net, const std::string& vm, const std::vector<NetNic>& nics)
      : FakeVmm(net.attach(vm, nics), net.vmm_side_port(), nics) {}
  FakeVmm(const HostNetwork::Attachment& a, uint16_t sp, const std::vector<NetNic>& nics) : switch_port(sp), auth(a.key, 1) {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const sockaddr_in self = loopback(a.vmm_port);
    EXPECT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&self), sizeof self), 0);
    for (const auto& n : nics) wire_ids.push_back(hypervisor::network_id(vmm_network_name(n.vni)));
  }
  ~FakeVmm() { ::close(fd); }

  void send(const std::vector<uint8_t>& f, size_t nic = 0, bool seal = true) {
    std::vector<uint8_t> d;
    hypervisor::encode_tunnel_packet(wire_ids[nic], f, d);
    if (seal) auth.seal(d);
    const sockaddr_in to = loopback(switch_port);
    ASSERT_EQ(::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to), static_cast<ssize_t>(d.size()));
  }
  // The frames that arrive within `ms` (opened and parsed as the VMM's tunnel does).
  std::vector<std::vector<uint8_t>> receive(int ms = 150) {
    std::vector<std::vector<uint8_t>> out;
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    std::vector<uint8_t> buf(2048), scratch;
    for (;;) {
      const int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count());
      if (left <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, left) <= 0) break;
      const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) continue;
      std::span<const uint8_t> inner;
      if (auth.open(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), 0, scratch, inner) !=
          hypervisor::TunnelAuthenticator::Verdict::ok)
        continue;
      auto packet = hypervisor::parse_tunnel_packet(inner);
      if (!packet) continue;
      EXPECT_NE(std::find(wire_ids.begin(), wire_ids.end(), packet->network), wire_ids.end());
      out.emplace_back(packet->frame.begin(), packet->frame.end());
    }
    return out;
  }
};

const std::string kKey10 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const std::string kKey20 = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

// Two hosts: A runs a (vni 10, mac 1); B runs b (vni 10, mac 2) and c (vni 20, mac 3).
struct TwoHosts : ::testing::Test {
  HostNetwork A{"127.0.0.1", 0}, B{"127.0.0.1", 0};
  void SetUp() override {
    A.set_self("A");
    B.set_self("B");
    for (HostNetwork* n : {&A, &B}) {
      ASSERT_TRUE(apply_net_key(*n, "net/keys/10", &kKey10));
      ASSERT_TRUE(apply_net_key(*n, "net/keys/20", &kKey20));
      port(*n, 10, "02:00:00:00:00:01", "A", A.host_side_port());
      port(*n, 10, "02:00:00:00:00:02", "B", B.host_side_port());
      port(*n, 20, "02:00:00:00:00:03", "B", B.host_side_port());
    }
  }
  static void port(HostNetwork& n, int vni, const std::string& m, const std::string& host, uint16_t p) {
    const std::string value = "{\"vm\":\"x\",\"address\":\"127.0.0.1:" + std::to_string(p) + "\"}";
    ASSERT_TRUE(apply_net_key(n, "net/ports/" + std::to_string(vni) + "/" + m + "/" + host, &value));
  }
};

TEST_F(TwoHosts, UnicastAndBroadcastCrossHostsOnlyWithinTheirNetwork) {
  FakeVmm a(A, "a", {{10, mac(1)}});
  FakeVmm b(B, "b", {{10, mac(2)}});
  FakeVmm c(B, "c", {{20, mac(3)}});
  const auto uni = frame(mac(2), mac(1), 0x11);
  a.send(uni);
  auto got = b.receive();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], uni);
  const auto bcast = frame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mac(1), 0x22);
  a.send(bcast);
  got = b.receive();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], bcast);
  // c, on network 20, got neither; nor does a frame addressed to c's MAC from network 10 reach it.
  a.send(frame(mac(3), mac(1), 0x33));
  EXPECT_TRUE(c.receive().empty());
  // And back: b answers a.
  b.send(frame(mac(1), mac(2), 0x44));
  EXPECT_EQ(a.receive().size(), 1u);
  EXPECT_GE(A.stats().to_hosts, 2u);
  EXPECT_GE(B.stats().from_hosts, 2u);
}

TEST_F(TwoHosts, SpoofedSourceMacAndForeignNetworkFromAVmmAreDropped) {
  FakeVmm a(A, "a", {{10, mac(1)}});
  FakeVmm b(B, "b", {{10, mac(2)}});
  a.send(frame(mac(2), mac(9), 0x55));          // not a's MAC
  a.send(frame(mac(2), mac(2), 0x56));          // b's MAC
  EXPECT_TRUE(b.receive().empty());
  EXPECT_EQ(A.stats().spoofed, 2u);
  // Unsealed, or sealed with another VMM's key: dropped.
  a.send(frame(mac(2), mac(1), 0x57), 0, false);
  EXPECT_TRUE(b.receive().empty());
  EXPECT_EQ(A.stats().unauthenticated, 1u);
}

TEST_F(TwoHosts, DatagramsFromHostsAreCheckedForKeyReplayAndPlacement) {
  FakeVmm b(B, "b", {{10, mac(2)}});
  // A socket that is not a host any NIC of network 10 runs on.
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const sockaddr_in any = loopback(0);
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&any), sizeof any), 0);
  std::vector<uint8_t> d;
  hypervisor::encode_tunnel_packet(10, frame(mac(2), mac(1), 0x60), d);
  const sockaddr_in to = loopback(B.host_side_port());
  ::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  EXPECT_TRUE(b.receive().empty());
  EXPECT_EQ(B.stats().strangers, 1u);  // no NIC of network 10 is placed at that address
  ::close(fd);

  // From A's real address: through A's switch, a VM on network 10 claiming a MAC that etcd
  // places on B (host_spoofed), after which the genuine frame passes.
  FakeVmm a2(A, "a2", {{10, mac(4)}});
  a2.send(frame(mac(2), mac(4), 0x61));  // mac 4 is not published anywhere: B refuses it
  EXPECT_TRUE(b.receive().empty());
  EXPECT_EQ(B.stats().host_spoofed, 1u);
  port(B, 10, "02:00:00:00:00:04", "A", A.host_side_port());
  a2.send(frame(mac(2), mac(4), 0x62));
  EXPECT_EQ(b.receive().size(), 1u);

  // A different key for network 10 on A: B cannot open what A sends.
  const std::string other = std::string(64, 'a');
  ASSERT_TRUE(apply_net_key(A, "net/keys/10", &other));
  a2.send(frame(mac(2), mac(4), 0x63));
  EXPECT_TRUE(b.receive().empty());
  EXPECT_GE(B.stats().unauthenticated, 1u);
}

TEST_F(TwoHosts, DetachedVmsGetNothingAndStrangersOnLoopbackAreDropped) {
  FakeVmm a(A, "a", {{10, mac(1)}});
  auto b = std::make_unique<FakeVmm>(B, "b", std::vector<NetNic>{{10, mac(2)}});
  B.detach("b");
  a.send(frame(mac(2), mac(1), 0x70));
  EXPECT_TRUE(b->receive().empty());
  b->send(frame(mac(1), mac(2), 0x71));  // its port is no VMM's any more
  EXPECT_TRUE(a.receive().empty());
  EXPECT_EQ(B.stats().strangers, 1u);
}

TEST(HostNetworkKeys, MalformedKeysAreRefused) {
  HostNetwork n("127.0.0.1", 0);
  const std::string short_key = "abcd", bad = "{", no_address = "{\"vm\":\"x\"}";
  EXPECT_FALSE(apply_net_key(n, "net/keys/10", &short_key));
  EXPECT_FALSE(apply_net_key(n, "net/keys/0", &kKey10));
  EXPECT_FALSE(apply_net_key(n, "net/keys/16777216", &kKey10));
  EXPECT_FALSE(apply_net_key(n, "net/ports/10/zz:00:00:00:00:01/A", &no_address));
  EXPECT_FALSE(apply_net_key(n, "net/ports/10/02:00:00:00:00:01/A", &bad));
  EXPECT_FALSE(apply_net_key(n, "net/ports/10/02:00:00:00:00:01/A", &no_address));
  EXPECT_FALSE(apply_net_key(n, "net/other", &kKey10));
  EXPECT_TRUE(apply_net_key(n, "net/keys/10", nullptr));
}

} // namespace

// The UDP tunnel: the packet parser refuses every malformed datagram, and two tunnels on the
// loopback carry one network's frames between two switches while strangers are ignored.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <functional>

#include <fmt/format.h>

#include "hypervisor/net_tap.hpp"
#include "hypervisor/net_tunnel.hpp"

namespace nimbus::hypervisor {
namespace {

using machine::MacAddress;

std::vector<uint8_t> frame(const MacAddress& dst, const MacAddress& src, size_t len, uint8_t fill) {
  std::vector<uint8_t> f(len, fill);
  std::memcpy(f.data(), dst.data(), 6);
  std::memcpy(f.data() + 6, src.data(), 6);
  return f;
}

TEST(TunnelPacket, RoundTrips) {
  const auto f = frame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x52, 0, 0, 0, 0, 1}, 100, 3);
  std::vector<uint8_t> d;
  encode_tunnel_packet(0xabcdef, f, d);
  ASSERT_EQ(d.size(), kTunnelHeaderBytes + f.size());
  TunnelParseError error{};
  const auto p = parse_tunnel_packet(d, &error);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->network, 0xabcdefu);
  EXPECT_TRUE(std::equal(p->frame.begin(), p->frame.end(), f.begin(), f.end()));
}

TEST(TunnelPacket, MalformedDatagramsAreRefused) {
  const auto f = frame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x52, 0, 0, 0, 0, 1}, 60, 3);
  std::vector<uint8_t> good;
  encode_tunnel_packet(7, f, good);
  auto expect = [](const std::vector<uint8_t>& d, TunnelParseError want) {
    TunnelParseError error{};
    EXPECT_FALSE(parse_tunnel_packet(d, &error));
    EXPECT_EQ(error, want) << to_string(error);
  };
  expect({}, TunnelParseError::too_short);
  expect(std::vector<uint8_t>(good.begin(), good.begin() + 7), TunnelParseError::too_short);
  for (size_t i : {1, 2, 3, 7}) {
    auto d = good;
    d[i] = 1;
    expect(d, TunnelParseError::reserved_bits);
  }
  for (uint8_t flags : {0x00, 0x88, 0x0c, 0xff}) {
    auto d = good;
    d[0] = flags;
    expect(d, TunnelParseError::bad_flags);
  }
  expect(std::vector<uint8_t>(good.begin(), good.begin() + kTunnelHeaderBytes + 13), TunnelParseError::frame_too_short);
  auto big = good;
  big.resize(kTunnelHeaderBytes + machine::kMaxFrameBytes + 1);
  expect(big, TunnelParseError::frame_too_long);
  // Every truncation of a good packet either parses or fails cleanly.
  for (size_t n = 0; n <= good.size(); ++n) (void)parse_tunnel_packet(std::span<const uint8_t>(good.data(), n));
}

TEST(TunnelSpec, ParsesAndExplainsMistakes) {
  const auto spec = parse_tunnel_spec("udp:4789,peer=127.0.0.1:4790,peer=host.example:1");
  EXPECT_EQ(spec.local_port, 4789);
  ASSERT_EQ(spec.peers.size(), 2u);
  EXPECT_EQ(spec.peers[1], "host.example:1");
  for (const char* bad : {"", "tcp:1,peer=a:1", "udp:", "udp:0,peer=a:1", "udp:70000,peer=a:1", "udp:1",
                          "udp:1,peer=", "udp:1,peer=a:1,bogus=2", "udp:x,peer=a:1"})
    EXPECT_THROW(parse_tunnel_spec(bad), std::invalid_argument) << bad;
}

TEST(TapSpec, ParsesAndExplainsMistakes) {
  const auto spec = parse_tap_spec("blue=nimbus0");
  EXPECT_EQ(spec.network, "blue");
  EXPECT_EQ(spec.interface, "nimbus0");
  for (const char* bad : {"", "blue", "=nimbus0", "blue=", "blue=a-name-far-too-long0", "bl ue=t0", "blue=t/0",
                          "blue=t0=x"})
    EXPECT_THROW(parse_tap_spec(bad), std::invalid_argument) << bad;
}

uint16_t free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

struct Nic : machine::FrameSink {
  Nic(VirtualSwitch& sw, const std::string& network, MacAddress mac) : mac(mac), link(sw.connect(network, mac, "t")) {
    link->attach(this);
  }
  ~Nic() override { link->attach(nullptr); }
  void receive(std::span<const uint8_t> f) override {
    std::lock_guard lock(mutex);
    got.emplace_back(f.begin(), f.end());
  }
  size_t count() {
    std::lock_guard lock(mutex);
    return got.size();
  }
  MacAddress mac;
  std::shared_ptr<machine::NetLink> link;
  std::mutex mutex;
  std::vector<std::vector<uint8_t>> got;
};

bool eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 200 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return done();
}

TEST(UdpTunnel, CarriesOneNetworkBetweenTwoSwitchesAndIgnoresStrangers) {
  const uint16_t pa = free_udp_port(), pb = free_udp_port();
  VirtualSwitch sa, sb;
  Nic a_blue(sa, "blue", {0x52, 0, 0, 0, 0, 1}), a_red(sa, "red", {0x52, 0, 0, 0, 0, 2});
  Nic b_blue(sb, "blue", {0x52, 0, 0, 0, 0, 3}), b_red(sb, "red", {0x52, 0, 0, 0, 0, 4});
  UdpTunnel ta(sa, TunnelSpec{pa, {fmt::format("127.0.0.1:{}", pb)}});
  UdpTunnel tb(sb, TunnelSpec{pb, {fmt::format("127.0.0.1:{}", pa)}});
  a_blue.link->transmit(frame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, a_blue.mac, 60, 1));
  ASSERT_TRUE(eventually([&] { return b_blue.count() == 1; }));
  a_blue.link->transmit(frame(b_blue.mac, a_blue.mac, 1000, 2)); // unicast to the remote VM
  ASSERT_TRUE(eventually([&] { return b_blue.count() == 2; }));
  EXPECT_EQ(b_blue.got[1].size(), 1000u);
  b_blue.link->transmit(frame(a_blue.mac, b_blue.mac, 60, 3)); // and back
  ASSERT_TRUE(eventually([&] { return a_blue.count() == 1; }));
  // Isolation across the tunnel: red saw nothing of blue's.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(b_red.count(), 0u);
  EXPECT_EQ(a_red.count(), 0u);
  // A datagram from an address that is not a peer is ignored, however well formed.
  const int stranger = ::socket(AF_INET, SOCK_DGRAM, 0);
  std::vector<uint8_t> d;
  encode_tunnel_packet(network_id("blue"), frame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x52, 0, 0, 0, 0, 9}, 60, 4), d);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(pb);
  ASSERT_EQ(::sendto(stranger, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(d.size()));
  ::close(stranger);
  ASSERT_TRUE(eventually([&] { return tb.stats().strangers == 1; }));
  EXPECT_EQ(b_blue.count(), 2u);
}

std::vector<uint8_t> bytes(const std::string& text) { return std::vector<uint8_t>(text.begin(), text.end()); }

TEST(TunnelAuthenticator, SealedPacketsOpenOnceAndOnlyWithTheKey) {
  TunnelAuthenticator sender(bytes("0123456789abcdef-shared"), 1), receiver(bytes("0123456789abcdef-shared"), 1);
  TunnelAuthenticator stranger(bytes("another key, long enough"), 1);
  std::vector<uint8_t> plain;
  encode_tunnel_packet(0x123456, std::vector<uint8_t>(60, 0x5a), plain);
  std::vector<uint8_t> sealed = plain;
  sender.seal(sealed);
  EXPECT_EQ(sealed.size(), plain.size() + kTunnelTrailerBytes);
  EXPECT_FALSE(parse_tunnel_packet(sealed)) << "a receiver without the key refuses it (flags 0x0C)";
  std::vector<uint8_t> scratch;
  std::span<const uint8_t> inner;
  ASSERT_EQ(receiver.open(sealed, 0, scratch, inner), TunnelAuthenticator::Verdict::ok);
  EXPECT_TRUE(std::equal(inner.begin(), inner.end(), plain.begin(), plain.end()));
  const auto packet = parse_tunnel_packet(inner);
  ASSERT_TRUE(packet);
  EXPECT_EQ(packet->network, 0x123456u);
  EXPECT_EQ(receiver.open(sealed, 0, scratch, inner), TunnelAuthenticator::Verdict::replayed);
  EXPECT_EQ(stranger.open(sealed, 0, scratch, inner), TunnelAuthenticator::Verdict::bad_tag);
  EXPECT_EQ(receiver.open(plain, 0, scratch, inner), TunnelAuthenticator::Verdict::not_authenticated);
  for (size_t bit : {0ul, 8ul * 4, 8ul * 20, 8 * (sealed.size() - 20), 8 * (sealed.size() - 1)}) {
    std::vector<uint8_t> altered = sealed;
    altered[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(receiver.open(altered, 0, scratch, inner), TunnelAuthenticator::Verdict::ok) << "bit " << bit;
  }
  for (size_t n = 0; n < sealed.size(); ++n)
    EXPECT_NE(receiver.open(std::span<const uint8_t>(sealed.data(), n), 0, scratch, inner),
              TunnelAuthenticator::Verdict::ok);
}

TEST(TunnelAuthenticator, AcceptsReorderingWithinTheWindowAndNothingOlder) {
  TunnelAuthenticator sender(bytes("0123456789abcdef"), 1), receiver(bytes("0123456789abcdef"), 2);
  std::vector<std::vector<uint8_t>> sent(100);
  for (auto& p : sent) {
    encode_tunnel_packet(1, std::vector<uint8_t>(60, 1), p);
    sender.seal(p);
  }
  std::vector<uint8_t> scratch;
  std::span<const uint8_t> inner;
  using V = TunnelAuthenticator::Verdict;
  EXPECT_EQ(receiver.open(sent[99], 0, scratch, inner), V::ok);
  EXPECT_EQ(receiver.open(sent[50], 0, scratch, inner), V::ok) << "49 behind: inside the window";
  EXPECT_EQ(receiver.open(sent[50], 0, scratch, inner), V::replayed);
  EXPECT_EQ(receiver.open(sent[30], 0, scratch, inner), V::replayed) << "69 behind: too old to tell";
  EXPECT_EQ(receiver.open(sent[30], 1, scratch, inner), V::ok) << "each peer has its own window";
}

TEST(TunnelKey, FileMustBeLongEnoughAndPrivate) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("nimbus-key-{}", ::getpid());
  std::filesystem::create_directories(dir);
  const auto write = [&](const std::string& name, const std::string& text, std::filesystem::perms mode) {
    const auto path = dir / name;
    std::ofstream(path) << text;
    std::filesystem::permissions(path, mode);
    return path;
  };
  using P = std::filesystem::perms;
  EXPECT_EQ(load_tunnel_key(write("good", "0123456789abcdef0123\n", P::owner_read | P::owner_write)).size(), 20u);
  EXPECT_THROW(load_tunnel_key(write("short", "0123456789\n", P::owner_read)), std::runtime_error);
  EXPECT_THROW(load_tunnel_key(write("open", "0123456789abcdef0123", P::owner_read | P::others_read)), std::runtime_error);
  EXPECT_THROW(load_tunnel_key(dir / "missing"), std::runtime_error);
  EXPECT_THROW(load_tunnel_key(dir), std::runtime_error);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(parse_tunnel_spec("udp:1,peer=a:1,key=/k").key_file, "/k");
  EXPECT_THROW(parse_tunnel_spec("udp:1,peer=a:1,key="), std::invalid_argument);
  EXPECT_THROW(parse_tunnel_spec("udp:1,peer=a:1,key=/k,key=/j"), std::invalid_argument);
}

TEST(UdpTunnel, WithAKeyDropsForgedAndReplayedDatagramsFromAPeersAddress) {
  const auto key_file = std::filesystem::temp_directory_path() / fmt::format("nimbus-tunnel-key-{}", ::getpid());
  std::ofstream(key_file) << "a key the two VMMs share\n";
  std::filesystem::permissions(key_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  // The peer is a socket the test holds, so it can send anything from the peer's own address.
  const int peer = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in peer_addr{};
  peer_addr.sin_family = AF_INET;
  peer_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(peer, reinterpret_cast<sockaddr*>(&peer_addr), sizeof peer_addr), 0);
  socklen_t len = sizeof peer_addr;
  ::getsockname(peer, reinterpret_cast<sockaddr*>(&peer_addr), &len);
  const uint16_t port = free_udp_port();
  VirtualSwitch sw;
  Nic blue(sw, "blue", {0x52, 0, 0, 0, 0, 3});
  UdpTunnel tunnel(sw, TunnelSpec{port, {fmt::format("127.0.0.1:{}", ntohs(peer_addr.sin_port))}, key_file.string()});
  EXPECT_TRUE(tunnel.authenticated());
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(port);
  const auto send = [&](const std::vector<uint8_t>& d) {
    ASSERT_EQ(::sendto(peer, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(d.size()));
  };
  std::vector<uint8_t> plain;
  encode_tunnel_packet(network_id("blue"), frame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x52, 0, 0, 0, 0, 9}, 60, 4), plain);
  send(plain);                                       // no tag
  std::vector<uint8_t> forged = plain;
  TunnelAuthenticator(bytes("not the shared key at all"), 1).seal(forged);
  send(forged);                                      // a tag made with another key
  ASSERT_TRUE(eventually([&] { return tunnel.stats().unauthenticated == 2; }));
  std::vector<uint8_t> sealed = plain;
  TunnelAuthenticator(bytes("a key the two VMMs share"), 1).seal(sealed);
  send(sealed);
  ASSERT_TRUE(eventually([&] { return blue.count() == 1; }));
  send(sealed);                                      // captured and sent again
  ASSERT_TRUE(eventually([&] { return tunnel.stats().replayed == 1; }));
  EXPECT_EQ(blue.count(), 1u);
  // What this tunnel sends carries a tag the peer's key opens.
  blue.link->transmit(frame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, blue.mac, 60, 5));
  std::vector<uint8_t> got(2048);
  pollfd p{peer, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  got.resize(static_cast<size_t>(::recv(peer, got.data(), got.size(), 0)));
  std::vector<uint8_t> scratch;
  std::span<const uint8_t> inner;
  EXPECT_EQ(TunnelAuthenticator(bytes("a key the two VMMs share"), 1).open(got, 0, scratch, inner),
            TunnelAuthenticator::Verdict::ok);
  ::close(peer);
  std::filesystem::remove(key_file);
}

} // namespace
} // namespace nimbus::hypervisor

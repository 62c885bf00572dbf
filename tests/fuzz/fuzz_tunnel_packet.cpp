// Fuzz target: datagrams from the network into the VMM's UDP tunnel (hypervisor/net_tunnel.*)
// and on into the virtual switch (hypervisor/net_switch.*).
//
// Beyond "no crash": parse_tunnel_packet accepts exactly the well-formed packets (flags 0x08,
// reserved bits zero, a frame of 14..1518 bytes), its frame lies inside the datagram, and
// encoding what it parsed gives the datagram back byte for byte. A parsed frame handed to the
// switch reaches only ports of the network it names: never another network, never with a local
// port's MAC as its source. With a key (net_tunnel_auth.hpp): no datagram the fuzzer makes opens
// (it cannot forge the tag), and a well-formed packet sealed with the key opens to itself once,
// then is a replay.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_support.hpp"
#include "hypervisor/net_tunnel.hpp"

using namespace nimbus::hypervisor;
using nimbus::machine::MacAddress;

namespace {

struct Port : nimbus::machine::FrameSink {
  Port(VirtualSwitch& sw, const char* network, MacAddress mac) : mac(mac), link(sw.connect(network, mac, "fuzz")) {
    link->attach(this);
  }
  ~Port() override { link->attach(nullptr); }
  void receive(std::span<const uint8_t> frame) override {
    FUZZ_CHECK(frame.size() >= nimbus::machine::kMinFrameBytes && frame.size() <= nimbus::machine::kMaxFrameBytes);
    FUZZ_CHECK(std::memcmp(frame.data() + 6, mac.data(), 6) != 0);
    ++received;
  }
  MacAddress mac;
  std::shared_ptr<nimbus::machine::NetLink> link;
  int received = 0;
};

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!nimbus::fuzz::seed_dir()) return 0;
  std::vector<uint8_t> frame(60, 0x5a), d;
  std::memset(frame.data(), 0xff, 6);
  const uint8_t src[6] = {0x52, 0x54, 0, 9, 9, 9};
  std::memcpy(frame.data() + 6, src, 6);
  encode_tunnel_packet(network_id("blue"), frame, d);
  nimbus::fuzz::write_seed("tunnel_broadcast_blue", d);
  const uint8_t dst[6] = {0x52, 0x54, 0, 0, 0, 2};
  std::memcpy(frame.data(), dst, 6);
  encode_tunnel_packet(network_id("red"), frame, d);
  nimbus::fuzz::write_seed("tunnel_unicast_red", d);
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> datagram(data, size);
  static const std::vector<uint8_t> key(32, 0x6b);
  std::vector<uint8_t> scratch;
  std::span<const uint8_t> inner;
  TunnelAuthenticator receiver(key, 1);
  FUZZ_CHECK(receiver.open(datagram, 0, scratch, inner) != TunnelAuthenticator::Verdict::ok);
  TunnelParseError error = TunnelParseError::none;
  const auto packet = parse_tunnel_packet(datagram, &error);
  const bool well_formed = size >= kTunnelHeaderBytes && data[0] == kTunnelFlagNetworkId && data[1] == 0 &&
                           data[2] == 0 && data[3] == 0 && data[7] == 0 &&
                           size - kTunnelHeaderBytes >= nimbus::machine::kMinFrameBytes &&
                           size - kTunnelHeaderBytes <= nimbus::machine::kMaxFrameBytes;
  FUZZ_CHECK(well_formed == packet.has_value());
  FUZZ_CHECK(packet ? error == TunnelParseError::none : error != TunnelParseError::none);
  if (!packet) return 0;
  FUZZ_CHECK(packet->frame.data() == data + kTunnelHeaderBytes && packet->frame.size() == size - kTunnelHeaderBytes);
  FUZZ_CHECK(packet->network < (1u << 24));
  std::vector<uint8_t> again;
  encode_tunnel_packet(packet->network, packet->frame, again);
  FUZZ_CHECK(again.size() == size && std::memcmp(again.data(), data, size) == 0);
  TunnelAuthenticator sender(key, 1);
  sender.seal(again);
  FUZZ_CHECK(again.size() == size + kTunnelTrailerBytes);
  FUZZ_CHECK(receiver.open(again, 0, scratch, inner) == TunnelAuthenticator::Verdict::ok);
  FUZZ_CHECK(inner.size() == size && std::memcmp(inner.data(), data, size) == 0);
  FUZZ_CHECK(receiver.open(again, 0, scratch, inner) == TunnelAuthenticator::Verdict::replayed);

  VirtualSwitch sw;
  Port blue1(sw, "blue", {0x52, 0x54, 0, 0, 0, 1}), blue2(sw, "blue", {0x52, 0x54, 0, 0, 0, 2});
  Port red(sw, "red", {0x52, 0x54, 0, 0, 0, 2}); // the same MAC as blue2, on another network
  const bool delivered = sw.from_uplink(packet->network, packet->frame);
  const int blue = blue1.received + blue2.received;
  if (packet->network == network_id("blue")) FUZZ_CHECK(red.received == 0 && (delivered == (blue > 0)));
  else if (packet->network == network_id("red")) FUZZ_CHECK(blue == 0 && delivered == (red.received > 0));
  else FUZZ_CHECK(!delivered && blue == 0 && red.received == 0);
  return 0;
}

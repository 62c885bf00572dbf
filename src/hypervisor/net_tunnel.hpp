#pragma once
// Tunnels between VMMs: the virtual switch's uplink (net_switch.hpp) over UDP, so one network
// spans hosts. Each frame travels in one datagram behind a VXLAN header (RFC 7348: flags 0x08,
// 24 reserved bits, the 24-bit network id, 8 reserved bits), which names its network.
//
// Datagrams come from the network, so the parser trusts nothing: a datagram from an address
// that is not a configured peer, one with a malformed header, a frame outside
// machine::kMinFrameBytes..kMaxFrameBytes or an unknown network is dropped and counted. The
// switch then applies its own rules (a frame may not claim a local VM's MAC).
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "hypervisor/net_switch.hpp"
#include "hypervisor/net_tunnel_auth.hpp"

namespace nimbus::hypervisor {

inline constexpr size_t kTunnelHeaderBytes = 8;
inline constexpr uint8_t kTunnelFlagNetworkId = 0x08;

enum class TunnelParseError { none, too_short, bad_flags, reserved_bits, frame_too_short, frame_too_long };
std::string_view to_string(TunnelParseError error);

struct TunnelPacket {
  uint32_t network = 0;
  std::span<const uint8_t> frame; // inside the parsed buffer
};

// Parses one datagram; nullopt (and `error` says why) for anything but a well-formed packet.
std::optional<TunnelPacket> parse_tunnel_packet(std::span<const uint8_t> datagram, TunnelParseError* error = nullptr);
// Header + frame into `out` (replacing its contents).
void encode_tunnel_packet(uint32_t network, std::span<const uint8_t> frame, std::vector<uint8_t>& out);

// `--net-tunnel udp:LOCAL_PORT,peer=HOST:PORT[,peer=HOST:PORT...][,key=FILE]`.
struct TunnelSpec {
  uint16_t local_port = 0;
  std::vector<std::string> peers; // HOST:PORT as written
  std::string key_file;           // authenticate every datagram (net_tunnel_auth.hpp)
};
// Throws std::invalid_argument with what is wrong and how it should look.
TunnelSpec parse_tunnel_spec(std::string_view text);

class UdpTunnel final : public NetUplink {
public:
  struct Stats {
    uint64_t sent = 0, received = 0;
    uint64_t malformed = 0;     // bad header or frame size
    uint64_t strangers = 0;     // from an address that is not a peer
    uint64_t undelivered = 0;   // unknown network or destination, or refused by the switch
    uint64_t send_errors = 0;
    uint64_t unauthenticated = 0; // with a key: no tag, or a tag that does not match
    uint64_t replayed = 0;        // with a key: a counter already seen from that peer
  };

  // Reads the key (if any), binds the UDP port (0.0.0.0:local_port), resolves the peers (IPv4)
  // and starts the receive thread; becomes the switch's uplink. Throws std::runtime_error naming
  // the port, peer or key file.
  UdpTunnel(VirtualSwitch& sw, const TunnelSpec& spec);
  ~UdpTunnel() override;   // leaves the switch, stops the thread
  UdpTunnel(const UdpTunnel&) = delete;
  UdpTunnel& operator=(const UdpTunnel&) = delete;

  void send(uint32_t network, std::span<const uint8_t> frame) override;
  Stats stats() const;
  uint16_t local_port() const { return local_port_; }
  bool authenticated() const { return auth_ != nullptr; }

private:
  void receive_loop();
  std::optional<size_t> peer_index(const sockaddr_in& from) const;

  VirtualSwitch& switch_;
  int fd_ = -1;
  int stop_fd_ = -1;
  uint16_t local_port_ = 0;
  std::vector<sockaddr_in> peers_;
  mutable std::mutex mutex_;   // stats_, learned_, out_
  // Which peer a remote MAC was last seen behind, per network (unicast goes only there).
  std::map<std::pair<uint32_t, uint64_t>, size_t> learned_;
  std::vector<uint8_t> out_;
  std::unique_ptr<TunnelAuthenticator> auth_;   // with a key; used under mutex_
  Stats stats_;
  std::thread thread_;
};

} // namespace nimbus::hypervisor

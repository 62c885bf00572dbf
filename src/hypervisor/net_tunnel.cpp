#include "hypervisor/net_tunnel.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace nimbus::hypervisor {
namespace {

uint64_t mac_key(std::span<const uint8_t> mac) {
  uint64_t key = 0;
  for (size_t i = 0; i < 6; ++i) key = key << 8 | mac[i];
  return key;
}

std::optional<uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

sockaddr_in resolve_peer(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw std::runtime_error(fmt::format("tunnel peer '{}' is not HOST:PORT", peer));
  const std::string host = peer.substr(0, colon);
  const auto port = parse_port(std::string_view(peer).substr(colon + 1));
  if (!port) throw std::runtime_error(fmt::format("tunnel peer '{}': port is not 1..65535", peer));
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || !found)
    throw std::runtime_error(fmt::format("tunnel peer '{}': cannot resolve '{}': {}", peer, host, gai_strerror(rc)));
  sockaddr_in addr{};
  std::memcpy(&addr, found->ai_addr, sizeof addr);
  ::freeaddrinfo(found);
  addr.sin_port = htons(*port);
  return addr;
}

} // namespace

std::string_view to_string(TunnelParseError error) {
  switch (error) {
  case TunnelParseError::none: return "none";
  case TunnelParseError::too_short: return "shorter than the tunnel header";
  case TunnelParseError::bad_flags: return "flags are not 0x08 (network id present)";
  case TunnelParseError::reserved_bits: return "reserved bits set";
  case TunnelParseError::frame_too_short: return "frame shorter than an Ethernet header";
  case TunnelParseError::frame_too_long: return "frame longer than 1518 bytes";
  }
  return "?";
}

std::optional<TunnelPacket> parse_tunnel_packet(std::span<const uint8_t> d, TunnelParseError* error) {
  auto fail = [&](TunnelParseError e) -> std::optional<TunnelPacket> {
    if (error) *error = e;
    return std::nullopt;
  };
  if (d.size() < kTunnelHeaderBytes) return fail(TunnelParseError::too_short);
  if (d[0] != kTunnelFlagNetworkId) return fail(TunnelParseError::bad_flags);
  if (d[1] != 0 || d[2] != 0 || d[3] != 0 || d[7] != 0) return fail(TunnelParseError::reserved_bits);
  const size_t frame = d.size() - kTunnelHeaderBytes;
  if (frame < machine::kMinFrameBytes) return fail(TunnelParseError::frame_too_short);
  if (frame > machine::kMaxFrameBytes) return fail(TunnelParseError::frame_too_long);
  if (error) *error = TunnelParseError::none;
  return TunnelPacket{uint32_t{d[4]} << 16 | uint32_t{d[5]} << 8 | d[6], d.subspan(kTunnelHeaderBytes)};
}

void encode_tunnel_packet(uint32_t network, std::span<const uint8_t> frame, std::vector<uint8_t>& out) {
  out.assign(kTunnelHeaderBytes, 0);
  out[0] = kTunnelFlagNetworkId;
  out[4] = static_cast<uint8_t>(network >> 16);
  out[5] = static_cast<uint8_t>(network >> 8);
  out[6] = static_cast<uint8_t>(network);
  out.insert(out.end(), frame.begin(), frame.end());
}

TunnelSpec parse_tunnel_spec(std::string_view text) {
  const std::string_view usage = "write it as udp:LOCAL_PORT,peer=HOST:PORT[,peer=HOST:PORT...][,key=FILE]";
  if (text.substr(0, 4) != "udp:")
    throw std::invalid_argument(fmt::format("tunnel '{}' does not start with 'udp:'; {}", text, usage));
  TunnelSpec spec;
  std::string_view rest = text.substr(4);
  bool first = true;
  while (!rest.empty() || first) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (first) {
      const auto port = parse_port(item);
      if (!port) throw std::invalid_argument(fmt::format("tunnel '{}': local port '{}' is not 1..65535; {}", text, item, usage));
      spec.local_port = *port;
      first = false;
    } else if (item.substr(0, 5) == "peer=" && item.size() > 5) {
      spec.peers.emplace_back(item.substr(5));
    } else if (item.substr(0, 4) == "key=" && item.size() > 4 && spec.key_file.empty()) {
      spec.key_file = std::string(item.substr(4));
    } else {
      throw std::invalid_argument(fmt::format("tunnel '{}': unknown part '{}'; {}", text, item, usage));
    }
    if (comma == std::string_view::npos) break;
  }
  if (spec.peers.empty()) throw std::invalid_argument(fmt::format("tunnel '{}' names no peer; {}", text, usage));
  return spec;
}

UdpTunnel::UdpTunnel(VirtualSwitch& sw, const TunnelSpec& spec) : switch_(sw), local_port_(spec.local_port) {
  for (const std::string& peer : spec.peers) peers_.push_back(resolve_peer(peer));
  if (!spec.key_file.empty()) auth_ = std::make_unique<TunnelAuthenticator>(load_tunnel_key(spec.key_file), peers_.size());
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(fmt::format("tunnel: socket: {}", std::strerror(errno)));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_ANY);
  local.sin_port = htons(spec.local_port);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::runtime_error(fmt::format("tunnel: cannot bind UDP port {}: {}", spec.local_port, std::strerror(error)));
  }
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (stop_fd_ < 0) {
    ::close(fd_);
    throw std::runtime_error(fmt::format("tunnel: eventfd: {}", std::strerror(errno)));
  }
  thread_ = std::thread([this] { receive_loop(); });
  switch_.set_uplink(this);
}

UdpTunnel::~UdpTunnel() {
  switch_.set_uplink(nullptr);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(stop_fd_);
  ::close(fd_);
}

UdpTunnel::Stats UdpTunnel::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::optional<size_t> UdpTunnel::peer_index(const sockaddr_in& from) const {
  for (size_t i = 0; i < peers_.size(); ++i)
    if (peers_[i].sin_addr.s_addr == from.sin_addr.s_addr && peers_[i].sin_port == from.sin_port) return i;
  return std::nullopt;
}

void UdpTunnel::send(uint32_t network, std::span<const uint8_t> frame) {
  std::lock_guard lock(mutex_);
  encode_tunnel_packet(network, frame, out_);
  if (auth_) auth_->seal(out_);
  // Unicast to a MAC seen behind one peer goes only there; the rest to every peer.
  std::optional<size_t> only;
  if (!(frame[0] & 1)) {
    auto it = learned_.find({network, mac_key(frame.first(6))});
    if (it != learned_.end()) only = it->second;
  }
  for (size_t i = 0; i < peers_.size(); ++i) {
    if (only && *only != i) continue;
    const ssize_t n = ::sendto(fd_, out_.data(), out_.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&peers_[i]),
                               sizeof peers_[i]);
    if (n == static_cast<ssize_t>(out_.size())) ++stats_.sent;
    else ++stats_.send_errors;
  }
}

void UdpTunnel::receive_loop() {
  std::vector<uint8_t> buffer(65536);
  std::vector<uint8_t> opened;   // an authenticated datagram's header + frame
  pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = ::recvfrom(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) continue;
    const auto peer = from_len == sizeof from && from.sin_family == AF_INET ? peer_index(from) : std::nullopt;
    if (!peer) {
      std::lock_guard lock(mutex_);
      ++stats_.strangers;
      continue;
    }
    std::span<const uint8_t> datagram(buffer.data(), static_cast<size_t>(n));
    if (auth_) {
      std::lock_guard lock(mutex_);
      const auto verdict = auth_->open(datagram, *peer, opened, datagram);
      if (verdict == TunnelAuthenticator::Verdict::replayed) {
        ++stats_.replayed;
        continue;
      }
      if (verdict != TunnelAuthenticator::Verdict::ok) {
        ++stats_.unauthenticated;
        continue;
      }
    }
    const auto packet = parse_tunnel_packet(datagram);
    if (!packet) {
      std::lock_guard lock(mutex_);
      ++stats_.malformed;
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      ++stats_.received;
      const std::span<const uint8_t> src = packet->frame.subspan(6, 6);
      if (learned_.size() >= 4096) learned_.clear(); // bounded: a peer cannot grow it without end
      if (!(src[0] & 1)) learned_[{packet->network, mac_key(src)}] = *peer;
    }
    // Outside our lock: the switch may call send() (never for this frame: no hairpin).
    if (!switch_.from_uplink(packet->network, packet->frame)) {
      std::lock_guard lock(mutex_);
      ++stats_.undelivered;
    }
  }
}

} // namespace nimbus::hypervisor

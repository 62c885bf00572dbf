#include "cloud/host/host_network.hpp"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "hypervisor/net_switch.hpp"
#include "hypervisor/net_tunnel.hpp"

namespace nimbus::cloud::host {

namespace {

uint64_t mac_key(std::span<const uint8_t> mac) {
  uint64_t key = 0;
  for (size_t i = 0; i < 6; ++i) key = key << 8 | mac[i];
  return key;
}

uint64_t address_key(const sockaddr_in& a) { return uint64_t{ntohl(a.sin_addr.s_addr)} << 16 | ntohs(a.sin_port); }

int bind_udp(const std::string& address, uint16_t port, uint16_t& bound) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(fmt::format("host network: socket: {}", std::strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1) {
    ::close(fd);
    throw std::runtime_error(fmt::format("host network: '{}' is not an IPv4 address", address));
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error(fmt::format("host network: cannot bind UDP {}:{}: {}", address, port, std::strerror(err)));
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  bound = ntohs(a.sin_port);
  return fd;
}

// 32 random bytes as 64 hex digits: the key file's text is the key (load_tunnel_key drops
// trailing whitespace, which raw random bytes could end with).
std::vector<uint8_t> random_key() {
  uint8_t raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("host network: no random bytes for a key");
  std::vector<uint8_t> key;
  for (uint8_t b : raw)
    for (char c : fmt::format("{:02x}", b)) key.push_back(static_cast<uint8_t>(c));
  return key;
}

std::optional<sockaddr_in> parse_address(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  unsigned port = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data() + colon + 1, end, port);
  if (ec != std::errc{} || p != end || port == 0 || port > 65535) return std::nullopt;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, text.substr(0, colon).c_str(), &a.sin_addr) != 1) return std::nullopt;
  return a;
}

std::optional<uint32_t> parse_vni(std::string_view text) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size() || v == 0 || v >= (1u << 24)) return std::nullopt;
  return v;
}

std::optional<std::vector<uint8_t>> parse_hex(const std::string& text) {
  if (text.size() % 2) return std::nullopt;
  std::vector<uint8_t> out;
  for (size_t i = 0; i < text.size(); i += 2) {
    uint8_t b = 0;
    auto [p, ec] = std::from_chars(text.data() + i, text.data() + i + 2, b, 16);
    if (ec != std::errc{} || p != text.data() + i + 2) return std::nullopt;
    out.push_back(b);
  }
  return out;
}

} // namespace

std::string vmm_network_name(uint32_t vni) { return fmt::format("vni-{}", vni); }

HostNetwork::HostNetwork(const std::string& bind_address, uint16_t port) {
  vmm_fd_ = bind_udp("127.0.0.1", 0, vmm_port_);
  try {
    host_fd_ = bind_udp(bind_address, port, host_port_);
  } catch (...) {
    ::close(vmm_fd_);
    throw;
  }
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (stop_fd_ < 0) {
    ::close(vmm_fd_);
    ::close(host_fd_);
    throw std::runtime_error(fmt::format("host network: eventfd: {}", std::strerror(errno)));
  }
  thread_ = std::thread([this] { run(); });
}

HostNetwork::~HostNetwork() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(stop_fd_);
  ::close(vmm_fd_);
  ::close(host_fd_);
}

HostNetwork::Attachment HostNetwork::attach(const std::string& vm, const std::vector<NetNic>& nics) {
  detach(vm);
  // The VMM binds this port itself (`--net-tunnel udp:PORT`): an ephemeral port we bind and
  // release. Another process could take it in between; the VMM then fails to start, says so in
  // its log, and the agent's restart gives it another.
  uint16_t port = 0;
  ::close(bind_udp("127.0.0.1", 0, port));
  LocalVm local;
  local.name = vm;
  local.port = port;
  Attachment a{port, random_key()};
  local.auth = std::make_unique<hypervisor::TunnelAuthenticator>(a.key, 1);
  for (const NetNic& n : nics)
    local.nics.push_back({n.vni, n.mac, hypervisor::network_id(vmm_network_name(n.vni))});
  std::lock_guard lock(mutex_);
  vm_ports_[vm] = port;
  vms_[port] = std::move(local);
  return a;
}

void HostNetwork::detach(const std::string& vm) {
  std::lock_guard lock(mutex_);
  auto it = vm_ports_.find(vm);
  if (it == vm_ports_.end()) return;
  vms_.erase(it->second);
  vm_ports_.erase(it);
}

void HostNetwork::set_network_key(uint32_t vni, std::vector<uint8_t> key) {
  std::lock_guard lock(mutex_);
  if (key.empty()) {
    networks_.erase(vni);
    return;
  }
  Network& net = networks_[vni];
  if (net.key == key) return;
  net.key = key;
  net.sealer = std::make_unique<hypervisor::TunnelAuthenticator>(key, 0);
  net.openers.clear();
}

void HostNetwork::set_remote_nic(uint32_t vni, const machine::MacAddress& mac, const std::string& host, const std::string& address) {
  const auto a = parse_address(address);
  if (!a) return;
  std::lock_guard lock(mutex_);
  networks_[vni].remote[mac_key(mac)][host] = *a;
}

void HostNetwork::remove_remote_nic(uint32_t vni, const machine::MacAddress& mac, const std::string& host) {
  std::lock_guard lock(mutex_);
  auto n = networks_.find(vni);
  if (n == networks_.end()) return;
  auto m = n->second.remote.find(mac_key(mac));
  if (m == n->second.remote.end()) return;
  m->second.erase(host);
  if (m->second.empty()) n->second.remote.erase(m);
}

HostNetwork::Stats HostNetwork::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void HostNetwork::run() {
  std::vector<uint8_t> buffer(65536);
  pollfd fds[3] = {{vmm_fd_, POLLIN, 0}, {host_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[2].revents) return;
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n = ::recvfrom(fds[i].fd, buffer.data(), buffer.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0 || len != sizeof from || from.sin_family != AF_INET) continue;
      const std::span<const uint8_t> d(buffer.data(), static_cast<size_t>(n));
      if (i == 0) from_vmm(from, d);
      else from_host(from, d);
    }
  }
}

void HostNetwork::from_vmm(const sockaddr_in& from, std::span<const uint8_t> datagram) {
  std::lock_guard lock(mutex_);
  auto it = from.sin_addr.s_addr == htonl(INADDR_LOOPBACK) ? vms_.find(ntohs(from.sin_port)) : vms_.end();
  if (it == vms_.end()) {
    ++stats_.strangers;
    return;
  }
  LocalVm& vm = it->second;
  std::span<const uint8_t> inner;
  const auto verdict = vm.auth->open(datagram, 0, scratch_, inner);
  if (verdict != hypervisor::TunnelAuthenticator::Verdict::ok) {
    ++(verdict == hypervisor::TunnelAuthenticator::Verdict::replayed ? stats_.replayed : stats_.unauthenticated);
    return;
  }
  const auto packet = hypervisor::parse_tunnel_packet(inner);
  if (!packet) {
    ++stats_.malformed;
    return;
  }
  const std::span<const uint8_t> frame = packet->frame;
  const LocalNic* nic = nullptr;
  for (const LocalNic& n : vm.nics)
    if (n.wire_id == packet->network && std::equal(n.mac.begin(), n.mac.end(), frame.begin() + 6)) nic = &n;
  if (!nic) {
    ++stats_.spoofed;
    return;
  }
  ++stats_.from_vmms;
  const uint32_t vni = nic->vni;
  deliver_local(vni, frame, &vm);
  auto net = networks_.find(vni);
  if (net == networks_.end() || !net->second.sealer) return;  // no key (yet): the network stays on this host
  send_to_hosts(vni, net->second, frame);
}

void HostNetwork::from_host(const sockaddr_in& from, std::span<const uint8_t> datagram) {
  std::lock_guard lock(mutex_);
  if (datagram.size() < hypervisor::kTunnelHeaderBytes) {
    ++stats_.malformed;
    return;
  }
  const uint32_t vni = uint32_t{datagram[4]} << 16 | uint32_t{datagram[5]} << 8 | datagram[6];
  auto net_it = networks_.find(vni);
  if (net_it == networks_.end() || net_it->second.key.empty()) {
    ++stats_.unauthenticated;  // no key here: nothing can be checked, nothing is delivered
    return;
  }
  Network& net = net_it->second;
  // The sender must be a host etcd places some NIC of this network on.
  std::string sender;
  for (const auto& [mac, hosts] : net.remote) {
    for (const auto& [host, a] : hosts)
      if (a.sin_addr.s_addr == from.sin_addr.s_addr && a.sin_port == from.sin_port) sender = host;
    if (!sender.empty()) break;
  }
  if (sender.empty()) {
    ++stats_.strangers;
    return;
  }
  auto& opener = net.openers[address_key(from)];
  if (!opener) opener = std::make_unique<hypervisor::TunnelAuthenticator>(net.key, 1);
  std::span<const uint8_t> inner;
  const auto verdict = opener->open(datagram, 0, scratch_, inner);
  if (verdict != hypervisor::TunnelAuthenticator::Verdict::ok) {
    ++(verdict == hypervisor::TunnelAuthenticator::Verdict::replayed ? stats_.replayed : stats_.unauthenticated);
    return;
  }
  const auto packet = hypervisor::parse_tunnel_packet(inner);
  if (!packet || packet->network != vni) {
    ++stats_.malformed;
    return;
  }
  const auto src = net.remote.find(mac_key(packet->frame.subspan(6, 6)));
  if (src == net.remote.end() || !src->second.count(sender)) {
    ++stats_.host_spoofed;
    return;
  }
  ++stats_.from_hosts;
  deliver_local(vni, packet->frame, nullptr);
}

void HostNetwork::deliver_local(uint32_t vni, std::span<const uint8_t> frame, const LocalVm* except_vm) {
  const bool group = frame[0] & 1;
  bool delivered = false;
  for (auto& [port, vm] : vms_) {
    if (&vm == except_vm) continue;
    for (const LocalNic& nic : vm.nics) {
      if (nic.vni != vni) continue;
      if (!group && !std::equal(nic.mac.begin(), nic.mac.end(), frame.begin())) continue;
      send_to_vmm(vm, nic, frame);
      delivered = true;
    }
  }
  (void)delivered;
}

void HostNetwork::send_to_vmm(LocalVm& vm, const LocalNic& nic, std::span<const uint8_t> frame) {
  hypervisor::encode_tunnel_packet(nic.wire_id, frame, out_);
  vm.auth->seal(out_);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(vm.port);
  if (::sendto(vmm_fd_, out_.data(), out_.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to), sizeof to) ==
      static_cast<ssize_t>(out_.size()))
    ++stats_.to_vmms;
  else
    ++stats_.send_errors;
}

void HostNetwork::send_to_hosts(uint32_t vni, Network& net, std::span<const uint8_t> frame) {
  std::map<uint64_t, sockaddr_in> targets;  // by address: one copy per host
  auto add = [&](const std::map<std::string, sockaddr_in>& hosts) {
    for (const auto& [host, a] : hosts)
      if (host != self_) targets.emplace(address_key(a), a);
  };
  if (frame[0] & 1) {
    for (const auto& [mac, hosts] : net.remote) add(hosts);
  } else if (auto it = net.remote.find(mac_key(frame.first(6))); it != net.remote.end()) {
    add(it->second);
  } else {
    bool local = false;
    for (const auto& [port, vm] : vms_)
      for (const LocalNic& nic : vm.nics)
        if (nic.vni == vni && std::equal(nic.mac.begin(), nic.mac.end(), frame.begin())) local = true;
    if (!local) ++stats_.unknown;
    return;
  }
  if (targets.empty()) return;
  hypervisor::encode_tunnel_packet(vni, frame, out_);
  net.sealer->seal(out_);
  for (const auto& [k, a] : targets) {
    if (::sendto(host_fd_, out_.data(), out_.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&a), sizeof a) ==
        static_cast<ssize_t>(out_.size()))
      ++stats_.to_hosts;
    else
      ++stats_.send_errors;
  }
}

bool apply_net_key(HostNetwork& net, const std::string& key, const std::string* value) {
  if (key.rfind("net/keys/", 0) == 0) {
    const auto vni = parse_vni(std::string_view(key).substr(9));
    if (!vni) return false;
    if (!value) {
      net.set_network_key(*vni, {});
      return true;
    }
    const auto bytes = parse_hex(*value);
    if (!bytes || bytes->size() < hypervisor::kTunnelMinKeyBytes) return false;
    net.set_network_key(*vni, *bytes);
    return true;
  }
  if (key.rfind("net/ports/", 0) == 0) {
    // net/ports/<vni>/<mac>/<host>
    const std::string rest = key.substr(10);
    const auto s1 = rest.find('/');
    const auto s2 = s1 == std::string::npos ? s1 : rest.find('/', s1 + 1);
    if (s2 == std::string::npos) return false;
    const auto vni = parse_vni(std::string_view(rest).substr(0, s1));
    machine::MacAddress mac{};
    if (!vni || !machine::parse_mac(rest.substr(s1 + 1, s2 - s1 - 1), mac)) return false;
    const std::string host = rest.substr(s2 + 1);
    if (host.empty()) return false;
    if (!value) {
      net.remove_remote_nic(*vni, mac, host);
      return true;
    }
    try {
      const auto j = nlohmann::json::parse(*value);
      const std::string address = j.at("address").get<std::string>();
      if (!parse_address(address)) return false;
      net.set_remote_nic(*vni, mac, host, address);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }
  return false;
}

} // namespace nimbus::cloud::host

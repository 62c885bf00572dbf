#include "hypervisor/net_switch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace nimbus::hypervisor {
namespace {

using machine::MacAddress;

MacAddress destination_of(std::span<const uint8_t> frame) {
  MacAddress mac;
  std::memcpy(mac.data(), frame.data(), 6);
  return mac;
}

MacAddress source_of(std::span<const uint8_t> frame) {
  MacAddress mac;
  std::memcpy(mac.data(), frame.data() + 6, 6);
  return mac;
}

bool is_group(const MacAddress& mac) { return (mac[0] & 1) != 0; } // broadcast or multicast

bool well_formed(std::span<const uint8_t> frame, const machine::NetOffload& offload = {}) {
  const size_t max = offload.gso() ? machine::kMaxOffloadFrameBytes : machine::kMaxFrameBytes;
  return frame.size() >= machine::kMinFrameBytes && frame.size() <= max;
}

// A frame for `sink`: with its offload header if work is pending (the sink finishes it if it
// must), else as it is.
void give(machine::FrameSink& sink, std::span<const uint8_t> frame, const machine::NetOffload& offload) {
  if (offload.pending()) sink.receive_offloaded(frame, offload);
  else sink.receive(frame);
}

} // namespace

uint32_t network_id(std::string_view network) {
  uint32_t h = 2166136261u;
  for (char c : network) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  const uint32_t id = (h >> 24) ^ (h & 0xffffff);
  return id == 0 ? 1 : id;
}

bool valid_network_name(std::string_view network) {
  if (network.empty() || network.size() > 32) return false;
  return std::all_of(network.begin(), network.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

class VirtualSwitch::Port final : public machine::NetLink {
public:
  Port(VirtualSwitch& sw, std::string network, MacAddress mac, std::string owner)
      : switch_(sw), network(std::move(network)), mac(mac), owner(std::move(owner)) {}
  ~Port() override { switch_.disconnect(*this); }

  void attach(machine::FrameSink* s) override {
    std::lock_guard lock(switch_.mutex_);
    sink = s;
  }
  void transmit(std::span<const uint8_t> frame) override { switch_.transmit(*this, frame, {}); }
  void transmit_offloaded(std::span<const uint8_t> frame, const machine::NetOffload& offload) override {
    switch_.transmit(*this, frame, offload);
  }

  VirtualSwitch& switch_;
  const std::string network;
  const MacAddress mac;
  const std::string owner;
  machine::FrameSink* sink = nullptr; // guarded by the switch's mutex
};

VirtualSwitch::VirtualSwitch() = default;
VirtualSwitch::~VirtualSwitch() = default;

std::shared_ptr<machine::NetLink> VirtualSwitch::connect(const std::string& network, const MacAddress& mac,
                                                         const std::string& owner) {
  if (is_group(mac) || mac == MacAddress{})
    throw std::invalid_argument(fmt::format("{}: MAC {} is not a unicast address", owner, machine::format_mac(mac)));
  std::lock_guard lock(mutex_);
  Network& net = network_for(network);
  for (const Port* p : net.ports)
    if (p->mac == mac)
      throw std::invalid_argument(fmt::format("{}: MAC {} is already used on network '{}' by {}", owner,
                                              machine::format_mac(mac), network, p->owner));
  auto port = std::make_shared<Port>(*this, network, mac, owner);
  net.ports.push_back(port.get());
  return port;
}

VirtualSwitch::Network& VirtualSwitch::network_for(const std::string& network) {
  if (!valid_network_name(network))
    throw std::invalid_argument(
        fmt::format("network name '{}' is not 1 to 32 letters, digits, '-', '_' or '.'", network));
  const uint32_t id = network_id(network);
  for (const auto& [name, net] : networks_)
    if (name != network && net.id == id)
      throw std::invalid_argument(fmt::format("networks '{}' and '{}' have the same wire id {:#x}; rename one",
                                              name, network, id));
  Network& net = networks_[network];
  net.name = network;
  net.id = id;
  return net;
}

void VirtualSwitch::attach_host_link(const std::string& network, HostLink* link) {
  std::lock_guard lock(mutex_);
  Network& net = network_for(network);
  if (link != nullptr && net.host != nullptr)
    throw std::invalid_argument(fmt::format("network '{}' has a host link (TAP device) already", network));
  net.host = link;
}

void VirtualSwitch::disconnect(Port& port) {
  std::lock_guard lock(mutex_);
  auto it = networks_.find(port.network);
  if (it == networks_.end()) return;
  auto& ports = it->second.ports;
  ports.erase(std::remove(ports.begin(), ports.end(), &port), ports.end());
}

void VirtualSwitch::set_uplink(NetUplink* uplink) {
  std::lock_guard lock(mutex_);
  uplink_ = uplink;
}

bool VirtualSwitch::deliver(Network& net, const Port* except, std::span<const uint8_t> frame,
                            const machine::NetOffload& offload) {
  const MacAddress dst = destination_of(frame);
  if (is_group(dst)) {
    for (Port* p : net.ports)
      if (p != except && p->sink) give(*p->sink, frame, offload);
    ++net.stats.flooded;
    return true;
  }
  for (Port* p : net.ports) {
    if (p->mac != dst) continue;
    if (p == except) return true; // to itself: nothing to do
    if (p->sink) give(*p->sink, frame, offload);
    ++net.stats.forwarded;
    return true;
  }
  return false;
}

bool VirtualSwitch::forward(Network& net, const Port* from_port, Source source, std::span<const uint8_t> frame,
                            const machine::NetOffload& offload) {
  const bool group = is_group(destination_of(frame));
  bool delivered = deliver(net, from_port, frame, offload);
  // Group frames, and unicast no VM here owns, leave by the network's exits (never by the one
  // they came in by): the host link (the host's MAC is the TAP device's, unknown to us) and
  // the uplink to other hosts.
  if (group || !delivered) {
    // The host link and the tunnel carry ordinary frames: offload work is finished here.
    if (net.host && source != Source::host) {
      machine::finish_offload(frame, offload, [&](std::span<const uint8_t> f) {
        net.host->send_to_host(f);
        ++net.stats.to_host;
      });
      delivered = true;
    }
    if (uplink_ && source != Source::uplink) {
      machine::finish_offload(frame, offload, [&](std::span<const uint8_t> f) {
        uplink_->send(net.id, f);
        ++net.stats.to_uplink;
      });
      delivered = true;
    }
  }
  if (!delivered) ++net.stats.unknown;
  return delivered;
}

bool VirtualSwitch::local_mac(const Network& net, const MacAddress& mac) {
  return std::any_of(net.ports.begin(), net.ports.end(), [&](const Port* p) { return p->mac == mac; });
}

void VirtualSwitch::transmit(Port& from, std::span<const uint8_t> frame, const machine::NetOffload& offload) {
  std::lock_guard lock(mutex_);
  Network& net = networks_.at(from.network);
  if (!well_formed(frame, offload)) {
    ++net.stats.malformed;
    return;
  }
  if (source_of(frame) != from.mac) {
    ++net.stats.spoofed;
    return;
  }
  forward(net, &from, Source::port, frame, offload);
}

bool VirtualSwitch::from_uplink(uint32_t network, std::span<const uint8_t> frame) {
  std::lock_guard lock(mutex_);
  for (auto& [name, net] : networks_) {
    if (net.id != network) continue;
    if (!well_formed(frame)) {
      ++net.stats.malformed;
      return false;
    }
    if (local_mac(net, source_of(frame))) {
      ++net.stats.uplink_spoofed;
      return false;
    }
    ++net.stats.from_uplink;
    return forward(net, nullptr, Source::uplink, frame);
  }
  return false;
}

bool VirtualSwitch::from_host(const std::string& network, std::span<const uint8_t> frame) {
  std::lock_guard lock(mutex_);
  auto it = networks_.find(network);
  if (it == networks_.end()) return false;
  Network& net = it->second;
  if (!well_formed(frame)) {
    ++net.stats.malformed;
    return false;
  }
  if (local_mac(net, source_of(frame))) {
    ++net.stats.host_spoofed;
    return false;
  }
  ++net.stats.from_host;
  return forward(net, nullptr, Source::host, frame);
}

VirtualSwitch::NetworkStats VirtualSwitch::stats(const std::string& network) const {
  std::lock_guard lock(mutex_);
  auto it = networks_.find(network);
  return it == networks_.end() ? NetworkStats{} : it->second.stats;
}

std::vector<std::string> VirtualSwitch::networks() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const auto& [name, net] : networks_) names.push_back(name);
  return names;
}

} // namespace nimbus::hypervisor

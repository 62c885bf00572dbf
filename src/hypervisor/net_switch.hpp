#pragma once
// The VMM's virtual switch: one learning Ethernet switch per virtual network (issue 13), so the
// VMs of one network on this host reach each other and the VMs of another network do not.
//
// Isolation rules, enforced here rather than trusted to guests:
//  - a port belongs to one network and carries one MAC, fixed when the VM is built; a frame a
//    VM sends with any other source MAC is dropped (counted as spoofed);
//  - frames go only to ports of the sender's network: unicast to the port owning the
//    destination MAC, broadcast and multicast to every other port of that network;
//  - the uplink (a UDP tunnel to other VMMs, net_tunnel.hpp) carries frames tagged with their
//    network; frames from it reach only that network's ports, may not claim a local port's MAC
//    as their source, and are never sent back out of it (no loops between hosts);
//  - a network may have one host link (a TAP device, net_tap.hpp) to the host's own network
//    stack: it gets that network's broadcasts and the unicast no port owns; frames from it
//    reach only that network, and may not claim a local port's MAC either.
// Every guest's receive backlog is bounded (machine::VirtioNet), so a flooding guest costs the
// others dropped frames, not memory.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "machine/devices/net_link.hpp"
#include "machine/devices/virtio_net.hpp"

namespace nimbus::hypervisor {

// Where frames leave this host: implemented by UdpTunnel.
class NetUplink {
public:
  virtual ~NetUplink() = default;
  // A frame of network `network` (its id, network_id()) for other hosts; `destination` is its
  // destination MAC (broadcast for a flood). Called with the switch's lock held: never calls
  // back into the switch.
  virtual void send(uint32_t network, std::span<const uint8_t> frame) = 0;
};

// Where one network meets the host's own network stack: implemented by TapLink.
class HostLink {
public:
  virtual ~HostLink() = default;
  // A frame of the network this link is attached to. Called with the switch's lock held:
  // never calls back into the switch, never blocks.
  virtual void send_to_host(std::span<const uint8_t> frame) = 0;
};

// The 24-bit id that names a network on the wire (a VXLAN network identifier): FNV-1a of the
// name, folded to 24 bits, never 0. The VMM refuses two local networks with one id.
uint32_t network_id(std::string_view network);
// Network names: 1..32 of [a-zA-Z0-9_.-].
bool valid_network_name(std::string_view network);

class VirtualSwitch {
public:
  struct NetworkStats {
    uint64_t forwarded = 0;        // frames delivered to one port
    uint64_t flooded = 0;          // broadcast/multicast frames sent to every other port
    uint64_t spoofed = 0;          // dropped: a VM's source MAC was not its own
    uint64_t unknown = 0;          // dropped: no port has the destination MAC (and no uplink)
    uint64_t malformed = 0;        // dropped: shorter than an Ethernet header or too long
    uint64_t to_uplink = 0;
    uint64_t from_uplink = 0;
    uint64_t uplink_spoofed = 0;   // dropped: from the uplink with a local port's MAC as source
    uint64_t to_host = 0;          // frames given to the host link
    uint64_t from_host = 0;
    uint64_t host_spoofed = 0;     // dropped: from the host link with a local port's MAC as source
  };

  VirtualSwitch();
  ~VirtualSwitch();
  VirtualSwitch(const VirtualSwitch&) = delete;
  VirtualSwitch& operator=(const VirtualSwitch&) = delete;

  // A port on `network` for a NIC with `mac` (owner names it in errors). Throws
  // std::invalid_argument for a bad network name, a MAC already on that network, or a network
  // whose id collides with another local network's. The port leaves the switch when the last
  // reference to it goes (the VM's device is destroyed).
  std::shared_ptr<machine::NetLink> connect(const std::string& network, const machine::MacAddress& mac,
                                            const std::string& owner);
  // The uplink (nullptr: none); it must be cleared before it is destroyed.
  void set_uplink(NetUplink* uplink);
  // A frame from the uplink for the network with id `network`; unknown networks are dropped.
  // Returns whether it was delivered to at least one port (or the host link).
  bool from_uplink(uint32_t network, std::span<const uint8_t> frame);
  // The host link of `network` (created if no VM joined it yet). Throws std::invalid_argument
  // for a bad name or a network that has one already. Detach (nullptr) before destroying it.
  void attach_host_link(const std::string& network, HostLink* link);
  // A frame from `network`'s host link. Returns whether a port (or the uplink) took it.
  bool from_host(const std::string& network, std::span<const uint8_t> frame);

  NetworkStats stats(const std::string& network) const;
  std::vector<std::string> networks() const;

private:
  class Port;
  struct Network {
    std::string name;
    uint32_t id = 0;
    std::vector<Port*> ports;
    HostLink* host = nullptr;
    NetworkStats stats;
  };
  // The network called `name`, created on first use; throws for a bad name or an id collision.
  Network& network_for(const std::string& name);
  // `offload`: checksum or segmentation work the sender's device left (net_offload.hpp); VM
  // ports get it as it is, the host link and the uplink get finished frames.
  void transmit(Port& from, std::span<const uint8_t> frame, const machine::NetOffload& offload);
  void disconnect(Port& port);
  enum class Source { port, uplink, host };
  // Delivers to the ports of `net` except `except`: the one with `dst`, or all for a group address.
  bool deliver(Network& net, const Port* except, std::span<const uint8_t> frame,
               const machine::NetOffload& offload = {});
  // deliver(), then out of the network's exits (host link, uplink) but the one it came in by.
  bool forward(Network& net, const Port* from_port, Source source, std::span<const uint8_t> frame,
               const machine::NetOffload& offload = {});
  static bool local_mac(const Network& net, const machine::MacAddress& mac);

  mutable std::mutex mutex_;
  std::map<std::string, Network> networks_;
  NetUplink* uplink_ = nullptr;
};

} // namespace nimbus::hypervisor

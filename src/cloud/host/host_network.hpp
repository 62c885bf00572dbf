#pragma once
// The host's switch for tenant networks (docs/cloud.md, "Tenant networks"): one per host agent,
// a thread of its own. In the cloud every VM is its own VMM process, and a VM's peers change as
// VMs are placed, moved and deleted, so VMMs do not tunnel to each other: each VMM's tunnel
// (`--net-tunnel`, hypervisor/net_tunnel.hpp) has one peer, this switch on loopback, with a key
// of its own; this switch carries each network to the other hosts over UDP with that network's
// key. Which MAC of which network runs behind which host comes from etcd (`net/ports/...`,
// written by each host's agent under its lease), not from learning.
//
// Rules, enforced here as well as in each VMM's own switch:
//  - a frame from a VMM must carry that VMM's key, one of its NICs' networks and that NIC's MAC
//    as source, else it is dropped (`spoofed`, `unauthenticated`);
//  - a frame goes only to NICs of its network: locally to the VMM with the destination MAC (all
//    of the network's other NICs for broadcast/multicast), and to the hosts that etcd says run
//    that MAC (every host with a NIC on the network for broadcast/multicast);
//  - a frame from another host must carry the network's key with a fresh counter (a replay
//    window per network and sending host), and its source MAC must be a NIC of that network
//    that etcd places on that sending host; it reaches only local NICs and never leaves again.
#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "hypervisor/net_tunnel_auth.hpp"
#include "cloud/host/vm_spec.hpp"
#include "machine/devices/virtio_net.hpp"

namespace nimbus::cloud::host {

// The network name a VMM's TOML gives the NIC of cloud network `vni` ("vni-<N>").
std::string vmm_network_name(uint32_t vni);


class HostNetwork {
 public:
  struct Stats {
    uint64_t from_vmms = 0, to_vmms = 0;        // frames
    uint64_t to_hosts = 0, from_hosts = 0;      // datagrams
    uint64_t spoofed = 0;          // a VMM's frame with a network or source MAC not its NIC's
    uint64_t unauthenticated = 0;  // bad or missing tag (VMM or host), or no key for the network
    uint64_t replayed = 0;
    uint64_t strangers = 0;        // from a loopback port no VMM has, or a host with no NIC there
    uint64_t host_spoofed = 0;     // from a host: source MAC not placed on that host
    uint64_t unknown = 0;          // unicast to a MAC nobody has
    uint64_t malformed = 0;
    uint64_t send_errors = 0;
  };

  // Binds the VMM side (127.0.0.1, an ephemeral port) and the host side (`bind_address`:`port`,
  // 0: ephemeral) and starts the thread. Throws std::runtime_error naming what failed.
  HostNetwork(const std::string& bind_address, uint16_t port);
  ~HostNetwork();
  HostNetwork(const HostNetwork&) = delete;
  HostNetwork& operator=(const HostNetwork&) = delete;

  uint16_t vmm_side_port() const { return vmm_port_; }    // the VMMs' tunnel peer: 127.0.0.1:this
  uint16_t host_side_port() const { return host_port_; }  // other hosts send here

  // A VMM for VM `vm` with these NICs: returns the UDP port its tunnel binds and the key it uses
  // (a fresh one per attachment). Attaching `vm` again replaces the old attachment.
  struct Attachment {
    uint16_t vmm_port = 0;
    std::vector<uint8_t> key;
  };
  Attachment attach(const std::string& vm, const std::vector<NetNic>& nics);
  void detach(const std::string& vm);

  // From etcd: a network's key (empty: the network is gone), and where a NIC runs.
  void set_network_key(uint32_t vni, std::vector<uint8_t> key);
  void set_remote_nic(uint32_t vni, const machine::MacAddress& mac, const std::string& host, const std::string& address);
  void remove_remote_nic(uint32_t vni, const machine::MacAddress& mac, const std::string& host);
  // Forgets every network's key and remote NICs (before listing net/ again after a broken watch).
  void clear_directory() {
    std::lock_guard lock(mutex_);
    networks_.clear();
  }
  // This host's name: its own entries in etcd are not remote.
  void set_self(const std::string& host) {
    std::lock_guard lock(mutex_);
    self_ = host;
  }

  Stats stats() const;

 private:
  struct LocalNic {
    uint32_t vni = 0;
    machine::MacAddress mac{};
    uint32_t wire_id = 0;  // the id its VMM puts on the loopback tunnel (hypervisor::network_id)
  };
  struct LocalVm {
    std::string name;
    uint16_t port = 0;
    std::vector<LocalNic> nics;
    std::unique_ptr<hypervisor::TunnelAuthenticator> auth;
  };
  struct Network {
    std::vector<uint8_t> key;
    std::unique_ptr<hypervisor::TunnelAuthenticator> sealer;
    // Per sending host address (ip:port as uint64): that host's replay window.
    std::map<uint64_t, std::unique_ptr<hypervisor::TunnelAuthenticator>> openers;
    // mac -> host -> address
    std::map<uint64_t, std::map<std::string, sockaddr_in>> remote;
  };

  void run();
  void from_vmm(const sockaddr_in& from, std::span<const uint8_t> datagram);
  void from_host(const sockaddr_in& from, std::span<const uint8_t> datagram);
  // Lock held. To every local NIC of `vni` that should get `frame` (not `except_vm`).
  void deliver_local(uint32_t vni, std::span<const uint8_t> frame, const LocalVm* except_vm);
  void send_to_vmm(LocalVm& vm, const LocalNic& nic, std::span<const uint8_t> frame);
  void send_to_hosts(uint32_t vni, Network& net, std::span<const uint8_t> frame);

  int vmm_fd_ = -1, host_fd_ = -1, stop_fd_ = -1;
  uint16_t vmm_port_ = 0, host_port_ = 0;
  mutable std::mutex mutex_;
  std::string self_;
  std::map<uint16_t, LocalVm> vms_;             // by the VMM's port
  std::map<std::string, uint16_t> vm_ports_;    // vm -> port
  std::map<uint32_t, Network> networks_;
  std::vector<uint8_t> out_, scratch_;
  Stats stats_;
  std::thread thread_;
};

// Keys under the etcd prefix (docs/cloud.md): `net/keys/<vni>` and `net/ports/<vni>/<mac>`.
// Applies one such key (value, or deleted) to `net`; returns false for keys it does not know
// or values it cannot parse (the caller logs them).
bool apply_net_key(HostNetwork& net, const std::string& relative_key, const std::string* value);

} // namespace nimbus::cloud::host

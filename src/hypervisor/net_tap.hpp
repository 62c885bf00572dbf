#pragma once
// A TAP device as a network's host link (net_switch.hpp): the host's own network stack joins
// one virtual network, as QEMU's `-netdev tap` does, so a VM reaches the host (and, through the
// host's routing, whatever the host lets it reach) and the host reaches the VM's services.
//
// The device is opened by name on /dev/net/tun: an existing one (made with `ip tuntap add`, and
// owned by the VMM's user) is joined, a missing one is created and disappears with the VMM.
// Frames from the host are checked by the switch like a tunnel's (size, no local VM's MAC as
// source), and reach only the network the device belongs to.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "hypervisor/net_switch.hpp"

namespace nimbus::hypervisor {

// `--net-tap NETWORK=IFNAME`.
struct TapSpec {
  std::string network;
  std::string interface;
};
// Throws std::invalid_argument with what is wrong and how it should look.
TapSpec parse_tap_spec(std::string_view text);

class TapLink final : public HostLink {
public:
  struct Stats {
    uint64_t to_host = 0, from_host = 0;
    uint64_t oversized = 0;     // from the host: larger than a frame without offloads (MTU > 1500)
    uint64_t send_errors = 0;   // the host's queue was full (dropped, as a NIC would)
  };

  // Opens (or creates) the TAP device, joins the switch as `spec.network`'s host link and starts
  // the receive thread. Throws std::runtime_error naming the device and what to do.
  TapLink(VirtualSwitch& sw, const TapSpec& spec);
  ~TapLink() override;   // leaves the switch, stops the thread, closes the device
  TapLink(const TapLink&) = delete;
  TapLink& operator=(const TapLink&) = delete;

  void send_to_host(std::span<const uint8_t> frame) override;
  Stats stats() const;
  const TapSpec& spec() const { return spec_; }

private:
  void receive_loop();

  VirtualSwitch& switch_;
  const TapSpec spec_;
  int fd_ = -1;
  int stop_fd_ = -1;
  mutable std::mutex mutex_;   // stats_
  Stats stats_;
  std::thread thread_;
};

} // namespace nimbus::hypervisor

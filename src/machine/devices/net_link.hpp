#pragma once
// The cable of a virtio-net device (virtio_net.hpp): frames the guest sends go out
// through NetLink::transmit; frames for the guest come in through the FrameSink the device
// attaches. Implementations live above the machine: a port of the VMM's virtual switch
// (hypervisor/net_switch.hpp), a UDP tunnel to another VMM (hypervisor/net_tunnel.hpp).
#include <cstdint>
#include <span>

#include "machine/devices/net_offload.hpp"

namespace nimbus::machine {

// Ethernet frames without preamble and FCS, as virtio-net carries them.
inline constexpr size_t kEthernetHeaderBytes = 14;
inline constexpr size_t kMinFrameBytes = kEthernetHeaderBytes;
// 1500-byte payload + header + one VLAN tag: the largest frame without segmentation offloads.
inline constexpr size_t kMaxFrameBytes = 1518;

class FrameSink {
public:
  virtual ~FrameSink() = default;
  // A frame for the guest, from any thread. Copies it and returns at once (never blocks on
  // the guest); drops it when the receive backlog is full.
  virtual void receive(std::span<const uint8_t> frame) = 0;
  // A frame with offload work pending (checksum, segmentation: net_offload.hpp), up to
  // kMaxOffloadFrameBytes. A sink that cannot take the header as it is (the default) gets the
  // frame finished in software, as ordinary frames through receive().
  virtual void receive_offloaded(std::span<const uint8_t> frame, const NetOffload& offload) {
    finish_offload(frame, offload, [this](std::span<const uint8_t> f) { receive(f); });
  }
};

class NetLink {
public:
  virtual ~NetLink() = default;
  // Connects the device (nullptr disconnects). Once attach(nullptr) returns, no receive() call
  // is running or will start, so the sink may be destroyed.
  virtual void attach(FrameSink* sink) = 0;
  // A frame the guest sent (kMinFrameBytes..kMaxFrameBytes), on the device's thread.
  virtual void transmit(std::span<const uint8_t> frame) = 0;
  // A frame the guest sent with offload work pending, its header already checked
  // (check_offload). The default finishes it in software and sends ordinary frames.
  virtual void transmit_offloaded(std::span<const uint8_t> frame, const NetOffload& offload) {
    finish_offload(frame, offload, [this](std::span<const uint8_t> f) { transmit(f); });
  }
};

} // namespace nimbus::machine

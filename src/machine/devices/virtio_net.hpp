#pragma once
// virtio-net (device ID 1, virtio 1.x section 5.1): one receive and one transmit queue
// (multiqueue off), the MAC address and link status in configuration space, and the checksum
// and TCP segmentation offloads (CSUM, GUEST_CSUM, HOST_TSO4/6, GUEST_TSO4/6; net_offload.hpp).
// A frame whose header asks for work goes through the link with that header; a receiver that
// did not negotiate the matching feature gets it finished in software here (receive_offloaded).
// Large received frames need no mergeable buffers: a Linux driver that negotiated GUEST_TSO
// without MRG_RXBUF posts 64-KiB "big packet" buffers; a GSO frame that does not fit the buffer
// at hand is segmented here instead of dropped.
//
// Transmit is synchronous: each frame goes to the NetLink when the driver notifies queue 1.
// Receive is asynchronous: frames arrive on any thread through receive() into a bounded backlog
// (a full backlog drops, as a NIC's full ring does) and on_frame is called to wake the machine;
// the machine's thread then moves them into the guest's receive buffers (VirtioMmio::poll).
//
// Bad requests never reach the wire: a transmit buffer shorter than the virtio-net header or
// with a frame outside kMinFrameBytes..kMaxFrameBytes (kMaxOffloadFrameBytes for segmentation),
// asking for an offload that was not negotiated, or whose header does not fit the frame
// (check_offload) is dropped and counted; a receive buffer the driver made readable is a
// structural fault (DEVICE_NEEDS_RESET); a frame that does not fit the buffer at hand is dropped.
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "machine/devices/net_link.hpp"
#include "machine/devices/virtio_device.hpp"

namespace nimbus::machine {

using MacAddress = std::array<uint8_t, 6>;

class VirtioNet : public VirtioDevice, public FrameSink {
public:
  static constexpr uint32_t kDeviceId = 1;
  static constexpr unsigned kReceiveQueue = 0, kTransmitQueue = 1;
  static constexpr uint64_t kFeatureCsum = uint64_t{1} << 0;
  static constexpr uint64_t kFeatureGuestCsum = uint64_t{1} << 1;
  static constexpr uint64_t kFeatureMac = uint64_t{1} << 5;
  static constexpr uint64_t kFeatureGuestTso4 = uint64_t{1} << 7;
  static constexpr uint64_t kFeatureGuestTso6 = uint64_t{1} << 8;
  static constexpr uint64_t kFeatureHostTso4 = uint64_t{1} << 11;
  static constexpr uint64_t kFeatureHostTso6 = uint64_t{1} << 12;
  static constexpr uint64_t kFeatureMrgRxbuf = uint64_t{1} << 15;
  static constexpr uint64_t kFeatureStatus = uint64_t{1} << 16;
  static constexpr uint64_t kFeatureVersion1 = uint64_t{1} << 32;
  static constexpr uint16_t kStatusLinkUp = 1;
  // struct virtio_net_hdr: 12 bytes with VERSION_1 (num_buffers always present), else 10.
  static constexpr uint32_t kHeaderBytes = 12, kLegacyHeaderBytes = 10;
  static constexpr size_t kBacklogFrames = 256;
  // Frames of up to 64 KiB wait too: the backlog is bounded in bytes as well.
  static constexpr size_t kBacklogBytes = 4 << 20;
  static constexpr uint64_t kOffloadFeatures = kFeatureCsum | kFeatureGuestCsum | kFeatureGuestTso4 |
                                               kFeatureGuestTso6 | kFeatureHostTso4 | kFeatureHostTso6;

  struct Counters {
    uint64_t rx_frames = 0, rx_bytes = 0;
    uint64_t tx_frames = 0, tx_bytes = 0;
    uint64_t rx_dropped = 0;  // backlog full, or no room in the guest's buffer
    uint64_t tx_dropped = 0;  // malformed transmit requests (bad_offload included)
    uint64_t tx_bad_offload = 0; // ... of which the offload header was not negotiated or lied
    uint64_t tx_offloaded = 0;   // frames sent with checksum or segmentation work for the device
    uint64_t rx_finished = 0;      // frames checksummed or segmented in software for this guest
    uint64_t rx_finished_from = 0; // ... the frames they replaced
  };

  // The device attaches itself to `link` (which may be null: a cable plugged into nothing).
  VirtioNet(MacAddress mac, std::shared_ptr<NetLink> link);
  ~VirtioNet() override;
  VirtioNet(const VirtioNet&) = delete;
  VirtioNet& operator=(const VirtioNet&) = delete;

  uint32_t device_id() const override { return kDeviceId; }
  uint64_t features() const override { return kFeatureMac | kFeatureStatus | kOffloadFeatures; }
  unsigned queue_count() const override { return 2; }
  std::vector<uint8_t> config() const override;
  Result process(unsigned queue, const DescriptorChain& chain) override;
  void reset() override;
  void driver_ok(uint64_t features) override;
  bool wants_service(unsigned queue) const override;
  void save_state(snapshot::Writer& out) const override;
  void restore_state(snapshot::Reader& in) override;

  // FrameSink: a frame for the guest (any thread).
  void receive(std::span<const uint8_t> frame) override;
  // Takes the header as it is if the driver negotiated the matching GUEST_ feature, else
  // finishes the frame in software first.
  void receive_offloaded(std::span<const uint8_t> frame, const NetOffload& offload) override;
  // Called (from the thread of receive(), under the device lock) when the backlog becomes
  // non-empty; once set_on_frame returns, the previous callback is not running.
  void set_on_frame(std::function<void()> on_frame);

  const MacAddress& mac() const { return mac_; }
  // Sends a RARP announcement from this interface's MAC onto its link (as QEMU's
  // qemu_announce_self after a migration): switches and tunnels that learned the MAC behind
  // another port or peer learn where it is now. The guest sees nothing of it.
  void announce();
  // The frame announce() sends: broadcast, RARP (EtherType 0x8035) "reverse request" for `mac`,
  // padded to the 60-byte minimum.
  static std::vector<uint8_t> announcement(const MacAddress& mac);
  Counters counters() const;
  size_t backlog() const;

private:
  struct Pending {
    std::vector<uint8_t> frame;
    NetOffload offload;
  };
  Result transmit(const DescriptorChain& chain);
  Result deliver(const DescriptorChain& chain);
  // Whether the driver accepted what `offload` leaves to the receiver.
  bool guest_takes(const NetOffload& offload) const;
  void enqueue(std::span<const uint8_t> frame, const NetOffload& offload);

  MacAddress mac_;
  std::shared_ptr<NetLink> link_;
  uint32_t header_bytes_ = kHeaderBytes;
  std::vector<uint8_t> tx_buffer_;
  mutable std::mutex mutex_; // guards backlog_, counters_ and on_frame_
  std::deque<Pending> backlog_;
  size_t backlog_bytes_ = 0;
  std::atomic<uint64_t> features_{0}; // negotiated at DRIVER_OK; read by receive() on any thread
  std::atomic<bool> backlog_nonempty_{false};
  std::atomic<bool> accepting_{false}; // the driver is up: frames for it are kept
  std::function<void()> on_frame_;
  Counters counters_;
};

// "52:54:00:12:34:56" -> bytes; false for anything else. A MAC for a NIC must be unicast.
bool parse_mac(std::string_view text, MacAddress& mac);
std::string format_mac(const MacAddress& mac);

} // namespace nimbus::machine

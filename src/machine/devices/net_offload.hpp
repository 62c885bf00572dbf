#pragma once
// Checksum and segmentation offloads of virtio-net (virtio 1.x 5.1.6.2): the work a sender
// leaves to "the device" in its struct virtio_net_hdr, carried with the frame through the
// switch to a receiver that can take it as it is (a guest that negotiated GUEST_CSUM and
// GUEST_TSO4/6), and finished here in software for any receiver that cannot (a guest without
// those features, a TAP device, a tunnel whose datagrams hold one ordinary frame).
//
// Frames come from guests, so nothing here trusts a header: check_offload() refuses a
// checksum position outside the frame, a segment size of 0 or one whose segments would not be
// ordinary frames or would number more than kMaxOffloadSegments, hdr_len past the frame, a GSO
// type that does not match the frame's own IPv4 or IPv6 and TCP headers. The finishing functions check again and produce nothing for a frame
// that fails.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace nimbus::machine {

struct NetOffload {
  // flags
  static constexpr uint8_t kNeedsCsum = 1, kDataValid = 2;
  // gso_type
  static constexpr uint8_t kGsoNone = 0, kGsoTcpV4 = 1, kGsoUdp = 3, kGsoTcpV6 = 4, kGsoEcn = 0x80;

  uint8_t flags = 0;
  uint8_t gso_type = kGsoNone;
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;

  bool needs_csum() const { return (flags & kNeedsCsum) != 0; }
  bool gso() const { return gso_type != kGsoNone; }
  // Work is pending: a receiver must either take the header or have the frame finished.
  bool pending() const { return needs_csum() || gso(); }

  // The first 10 bytes of struct virtio_net_hdr (little-endian), and back.
  static NetOffload parse(const uint8_t* header);
  void write(uint8_t* header) const;
};

// The largest frame a segmentation offload may carry: 64 KiB of IP packet behind an Ethernet
// header and one VLAN tag (Linux's GSO_MAX_SIZE is 65536).
inline constexpr size_t kMaxOffloadFrameBytes = 65536 + 18;
// At most this many segments per request (a gso_size of 32 bytes or more for 64 KiB; Linux's
// smallest MSS is 48): a guest cannot make one frame cost the host tens of thousands.
inline constexpr size_t kMaxOffloadSegments = 2048;

// Why check_offload() refused a header (nullptr: it did not).
const char* check_offload(std::span<const uint8_t> frame, const NetOffload& offload);

// Stores the Internet checksum of frame[csum_start..] (the field at csum_start + csum_offset
// holds the sender's pseudo-header sum) at csum_start + csum_offset. False if the header fails
// check_offload().
bool complete_checksum(std::span<uint8_t> frame, const NetOffload& offload);

// Calls `emit` with ordinary frames (at most kMaxFrameBytes, checksums complete) that carry
// what `frame` and its header mean: the frame itself when no work is pending, the frame with
// its checksum completed, or its TCP segments of at most gso_size payload bytes each with
// IPv4 ids, lengths, sequence numbers, flags and checksums as the sender's stack would have
// made them. Returns false, emitting nothing, for a header that fails check_offload().
using FrameEmitter = std::function<void(std::span<const uint8_t>)>;
bool finish_offload(std::span<const uint8_t> frame, const NetOffload& offload, const FrameEmitter& emit);

} // namespace nimbus::machine

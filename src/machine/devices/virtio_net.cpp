#include "machine/devices/virtio_net.hpp"

#include <algorithm>
#include <fmt/format.h>

#include <cstring>

namespace nimbus::machine {

VirtioNet::VirtioNet(MacAddress mac, std::shared_ptr<NetLink> link) : mac_(mac), link_(std::move(link)) {
  tx_buffer_.reserve(kHeaderBytes + kMaxOffloadFrameBytes);
  if (link_) link_->attach(this);
}

VirtioNet::~VirtioNet() {
  if (link_) link_->attach(nullptr);
}

std::vector<uint8_t> VirtioNet::config() const {
  // mac[6], status (le16), max_virtqueue_pairs (le16).
  std::vector<uint8_t> c(mac_.begin(), mac_.end());
  c.push_back(kStatusLinkUp & 0xff);
  c.push_back(kStatusLinkUp >> 8);
  c.push_back(1);
  c.push_back(0);
  return c;
}

void VirtioNet::reset() {
  accepting_.store(false, std::memory_order_release);
  header_bytes_ = kHeaderBytes;
  features_.store(0, std::memory_order_release);
  std::lock_guard lock(mutex_);
  counters_.rx_dropped += backlog_.size(); // frames the reset discards were dropped
  backlog_.clear();
  backlog_bytes_ = 0;
  backlog_nonempty_.store(false, std::memory_order_release);
}

void VirtioNet::driver_ok(uint64_t features) {
  // Legacy drivers without mergeable buffers use the 10-byte header (virtio 1.x 5.1.6.1).
  header_bytes_ = (features & (kFeatureVersion1 | kFeatureMrgRxbuf)) ? kHeaderBytes : kLegacyHeaderBytes;
  features_.store(features, std::memory_order_release);
  accepting_.store(true, std::memory_order_release);
}

bool VirtioNet::wants_service(unsigned queue) const {
  return queue == kReceiveQueue && backlog_nonempty_.load(std::memory_order_acquire);
}

void VirtioNet::set_on_frame(std::function<void()> on_frame) {
  std::lock_guard lock(mutex_);
  on_frame_ = std::move(on_frame);
}

VirtioNet::Counters VirtioNet::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

size_t VirtioNet::backlog() const {
  std::lock_guard lock(mutex_);
  return backlog_.size();
}

void VirtioNet::receive(std::span<const uint8_t> frame) { enqueue(frame, NetOffload{}); }

bool VirtioNet::guest_takes(const NetOffload& offload) const {
  const uint64_t f = features_.load(std::memory_order_acquire);
  if (offload.needs_csum() && !(f & kFeatureGuestCsum)) return false;
  switch (offload.gso_type) {
  case NetOffload::kGsoNone: return true;
  case NetOffload::kGsoTcpV4: return (f & kFeatureGuestTso4) != 0;
  case NetOffload::kGsoTcpV6: return (f & kFeatureGuestTso6) != 0;
  default: return false;
  }
}

void VirtioNet::receive_offloaded(std::span<const uint8_t> frame, const NetOffload& given) {
  // The sender's device checked the header; checked again, so that no link can hand a guest one
  // that lies, or a DATA_VALID that only this device may set.
  NetOffload offload = given;
  offload.flags &= NetOffload::kNeedsCsum;
  if (check_offload(frame, offload) != nullptr) {
    std::lock_guard lock(mutex_);
    ++counters_.rx_dropped;
    return;
  }
  if (!offload.pending() || guest_takes(offload)) {
    enqueue(frame, offload);
    return;
  }
  // Finished here: the checksums are ours, so a driver that reads DATA_VALID need not check them.
  const bool valid = (features_.load(std::memory_order_acquire) & kFeatureGuestCsum) != 0;
  NetOffload done;
  done.flags = valid ? NetOffload::kDataValid : 0;
  finish_offload(frame, offload, [&](std::span<const uint8_t> f) {
    {
      std::lock_guard lock(mutex_);
      ++counters_.rx_finished;
    }
    enqueue(f, done);
  });
  std::lock_guard lock(mutex_);
  ++counters_.rx_finished_from;
}

void VirtioNet::enqueue(std::span<const uint8_t> frame, const NetOffload& offload) {
  std::lock_guard lock(mutex_);
  const size_t max = offload.gso() ? kMaxOffloadFrameBytes : kMaxFrameBytes;
  if (!accepting_.load(std::memory_order_acquire) || frame.size() < kMinFrameBytes || frame.size() > max ||
      backlog_.size() >= kBacklogFrames || backlog_bytes_ + frame.size() > kBacklogBytes) {
    ++counters_.rx_dropped;
    return;
  }
  backlog_.push_back(Pending{std::vector<uint8_t>(frame.begin(), frame.end()), offload});
  backlog_bytes_ += frame.size();
  // Under the lock: once set_on_frame({}) returns, the old callback is not running.
  if (!backlog_nonempty_.exchange(true, std::memory_order_acq_rel) && on_frame_) on_frame_();
}

VirtioDevice::Result VirtioNet::process(unsigned queue, const DescriptorChain& chain) {
  if (queue == kTransmitQueue) return transmit(chain);
  return deliver(chain);
}

VirtioDevice::Result VirtioNet::transmit(const DescriptorChain& chain) {
  // Device-writable parts of a transmit buffer are ignored (nothing is written back).
  const uint64_t total = chain.readable_bytes();
  const uint64_t f = features_.load(std::memory_order_acquire);
  const auto drop = [&](bool bad_offload) {
    std::lock_guard lock(mutex_);
    ++counters_.tx_dropped;
    if (bad_offload) ++counters_.tx_bad_offload;
    return Result{true, 0};
  };
  const size_t max = (f & (kFeatureHostTso4 | kFeatureHostTso6)) ? kMaxOffloadFrameBytes : kMaxFrameBytes;
  if (total < header_bytes_ + kMinFrameBytes || total > header_bytes_ + max) return drop(false);
  tx_buffer_.resize(total);
  chain.read(0, tx_buffer_.data(), total);
  NetOffload offload = NetOffload::parse(tx_buffer_.data());
  // 5.1.6.2.2: the device ignores flag bits it does not know (DATA_VALID is not the driver's).
  offload.flags &= NetOffload::kNeedsCsum;
  offload.hdr_len = offload.gso() ? offload.hdr_len : 0;
  const std::span<const uint8_t> frame(tx_buffer_.data() + header_bytes_, total - header_bytes_);
  // Work that was not negotiated, or a header that does not describe this frame, is refused.
  if (offload.needs_csum() && !(f & kFeatureCsum)) return drop(true);
  if (offload.gso_type == NetOffload::kGsoTcpV4 && !(f & kFeatureHostTso4)) return drop(true);
  if (offload.gso_type == NetOffload::kGsoTcpV6 && !(f & kFeatureHostTso6)) return drop(true);
  if (check_offload(frame, offload) != nullptr) return drop(true);
  {
    std::lock_guard lock(mutex_);
    ++counters_.tx_frames;
    counters_.tx_bytes += frame.size();
    if (offload.pending()) ++counters_.tx_offloaded;
  }
  if (!link_) return {true, 0};
  if (offload.pending()) link_->transmit_offloaded(frame, offload);
  else link_->transmit(frame);
  return {true, 0};
}

VirtioDevice::Result VirtioNet::deliver(const DescriptorChain& chain) {
  // Receive buffers are device-writable only (5.1.6.3.1: the driver MUST NOT make them readable).
  if (chain.readable_bytes() != 0) return {false, 0};
  Pending next;
  {
    std::lock_guard lock(mutex_);
    for (;;) {
      if (backlog_.empty()) {
        backlog_nonempty_.store(false, std::memory_order_release);
        return {true, 0, true};
      }
      next = std::move(backlog_.front());
      backlog_.pop_front();
      backlog_bytes_ -= next.frame.size();
      if (backlog_.empty()) backlog_nonempty_.store(false, std::memory_order_release);
      // A header the driver may not get (it reset and negotiated less since the frame came) is
      // finished here, as receive_offloaded would have.
      const bool takes = !next.offload.pending() || guest_takes(next.offload);
      if (takes && header_bytes_ + next.frame.size() <= chain.writable_bytes()) break;
      // Without mergeable buffers a frame must fit one buffer. A segmentation request that
      // does not (the driver posts small buffers) is segmented here and its segments go first;
      // any other frame is dropped and the buffer waits for the next frame.
      if (takes && !next.offload.gso()) {
        ++counters_.rx_dropped;
        continue;
      }
      std::vector<Pending> segments;
      NetOffload done;
      done.flags = (features_.load(std::memory_order_acquire) & kFeatureGuestCsum) ? NetOffload::kDataValid : 0;
      if (!finish_offload(next.frame, next.offload, [&](std::span<const uint8_t> seg) {
            segments.push_back(Pending{std::vector<uint8_t>(seg.begin(), seg.end()), done});
          })) {
        ++counters_.rx_dropped;
        continue;
      }
      counters_.rx_finished += segments.size();
      ++counters_.rx_finished_from;
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        backlog_bytes_ += it->frame.size();
        backlog_.push_front(std::move(*it));
      }
      backlog_nonempty_.store(true, std::memory_order_release);
    }
    ++counters_.rx_frames;
    counters_.rx_bytes += next.frame.size();
  }
  uint8_t header[kHeaderBytes] = {};
  next.offload.write(header);
  if (header_bytes_ == kHeaderBytes) header[10] = 1; // num_buffers
  chain.write(0, header, header_bytes_);
  chain.write(header_bytes_, next.frame.data(), next.frame.size());
  return {true, static_cast<uint32_t>(header_bytes_ + next.frame.size())};
}

void VirtioNet::save_state(snapshot::Writer& out) const {
  // Frames in the backlog are not saved: a network may lose frames, and a snapshot does. The
  // transport (virtio_mmio) saves the features, queues and status; the configuration space is
  // the MAC (saved, and checked against the device it is restored into) and the link status
  // (always up).
  out.u32(header_bytes_);
  out.boolean(accepting_.load(std::memory_order_acquire));
  out.bytes(mac_.data(), mac_.size());
  out.u64(features_.load(std::memory_order_acquire)); // what receive() may hand the guest
}

void VirtioNet::restore_state(snapshot::Reader& in) {
  const uint32_t header = in.u32();
  if (header != kHeaderBytes && header != kLegacyHeaderBytes)
    in.fail(fmt::format("virtio-net header of {} bytes (must be {} or {})", header, kHeaderBytes, kLegacyHeaderBytes));
  const bool accepting = in.boolean();
  MacAddress mac{};
  in.bytes(mac.data(), mac.size());
  if (mac != mac_)
    in.fail(fmt::format("virtio-net MAC {} differs from this interface's {}", format_mac(mac), format_mac(mac_)));
  // State saved before the offloads had no feature word: such a driver negotiated none.
  const uint64_t negotiated = in.remaining() >= 8 ? in.u64() : 0;
  constexpr uint64_t kTransportFeatures = kFeatureVersion1 | (uint64_t{1} << 28); // VERSION_1, INDIRECT_DESC
  if ((negotiated & ~(features() | kTransportFeatures)) != 0)
    in.fail(fmt::format("virtio-net features {:#x} include some this device does not offer", negotiated));
  in.expect_end();
  std::lock_guard lock(mutex_);
  counters_.rx_dropped += backlog_.size();
  backlog_.clear();
  backlog_bytes_ = 0;
  backlog_nonempty_.store(false, std::memory_order_release);
  header_bytes_ = header;
  features_.store(negotiated, std::memory_order_release);
  accepting_.store(accepting, std::memory_order_release);
}

std::vector<uint8_t> VirtioNet::announcement(const MacAddress& mac) {
  std::vector<uint8_t> frame(60, 0);
  std::fill_n(frame.begin(), 6, 0xff);                       // destination: broadcast
  std::copy(mac.begin(), mac.end(), frame.begin() + 6);       // source: the interface
  frame[12] = 0x80, frame[13] = 0x35;                         // RARP
  const uint8_t rarp[8] = {0, 1, 0x08, 0x00, 6, 4, 0, 3};     // Ethernet, IPv4, hlen, plen, reverse request
  std::copy(std::begin(rarp), std::end(rarp), frame.begin() + 14);
  std::copy(mac.begin(), mac.end(), frame.begin() + 22);      // sender hardware address (IPv4 0)
  std::copy(mac.begin(), mac.end(), frame.begin() + 32);      // target hardware address (IPv4 0)
  return frame;
}

void VirtioNet::announce() {
  if (link_) link_->transmit(announcement(mac_));
}

bool parse_mac(std::string_view text, MacAddress& mac) {
  if (text.size() != 17) return false;
  MacAddress out{};
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[3 * i - 1] != ':') return false;
    unsigned byte = 0;
    for (size_t j = 0; j < 2; ++j) {
      const char c = text[3 * i + j];
      unsigned nibble;
      if (c >= '0' && c <= '9') nibble = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') nibble = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') nibble = static_cast<unsigned>(c - 'A' + 10);
      else return false;
      byte = byte * 16 + nibble;
    }
    out[i] = static_cast<uint8_t>(byte);
  }
  if (out[0] & 1) return false; // multicast: not a NIC's own address
  if (out == MacAddress{}) return false;
  mac = out;
  return true;
}

std::string format_mac(const MacAddress& mac) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

} // namespace nimbus::machine

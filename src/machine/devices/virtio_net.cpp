#include "machine/devices/virtio_net.hpp"

#include <algorithm>
#include <fmt/format.h>

#include <cstring>

namespace nimbus::machine {
namespace {

// struct virtio_net_hdr (virtio 1.x 5.1.6).
constexpr uint8_t kHdrFlagNeedsCsum = 1;
constexpr uint8_t kGsoNone = 0;

} // namespace

VirtioNet::VirtioNet(MacAddress mac, std::shared_ptr<NetLink> link) : mac_(mac), link_(std::move(link)) {
  tx_buffer_.reserve(kHeaderBytes + kMaxFrameBytes);
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
  std::lock_guard lock(mutex_);
  counters_.rx_dropped += backlog_.size(); // frames the reset discards were dropped
  backlog_.clear();
  backlog_nonempty_.store(false, std::memory_order_release);
}

void VirtioNet::driver_ok(uint64_t features) {
  // Legacy drivers without mergeable buffers use the 10-byte header (virtio 1.x 5.1.6.1).
  header_bytes_ = (features & (kFeatureVersion1 | kFeatureMrgRxbuf)) ? kHeaderBytes : kLegacyHeaderBytes;
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

void VirtioNet::receive(std::span<const uint8_t> frame) {
  std::lock_guard lock(mutex_);
  if (!accepting_.load(std::memory_order_acquire) || frame.size() < kMinFrameBytes || frame.size() > kMaxFrameBytes ||
      backlog_.size() >= kBacklogFrames) {
    ++counters_.rx_dropped;
    return;
  }
  backlog_.emplace_back(frame.begin(), frame.end());
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
  const auto drop = [&] {
    std::lock_guard lock(mutex_);
    ++counters_.tx_dropped;
    return Result{true, 0};
  };
  if (total < header_bytes_ + kMinFrameBytes || total > header_bytes_ + kMaxFrameBytes) return drop();
  tx_buffer_.resize(total);
  chain.read(0, tx_buffer_.data(), total);
  // Checksum and segmentation offloads were not offered: a request for one is malformed.
  if ((tx_buffer_[0] & kHdrFlagNeedsCsum) || tx_buffer_[1] != kGsoNone) return drop();
  const std::span<const uint8_t> frame(tx_buffer_.data() + header_bytes_, total - header_bytes_);
  {
    std::lock_guard lock(mutex_);
    ++counters_.tx_frames;
    counters_.tx_bytes += frame.size();
  }
  if (link_) link_->transmit(frame);
  return {true, 0};
}

VirtioDevice::Result VirtioNet::deliver(const DescriptorChain& chain) {
  // Receive buffers are device-writable only (5.1.6.3.1: the driver MUST NOT make them readable).
  if (chain.readable_bytes() != 0) return {false, 0};
  std::vector<uint8_t> frame;
  {
    std::lock_guard lock(mutex_);
    for (;;) {
      if (backlog_.empty()) {
        backlog_nonempty_.store(false, std::memory_order_release);
        return {true, 0, true};
      }
      frame = std::move(backlog_.front());
      backlog_.pop_front();
      if (backlog_.empty()) backlog_nonempty_.store(false, std::memory_order_release);
      // Without mergeable buffers a frame must fit one buffer; one that does not is dropped
      // and the buffer waits for the next frame.
      if (header_bytes_ + frame.size() <= chain.writable_bytes()) break;
      ++counters_.rx_dropped;
    }
    ++counters_.rx_frames;
    counters_.rx_bytes += frame.size();
  }
  uint8_t header[kHeaderBytes] = {};
  if (header_bytes_ == kHeaderBytes) header[10] = 1; // num_buffers
  chain.write(0, header, header_bytes_);
  chain.write(header_bytes_, frame.data(), frame.size());
  return {true, static_cast<uint32_t>(header_bytes_ + frame.size())};
}

void VirtioNet::save_state(snapshot::Writer& out) const {
  // Frames in the backlog are not saved: a network may lose frames, and a snapshot does. The
  // transport (virtio_mmio) saves the features, queues and status; the configuration space is
  // the MAC (saved, and checked against the device it is restored into) and the link status
  // (always up).
  out.u32(header_bytes_);
  out.boolean(accepting_.load(std::memory_order_acquire));
  out.bytes(mac_.data(), mac_.size());
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
  in.expect_end();
  std::lock_guard lock(mutex_);
  counters_.rx_dropped += backlog_.size();
  backlog_.clear();
  backlog_nonempty_.store(false, std::memory_order_release);
  header_bytes_ = header;
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

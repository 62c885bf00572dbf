#include "machine/devices/descriptor_chain.hpp"

#include <algorithm>
#include <cstring>

namespace nimbus::machine {

void DescriptorChain::reset(uint16_t head) {
  head_ = head;
  readable_.clear();
  writable_.clear();
  readable_bytes_ = writable_bytes_ = 0;
}

void DescriptorChain::add_readable(Segment s) {
  readable_.push_back(s);
  readable_bytes_ += s.len;
}

void DescriptorChain::add_writable(Segment s) {
  writable_.push_back(s);
  writable_bytes_ += s.len;
}

size_t DescriptorChain::read(uint64_t offset, void* dst, size_t len) const {
  auto* out = static_cast<uint8_t*>(dst);
  size_t done = 0;
  for (const Segment& s : readable_) {
    if (done == len) break;
    if (offset >= s.len) {
      offset -= s.len;
      continue;
    }
    const size_t n = std::min<size_t>(s.len - offset, len - done);
    std::memcpy(out + done, s.host + offset, n);
    done += n;
    offset = 0;
  }
  return done;
}

size_t DescriptorChain::write(uint64_t offset, const void* src, size_t len) const {
  const auto* in = static_cast<const uint8_t*>(src);
  size_t done = 0;
  for (const Segment& s : writable_) {
    if (done == len) break;
    if (offset >= s.len) {
      offset -= s.len;
      continue;
    }
    const size_t n = std::min<size_t>(s.len - offset, len - done);
    std::memcpy(s.host + offset, in + done, n);
    done += n;
    offset = 0;
  }
  return done;
}

} // namespace nimbus::machine

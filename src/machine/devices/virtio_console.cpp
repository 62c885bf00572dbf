#include "machine/devices/virtio_console.hpp"

#include <algorithm>

namespace nimbus::machine {

VirtioDevice::Result VirtioConsole::process(unsigned queue, const DescriptorChain& chain) {
  if (queue == kReceiveQueue) {
    if (!chain.readable().empty()) return {false, 0}; // a receive buffer the device cannot write
    return {true, 0, true};                          // no input for this console: keep it
  }
  if (queue != kTransmitQueue) return {false, 0};
  uint64_t left = std::min<uint64_t>(chain.readable_bytes(), kMaxWrite);
  dropped_.fetch_add(chain.readable_bytes() - left, std::memory_order_relaxed);
  written_.fetch_add(left, std::memory_order_relaxed);
  for (const DescriptorChain::Segment& s : chain.readable()) {
    const uint64_t n = std::min<uint64_t>(s.len, left);
    for (uint64_t i = 0; i < n; ++i) backend_.write(s.host[i]);
    left -= n;
    if (left == 0) break;
  }
  return {true, 0};
}

} // namespace nimbus::machine

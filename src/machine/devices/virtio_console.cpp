#include "machine/devices/virtio_console.hpp"

#include <algorithm>

namespace nimbus::machine {

VirtioDevice::Result VirtioConsole::process(unsigned queue, const DescriptorChain& chain) {
  if (queue == kReceiveQueue) {
    if (!chain.readable().empty()) return {false, 0}; // a receive buffer the device cannot write
    std::lock_guard lock(input_mutex_);
    if (input_.empty() || chain.writable_bytes() == 0) return {true, 0, true}; // no input yet: keep it
    uint8_t bytes[kInputBytes];
    const size_t n = std::min<uint64_t>({input_.size(), chain.writable_bytes(), kInputBytes});
    std::copy_n(input_.begin(), n, bytes);
    input_.erase(input_.begin(), input_.begin() + static_cast<ptrdiff_t>(n));
    input_waiting_.store(!input_.empty(), std::memory_order_release);
    chain.write(0, bytes, n);
    read_.fetch_add(n, std::memory_order_relaxed);
    return {true, static_cast<uint32_t>(n)};
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

namespace nimbus::machine {

bool VirtioConsole::wants_service(unsigned queue) const {
  return queue == kReceiveQueue && input_waiting_.load(std::memory_order_acquire);
}

void VirtioConsole::reset() {
  std::lock_guard lock(input_mutex_);
  input_.clear(); // as a UART's FIFO, input not yet read goes with a reset
  input_waiting_.store(false, std::memory_order_release);
  driver_up_ = false;
}

void VirtioConsole::driver_ok(uint64_t) {
  std::lock_guard lock(input_mutex_);
  driver_up_ = true;
}

bool VirtioConsole::can_accept_input() const {
  std::lock_guard lock(input_mutex_);
  return driver_up_ && input_.size() < kInputBytes;
}

void VirtioConsole::push_input(uint8_t byte) {
  std::lock_guard lock(input_mutex_);
  if (!driver_up_ || input_.size() >= kInputBytes) return;
  input_.push_back(byte);
  input_waiting_.store(true, std::memory_order_release);
}

} // namespace nimbus::machine

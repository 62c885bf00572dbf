#include "hypervisor/net_tap.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "machine/devices/net_link.hpp"

namespace nimbus::hypervisor {
namespace {

constexpr std::string_view kUsage = "use NETWORK=IFNAME, e.g. blue=nimbus0";

bool valid_interface_name(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

} // namespace

TapSpec parse_tap_spec(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos) throw std::invalid_argument(fmt::format("tap '{}' has no '='; {}", text, kUsage));
  TapSpec spec{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
  if (!valid_network_name(spec.network))
    throw std::invalid_argument(
        fmt::format("tap '{}': network '{}' is not 1 to 32 letters, digits, '-', '_' or '.'", text, spec.network));
  if (!valid_interface_name(spec.interface))
    throw std::invalid_argument(fmt::format("tap '{}': interface name '{}' is not 1 to {} letters, digits, '-', '_' "
                                            "or '.'; {}",
                                            text, spec.interface, IFNAMSIZ - 1, kUsage));
  return spec;
}

TapLink::TapLink(VirtualSwitch& sw, const TapSpec& spec) : switch_(sw), spec_(spec) {
  fd_ = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0)
    throw std::runtime_error(fmt::format("tap {}: cannot open /dev/net/tun: {} (is the tun module loaded?)",
                                         spec.interface, std::strerror(errno)));
  ifreq request{};
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::memcpy(request.ifr_name, spec.interface.data(), spec.interface.size());
  if (::ioctl(fd_, TUNSETIFF, &request) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::runtime_error(fmt::format(
        "tap {}: cannot open or create the device: {} (creating one needs CAP_NET_ADMIN; or make it first with "
        "'ip tuntap add dev {} mode tap user {}')",
        spec.interface, std::strerror(error), spec.interface, ::getuid()));
  }
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (stop_fd_ < 0) {
    const int error = errno;
    ::close(fd_);
    throw std::runtime_error(fmt::format("tap {}: eventfd: {}", spec.interface, std::strerror(error)));
  }
  try {
    switch_.attach_host_link(spec.network, this);
  } catch (...) {
    ::close(stop_fd_);
    ::close(fd_);
    throw;
  }
  thread_ = std::thread([this] { receive_loop(); });
}

TapLink::~TapLink() {
  switch_.attach_host_link(spec_.network, nullptr);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(stop_fd_);
  ::close(fd_);
}

TapLink::Stats TapLink::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void TapLink::send_to_host(std::span<const uint8_t> frame) {
  // Non-blocking: a host that does not read its queue loses frames, never stalls the switch.
  const ssize_t n = ::write(fd_, frame.data(), frame.size());
  std::lock_guard lock(mutex_);
  if (n == static_cast<ssize_t>(frame.size())) ++stats_.to_host;
  else ++stats_.send_errors;
}

void TapLink::receive_loop() {
  std::vector<uint8_t> buffer(65536);
  pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return;   // the device went away
    if (!(fds[0].revents & POLLIN)) continue;
    for (;;) {
      const ssize_t n = ::read(fd_, buffer.data(), buffer.size());
      if (n <= 0) break;   // EAGAIN: drained
      const auto frame = std::span<const uint8_t>(buffer.data(), static_cast<size_t>(n));
      {
        std::lock_guard lock(mutex_);
        if (frame.size() > machine::kMaxFrameBytes) {
          ++stats_.oversized;
          continue;
        }
        ++stats_.from_host;
      }
      // Outside our lock: the switch holds its own and may call send_to_host (not for this frame).
      switch_.from_host(spec_.network, frame);
    }
  }
}

} // namespace nimbus::hypervisor

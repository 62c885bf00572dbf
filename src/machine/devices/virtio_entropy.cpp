#include "machine/devices/virtio_entropy.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "machine/splitmix64.hpp"

namespace nimbus::machine {

VirtioEntropy::VirtioEntropy(bool deterministic) {
  if (deterministic) return;
  fd_ = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(std::string("/dev/urandom: ") + std::strerror(errno));
}

VirtioEntropy::~VirtioEntropy() {
  if (fd_ >= 0) ::close(fd_);
}

void VirtioEntropy::fill(uint8_t* out, size_t len) {
  if (fd_ >= 0) {
    while (len > 0) {
      const ssize_t r = ::read(fd_, out, len);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break; // cannot happen for urandom; fall back to the generator below
      out += r;
      len -= static_cast<size_t>(r);
    }
  }
  splitmix64_fill(state_, out, len);
}

VirtioDevice::Result VirtioEntropy::process(unsigned, const DescriptorChain& chain) {
  uint32_t written = 0;
  for (const auto& s : chain.writable()) {
    const uint32_t n = std::min(s.len, kMaxRequest - written);
    fill(s.host, n);
    written += n;
    if (written == kMaxRequest) break;
  }
  return {true, written};
}

} // namespace nimbus::machine

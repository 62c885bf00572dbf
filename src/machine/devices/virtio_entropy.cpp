#include "machine/devices/virtio_entropy.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

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
  // splitmix64: tiny, well distributed, and exactly repeatable from the seed.
  while (len > 0) {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const size_t n = std::min(len, sizeof z);
    std::memcpy(out, &z, n);
    out += n;
    len -= n;
  }
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

#pragma once
// splitmix64: tiny, well distributed, and exactly repeatable from its state: the random bytes a
// deterministic machine gives its guest (virtio-rng, the device tree's rng-seed).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace nimbus::machine {

// Fills `out` with the generator's next bytes, advancing `state` by one step per 8 bytes.
inline void splitmix64_fill(uint64_t& state, uint8_t* out, size_t len) {
  while (len > 0) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const size_t n = std::min(len, sizeof z);
    std::memcpy(out, &z, n);
    out += n;
    len -= n;
  }
}

} // namespace nimbus::machine

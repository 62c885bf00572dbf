#pragma once
// Helpers for registers wider than the access: a 64-bit register read or written 4 bytes at a
// time (RV32-style firmware, U-Boot) or a whole 64-bit access to two 32-bit registers.
#include <cstdint>

namespace nimbus::machine {

// True if an access of `size` bytes at `offset` lies inside one naturally aligned register of
// `width` bytes.
inline bool fits_register(uint64_t offset, unsigned size, unsigned width) {
  return size <= width && (offset % width) + size <= width && offset % size == 0;
}

// Reads bytes [byte, byte + size) of a 64-bit register.
inline bool read_subword(uint64_t reg, uint64_t byte, unsigned size, uint64_t& value) {
  if (!fits_register(byte, size, 8)) return false;
  value = reg >> (8 * byte);
  if (size < 8) value &= (uint64_t{1} << (8 * size)) - 1;
  return true;
}

// Replaces bytes [byte, byte + size) of a 64-bit register.
inline bool write_subword(uint64_t& reg, uint64_t byte, unsigned size, uint64_t value) {
  if (!fits_register(byte, size, 8)) return false;
  const uint64_t mask = size == 8 ? ~uint64_t{0} : ((uint64_t{1} << (8 * size)) - 1) << (8 * byte);
  reg = (reg & ~mask) | ((value << (8 * byte)) & mask);
  return true;
}

} // namespace nimbus::machine

#pragma once
// A guest's register accesses as a fuzz input: each operation is one opcode byte, then what it
// needs. Opcode bits 0-1: size 1/2/4/8; bit 2: write; bits 3-7 >= 28: a device-specific
// operation (`extra`, given the opcode and the reader). Offsets wrap into the window so that
// offset + size stays inside it, the contract MmioDevice::read/write state; they need not be
// aligned (the hart splits misaligned device accesses, but the contract does not require it).
#include <cstdint>
#include <functional>

#include "fuzz_support.hpp"
#include "machine/mmio_device.hpp"

namespace nimbus::fuzz {

struct MmioOp {
  uint64_t offset;
  unsigned size;
  bool write;
  uint64_t value;
};

inline constexpr unsigned kMmioSizes[4] = {1, 2, 4, 8};

// Reads one register access (offset as 32 bits, wrapped into `window`).
inline MmioOp read_mmio_op(uint8_t opcode, ByteReader& in, uint64_t window) {
  MmioOp op{};
  op.size = kMmioSizes[opcode & 3];
  op.write = opcode & 4;
  op.offset = in.u32() % (window - op.size + 1);
  if (op.write) op.value = in.u64();
  return op;
}

inline void write_mmio_op(ByteWriter& out, const MmioOp& op) {
  const unsigned size_index = op.size == 1 ? 0 : op.size == 2 ? 1 : op.size == 4 ? 2 : 3;
  out.u8(static_cast<uint8_t>(size_index | (op.write ? 4 : 0)));
  out.u32(static_cast<uint32_t>(op.offset));
  if (op.write) out.u64(op.value);
}

// Runs operations until the input ends (at most `limit`). A read's value must fit its size.
inline void run_mmio_ops(ByteReader& in, machine::MmioDevice& device, uint64_t window,
                         const std::function<void(uint8_t, ByteReader&)>& extra = {}, unsigned limit = 4096) {
  for (unsigned n = 0; n < limit && !in.empty(); ++n) {
    const uint8_t opcode = in.u8();
    if ((opcode >> 3) >= 28 && extra) {
      extra(opcode, in);
      continue;
    }
    const MmioOp op = read_mmio_op(opcode, in, window);
    if (op.write) {
      device.write(op.offset, op.size, op.value);
    } else {
      uint64_t value = 0;
      if (device.read(op.offset, op.size, value) && op.size < 8) FUZZ_CHECK(value >> (8 * op.size) == 0);
    }
  }
}

} // namespace nimbus::fuzz

#pragma once
// The interpreter's handler table: one direct-threaded handler per decoded operation.
#include <cstdint>

#include "machine/block_cache.hpp"
#include "riscv/opcode.hpp"

namespace nimbus::machine {

OpHandler handler_for(riscv::Op op);
// Ends a block that stops without a control transfer (page end, size limit): pc = next instruction.
OpHandler fall_through_handler();
// The first op of a block whose one instruction straddles two pages (Hart::build_block): fetches
// the upper half through the current mapping and checks it is still what was decoded.
OpHandler upper_half_check_handler();

// Whether a FENCE (its instruction bits) orders earlier stores (or device outputs) before later
// loads (or device inputs): the one RVWMO order an x86-64 host does not keep by itself, so with
// harts on several host threads such a fence needs a host full fence. FENCE.TSO (fm = 1000) does
// not order W before R.
constexpr bool fence_orders_store_load(uint32_t bits) {
  const uint32_t fm = bits >> 28, pred = (bits >> 24) & 0xf, succ = (bits >> 20) & 0xf;
  constexpr uint32_t kI = 8, kO = 4, kR = 2, kW = 1;
  return fm != 0b1000 && (pred & (kW | kO)) != 0 && (succ & (kR | kI)) != 0;
}

} // namespace nimbus::machine

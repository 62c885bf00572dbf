#pragma once
// The interpreter's handler table: one direct-threaded handler per decoded operation.
#include "machine/block_cache.hpp"
#include "riscv/opcode.hpp"

namespace nimbus::machine {

OpHandler handler_for(riscv::Op op);
// Ends a block that stops without a control transfer (page end, size limit): pc = next instruction.
OpHandler fall_through_handler();

} // namespace nimbus::machine

#include "riscv/opcode.hpp"

namespace nimbus::riscv {

const char* op_name(Op op) {
  static constexpr const char* kNames[] = {
#define NIMBUS_OP_NAME(name) #name,
      NIMBUS_RISCV_OPS(NIMBUS_OP_NAME)
#undef NIMBUS_OP_NAME
  };
  const auto index = static_cast<unsigned>(op);
  return index < kOpCount ? kNames[index] : "?";
}

bool ends_block(Op op) {
  switch (op) {
  case Op::Illegal:
  case Op::Jal:
  case Op::Jalr:
  case Op::Beq:
  case Op::Bne:
  case Op::Blt:
  case Op::Bge:
  case Op::Bltu:
  case Op::Bgeu:
  case Op::FenceI:
  case Op::Ecall:
  case Op::Ebreak:
  case Op::Mret:
  case Op::Sret:
  case Op::Wfi:
  case Op::SfenceVma:
  case Op::HfenceVvma:
  case Op::HfenceGvma:
  case Op::Csrrw:
  case Op::Csrrs:
  case Op::Csrrc:
  case Op::Csrrwi:
  case Op::Csrrsi:
  case Op::Csrrci:
    return true;
  default:
    return false;
  }
}

bool writes_integer_rd(Op op) {
  switch (op) {
  case Op::Flw:
  case Op::Fld:
  case Op::FmaddS:
  case Op::FmsubS:
  case Op::FnmsubS:
  case Op::FnmaddS:
  case Op::FaddS:
  case Op::FsubS:
  case Op::FmulS:
  case Op::FdivS:
  case Op::FsqrtS:
  case Op::FsgnjS:
  case Op::FsgnjnS:
  case Op::FsgnjxS:
  case Op::FminS:
  case Op::FmaxS:
  case Op::FcvtSW:
  case Op::FcvtSWu:
  case Op::FcvtSL:
  case Op::FcvtSLu:
  case Op::FmvWX:
  case Op::FmaddD:
  case Op::FmsubD:
  case Op::FnmsubD:
  case Op::FnmaddD:
  case Op::FaddD:
  case Op::FsubD:
  case Op::FmulD:
  case Op::FdivD:
  case Op::FsqrtD:
  case Op::FsgnjD:
  case Op::FsgnjnD:
  case Op::FsgnjxD:
  case Op::FminD:
  case Op::FmaxD:
  case Op::FcvtDW:
  case Op::FcvtDWu:
  case Op::FcvtDL:
  case Op::FcvtDLu:
  case Op::FmvDX:
  case Op::FcvtSD:
  case Op::FcvtDS:
    return false;
  default:
    return true;
  }
}

bool uses_rounding_mode(Op op) {
  switch (op) {
  case Op::FmaddS:
  case Op::FmsubS:
  case Op::FnmsubS:
  case Op::FnmaddS:
  case Op::FaddS:
  case Op::FsubS:
  case Op::FmulS:
  case Op::FdivS:
  case Op::FsqrtS:
  case Op::FcvtWS:
  case Op::FcvtWuS:
  case Op::FcvtLS:
  case Op::FcvtLuS:
  case Op::FcvtSW:
  case Op::FcvtSWu:
  case Op::FcvtSL:
  case Op::FcvtSLu:
  case Op::FmaddD:
  case Op::FmsubD:
  case Op::FnmsubD:
  case Op::FnmaddD:
  case Op::FaddD:
  case Op::FsubD:
  case Op::FmulD:
  case Op::FdivD:
  case Op::FsqrtD:
  case Op::FcvtWD:
  case Op::FcvtWuD:
  case Op::FcvtLD:
  case Op::FcvtLuD:
  case Op::FcvtDW:
  case Op::FcvtDWu:
  case Op::FcvtDL:
  case Op::FcvtDLu:
  case Op::FcvtSD:
  case Op::FcvtDS:
    return true;
  default:
    return false;
  }
}

} // namespace nimbus::riscv

#pragma once
// Every RV64IMAFDC + Zicsr + Zifencei + H operation the decoder can produce. Compressed instructions
// expand to one of these, so the execution tiers only ever see this list.
#include <cstdint>

namespace nimbus::riscv {

// X(name): one entry per operation; the list is reused to build name tables and handler tables.
#define NIMBUS_RISCV_OPS(X)                                                                                  \
  X(Illegal)                                                                                                 \
  X(Lui) X(Auipc) X(Jal) X(Jalr)                                                                             \
  X(Beq) X(Bne) X(Blt) X(Bge) X(Bltu) X(Bgeu)                                                                \
  X(Lb) X(Lh) X(Lw) X(Ld) X(Lbu) X(Lhu) X(Lwu)                                                               \
  X(Sb) X(Sh) X(Sw) X(Sd)                                                                                    \
  X(Addi) X(Slti) X(Sltiu) X(Xori) X(Ori) X(Andi) X(Slli) X(Srli) X(Srai)                                    \
  X(Add) X(Sub) X(Sll) X(Slt) X(Sltu) X(Xor) X(Srl) X(Sra) X(Or) X(And)                                      \
  X(Addiw) X(Slliw) X(Srliw) X(Sraiw) X(Addw) X(Subw) X(Sllw) X(Srlw) X(Sraw)                                \
  X(Fence) X(FenceI) X(Ecall) X(Ebreak) X(Mret) X(Sret) X(Wfi) X(SfenceVma)                                  \
  X(Csrrw) X(Csrrs) X(Csrrc) X(Csrrwi) X(Csrrsi) X(Csrrci)                                                   \
  X(Mul) X(Mulh) X(Mulhsu) X(Mulhu) X(Div) X(Divu) X(Rem) X(Remu)                                            \
  X(Mulw) X(Divw) X(Divuw) X(Remw) X(Remuw)                                                                  \
  X(LrW) X(ScW) X(AmoswapW) X(AmoaddW) X(AmoxorW) X(AmoandW) X(AmoorW)                                       \
  X(AmominW) X(AmomaxW) X(AmominuW) X(AmomaxuW)                                                              \
  X(LrD) X(ScD) X(AmoswapD) X(AmoaddD) X(AmoxorD) X(AmoandD) X(AmoorD)                                       \
  X(AmominD) X(AmomaxD) X(AmominuD) X(AmomaxuD)                                                              \
  X(Flw) X(Fld) X(Fsw) X(Fsd)                                                                                \
  X(FmaddS) X(FmsubS) X(FnmsubS) X(FnmaddS) X(FaddS) X(FsubS) X(FmulS) X(FdivS) X(FsqrtS)                    \
  X(FsgnjS) X(FsgnjnS) X(FsgnjxS) X(FminS) X(FmaxS)                                                          \
  X(FcvtWS) X(FcvtWuS) X(FcvtLS) X(FcvtLuS) X(FmvXW) X(FeqS) X(FltS) X(FleS) X(FclassS)                      \
  X(FcvtSW) X(FcvtSWu) X(FcvtSL) X(FcvtSLu) X(FmvWX)                                                         \
  X(FmaddD) X(FmsubD) X(FnmsubD) X(FnmaddD) X(FaddD) X(FsubD) X(FmulD) X(FdivD) X(FsqrtD)                    \
  X(FsgnjD) X(FsgnjnD) X(FsgnjxD) X(FminD) X(FmaxD)                                                          \
  X(FcvtWD) X(FcvtWuD) X(FcvtLD) X(FcvtLuD) X(FmvXD) X(FeqD) X(FltD) X(FleD) X(FclassD)                      \
  X(FcvtDW) X(FcvtDWu) X(FcvtDL) X(FcvtDLu) X(FmvDX) X(FcvtSD) X(FcvtDS)                                     \
  X(HlvB) X(HlvBu) X(HlvH) X(HlvHu) X(HlvW) X(HlvWu) X(HlvD) X(HlvxHu) X(HlvxWu)                             \
  X(HsvB) X(HsvH) X(HsvW) X(HsvD) X(HfenceVvma) X(HfenceGvma)

enum class Op : uint8_t {
#define NIMBUS_OP_ENUM(name) name,
  NIMBUS_RISCV_OPS(NIMBUS_OP_ENUM)
#undef NIMBUS_OP_ENUM
      Count
};

inline constexpr unsigned kOpCount = static_cast<unsigned>(Op::Count);

const char* op_name(Op op);

// Operations after which a basic block must end: they change the pc non-sequentially or change
// state that decides how later instructions are fetched, translated or interrupted.
bool ends_block(Op op);
// The rd field names an integer register (as opposed to an FP register or nothing).
bool writes_integer_rd(Op op);
// The instruction's rm field is a rounding mode that must be valid when it executes.
bool uses_rounding_mode(Op op);

} // namespace nimbus::riscv

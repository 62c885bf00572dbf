#include "riscv/decoder.hpp"

#include "riscv/encoding.hpp"

namespace nimbus::riscv {
namespace {

int64_t imm_i(uint32_t b) { return static_cast<int32_t>(b) >> 20; }
int64_t imm_s(uint32_t b) {
  return static_cast<int64_t>(static_cast<int32_t>(b & 0xfe000000u) >> 20) | static_cast<int64_t>((b >> 7) & 31);
}
int64_t imm_b(uint32_t b) {
  const int64_t sign = static_cast<int32_t>(b) >> 31; // 0 or -1
  return static_cast<int64_t>(static_cast<uint64_t>(sign) << 12) | ((b >> 7) & 1) << 11 | ((b >> 25) & 63) << 5 |
         ((b >> 8) & 15) << 1;
}
int64_t imm_u(uint32_t b) { return static_cast<int32_t>(b & 0xfffff000u); }
int64_t imm_j(uint32_t b) {
  const int64_t sign = static_cast<int32_t>(b) >> 31;
  return static_cast<int64_t>(static_cast<uint64_t>(sign) << 20) | ((b >> 12) & 255) << 12 | ((b >> 20) & 1) << 11 |
         ((b >> 21) & 1023) << 1;
}

Op decode_load(unsigned funct3) {
  static constexpr Op kOps[8] = {Op::Lb, Op::Lh, Op::Lw, Op::Ld, Op::Lbu, Op::Lhu, Op::Lwu, Op::Illegal};
  return kOps[funct3];
}
Op decode_store(unsigned funct3) {
  static constexpr Op kOps[8] = {Op::Sb, Op::Sh, Op::Sw, Op::Sd, Op::Illegal, Op::Illegal, Op::Illegal, Op::Illegal};
  return kOps[funct3];
}
Op decode_branch(unsigned funct3) {
  static constexpr Op kOps[8] = {Op::Beq, Op::Bne, Op::Illegal, Op::Illegal, Op::Blt, Op::Bge, Op::Bltu, Op::Bgeu};
  return kOps[funct3];
}

Op decode_op_imm(uint32_t b, unsigned funct3) {
  const unsigned funct6 = b >> 26;
  switch (funct3) {
  case 0: return Op::Addi;
  case 1: return funct6 == 0 ? Op::Slli : Op::Illegal;
  case 2: return Op::Slti;
  case 3: return Op::Sltiu;
  case 4: return Op::Xori;
  case 5: return funct6 == 0 ? Op::Srli : funct6 == 0x10 ? Op::Srai : Op::Illegal;
  case 6: return Op::Ori;
  default: return Op::Andi;
  }
}

Op decode_op_imm32(uint32_t b, unsigned funct3) {
  const unsigned funct7 = b >> 25;
  switch (funct3) {
  case 0: return Op::Addiw;
  case 1: return funct7 == 0 ? Op::Slliw : Op::Illegal;
  case 5: return funct7 == 0 ? Op::Srliw : funct7 == 0x20 ? Op::Sraiw : Op::Illegal;
  default: return Op::Illegal;
  }
}

Op decode_op(unsigned funct7, unsigned funct3) {
  if (funct7 == 0) {
    static constexpr Op kOps[8] = {Op::Add, Op::Sll, Op::Slt, Op::Sltu, Op::Xor, Op::Srl, Op::Or, Op::And};
    return kOps[funct3];
  }
  if (funct7 == 1) {
    static constexpr Op kOps[8] = {Op::Mul, Op::Mulh, Op::Mulhsu, Op::Mulhu, Op::Div, Op::Divu, Op::Rem, Op::Remu};
    return kOps[funct3];
  }
  if (funct7 == 0x20) return funct3 == 0 ? Op::Sub : funct3 == 5 ? Op::Sra : Op::Illegal;
  return Op::Illegal;
}

Op decode_op32(unsigned funct7, unsigned funct3) {
  if (funct7 == 0) return funct3 == 0 ? Op::Addw : funct3 == 1 ? Op::Sllw : funct3 == 5 ? Op::Srlw : Op::Illegal;
  if (funct7 == 0x20) return funct3 == 0 ? Op::Subw : funct3 == 5 ? Op::Sraw : Op::Illegal;
  if (funct7 == 1) {
    static constexpr Op kOps[8] = {Op::Mulw,  Op::Illegal, Op::Illegal, Op::Illegal,
                                   Op::Divw,  Op::Divuw,   Op::Remw,    Op::Remuw};
    return kOps[funct3];
  }
  return Op::Illegal;
}

Op decode_amo(uint32_t b, unsigned funct3, unsigned rs2) {
  if (funct3 != 2 && funct3 != 3) return Op::Illegal;
  const bool d = funct3 == 3;
  switch (b >> 27) {
  case 0x02: return rs2 != 0 ? Op::Illegal : d ? Op::LrD : Op::LrW;
  case 0x03: return d ? Op::ScD : Op::ScW;
  case 0x01: return d ? Op::AmoswapD : Op::AmoswapW;
  case 0x00: return d ? Op::AmoaddD : Op::AmoaddW;
  case 0x04: return d ? Op::AmoxorD : Op::AmoxorW;
  case 0x0c: return d ? Op::AmoandD : Op::AmoandW;
  case 0x08: return d ? Op::AmoorD : Op::AmoorW;
  case 0x10: return d ? Op::AmominD : Op::AmominW;
  case 0x14: return d ? Op::AmomaxD : Op::AmomaxW;
  case 0x18: return d ? Op::AmominuD : Op::AmominuW;
  case 0x1c: return d ? Op::AmomaxuD : Op::AmomaxuW;
  default: return Op::Illegal;
  }
}

// HLV/HLVX/HSV (SYSTEM, funct3 = 4): funct7 picks the width and load/store, rs2 the variant.
Op decode_hypervisor_memory(uint32_t b, unsigned rd) {
  const unsigned funct7 = b >> 25;
  const unsigned rs2 = (b >> 20) & 31;
  switch (funct7) {
  case 0x30: return rs2 == 0 ? Op::HlvB : rs2 == 1 ? Op::HlvBu : Op::Illegal;
  case 0x32: return rs2 == 0 ? Op::HlvH : rs2 == 1 ? Op::HlvHu : rs2 == 3 ? Op::HlvxHu : Op::Illegal;
  case 0x34: return rs2 == 0 ? Op::HlvW : rs2 == 1 ? Op::HlvWu : rs2 == 3 ? Op::HlvxWu : Op::Illegal;
  case 0x36: return rs2 == 0 ? Op::HlvD : Op::Illegal;
  case 0x31: return rd == 0 ? Op::HsvB : Op::Illegal;
  case 0x33: return rd == 0 ? Op::HsvH : Op::Illegal;
  case 0x35: return rd == 0 ? Op::HsvW : Op::Illegal;
  case 0x37: return rd == 0 ? Op::HsvD : Op::Illegal;
  default: return Op::Illegal;
  }
}

Op decode_system(uint32_t b, unsigned funct3, unsigned rd, unsigned rs1) {
  switch (funct3) {
  case 0:
    if (b == 0x00000073) return Op::Ecall;
    if (b == 0x00100073) return Op::Ebreak;
    if (b == 0x30200073) return Op::Mret;
    if (b == 0x10200073) return Op::Sret;
    if (b == 0x10500073) return Op::Wfi;
    if ((b >> 25) == 0x09 && rd == 0) return Op::SfenceVma;
    if ((b >> 25) == 0x11 && rd == 0) return Op::HfenceVvma;
    if ((b >> 25) == 0x31 && rd == 0) return Op::HfenceGvma;
    (void)rs1;
    return Op::Illegal;
  case 4: return decode_hypervisor_memory(b, rd);
  case 1: return Op::Csrrw;
  case 2: return Op::Csrrs;
  case 3: return Op::Csrrc;
  case 5: return Op::Csrrwi;
  case 6: return Op::Csrrsi;
  case 7: return Op::Csrrci;
  default: return Op::Illegal;
  }
}

Op decode_fma(unsigned opcode, unsigned fmt) {
  if (fmt > 1) return Op::Illegal;
  const bool d = fmt == 1;
  switch (opcode) {
  case encode::kMadd: return d ? Op::FmaddD : Op::FmaddS;
  case encode::kMsub: return d ? Op::FmsubD : Op::FmsubS;
  case encode::kNmsub: return d ? Op::FnmsubD : Op::FnmsubS;
  default: return d ? Op::FnmaddD : Op::FnmaddS;
  }
}

Op decode_op_fp(uint32_t b, unsigned rm, unsigned rs2) {
  const unsigned fmt = (b >> 25) & 3;
  if (fmt > 1) return Op::Illegal;
  const bool d = fmt == 1;
  switch (b >> 27) {
  case 0x00: return d ? Op::FaddD : Op::FaddS;
  case 0x01: return d ? Op::FsubD : Op::FsubS;
  case 0x02: return d ? Op::FmulD : Op::FmulS;
  case 0x03: return d ? Op::FdivD : Op::FdivS;
  case 0x0b: return rs2 != 0 ? Op::Illegal : d ? Op::FsqrtD : Op::FsqrtS;
  case 0x04:
    if (rm == 0) return d ? Op::FsgnjD : Op::FsgnjS;
    if (rm == 1) return d ? Op::FsgnjnD : Op::FsgnjnS;
    if (rm == 2) return d ? Op::FsgnjxD : Op::FsgnjxS;
    return Op::Illegal;
  case 0x05:
    if (rm == 0) return d ? Op::FminD : Op::FminS;
    if (rm == 1) return d ? Op::FmaxD : Op::FmaxS;
    return Op::Illegal;
  case 0x08:
    if (!d && rs2 == 1) return Op::FcvtSD;
    if (d && rs2 == 0) return Op::FcvtDS;
    return Op::Illegal;
  case 0x14:
    if (rm == 2) return d ? Op::FeqD : Op::FeqS;
    if (rm == 1) return d ? Op::FltD : Op::FltS;
    if (rm == 0) return d ? Op::FleD : Op::FleS;
    return Op::Illegal;
  case 0x18: {
    static constexpr Op kS[4] = {Op::FcvtWS, Op::FcvtWuS, Op::FcvtLS, Op::FcvtLuS};
    static constexpr Op kD[4] = {Op::FcvtWD, Op::FcvtWuD, Op::FcvtLD, Op::FcvtLuD};
    return rs2 > 3 ? Op::Illegal : d ? kD[rs2] : kS[rs2];
  }
  case 0x1a: {
    static constexpr Op kS[4] = {Op::FcvtSW, Op::FcvtSWu, Op::FcvtSL, Op::FcvtSLu};
    static constexpr Op kD[4] = {Op::FcvtDW, Op::FcvtDWu, Op::FcvtDL, Op::FcvtDLu};
    return rs2 > 3 ? Op::Illegal : d ? kD[rs2] : kS[rs2];
  }
  case 0x1c:
    if (rs2 != 0) return Op::Illegal;
    if (rm == 0) return d ? Op::FmvXD : Op::FmvXW;
    if (rm == 1) return d ? Op::FclassD : Op::FclassS;
    return Op::Illegal;
  case 0x1e:
    if (rs2 != 0 || rm != 0) return Op::Illegal;
    return d ? Op::FmvDX : Op::FmvWX;
  default: return Op::Illegal;
  }
}

} // namespace

DecodedInstruction decode32(uint32_t b) {
  DecodedInstruction d;
  d.bits = b;
  d.length = 4;
  d.rd = (b >> 7) & 31;
  d.rs1 = (b >> 15) & 31;
  d.rs2 = (b >> 20) & 31;
  d.rs3 = (b >> 27) & 31;
  d.rm = (b >> 12) & 7;
  const unsigned funct3 = d.rm;
  const unsigned opcode = b & 0x7f;
  Op op = Op::Illegal;
  switch (opcode) {
  case encode::kLui: op = Op::Lui; d.imm = imm_u(b); break;
  case encode::kAuipc: op = Op::Auipc; d.imm = imm_u(b); break;
  case encode::kJal: op = Op::Jal; d.imm = imm_j(b); break;
  case encode::kJalr: op = funct3 == 0 ? Op::Jalr : Op::Illegal; d.imm = imm_i(b); break;
  case encode::kBranch: op = decode_branch(funct3); d.imm = imm_b(b); break;
  case encode::kLoad: op = decode_load(funct3); d.imm = imm_i(b); break;
  case encode::kStore: op = decode_store(funct3); d.imm = imm_s(b); break;
  case encode::kOpImm:
    op = decode_op_imm(b, funct3);
    d.imm = (funct3 == 1 || funct3 == 5) ? static_cast<int64_t>((b >> 20) & 63) : imm_i(b);
    break;
  case encode::kOpImm32:
    op = decode_op_imm32(b, funct3);
    d.imm = (funct3 == 1 || funct3 == 5) ? static_cast<int64_t>((b >> 20) & 31) : imm_i(b);
    break;
  case encode::kOp: op = decode_op(b >> 25, funct3); break;
  case encode::kOp32: op = decode_op32(b >> 25, funct3); break;
  case encode::kMiscMem: op = funct3 == 0 ? Op::Fence : funct3 == 1 ? Op::FenceI : Op::Illegal; break;
  case encode::kSystem:
    op = decode_system(b, funct3, d.rd, d.rs1);
    d.imm = static_cast<int64_t>(b >> 20);
    break;
  case encode::kAmo: op = decode_amo(b, funct3, d.rs2); break;
  case encode::kLoadFp:
    op = funct3 == 2 ? Op::Flw : funct3 == 3 ? Op::Fld : Op::Illegal;
    d.imm = imm_i(b);
    break;
  case encode::kStoreFp:
    op = funct3 == 2 ? Op::Fsw : funct3 == 3 ? Op::Fsd : Op::Illegal;
    d.imm = imm_s(b);
    break;
  case encode::kMadd:
  case encode::kMsub:
  case encode::kNmsub:
  case encode::kNmadd: op = decode_fma(opcode, (b >> 25) & 3); break;
  case encode::kOpFp: op = decode_op_fp(b, funct3, d.rs2); break;
  default: op = Op::Illegal; break;
  }
  d.op = op;
  return d;
}

DecodedInstruction decode16(uint16_t bits) {
  const uint32_t expanded = expand_compressed(bits);
  DecodedInstruction d = expanded == 0 ? DecodedInstruction{} : decode32(expanded);
  d.length = 2;
  d.bits = bits;
  return d;
}

DecodedInstruction decode(uint32_t bits) {
  const auto low = static_cast<uint16_t>(bits);
  return instruction_length(low) == 4 ? decode32(bits) : decode16(low);
}

} // namespace nimbus::riscv

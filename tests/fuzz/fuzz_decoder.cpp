// Fuzz target: the RV64GC (+H) instruction decoder, 32-bit and compressed.
//
// Beyond "no crash" it checks, for every input word:
//  - decode32/decode16 keep the raw bits, report the right length and name registers 0..31 only;
//  - decode() picks the 16- or 32-bit decoder from the low two bits, as instruction_length says;
//  - a compressed instruction decodes to exactly what its 32-bit expansion decodes to (same
//    operation, registers, rounding mode and immediate), its expansion is a legal 32-bit
//    instruction, and a reserved compressed encoding (expansion 0) decodes as Illegal;
//  - decoding is deterministic (the same word twice gives the same fields).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "fuzz_support.hpp"
#include "riscv/decoder.hpp"

using nimbus::riscv::DecodedInstruction;
using nimbus::riscv::Op;

namespace {

bool same_fields(const DecodedInstruction& a, const DecodedInstruction& b) {
  return a.op == b.op && a.rd == b.rd && a.rs1 == b.rs1 && a.rs2 == b.rs2 && a.rs3 == b.rs3 && a.rm == b.rm &&
         a.imm == b.imm;
}

void check_registers(const DecodedInstruction& d) {
  FUZZ_CHECK(d.rd < 32 && d.rs1 < 32 && d.rs2 < 32 && d.rs3 < 32);
  FUZZ_CHECK(static_cast<unsigned>(d.op) < nimbus::riscv::kOpCount);
}

void check_word(uint32_t word) {
  using namespace nimbus::riscv;
  const DecodedInstruction full = decode32(word);
  check_registers(full);
  FUZZ_CHECK(full.length == 4);
  FUZZ_CHECK(full.bits == word);
  FUZZ_CHECK(same_fields(full, decode32(word)));

  const auto parcel = static_cast<uint16_t>(word);
  const DecodedInstruction compressed = decode16(parcel);
  check_registers(compressed);
  FUZZ_CHECK(compressed.length == 2);
  FUZZ_CHECK(compressed.bits == parcel);
  const uint32_t expanded = expand_compressed(parcel);
  if ((parcel & 3) == 3) {
    FUZZ_CHECK(compressed.op == Op::Illegal); // not a compressed instruction at all
  } else if (expanded == 0) {
    FUZZ_CHECK(compressed.op == Op::Illegal);
  } else {
    FUZZ_CHECK((expanded & 3) == 3);
    const DecodedInstruction from_expansion = decode32(expanded);
    FUZZ_CHECK(from_expansion.op != Op::Illegal);
    FUZZ_CHECK(same_fields(compressed, from_expansion));
  }

  const DecodedInstruction either = decode(word);
  if (instruction_length(parcel) == 4) {
    FUZZ_CHECK(same_fields(either, full) && either.length == 4);
  } else {
    FUZZ_CHECK(same_fields(either, compressed) && either.length == 2);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Every 4-byte window, so one input covers a stream of instructions as the fetch unit sees it
  // (compressed instructions start at any 2-byte boundary).
  for (size_t i = 0; i + 4 <= size; i += 2) {
    uint32_t word;
    std::memcpy(&word, data + i, 4);
    check_word(word);
  }
  if (size > 0 && size < 4) {
    uint32_t word = 0;
    std::memcpy(&word, data, size);
    check_word(word);
  }
  return 0;
}

// Emission of x86-64 for one native unit: a decoded block, or a block and the blocks of its page
// it loops through (docs/jit.md). Host register use:
//   rbx            the Hart*, plus Layout::bias
//   r15            the chain budget's countdown (Hart::jit_left_)
//   rbp, r12-r14   guest registers (callee-saved: they survive helper calls)
//   r8-r11         guest registers (caller-saved: pushed around out-of-line calls)
//   rax rcx rdx rsi rdi   scratch
#include "machine/jit/translator.hpp"

#include <xbyak/xbyak.h>
#include <xbyak/xbyak_util.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <stdexcept>
#include <vector>

#include "machine/hart.hpp"
#include "machine/hart_execute.hpp"
#include "machine/jit/runtime.hpp"
#include "riscv/csr.hpp"
#include "riscv/fp/fp.hpp"
#include "riscv/integer_semantics.hpp"

namespace nimbus::machine::jit {

using riscv::Op;
using namespace Xbyak::util;
namespace sem = riscv::sem;

namespace {

template <typename T, typename M> int32_t offset_of(const T& object, const M& member) {
  return static_cast<int32_t>(reinterpret_cast<const char*>(&member) - reinterpret_cast<const char*>(&object));
}

static_assert(sizeof(TlbEntry) == 16, "the inline TLB path indexes 16-byte entries");
// An entry's byte offset in its table: ((vaddr >> 12) & (kEntries - 1)) * 16, as one shift and mask.
constexpr unsigned kEntryShift = 12 - 4;
constexpr uint32_t kEntryMask = (SoftTlb::kEntries - 1) << 4;
static_assert(static_cast<unsigned>(Access::Load) == 1 && static_cast<unsigned>(Access::Store) == 2);

// The byte offset of an access kind's table among a context's tables.
constexpr int32_t table_offset(Access access) {
  return static_cast<int32_t>(static_cast<unsigned>(access) * SoftTlb::kEntries * sizeof(TlbEntry));
}
// The soft-TLB probe of an access at rsi, shared by the inline paths (BlockEmitter::tlb_lookup)
// and the probe thunks (StubEmitter::probe). `offset` = the address's entry's byte offset in its
// table.
void emit_entry_offset(Xbyak::CodeGenerator& g, const Xbyak::Reg32& offset) {
  g.mov(offset, g.esi);
  g.shr(offset, kEntryShift);
  g.and_(offset, kEntryMask);
}
// Compares the tag of the page of the access's last byte with the entry's tag at `tag`, leaving
// the flags (equal: a hit); `scratch` is clobbered. An access crossing into the next page
// misses, since that page's tag never sits in this page's slot (TlbEntry::tag_of).
void emit_tag_compare(Xbyak::CodeGenerator& g, const Xbyak::Reg64& scratch, unsigned size, const Xbyak::Address& tag) {
  if (size == 1)
    g.mov(scratch, g.rsi);
  else
    g.lea(scratch, g.ptr[g.rsi + static_cast<int>(size - 1)]);
  g.or_(scratch, 0xfff);
  g.cmp(scratch, tag);
}
// An index-hint site's hint load and the nop after it (BlockEmitter::tlb_lookup) are this many
// bytes, the size of emit_entry_offset's code, into which MissThunks::rewrite_hint turns them.
constexpr ptrdiff_t kDirectIndexBytes = 11;
// The N bytes `emit` assembles (a rewrite's replacement code), which must be exactly N.
template <size_t N, class Emit> std::array<uint8_t, N> code_bytes(Emit emit) {
  alignas(8) uint8_t code[16] = {};
  static_assert(N <= sizeof code);
  Xbyak::CodeGenerator g(sizeof code, code);
  emit(g);
  if (g.getSize() != N) throw Xbyak::Error(Xbyak::ERR_INTERNAL);
  std::array<uint8_t, N> bytes;
  std::memcpy(bytes.data(), code, N);
  return bytes;
}
std::array<uint8_t, kDirectIndexBytes> direct_index_bytes() {
  return code_bytes<kDirectIndexBytes>([](Xbyak::CodeGenerator& g) { emit_entry_offset(g, g.ecx); });
}

// The 8 bytes of `mov rdi, [rdx + rcx + entry's addend]` in the load table, into which
// MissThunks::rewrite_addend turns an addend-hint site's prediction load (only loads take one).
constexpr ptrdiff_t kDirectAddendBytes = 8;
std::array<uint8_t, kDirectAddendBytes> direct_addend_bytes() {
  return code_bytes<kDirectAddendBytes>(
      [](Xbyak::CodeGenerator& g) { g.mov(g.rdi, g.qword[g.rdx + g.rcx + (table_offset(Access::Load) + 8)]); });
}

constexpr unsigned kGuestRegisters = 32;

// Wrong addend predictions a pointer-chase site may make before it looks its addend up directly.
constexpr uint16_t kAddendMisses = 256;
// Wrong index hints (another page's entry) a table-lookup site may take before it indexes by the
// address.
constexpr uint16_t kHintMisses = 256;

// After an out-of-line call that goes on with the block: the next check (at this block's end)
// looks at everything. The countdown's sign bit sends the next check of any kind to it, the
// ~0 generation the next full check. Unit code and the shared slow paths both emit it.
void emit_force_full_check(Xbyak::CodeGenerator& g, int32_t check_generation) {
  g.mov(g.qword[g.rbx + check_generation], -1);
  g.bts(g.r15, 63);
}

constexpr unsigned log2_of(unsigned size) { return size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3; }

bool translated_inline(Op op) {
  switch (op) {
  case Op::Lui: case Op::Auipc: case Op::Jal: case Op::Jalr:
  case Op::Beq: case Op::Bne: case Op::Blt: case Op::Bge: case Op::Bltu: case Op::Bgeu:
  case Op::Lb: case Op::Lh: case Op::Lw: case Op::Ld: case Op::Lbu: case Op::Lhu: case Op::Lwu:
  case Op::Sb: case Op::Sh: case Op::Sw: case Op::Sd:
  case Op::Addi: case Op::Slti: case Op::Sltiu: case Op::Xori: case Op::Ori: case Op::Andi:
  case Op::Slli: case Op::Srli: case Op::Srai:
  case Op::Add: case Op::Sub: case Op::Sll: case Op::Slt: case Op::Sltu: case Op::Xor: case Op::Srl:
  case Op::Sra: case Op::Or: case Op::And:
  case Op::Addiw: case Op::Slliw: case Op::Srliw: case Op::Sraiw:
  case Op::Addw: case Op::Subw: case Op::Sllw: case Op::Srlw: case Op::Sraw:
  case Op::Mul: case Op::Mulh: case Op::Mulhsu: case Op::Mulhu: case Op::Div: case Op::Divu: case Op::Rem:
  case Op::Remu: case Op::Mulw: case Op::Divw: case Op::Divuw: case Op::Remw: case Op::Remuw:
  case Op::Fence:
  case Op::Flw: case Op::Fld: case Op::Fsw: case Op::Fsd:
    return true;
  default:
    return false;
  }
}

bool single_precision(Op op) {
  switch (op) {
  case Op::FaddS: case Op::FsubS: case Op::FmulS: case Op::FdivS: case Op::FsqrtS:
  case Op::FsgnjS: case Op::FsgnjnS: case Op::FsgnjxS:
  case Op::FmaddS: case Op::FmsubS: case Op::FnmsubS: case Op::FnmaddS:
  case Op::FeqS: case Op::FltS: case Op::FleS: case Op::FminS: case Op::FmaxS:
    return true;
  default:
    return false;
  }
}

bool fp_memory(Op op) { return op == Op::Flw || op == Op::Fld || op == Op::Fsw || op == Op::Fsd; }

// The fused multiply-adds (R4 format: rs3 is the addend).
bool fused(Op op) {
  switch (op) {
  case Op::FmaddD: case Op::FmsubD: case Op::FnmsubD: case Op::FnmaddD:
  case Op::FmaddS: case Op::FmsubS: case Op::FnmsubS: case Op::FnmaddS:
    return true;
  default:
    return false;
  }
}
// The host's FMA3 (vfmadd and kin) rounds once, as RISC-V's fused ops do.
bool host_has_fma() {
  static const bool fma = Xbyak::util::Cpu().has(Xbyak::util::Cpu::tFMA | Xbyak::util::Cpu::tAVX);
  return fma;
}

// FP ops with an inline SSE path (fp_inline_op), taken only where the host's result is the
// RISC-V result; every other case calls the interpreter's handler.
bool fp_inline(Op op) {
  if (fused(op)) return host_has_fma();
  switch (op) {
  case Op::FaddD: case Op::FsubD: case Op::FmulD: case Op::FdivD: case Op::FsqrtD:
  case Op::FsgnjD: case Op::FsgnjnD: case Op::FsgnjxD: case Op::FmvXD: case Op::FmvDX:
  case Op::FeqD: case Op::FltD: case Op::FleD:
  case Op::FcvtDW: case Op::FcvtDWu: case Op::FcvtDL: case Op::FcvtDLu:
  case Op::FaddS: case Op::FsubS: case Op::FmulS: case Op::FdivS: case Op::FsqrtS:
  case Op::FsgnjS: case Op::FsgnjnS: case Op::FsgnjxS:
  case Op::FcvtWD: case Op::FcvtLD: case Op::FcvtSD: case Op::FcvtDS:
  case Op::FeqS: case Op::FltS: case Op::FleS:
  case Op::FcvtWS: case Op::FcvtLS: case Op::FcvtSW: case Op::FcvtSL: case Op::FmvXW: case Op::FmvWX:
  case Op::FminD: case Op::FmaxD: case Op::FminS: case Op::FmaxS:
  case Op::FcvtWuD: case Op::FcvtLuD: case Op::FcvtWuS: case Op::FcvtLuS: case Op::FcvtSWu: case Op::FcvtSLu:
  case Op::FclassD: case Op::FclassS:
    return true;
  default:
    return false;
  }
}
// The integer registers an inline FP op reads (rs1) or writes (rd).
bool fp_reads_x(Op op) {
  return op == Op::FmvDX || op == Op::FcvtDW || op == Op::FcvtDWu || op == Op::FcvtDL || op == Op::FcvtDLu ||
         op == Op::FmvWX || op == Op::FcvtSW || op == Op::FcvtSL || op == Op::FcvtSWu || op == Op::FcvtSLu;
}
bool fp_writes_x(Op op) {
  return op == Op::FmvXD || op == Op::FeqD || op == Op::FltD || op == Op::FleD || op == Op::FcvtWD || op == Op::FcvtLD ||
         op == Op::FeqS || op == Op::FltS || op == Op::FleS || op == Op::FcvtWS || op == Op::FcvtLS || op == Op::FmvXW ||
         op == Op::FcvtWuD || op == Op::FcvtLuD || op == Op::FcvtWuS || op == Op::FcvtLuS || op == Op::FclassD ||
         op == Op::FclassS;
}
// FCVT.W/L/WU/LU.D and .S: a C cast rounds toward zero (a static RTZ), lrint() by the mode.
bool fp_to_int(Op op) {
  switch (op) {
  case Op::FcvtWD: case Op::FcvtLD: case Op::FcvtWS: case Op::FcvtLS:
  case Op::FcvtWuD: case Op::FcvtLuD: case Op::FcvtWuS: case Op::FcvtLuS:
    return true;
  default:
    return false;
  }
}
// Rounding ops whose result can be inexact: the inline path needs round-to-nearest-even and
// fflags.NX already set (then the only flag the host result can owe is NX: see fp_inline_op).
bool fp_rounds_inexact(Op op) {
  if (fused(op)) return true;
  switch (op) {
  case Op::FaddD: case Op::FsubD: case Op::FmulD: case Op::FdivD: case Op::FsqrtD: case Op::FcvtDL: case Op::FcvtDLu:
  case Op::FcvtWD: case Op::FcvtLD: case Op::FcvtSD: case Op::FcvtWS: case Op::FcvtLS: case Op::FcvtSW: case Op::FcvtSL:
  case Op::FcvtWuD: case Op::FcvtLuD: case Op::FcvtWuS: case Op::FcvtLuS: case Op::FcvtSWu: case Op::FcvtSLu:
  case Op::FaddS: case Op::FsubS: case Op::FmulS: case Op::FdivS: case Op::FsqrtS:
    return true;
  default:
    return false;
  }
}
// After the op, on every path that continues the block, mstatus.FS (and vsstatus.FS with V=1) is
// Dirty: the inline path required it, and the handler marks it (or trapped, leaving the block).
bool fp_leaves_fs_dirty(Op op) {
  return (fp_inline(op) && op != Op::FmvXD && op != Op::FmvXW && op != Op::FclassD && op != Op::FclassS) ||
         op == Op::Flw || op == Op::Fld;
}

bool reads_rs1(Op op) { return op != Op::Lui && op != Op::Auipc && op != Op::Jal && op != Op::Fence; }
bool reads_rs2(Op op) {
  switch (op) {
  case Op::Beq: case Op::Bne: case Op::Blt: case Op::Bge: case Op::Bltu: case Op::Bgeu:
  case Op::Sb: case Op::Sh: case Op::Sw: case Op::Sd:
  case Op::Add: case Op::Sub: case Op::Sll: case Op::Slt: case Op::Sltu: case Op::Xor: case Op::Srl:
  case Op::Sra: case Op::Or: case Op::And: case Op::Addw: case Op::Subw: case Op::Sllw: case Op::Srlw:
  case Op::Sraw: case Op::Mul: case Op::Mulh: case Op::Mulhsu: case Op::Mulhu: case Op::Div: case Op::Divu:
  case Op::Rem: case Op::Remu: case Op::Mulw: case Op::Divw: case Op::Divuw: case Op::Remw: case Op::Remuw:
    return true;
  default:
    return false;
  }
}
bool writes_rd(Op op) {
  switch (op) {
  case Op::Fence:
  case Op::Flw: case Op::Fld: case Op::Fsw: case Op::Fsd: // rd/rs2 are FP registers
  case Op::Beq: case Op::Bne: case Op::Blt: case Op::Bge: case Op::Bltu: case Op::Bgeu:
  case Op::Sb: case Op::Sh: case Op::Sw: case Op::Sd:
    return false;
  default:
    return translated_inline(op);
  }
}

bool reads_counters(Op op) {
  switch (op) {
  case Op::Csrrw: case Op::Csrrs: case Op::Csrrc: case Op::Csrrwi: case Op::Csrrsi: case Op::Csrrci:
    return true;
  default:
    return false;
  }
}

bool is_load(Op op) {
  switch (op) {
  case Op::Lb: case Op::Lh: case Op::Lw: case Op::Ld: case Op::Lbu: case Op::Lhu: case Op::Lwu:
    return true;
  default:
    return false;
  }
}

bool is_store(Op op) { return op == Op::Sb || op == Op::Sh || op == Op::Sw || op == Op::Sd; }
bool is_conditional_branch(Op op) {
  return op == Op::Beq || op == Op::Bne || op == Op::Blt || op == Op::Bge || op == Op::Bltu || op == Op::Bgeu;
}

// The bytes an integer load or store moves, and whether a load sign-extends them.
unsigned access_size(Op op) {
  switch (op) {
  case Op::Lb: case Op::Lbu: case Op::Sb: return 1;
  case Op::Lh: case Op::Lhu: case Op::Sh: return 2;
  case Op::Lw: case Op::Lwu: case Op::Sw: return 4;
  default: return 8;
  }
}
bool sign_extends(Op op) { return op == Op::Lb || op == Op::Lh || op == Op::Lw; }

// The widest span of addresses one access group checks at once (docs/jit.md, "Access groups"):
// under a page, so that its first and last bytes are in one page or in two neighbours.
constexpr int64_t kMaxGroupSpan = 1024;

// The AMOs (LR/SC stay with the handler: their reservation is the hart's). Inline: amo_op.
bool amo_word(Op op) {
  switch (op) {
  case Op::AmoswapW: case Op::AmoaddW: case Op::AmoxorW: case Op::AmoandW: case Op::AmoorW:
  case Op::AmominW: case Op::AmomaxW: case Op::AmominuW: case Op::AmomaxuW:
    return true;
  default:
    return false;
  }
}
bool is_amo(Op op) {
  switch (op) {
  case Op::AmoswapD: case Op::AmoaddD: case Op::AmoxorD: case Op::AmoandD: case Op::AmoorD:
  case Op::AmominD: case Op::AmomaxD: case Op::AmominuD: case Op::AmomaxuD:
    return true;
  default:
    return amo_word(op);
  }
}

// The target of the jump ops[i], as an offset from the block's start, when it is known at
// translation: a JAL's, or a JALR's whose base the AUIPC just before it wrote (`auipc ra, hi;
// jalr ra, lo(ra)`: a `call` or `tail` the linker did not relax to a JAL). The AUIPC's pc plus
// its immediate is even (pc is 2-aligned, the immediate a multiple of 4096), so clearing the
// sum's bit 0 clears the JALR offset's.
std::optional<int64_t> static_jump_target(const BlockOps& ops, size_t i) {
  const BlockOp& op = ops[i];
  if (op.op == Op::Jal) return static_cast<int64_t>(op.offset) + op.imm;
  if (op.op != Op::Jalr || i == 0) return std::nullopt;
  const BlockOp& base = ops[i - 1];
  if (base.op != Op::Auipc || base.rd != op.rs1 || op.rs1 == 0 || op.rs1 >= kGuestRegisters) return std::nullopt;
  return static_cast<int64_t>(base.offset) + base.imm + (op.imm & ~int64_t{1});
}

// The physical address `delta` bytes from a block at `paddr`, when it is in the block's page
// (a link's, a unit's or a call's reach).
std::optional<uint64_t> in_page(uint64_t paddr, int64_t delta) {
  const int64_t offset = static_cast<int64_t>(paddr & 0xfff) + delta;
  if (offset < 0 || offset >= 4096) return std::nullopt;
  return (paddr & ~uint64_t{0xfff}) + static_cast<uint64_t>(offset);
}

bool is_division(Op op) {
  switch (op) {
  case Op::Div: case Op::Divu: case Op::Rem: case Op::Remu: case Op::Divw: case Op::Divuw: case Op::Remw:
  case Op::Remuw:
    return true;
  default:
    return false;
  }
}

unsigned direct_targets(const Block& b, uint64_t (&out)[2]); // below
struct CallInPage {
  uint64_t callee, back; // physical addresses
};
std::optional<CallInPage> call_in_page(const Block& b); // below
bool ends_in_return(const Block& b);                    // below

// Which integer registers hold a pointer a load produced (p = p->next), after `op` given those
// before it: a load's destination does, any other write (an add of an offset: an induction
// pointer, or address arithmetic in a register a chase reuses) does not.
void note_chase(const BlockOp& op, std::array<bool, 32>& held) {
  if (!fp_memory(op.op) && op.rd != 0 && op.rd < held.size()) held[op.rd] = is_load(op.op);
}
// The same over a whole block.
void chase_transfer(const Block& block, std::array<bool, 32>& held) {
  for (const BlockOp& op : block.ops) note_chase(op, held);
}

// One native unit (docs/jit.md, "Regions"): an entry block and the decoded blocks of its page
// that direct branches reach from it. Guest registers stay in host registers across the unit's
// internal edges; every block's end (internal or not) runs the per-block check and counts that
// block's instructions, so instret and interrupt points are the interpreter's.
class BlockEmitter : public Xbyak::CodeGenerator {
public:
  // `exec_delta`: executable address minus writable address of the code cache (rel32 jumps to
  // the exit stub are computed against where the code runs, not where it is written).
  BlockEmitter(const Layout& layout, const std::vector<Block*>& region, const void* exit, const MissThunks& thunks,
               const LookupEntry* lookup, intptr_t exec_delta, size_t max, uint8_t* at, unsigned& next_hint,
               unsigned& next_addend, unsigned& next_site, uint16_t* hint_budgets, uint16_t* addend_budgets,
               const Hart& hart, bool user_mode, bool flat)
      : Xbyak::CodeGenerator(max, at), l_(layout), owner_(*region.front()), exit_(exit), thunks_(thunks),
        lookup_(lookup), exec_delta_(exec_delta), next_hint_(next_hint), next_addend_(next_addend), next_site_(next_site),
        hint_budgets_(hint_budgets), addend_budgets_(addend_budgets), hart_(hart),
        window_(layout.window && user_mode), flat_(flat && !window_) {
    for (Block* b : region) {
      Sub& s = subs_.emplace_back();
      s.block = b;
      s.delta = static_cast<int64_t>(b->paddr) - static_cast<int64_t>(owner_.paddr);
    }
  }

  // Offsets in the emitted code.
  size_t chain_entry = 0;            // where other blocks jump, the pc in rax (the dispatcher entry is offset 0)
  unsigned exits = 0;                // patchable direct exits
  unsigned if_conversions = 0;       // branches run as one path (if_convert)
  uint64_t site_page_sites = 0;      // load sites given a site page (site_page_load)
  uint64_t flat_load_sites = 0;      // load sites through the flat-RAM slot (flat_load)
  uint64_t flat_store_sites = 0;     // store sites through its store range (flat_store)
  uint64_t internal_return_sites = 0; // returns that may stay in the unit (return_inside)
  uint64_t narrow_loops = 0;          // blocks emitted a second time (choose_narrow)
  size_t site[2] = {};               // their rel32 fields
  uint64_t target_paddr[2] = {};

  void emit() {
    find_successors();
    allocate();
    find_chases();
    find_strided();
    // Dispatcher entry: this block's pc is in pc_ (the dispatcher put it there).
    mov(rax, qword[rbx + l_.pc]);
    // Chain entry, where other blocks' native code jumps with the pc in rax (and in pc_). The
    // block that jumped here did the per-block check at its end and is counted in the chain.
    chain_entry = getSize();
    mov(qword[rbx + l_.region_pc], rax);
    mov(qword[rbx + l_.block_pc], rax);
    reload_all();

    const OpHandler fall_through = fall_through_handler();
    // Loop heads: blocks a block laid out at or after them jumps back to.
    std::vector<bool> loop_head(subs_.size(), false);
    for (size_t j = 0; j < subs_.size(); ++j)
      for (const size_t to : successors_[j]) loop_head[to] = loop_head[to] || to <= j;
    choose_narrow();
    // Each block's code, and after it, for a block whose loop carries narrow registers, its
    // second copy: the one its back edge enters (choose_narrow).
    for (size_t k = 0; k < subs_.size(); ++k)
    for (const bool second : {false, true}) {
      if (second && subs_[k].loop_narrow == 0) continue;
      cur_ = k;
      fs_known_dirty_ = false; // the unit's internal edges may come from anywhere
      computed_.fill(false);
      sext_known_ = 1; // only x0: the block may be entered from anywhere
      narrow_ = second ? subs_[k].loop_narrow : 0;
      lazy_ = subs_[k].loop_narrow;
      next_entry_ = subs_[k].loop_narrow != 0 && !second ? std::pair{k, true} : std::pair{k + 1, false};
      scaled_ = {};
      chased_ = chased_in_[k];
      const Block& block = *subs_[k].block;
      // Internal edges (a loop's back edge among them) jump to `counted` when the block they
      // leave has the same count (block_retired_ already holds it: only exits from the block
      // change it), else to `body`.
      if (falls_into_next_ && *falls_into_next_ != getSize()) throw Xbyak::Error(Xbyak::ERR_INTERNAL);
      falls_into_next_.reset();
      L(second ? subs_[k].narrow_body : subs_[k].body);
      mov(qword[rbx + l_.block_retired], static_cast<uint32_t>(block.count));
      // A loop's body from a 32-byte boundary: a short loop then spans as few of the host's
      // fetch windows as it can (where a loop starts moved one kernel's time by 14 %).
      if (loop_head[k]) align(32);
      L(second ? subs_[k].narrow_counted : subs_[k].counted);
      for (size_t i = 0; i < block.ops.size(); ++i) {
        const BlockOp& op = block.ops[i];
        const bool last = i + 1 == block.ops.size();
        if (op.handler == fall_through) {
          exit_static(op.offset);
          break;
        }
        cur_ops_ = &block.ops;
        cur_index_ = i;
        if (zero_extension(block.ops, i)) { // slli rd, rs, 32; srli rd, rd, 32: reads rs's low half
          emit_zero_extension(op);
          forget_sext(op.rd);
          forget_narrow(op.rd);
          computed_[op.rd] = true;
          note_chase(op, chased_);
          note_chase(block.ops[i + 1], chased_);
          ++i; // the srli is done too (neither can trap: nothing sees the value between them)
          continue;
        }
        if (lowest_bit_cleared(block.ops, i)) { // addi t, x, -1; and x, x, t
          settle_reads(op);
          emit_lowest_bit_cleared(op);
          forget_sext(op.rd);
          forget_sext(block.ops[i + 1].rd);
          forget_narrow(op.rd);
          forget_narrow(block.ops[i + 1].rd);
          computed_[op.rd] = computed_[op.rs1] = true;
          note_chase(op, chased_);
          note_chase(block.ops[i + 1], chased_);
          ++i;
          continue;
        }
        if (const Group group = group_at(block.ops, i); group.n > 1) {
          for (size_t m = i; m < i + group.n; ++m) settle_reads(block.ops[m]);
          access_group(block.ops, i, group);
          for (size_t m = i; m < i + group.n; ++m) {
            const BlockOp& member = block.ops[m];
            if (is_load(member.op)) forget_narrow(member.rd);
            note_sext(member, sign_extended_result(member));
            if (member.rd != 0 && member.rd < kGuestRegisters) computed_[member.rd] = false; // a load's or nothing
            note_chase(member, chased_);
          }
          i += group.n - 1;
          continue;
        }
        settle_reads(op);
        if (op.op == Op::Slli) plan_scaled_load(block.ops, i);
        const bool result_extended = sign_extended_result(op); // before the op changes what is known
        const bool result_narrow = propagates_narrow(op);
        produced_narrow_ = false;
        if (fp_memory(op.op))
          fp_memory_access(op, last);
        else if (fp_inline(op.op) && fp_inline_applies(op, last))
          fp_inline_op(op);
        else if (is_amo(op.op) && !last)
          amo_op(op);
        else if (translated_inline(op.op))
          emit_inline(op);
        else
          emit_fallback(op, last);
        note_sext(op, result_extended);
        if (writes_x_rd(op)) { // not riscv::writes_integer_rd: a store's or branch's rd field is immediate bits
          forget_narrow(op.rd);
          if (result_narrow || produced_narrow_) note_narrow(op.rd);
        }
        // FS stays Dirty to the end of the block once an op left it so: only CSR writes, traps and
        // xRET change it, and they leave the block.
        // Which registers hold an address computed in this block (for the soft-TLB hint).
        if (op.rd != 0 && op.rd < kGuestRegisters && !fp_memory(op.op))
          computed_[op.rd] = translated_inline(op.op) && writes_rd(op.op) && !is_load(op.op);
        note_chase(op, chased_);
        if (fp_leaves_fs_dirty(op.op))
          fs_known_dirty_ = true;
        else if (!translated_inline(op.op))
          fs_known_dirty_ = false; // another handler ran: assume nothing
      }
    }

    narrow_ = lazy_ = 0; // what follows is entered with every register settled
    for (size_t k = 0; k < subs_.size(); ++k) {
      cur_ = k;
      Sub& s = subs_[k];
      // To the dispatcher with the state after this block (pc_ and registers stored). A lookup
      // miss comes after the block's check counted it: the dispatcher counts it (block_retired_);
      // its registers are stored already (storing them again changes nothing).
      L(s.miss);
      add(r15, s.block->count);
      // Registers stored back, then to the dispatcher: traps and stores into code end here.
      L(s.sync_exit);
      store_written();
      // The block's one jump to the dispatcher: every other exit of the block comes here.
      L(s.exit_label);
      jmp_exit();
      // The indirect exit: pc_ holds the target (also in rax); registers are stored. Probe the
      // lookup table; a hit jumps to the target's chain entry with the pc still in rax.
      if (s.lookup_used) {
        L(s.lookup);
        mov(ecx, eax);
        shr(ecx, 1);
        and_(ecx, Translator::kLookupEntries - 1);
        shl(ecx, 4);
        mov(rdx, reinterpret_cast<uint64_t>(lookup_));
        add(rdx, rcx);
        cmp(rax, qword[rdx]);
        jne(s.miss, T_NEAR);
        mov(rcx, qword[rbx + l_.translation_epoch]);
        mov(esi, dword[rbx + l_.fetch_context]);
        lea(ecx, ptr[rsi + rcx * 8]); // LookupEntry::key: its low 16 bits
        mov(rdx, qword[rdx + 8]);
        cmp(dx, cx);
        jne(s.miss, T_NEAR);
        shr(rdx, 16);
        jmp(rdx);
      }
    }

    // An unlinked direct exit: ask the dispatcher to link it to the block that runs next (which
    // counts the block, as for a lookup miss).
    for (unsigned i = 0; i < exits; ++i) {
      cur_ = exit_sub_[i];
      L(link_stub_[i]);
      add(r15, cur_sub().block->count);
      static_assert(alignof(Block) <= 16 && arena_align(1) == 16, "a block's address has its low bits clear");
      mov(rax, reinterpret_cast<uint64_t>(&owner_) | i);
      mov(qword[rbx + l_.link_request], rax);
      jmp(cur_sub().exit_label, T_NEAR);
    }

    for (size_t i = 0; i < slow_paths_.size(); ++i) { // a deque: slow paths may add more
      cur_ = slow_paths_[i].sub;
      narrow_ = slow_paths_[i].narrow;
      slow_paths_[i].emit();
    }
  }

private:
  struct Sub {
    Block* block = nullptr;
    int64_t delta = 0; // its paddr (and pc) minus the entry block's
    Xbyak::Label body, counted, miss, exit_label, sync_exit, lookup;
    bool lookup_used = false;
    // A block that loops to itself with word results carried around the loop (choose_narrow):
    // those registers, and the entry of its second copy, where they arrive narrow.
    uint32_t loop_narrow = 0;
    Xbyak::Label narrow_body, narrow_counted;
  };
  Sub& cur_sub() { return subs_[cur_]; }
  // Out-of-line code emitted after the unit, as part of the block being emitted now.
  // It sees narrow_ as it was here (a superset of what it is where the path is entered: settling
  // more registers than needed is harmless).
  void later(std::function<void()> f) { slow_paths_.push_back({cur_, narrow_, std::move(f)}); }

  // Intel's cores from Skylake on, with the microcode that fixes their JCC erratum, do not keep
  // in the decoded-µop cache a 32-byte chunk of code in which a jump, or a compare fused with
  // the jump after it, crosses or ends on the chunk's end: a loop holding one runs through the
  // legacy decoders every iteration. (One of the guest benchmark's matrix loops, one instruction
  // shorter, ran 35 % slower for that.) So the compare or flag-setting op `emit` (no labels in
  // it) is emitted, and when it and the 6-byte conditional jump the caller emits right after
  // would reach the chunk's end, emitted again after nops to the next chunk. Assemblers do the
  // same (`-mbranches-within-32B-boundaries`). The writable and executable views of the code
  // cache are congruent modulo the page size, so the writable address decides. Only the jumps
  // that end blocks inside a unit are kept clear: the loads' and stores' own compare-and-jumps
  // too made the suite's memcpy 7 % and tools 4 % slower (nops run on every access), and the
  // lookup table's, patchable exits' and return points' moved nothing measurable.
  static constexpr size_t kJumpChunk = 32, kNearJccBytes = 6, kNearJmpBytes = 5;
  // Nops to the next chunk when a jump of `length` bytes emitted here would reach this one's end.
  void jump_clear_of_chunk_end(size_t length) {
    const size_t offset = reinterpret_cast<uintptr_t>(getCurr()) % kJumpChunk;
    if (offset + length >= kJumpChunk) nop(kJumpChunk - offset);
  }
  template <class Emit> void compare_for_jump(Emit&& emit) {
    const size_t start = getSize();
    const size_t offset = reinterpret_cast<uintptr_t>(getCurr()) % kJumpChunk;
    emit();
    const size_t length = getSize() - start + kNearJccBytes;
    if (offset + length < kJumpChunk || length >= kJumpChunk) return;
    setSize(start);
    nop(kJumpChunk - offset);
    emit();
  }

  // The per-block check at the normal end of the current block (docs/jit.md): counts the block
  // into the chain and goes on unless the chain budget ran out (the countdown in r15 reaching 0:
  // run()'s budget or the timer poll point, where Runtime::chain_limit may go on), or the bus's
  // DMA generation is not the one expected (jit_check_generation_: the one the dispatcher saw, or
  // ~0 after an out-of-line call went on with a block, since a device access may have raised an
  // interrupt or written memory; then exit_requested_ and the enabled pending interrupts are
  // checked too). Nothing else changes them while native code runs on this thread (CSR writes,
  // traps and xRET leave for the dispatcher), so interrupts are taken at the same instruction as
  // in the interpreter; pins driven from other threads are seen at the next timer poll point at
  // the latest. `fail` is entered with the block not counted, to return to the dispatcher with
  // exactly the state after it. Clobbers rax (and rsi on the slow path unless `keep_rsi`).
  void end_check(Xbyak::Label& fail) {
    count_check(fail);
    dma_check(fail);
  }
  // The countdown part of the check: all an internal edge needs. Other threads' DMA (the only
  // thing that changes behind native code's back) is seen at the next exit from the unit or the
  // next timer poll point (chain_limit looks), as other threads' pins are; everything this thread
  // did is seen at once: an out-of-line call that goes on with the block sets the countdown's
  // sign bit (force_full_check), so the next check of any kind takes the limit path, which
  // clears it and looks at everything before going on.
  void count_check(Xbyak::Label& fail) {
    Xbyak::Label& top = labels_.emplace_back();
    Xbyak::Label& limit = labels_.emplace_back();
    const uint32_t count = cur_sub().block->count;
    L(top);
    compare_for_jump([&] { sub(r15, count); });
    jle(limit, T_NEAR); // signed: a forced countdown is negative
    Xbyak::Label* const f = &fail;
    later([this, f, count, &top, &limit]() {
      L(limit);
      add(r15, count);
      call_thunk(thunks_.count_limit);
      test(eax, eax);
      jnz(top, T_NEAR);
      jmp(*f, T_NEAR);
    });
  }
  // The DMA part, after count_check passed (the block counted): the bus's DMA generation is the
  // one expected (jit_check_generation_: the one the dispatcher saw, or ~0 after an out-of-line
  // call went on with a block).
  void dma_check(Xbyak::Label& fail) {
    Xbyak::Label& full = labels_.emplace_back();
    Xbyak::Label& pass = labels_.emplace_back();
    const uint32_t count = cur_sub().block->count;
    mov(rax, ptr[reinterpret_cast<uint64_t>(l_.dma_generation)]); // moffs64: one instruction
    cmp(rax, qword[rbx + l_.check_generation]);
    jne(full, T_NEAR);
    L(pass);
    Xbyak::Label* const f = &fail;
    later([this, f, count, &full, &pass]() {
      L(full); // rax: the DMA generation
      call_thunk(thunks_.full_check);
      test(eax, eax);
      jnz(pass, T_NEAR);
      add(r15, count);
      jmp(*f, T_NEAR);
    });
  }
  void force_full_check() { emit_force_full_check(*this, l_.check_generation); }
  // Interpreter code reads the running block's pc from block_pc_: the unit keeps it in memory
  // only at its entry, so it is set before every out-of-line call from another block of the unit
  // (or from the entry block after an internal edge). Clobbers rax.
  void sync_block_pc() {
    if (subs_.size() == 1) return; // set at the chain entry, and nothing changes it
    mov(rax, qword[rbx + l_.region_pc]);
    if (cur_sub().delta != 0) add(rax, static_cast<uint32_t>(static_cast<int32_t>(cur_sub().delta)));
    mov(qword[rbx + l_.block_pc], rax);
  }
  // The index of the unit's block at `paddr`, if any.
  std::optional<size_t> member(uint64_t paddr) const {
    for (size_t k = 0; k < subs_.size(); ++k)
      if (subs_[k].block->paddr == paddr) return k;
    return std::nullopt;
  }

  // ---- register allocation: the most used guest registers of the inline ops get host registers.
  // An op of a block on a cycle of the unit's internal edges (a loop the unit holds) counts
  // kLoopWeight times: the loop's registers win over those of the blocks around it, which run
  // once per pass through the unit.
  static constexpr unsigned kLoopWeight = 8;
  std::vector<bool> on_cycle() const {
    const size_t n = subs_.size();
    std::vector<std::vector<bool>> reach(n, std::vector<bool>(n));
    for (size_t k = 0; k < n; ++k)
      for (const size_t to : edges_from(k)) reach[k][to] = true;
    for (size_t m = 0; m < n; ++m) // the transitive closure (a unit has at most a few blocks)
      for (size_t i = 0; i < n; ++i)
        if (reach[i][m])
          for (size_t j = 0; j < n; ++j)
            if (reach[m][j]) reach[i][j] = true;
    std::vector<bool> cyclic(n);
    for (size_t k = 0; k < n; ++k) cyclic[k] = reach[k][k];
    return cyclic;
  }
  void allocate() {
    std::array<unsigned, kGuestRegisters> uses{};
    const std::vector<bool> cyclic = on_cycle();
    for (size_t k = 0; k < subs_.size(); ++k) {
    const unsigned w = cyclic[k] ? kLoopWeight : 1;
    for (const BlockOp& op : subs_[k].block->ops) {
      if (fp_inline(op.op)) {
        if (fp_reads_x(op.op) && op.rs1 != 0) uses[op.rs1] += w;
        if (fp_writes_x(op.op) && op.rd != 0 && op.rd < kGuestRegisters) {
          uses[op.rd] += w;
          written_[op.rd] = true;
        }
        continue;
      }
      if (is_amo(op.op)) { // amo_op: the address, the operand, the old value
        if (op.rs1 != 0) uses[op.rs1] += w;
        if (op.rs2 != 0) uses[op.rs2] += w;
        if (op.rd != 0 && op.rd < kGuestRegisters) {
          uses[op.rd] += w;
          written_[op.rd] = true;
        }
        continue;
      }
      if (!translated_inline(op.op)) continue;
      if (reads_rs1(op.op) && op.rs1 != 0) uses[op.rs1] += w;
      if (reads_rs2(op.op) && op.rs2 != 0) uses[op.rs2] += w;
      if (writes_rd(op.op) && op.rd != 0 && op.rd < kGuestRegisters) {
        uses[op.rd] += w;
        written_[op.rd] = true;
      }
    }
    }
    std::array<unsigned, kGuestRegisters> order{};
    for (unsigned r = 0; r < kGuestRegisters; ++r) order[r] = r;
    std::stable_sort(order.begin(), order.end(), [&](unsigned a, unsigned b) { return uses[a] > uses[b]; });
    const std::array<Xbyak::Reg64, 8> pool{rbp, r12, r13, r14, r8, r9, r10, r11}; // r15: the countdown
    size_t next = 0;
    for (const unsigned r : order) {
      if (next == pool.size() || uses[r] < 2) break; // one use is cheaper from memory
      host_[r] = pool[next++];
    }
  }
  std::optional<Xbyak::Reg64> host(unsigned r) const {
    if (r >= kGuestRegisters) return std::nullopt;
    return renamed_[r] ? renamed_[r] : host_[r];
  }
  Xbyak::Address slot(unsigned r) { return qword[rbx + l_.x + static_cast<int32_t>(8 * r)]; }

  void get(const Xbyak::Reg64& dst, unsigned r) {
    if (r == 0)
      xor_(dst.cvt32(), dst.cvt32());
    else if (const auto h = host(r))
      mov(dst, *h);
    else
      mov(dst, slot(r));
  }
  void put(unsigned r, const Xbyak::Reg64& src) {
    if (discarded(r)) return; // x0: the write is dropped
    if (const auto h = host(r))
      mov(*h, src);
    else
      mov(slot(r), src);
  }
  void reload_all() {
    for (unsigned r = 1; r < kGuestRegisters; ++r)
      if (const auto h = host(r)) mov(*h, slot(r));
  }
  // Every allocated register the block writes anywhere: the others still equal x_[] in memory.
  void store_written(unsigned except = 0) {
    settle_for_exit();
    for (unsigned r = 1; r < kGuestRegisters; ++r)
      if (written_[r] && r != except)
        if (const auto h = host(r)) mov(slot(r), *h);
  }
  // Out-of-line call with arguments already in rdi, rsi, rdx, rcx; guest registers in
  // caller-saved host registers are preserved around it.
  void call_out(const void* function) {
    std::vector<Xbyak::Reg64> saved;
    for (unsigned r = 1; r < kGuestRegisters; ++r)
      if (const auto h = host(r); h && h->getIdx() >= 8 && h->getIdx() <= 11) saved.push_back(*h);
    for (const auto& reg : saved) push(reg);
    if (saved.size() % 2) sub(rsp, 8);
    mov(rax, reinterpret_cast<uint64_t>(function));
    call(rax);
    if (saved.size() % 2) add(rsp, 8);
    for (auto it = saved.rbegin(); it != saved.rend(); ++it) pop(*it);
  }
  // jmp rel32 to the exit stub (the code cache is one region: every target is in reach), with
  // the block the unit is in for the dispatcher. Clobbers rax.
  void jmp_exit() {
    mov(rax, reinterpret_cast<uint64_t>(cur_sub().block));
    mov(qword[rbx + l_.jit_block], rax);
    db(0xe9);
    const intptr_t here = reinterpret_cast<intptr_t>(getCurr()) + exec_delta_ + 4;
    dd(static_cast<uint32_t>(static_cast<int32_t>(reinterpret_cast<intptr_t>(exit_) - here)));
  }
  // call rel32 to a shared thunk in the code cache (every address of it is in reach).
  void call_thunk(const void* thunk) {
    db(0xe8);
    const intptr_t here = reinterpret_cast<intptr_t>(getCurr()) + exec_delta_ + 4;
    dd(static_cast<uint32_t>(static_cast<int32_t>(reinterpret_cast<intptr_t>(thunk) - here)));
  }
  // rax = the entry block's pc + `delta` (the current block's delta included by the callers).
  void region_pc_plus(const Xbyak::Reg64& dst, int64_t delta) {
    mov(dst, qword[rbx + l_.region_pc]);
    if (fits32(delta)) {
      if (delta != 0) add(dst, static_cast<uint32_t>(static_cast<int32_t>(delta)));
    } else {
      mov(rdx, static_cast<uint64_t>(delta));
      add(dst, rdx);
    }
  }
  // pc_ = the current block's pc + `delta`, registers stored, to the dispatcher.
  void leave_to(int64_t delta) {
    region_pc_plus(rax, cur_sub().delta + delta);
    mov(qword[rbx + l_.pc], rax);
    settle_for_exit();
    jmp(cur_sub().sync_exit, T_NEAR); // the block's one copy of the register stores and exit
  }
  // A normal end of the block at its pc + `delta`, known at translation time. A block of the
  // same unit (the block itself in a loop) is a plain jump: the unit is alive (anything that drops
  // it leaves it first), runs at the same privilege and mapping, and its blocks share one page, so
  // no fetch check differs; guest registers stay in host registers. Another block of this page is
  // the same *physical* block whatever the mapping: a patchable jump (to the link stub until the
  // dispatcher links it). Elsewhere: the lookup table.
  void exit_static(int64_t delta) {
    Xbyak::Label& fail = labels_.emplace_back();
    later([this, delta, &fail]() {
      L(fail);
      leave_to(delta);
    });
    if (internal_target(delta))
      count_check(fail); // an internal edge: the unit goes on
    else
      end_check(fail);
    exit_checked(delta);
  }
  // The unit's block at the current block's pc + `delta`, if there is one (an internal edge).
  std::optional<size_t> internal_target(int64_t delta) const {
    const std::optional<uint64_t> target = in_page(subs_[cur_].block->paddr, delta);
    return target ? member(*target) : std::nullopt;
  }
  // Where an internal edge from the current block to block k jumps (see emit()).
  // `second`: its second copy's (enters_narrow).
  Xbyak::Label& internal_entry(size_t k, bool second = false) {
    Sub& s = subs_[k];
    const bool counted = s.block->count == cur_sub().block->count;
    if (second) return counted ? s.narrow_counted : s.narrow_body;
    return counted ? s.counted : s.body;
  }
  // The jump to block k of the unit that ends the current block's code. emit() lays the blocks
  // out in order, so when k is the next one its body follows: the code falls into it (a jump to
  // the next instruction costs a taken branch; the body's count store it then runs is the value
  // `counted` would have found there). emit() checks that nothing came after.
  void jump_internal_last(size_t k) {
    const bool second = enters_narrow(k);
    settle(narrow_ & ~keeps_narrow(k));
    if (next_entry_ == std::pair{k, second}) {
      falls_into_next_ = getSize();
      return;
    }
    jump_clear_of_chunk_end(kNearJmpBytes); // a loop's back edge, often
    jmp(internal_entry(k, second), T_NEAR);
  }
  // exit_static after the per-block check passed. `prepared`: the registers are stored already
  // and rax holds the unit's entry pc (a branch leaving both ways shares that part).
  void exit_checked(int64_t delta, bool prepared = false) {
    const Sub& s = cur_sub();
    if (const auto k = internal_target(delta)) {
      jump_internal_last(*k);
      return;
    }
    if (prepared) {
      const int64_t d = s.delta + delta;
      if (!fits32(d)) throw Xbyak::Error(Xbyak::ERR_INTERNAL); // a branch reaches 4 KiB
      if (d != 0) add(rax, static_cast<uint32_t>(static_cast<int32_t>(d)));
      mov(qword[rbx + l_.pc], rax);
    } else {
      region_pc_plus(rax, s.delta + delta);
      mov(qword[rbx + l_.pc], rax);
      store_written();
    }
    if (const std::optional<uint64_t> target = in_page(s.block->paddr, delta); target && exits < 2) {
      const unsigned i = exits++;
      target_paddr[i] = *target;
      exit_sub_[i] = cur_;
      jmp(link_stub_[i], T_NEAR); // e9 rel32: patched in place
      site[i] = getSize() - 4;
      return;
    }
    cur_sub().lookup_used = true;
    jmp(cur_sub().lookup, T_NEAR);
  }
  // A return to one of the unit's return points (return_points_: the callee and the call are in
  // the unit) is an internal edge: the address in rsi compared with each point's pc (the
  // entry's pc plus the point's offset; equal virtual pages are the same physical page while
  // the unit runs), then the countdown and a jump, registers still in host registers. Any other
  // address goes on to exit_dynamic, rsi kept.
  void return_inside() {
    const std::vector<size_t>& points = returns_from(cur_);
    if (points.empty()) return;
    ++internal_return_sites;
    settle(narrow_); // the points' first copies
    mov(rax, qword[rbx + l_.region_pc]);
    for (const size_t k : points) {
      Xbyak::Label& fail = labels_.emplace_back();
      Xbyak::Label& other = labels_.emplace_back();
      const int64_t delta = subs_[k].delta - cur_sub().delta; // from the current block's pc
      later([this, delta, &fail]() {
        L(fail);
        leave_to(delta);
      });
      lea(rdx, ptr[rax + static_cast<int32_t>(subs_[k].delta)]); // within the page
      cmp(rsi, rdx);
      jne(other, T_NEAR);
      count_check(fail);
      jmp(internal_entry(k), T_NEAR);
      L(other);
    }
  }
  // A normal end of the block with the next pc in rsi (JALR).
  void exit_dynamic() {
    mov(qword[rbx + l_.pc], rsi);
    store_written();
    end_check(cur_sub().exit_label); // the shared slow path keeps rsi
    mov(rax, rsi);
    cur_sub().lookup_used = true;
    jmp(cur_sub().lookup, T_NEAR);
  }
  // x0, or the decoder's discard register: a write nothing reads.
  static bool discarded(unsigned rd) { return rd == 0 || rd >= kGuestRegisters; }
  void pc_plus(const Xbyak::Reg64& dst, const BlockOp& op, int64_t delta) {
    region_pc_plus(dst, cur_sub().delta + static_cast<int64_t>(op.offset) + delta);
  }
  static bool fits32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }
  // ---- ops the interpreter runs
  // An interpreter handler touches only x_[rs1], x_[rs2] and x_[rd] (whatever the fields mean for
  // the op), so only those are synced: stored before the call when the block has changed them,
  // rd reloaded after. When the handler leaves the block, every changed register is stored except
  // rd, whose slot already holds the truth (stored before, or written by the handler).
  void emit_fallback(const BlockOp& op, bool last) {
    // The upper-half check of an instruction straddling two pages (Hart::build_block) changes
    // nothing the per-block check looks at (interrupts, CSRs, the timer): it leaves any forced
    // full check as it was, so the block's exit takes the plain countdown as after inline ops.
    const bool keeps_checks = op.handler == upper_half_check_handler();
    const unsigned touched[3] = {op.rs1, op.rs2, op.rd};
    for (unsigned k = 0; k < 3; ++k) {
      const unsigned r = touched[k];
      if (r == 0 || r >= kGuestRegisters || !written_[r] || !host(r)) continue;
      if ((k >= 1 && touched[0] == r) || (k == 2 && touched[1] == r)) continue;
      mov(slot(r), *host(r));
    }
    sync_block_pc();
    if (!keeps_checks) btr(r15, 63); // an earlier call's force_full_check: this call forces it again if it goes on
    mov(qword[rbx + l_.jit_left], r15); // the CSR thunk reads the chain's count
    lea(rdi, ptr[rbx - l_.bias]); // the Hart*
    mov(rsi, reinterpret_cast<uint64_t>(&op));
    // Only CSR instructions read instret/cycle: they go through the thunk that retires the
    // chained blocks first; every other handler is called directly.
    call_out(reads_counters(op.op) ? reinterpret_cast<const void*>(&Runtime::call_handler)
                                   : reinterpret_cast<const void*>(op.handler));
    test(rax, rax);
    Xbyak::Label go_on;
    if (!last) jnz(go_on, T_NEAR);
    store_written(op.rd);
    jmp(cur_sub().exit_label, T_NEAR);
    if (last) return;
    L(go_on);
    if (!keeps_checks) force_full_check();
    if (op.rd != 0 && op.rd < kGuestRegisters)
      if (const auto h = host(op.rd)) mov(*h, slot(op.rd));
  }

  // ---- redundant extensions
  // `slli rd, rs, 32; srli rd, rd, 32` (C's zero extension of a 32-bit value) at ops[i]: one
  // 32-bit move.
  static bool zero_extension(const BlockOps& ops, size_t i) {
    if (i + 1 >= ops.size()) return false;
    const BlockOp& a = ops[i];
    const BlockOp& b = ops[i + 1];
    return a.op == Op::Slli && (a.imm & 63) == 32 && b.op == Op::Srli && (b.imm & 63) == 32 && a.rd != 0 &&
           a.rd < kGuestRegisters && b.rs1 == a.rd && b.rd == a.rd;
  }
  void emit_zero_extension(const BlockOp& op) {
    const auto hd = host(op.rd);
    const Xbyak::Reg64 d = hd ? *hd : rax;
    if (op.rs1 == 0)
      xor_(d.cvt32(), d.cvt32());
    else
      with_src32(op.rs1, [&](const auto& s) { mov(d.cvt32(), s); }); // a 32-bit write clears the upper half
    if (!hd) mov(slot(op.rd), rax);
  }
  // `addi t, x, -1; and x, x, t` (clear x's lowest set bit: bit loops, `x &= x - 1`) at ops[i],
  // on a host with BMI1: t = x - 1 beside, and x's own chain one `blsr` instead of two steps.
  static bool lowest_bit_cleared(const BlockOps& ops, size_t i) {
    static const bool bmi1 = Xbyak::util::Cpu().has(Xbyak::util::Cpu::tBMI1);
    if (!bmi1 || i + 1 >= ops.size()) return false;
    const BlockOp& a = ops[i];
    const BlockOp& b = ops[i + 1];
    const unsigned t = a.rd, x = a.rs1;
    return a.op == Op::Addi && a.imm == -1 && t != 0 && t < kGuestRegisters && x != 0 && x < kGuestRegisters &&
           t != x && b.op == Op::And && b.rd == x && ((b.rs1 == x && b.rs2 == t) || (b.rs1 == t && b.rs2 == x));
  }
  void emit_lowest_bit_cleared(const BlockOp& op) {
    const unsigned t = op.rd, x = op.rs1;
    const auto ht = host(t), hx = host(x);
    if (hx) {
      if (ht)
        lea(*ht, ptr[*hx - 1]);
      else {
        lea(rax, ptr[*hx - 1]);
        mov(slot(t), rax);
      }
      blsr(*hx, *hx);
      return;
    }
    mov(rcx, slot(x));
    lea(rax, ptr[rcx - 1]);
    put(t, rax);
    blsr(rcx, rcx);
    mov(slot(x), rcx);
  }
  // Whether op `o` reads only the low 32 bits of its source `which` (1: rs1, 2: rs2).
  static bool reads_low32(const BlockOp& o, unsigned which) {
    switch (o.op) {
    case Op::Addw: case Op::Subw: case Op::Mulw: case Op::Sllw: case Op::Srlw: case Op::Sraw:
      return true;
    case Op::Addiw: case Op::Slliw: case Op::Srliw: case Op::Sraiw:
      return which == 1;
    case Op::Slli:
      return which == 1 && (o.imm & 63) >= 32; // the upper half is shifted out
    case Op::Sll: case Op::Srl: case Op::Sra:
      return which == 2; // the shift count
    default:
      return false;
    }
  }
  // The W ops alu emits as a 32-bit op and a sign extension.
  static bool is_word_op(Op op) {
    return op == Op::Addw || op == Op::Subw || op == Op::Mulw || op == Op::Addiw || op == Op::Slliw || op == Op::Srliw ||
           op == Op::Sraiw || op == Op::Sllw || op == Op::Srlw || op == Op::Sraw;
  }
  static bool pure_alu(Op op) {
    return translated_inline(op) && writes_rd(op) && !is_load(op) && op != Op::Jal && op != Op::Jalr;
  }
  // Whether the upper 32 bits of rd, just written by the current op, are never observed: before
  // anything could leave the block, trap or call out (only inline ALU ops in between), rd is
  // written again and read, if at all, only by ops that use its low half. Then a W op's
  // sign extension can be left out.
  bool upper_half_dead(unsigned rd) const {
    const BlockOps& ops = *cur_ops_;
    const OpHandler fall_through = fall_through_handler();
    for (size_t j = cur_index_ + 1; j < ops.size(); ++j) {
      const BlockOp& o = ops[j];
      if (o.handler == fall_through || !pure_alu(o.op)) return false;
      if (reads_rs1(o.op) && o.rs1 == rd && !reads_low32(o, 1)) return false;
      if (reads_rs2(o.op) && o.rs2 == rd && !reads_low32(o, 2)) return false;
      if (o.rd == rd) return true;
    }
    return false;
  }

  // Whether a W op's result is sign-extended as it is computed: not when nothing sees its upper
  // half (upper_half_dead) or when it may stay narrow (lazy_word).
  bool extends_word(const BlockOp& op) const { return !upper_half_dead(op.rd) && !lazy_word(op); }

  // ---- narrow registers: word results extended where they are read, not where they are made
  // A register in narrow_ holds, in its host register, a value whose low 32 bits are the guest
  // register's and whose upper half may be anything: the guest value is the low half
  // sign-extended. A W op (addw, mulw, ...) whose register is in lazy_ leaves its result so,
  // without the `movsxd` on its dependency chain; ops that read only the low half (other W ops,
  // sw/sh/sb's data, shift counts) and bitwise ops of such values (whose results are again a
  // low half sign-extended) take it as it is, and anything else settles it first: one `movsxd`
  // in place, where the extension would have been. Every way out of the unit or to the VMM
  // settles what is narrow on its own path (settle_for_exit), so x_[] only ever holds guest
  // values. It pays in loops: a block that loops to itself and carries a word result around
  // (a 32-bit sum, an FNV hash's `h = (h ^ c) * p`) is emitted twice, the second copy entered by
  // its back edge with those registers narrow (choose_narrow): a chain of `addw` is one cycle per
  // step instead of two.
  uint32_t narrow_ = 0;
  uint32_t lazy_ = 0;
  bool produced_narrow_ = false; // set by alu when it left a W op's result narrow
  static constexpr uint32_t bit_of(unsigned r) { return r != 0 && r < kGuestRegisters ? uint32_t{1} << r : 0; }
  bool narrow(unsigned r) const { return (narrow_ & bit_of(r)) != 0; }
  void forget_narrow(unsigned r) { narrow_ &= ~bit_of(r); }
  void note_narrow(unsigned r) {
    if (host(r)) narrow_ |= bit_of(r); // only registers in host registers are ever narrow
  }
  // Whether `op` writes x[rd]. (An interpreter handler may too, but everything is settled
  // before one runs, so what it writes is never narrow.)
  static bool writes_x_rd(const BlockOp& op) {
    if (translated_inline(op.op)) return writes_rd(op.op);
    if (fp_inline(op.op)) return fp_writes_x(op.op);
    return is_amo(op.op) || riscv::writes_integer_rd(op.op);
  }
  // Whether x[r] is a low half sign-extended in its host register or slot (narrow, or known
  // extended; x0 is both).
  bool fits_low(unsigned r) const { return narrow(r) || sext_known(r); }
  bool lazy_word(const BlockOp& op) const {
    return (lazy_ & bit_of(op.rd)) != 0 && host(op.rd) && !renamed_[op.rd];
  }
  // Sign-extends the narrow registers of `set` in place (on the path every later op takes).
  void settle(uint32_t set) {
    set &= narrow_;
    for (unsigned r = 1; r < kGuestRegisters; ++r)
      if ((set & bit_of(r)) != 0) {
        movsxd(*host(r), host(r)->cvt32());
        narrow_ &= ~bit_of(r);
        sext_known_ |= bit_of(r);
      }
  }
  // The same for every narrow register, on a path that leaves the unit: what the emitter
  // knows stays as it was (the path that goes on did not run these).
  void settle_for_exit() {
    for (unsigned r = 1; r < kGuestRegisters; ++r)
      if (narrow(r)) movsxd(*host(r), host(r)->cvt32());
  }
  // The block's register stores and exit (Sub::sync_exit), entered with every register settled:
  // straight there when none is narrow, else through a short out-of-line path that settles them.
  Xbyak::Label& sync_exit_label() {
    if (narrow_ == 0) return cur_sub().sync_exit;
    Xbyak::Label& settled = labels_.emplace_back();
    later([this, &settled]() {
      L(settled);
      settle_for_exit();
      jmp(cur_sub().sync_exit, T_NEAR);
    });
    return settled;
  }
  // Whether `op` computes a narrow result from a narrow operand without settling it: a move, or
  // a bitwise op of values that are each a low half sign-extended (known extended or narrow):
  // and, or and xor of two such values are such a value. Its destination must be in a host
  // register (a value stored to x_[] must be the guest's).
  bool propagates_narrow(const BlockOp& op) const {
    if (narrow_ == 0 || discarded(op.rd) || !host(op.rd) || renamed_[op.rd]) return false;
    switch (op.op) {
    case Op::And: case Op::Or: case Op::Xor:
      return (narrow(op.rs1) || narrow(op.rs2)) && fits_low(op.rs1) && fits_low(op.rs2);
    case Op::Add:
      return (op.rs1 == 0 && narrow(op.rs2)) || (op.rs2 == 0 && narrow(op.rs1));
    case Op::Andi: // a negative immediate keeps the upper half (a non-negative one clears it)
      return narrow(op.rs1) && static_cast<int32_t>(op.imm) < 0;
    case Op::Ori: case Op::Xori: // the immediate is sign-extended from 12 bits
      return narrow(op.rs1);
    case Op::Addi:
      return op.imm == 0 && narrow(op.rs1);
    default:
      return false;
    }
  }
  // Whether `op` reads its source `which` (1: rs1, 2: rs2) only as its low 32 bits, as emitted.
  static bool reads_only_low_half(const BlockOp& op, unsigned which) {
    if (reads_low32(op, which)) return true;
    if (op.op == Op::Andi && static_cast<int32_t>(op.imm) >= 0) return true; // at most 11 bits: an exact result
    return which == 2 && (op.op == Op::Sb || op.op == Op::Sh || op.op == Op::Sw); // the data
  }
  // Before `op`: settles the narrow registers it reads whole. Ops this file emits with known
  // operands (inline integer ops, loads and stores, branches, jumps) settle only those; any
  // other (the interpreter's handlers, FP, AMOs) settles them all.
  void settle_reads(const BlockOp& op) {
    if (narrow_ == 0) return;
    if (!translated_inline(op.op) || fp_memory(op.op)) {
      settle(narrow_);
      return;
    }
    if (propagates_narrow(op)) return;
    if (is_conditional_branch(op.op) && fits_low(op.rs1) && fits_low(op.rs2)) return; // compare(…, low)
    uint32_t whole = 0;
    if (reads_rs1(op.op) && !reads_only_low_half(op, 1)) whole |= bit_of(op.rs1);
    if (reads_rs2(op.op) && !reads_only_low_half(op, 2)) whole |= bit_of(op.rs2);
    if (is_load(op.op) && &op == scaled_.load) whole |= bit_of(scaled_.base); // its base is read there
    settle(whole);
  }
  // Which of its loops' carried registers (Sub::loop_narrow) each block gets: a block that
  // jumps to itself, for the registers in host registers that a W op of it writes last and that
  // it reads before it writes them (the value goes around the loop; written last by another op,
  // it could not arrive narrow). Small blocks only: the copy doubles their code.
  static constexpr size_t kMaxNarrowLoopOps = 48;
  void choose_narrow() {
    for (size_t k = 0; k < subs_.size(); ++k) {
      const std::vector<size_t>& to = successors_[k];
      const Block& block = *subs_[k].block;
      if (std::find(to.begin(), to.end(), k) == to.end() || block.ops.size() > kMaxNarrowLoopOps) continue;
      uint32_t words = 0, read_first = 0, written = 0;
      bool handler = false; // an op the interpreter runs: it settles everything, every pass
      for (const BlockOp& op : block.ops) {
        handler = handler || !(translated_inline(op.op) || fp_inline(op.op) || is_amo(op.op));
        if (reads_rs1(op.op)) read_first |= bit_of(op.rs1) & ~written;
        if (reads_rs2(op.op)) read_first |= bit_of(op.rs2) & ~written;
        if (writes_x_rd(op)) {
          written |= bit_of(op.rd);
          words &= ~bit_of(op.rd);
          if (is_word_op(op.op) && host(op.rd)) words |= bit_of(op.rd);
        }
      }
      subs_[k].loop_narrow = handler ? 0 : words & read_first;
      if (subs_[k].loop_narrow != 0) ++narrow_loops;
    }
  }
  // The entry of block k an internal edge takes from here: its second copy when it has one and
  // each register that copy expects narrow is narrow or extended here.
  bool enters_narrow(size_t k) const {
    const uint32_t m = subs_[k].loop_narrow;
    return m != 0 && (m & ~(narrow_ | sext_known_)) == 0;
  }
  // The narrow registers an edge to block k may keep (enters_narrow), and the settling of the rest.
  uint32_t keeps_narrow(size_t k) const { return enters_narrow(k) ? subs_[k].loop_narrow : 0; }

  // Which guest registers hold, in their host register or x_[] slot, a value equal to its low 32
  // bits sign-extended (bit r for x_r; x0 always), at the current op of the block being emitted.
  // Then `sext.w` (addiw rd, rs, 0) of one is a move, or nothing: compilers emit it where they
  // cannot tell, as after `crc = table[i] ^ (crc >> 8)` (lw and srliw results, xor'ed). Known
  // only from the block's own earlier ops: its entry may come from anywhere.
  bool sext_known(unsigned r) const { return r < kGuestRegisters && ((sext_known_ >> r) & 1) != 0; }
  void forget_sext(unsigned r) {
    if (r != 0 && r < kGuestRegisters) sext_known_ &= ~(uint32_t{1} << r);
  }
  // After `op` ran: whether its rd now holds an extended value (`extended`, from
  // sign_extended_result before the op). An op that writes no integer register may still name
  // one as rd (an FP register's number): forgetting it then only costs a move.
  void note_sext(const BlockOp& op, bool extended) {
    if (op.rd == 0 || op.rd >= kGuestRegisters) return;
    if (extended && riscv::writes_integer_rd(op.op))
      sext_known_ |= uint32_t{1} << op.rd;
    else
      forget_sext(op.rd);
  }
  // Whether the current op leaves its rd holding a sign-extended 32-bit value, as it is emitted:
  // a W op whose extension upper_half_dead leaves out does not (its host register then holds
  // the zero extension, which only low-half reads see before rd is written again).
  bool sign_extended_result(const BlockOp& op) const {
    switch (op.op) {
    case Op::Lb: case Op::Lh: case Op::Lw: case Op::Lbu: case Op::Lhu: // below 2^16 when unsigned
    case Op::Lui: case Op::Slt: case Op::Sltu: case Op::Slti: case Op::Sltiu:
      return true;
    case Op::Addi: // li (a 12-bit immediate), or a move
      return op.rs1 == 0 || (op.imm == 0 && sext_known(op.rs1));
    case Op::Andi: // below 2^11 with a non-negative immediate; else both sides are extended
      return static_cast<int32_t>(op.imm) >= 0 || sext_known(op.rs1);
    case Op::Ori: case Op::Xori: // the immediate is extended: bitwise ops keep it so
      return sext_known(op.rs1);
    case Op::And: case Op::Or: case Op::Xor:
      return sext_known(op.rs1) && sext_known(op.rs2);
    case Op::Add: // a move (c.mv) only
      return (op.rs1 == 0 && sext_known(op.rs2)) || (op.rs2 == 0 && sext_known(op.rs1));
    case Op::Srli: return (op.imm & 63) >= 33; // below 2^31
    case Op::Srai: return (op.imm & 63) >= 32; // the sign copied into bits 31-63
    case Op::Srliw: return (op.imm & 31) != 0 || extends_word(op);
    case Op::Addiw:
      return (op.imm == 0 && sext_known(op.rs1)) || extends_word(op);
    case Op::Slliw: case Op::Sraiw: case Op::Addw: case Op::Subw: case Op::Mulw: case Op::Sllw:
    case Op::Srlw: case Op::Sraw:
      return extends_word(op);
    default:
      return false;
    }
  }

  // An element of a table: `slli t, x, k; add t, t, b; lw d, imm(t)` (k of 1-3, b not t), as
  // compilers index `table[i]` (or `add u, b, t; lw d, imm(u)`). The shift and the add still
  // compute t, but when the load takes the index hint (whose entry does not wait for the
  // address) it reads [addend + b + x << k + imm], one host address computation from x (copied
  // to rdi before the shift, which may overwrite it): the shift and the add leave the access's
  // dependency chain (a CRC's `crc = table[(crc ^ byte) & 0xff] ^ (crc >> 8)` waits two cycles
  // less per byte). The address in rsi (from t) still feeds the tag and alignment checks and
  // the slow path, so what is accessed, checked and trapped on is the same address.
  struct ScaledLoad {
    const BlockOp* load = nullptr; // the load the plan is for (its op in the block)
    unsigned base = 0;             // b
    uint8_t scale = 1;             // 1 << k
  };
  void plan_scaled_load(const BlockOps& ops, size_t i) {
    scaled_ = {};
    if (i + 2 >= ops.size()) return;
    const BlockOp& shift = ops[i];
    const BlockOp& sum = ops[i + 1];
    const BlockOp& load = ops[i + 2];
    const unsigned t = shift.rd, x = shift.rs1, k = shift.imm & 63;
    if (k < 1 || k > 3 || t == 0 || t >= kGuestRegisters || x == 0 || x >= kGuestRegisters) return;
    const OpHandler fall_through = fall_through_handler();
    if (sum.handler == fall_through || load.handler == fall_through) return;
    // The sum may go to another register (u = b + t, quicksort's `a + (i << 2)`), which the
    // load then addresses from; b must survive the add (not u).
    const unsigned u = sum.rd;
    if (sum.op != Op::Add || u == 0 || u >= kGuestRegisters || !is_load(load.op) || load.rs1 != u) return;
    const unsigned b = sum.rs1 == t ? sum.rs2 : sum.rs2 == t ? sum.rs1 : t;
    if (b == t || b == u || b == 0 || b >= kGuestRegisters) return;
    scaled_ = {&load, b, static_cast<uint8_t>(1u << k)};
    load_into(rdi, x); // a move: off every chain
  }

  // Flags of rs1 - rs2 (for a branch), from host registers or x_[] directly.
  // `low`: compare the low halves only, both operands being a low half sign-extended (narrow or
  // known extended): sign extension keeps the signed and the unsigned order and equality.
  void compare(unsigned a, unsigned b, bool low = false) {
    const auto ha = host(a), hb = host(b);
    if (low) {
      if (b == 0 && ha)
        test(ha->cvt32(), ha->cvt32());
      else if (ha)
        with_src32(b, [&](const auto& s) { cmp(ha->cvt32(), s); });
      else if (hb)
        cmp(dword[rbx + l_.x + static_cast<int32_t>(8 * a)], hb->cvt32());
      else
        throw Xbyak::Error(Xbyak::ERR_INTERNAL); // a narrow register lives in a host register
      return;
    }
    if (b == 0) {
      if (ha)
        test(*ha, *ha); // the flags of cmp a, 0: CF and OF clear, SF and ZF from a
      else
        cmp(slot(a), 0);
    } else if (ha) {
      with_src(b, [&](const auto& s) { cmp(*ha, s); });
    } else if (hb) {
      cmp(slot(a), *hb);
    } else {
      load_into(rax, a);
      cmp(rax, slot(b));
    }
  }

  // ---- ops translated inline
  void emit_inline(const BlockOp& op) {
    switch (op.op) {
    case Op::Fence: // x86-64 keeps every RVWMO order but store before load (harts on other threads)
      if (fence_orders_store_load(op.bits)) mfence();
      return;
    case Op::Lui: // a sign-extended 32-bit immediate: fits a mov to memory too
      if (discarded(op.rd)) return;
      if (const auto h = host(op.rd))
        mov(*h, static_cast<uint64_t>(op.imm));
      else
        mov(slot(op.rd), static_cast<uint64_t>(op.imm));
      return;
    case Op::Auipc:
      pc_plus(rax, op, op.imm);
      put(op.rd, rax);
      return;
    case Op::Jal: // `j`, `ret` and `jr` (rd x0) link nothing: no return address to compute
    case Op::Jalr:
      if (const auto target = static_jump_target(*cur_ops_, cur_index_)) { // a JAL, or a JALR after its AUIPC
        if (!discarded(op.rd)) {
          pc_plus(rax, op, op.length);
          put(op.rd, rax);
        }
        exit_static(*target);
        return;
      }
      get(rsi, op.rs1);
      if (op.imm != 0) add(rsi, static_cast<uint32_t>(static_cast<int32_t>(op.imm)));
      and_(rsi, -2);
      if (!discarded(op.rd)) {
        pc_plus(rax, op, op.length);
        put(op.rd, rax);
      }
      return_inside(); // the target in rsi
      exit_dynamic();
      return;
    case Op::Beq: case Op::Bne: case Op::Blt: case Op::Bge: case Op::Bltu: case Op::Bgeu:
      return branch(op);
    case Op::Lb: return load(op, 1, true);
    case Op::Lh: return load(op, 2, true);
    case Op::Lw: return load(op, 4, true);
    case Op::Ld: return load(op, 8, false);
    case Op::Lbu: return load(op, 1, false);
    case Op::Lhu: return load(op, 2, false);
    case Op::Lwu: return load(op, 4, false);
    case Op::Sb: return store(op, 1);
    case Op::Sh: return store(op, 2);
    case Op::Sw: return store(op, 4);
    case Op::Sd: return store(op, 8);
    default: break;
    }
    if (is_division(op.op)) return divide(op);
    alu(op);
  }

  // Jumps to `to` when the branch `op` is taken (or, `invert`, when it is not), on the flags of
  // compare(rs1, rs2).
  void jump_if(Op op, bool invert, Xbyak::Label& to) {
    switch (op) {
    case Op::Beq: invert ? jne(to, T_NEAR) : je(to, T_NEAR); break;
    case Op::Bne: invert ? je(to, T_NEAR) : jne(to, T_NEAR); break;
    case Op::Blt: invert ? jge(to, T_NEAR) : jl(to, T_NEAR); break;
    case Op::Bge: invert ? jl(to, T_NEAR) : jge(to, T_NEAR); break;
    case Op::Bltu: invert ? jae(to, T_NEAR) : jb(to, T_NEAR); break;
    default: invert ? jb(to, T_NEAR) : jae(to, T_NEAR); break; // Bgeu
    }
  }
  // A conditional branch ends its block, and both ways out count the same instructions: the
  // per-block check runs once, before the compare (its `sub` sets the flags), and a way into a
  // block of the unit (a loop's back edge) is the conditional jump itself. A failed check
  // compares again out of line to leave with the pc the branch would have taken.
  void branch(const BlockOp& op) {
    const int64_t next = static_cast<int64_t>(op.offset) + op.length;
    const int64_t taken = static_cast<int64_t>(op.offset) + op.imm;
    Xbyak::Label& fail = labels_.emplace_back();
    const BlockOp* p = &op;
    // A narrow operand left unsettled (settle_reads: the other is narrow or extended too).
    const bool low = narrow(op.rs1) || narrow(op.rs2);
    later([this, p, next, taken, low, &fail]() {
      // pc_ = the block's pc + (taken or next), chosen by a cmov: both ways in one short path.
      L(fail);
      compare(p->rs1, p->rs2, low); // may use rax
      const int64_t base = cur_sub().delta;
      mov(rdx, qword[rbx + l_.region_pc]);                       // mov and lea keep the flags
      lea(rcx, ptr[rdx + static_cast<int32_t>(base + taken)]);  // within the page's neighbours
      lea(rdx, ptr[rdx + static_cast<int32_t>(base + next)]);
      cmov_if(p->op, false, rdx, rcx);
      mov(qword[rbx + l_.pc], rdx);
      settle_for_exit();
      jmp(cur_sub().sync_exit, T_NEAR);
    });
    // An internal way needs only the countdown (count_check); a way out of the unit checks DMA too.
    const auto k = internal_target(taken), j = internal_target(next);
    if (k && j && if_convert(op, *j, *k, fail)) return; // the fall-through way as the side: it ends where the taken way starts
    // Narrow registers stay so into a block of the unit that takes them (a loop's back edge into
    // its second copy): the conditional jump's target decides here; the way that goes on settles
    // what it must on its own path (jump_internal_last, store_written).
    settle(narrow_ & ~(k ? keeps_narrow(*k) : j ? keeps_narrow(*j) : ~uint32_t{0}));
    count_check(fail);
    if (!k && !j) dma_check(fail);
    if (k || j)
      compare_for_jump([&] { compare(op.rs1, op.rs2, low); }); // then the jump into the unit (a loop's back edge)
    else
      compare(op.rs1, op.rs2, low);
    if (k) {
      jump_if(op.op, false, internal_entry(*k, enters_narrow(*k)));
      if (!j) dma_check(fail);
      exit_checked(next);
    } else if (j) {
      jump_if(op.op, true, internal_entry(*j, enters_narrow(*j)));
      dma_check(fail);
      exit_checked(taken);
    } else {
      // Both ways leave the unit: one copy of the register stores and of the entry pc's load
      // (stores and a mov keep the flags) for the two exits.
      Xbyak::Label& to_taken = labels_.emplace_back();
      store_written();
      mov(rax, qword[rbx + l_.region_pc]);
      jump_if(op.op, false, to_taken);
      exit_checked(next, true);
      L(to_taken);
      exit_checked(taken, true);
    }
  }

  // ---- if-conversion
  // A branch around a few ALU ops (`if (x) crc = f(crc)`: a CRC's bit loop, a min or max) whose
  // outcome the data decides is a host branch miss half the time. The fall-through way (`side`)
  // is then a block of the unit that starts with at most kMaxConverted pure ALU ops and goes on
  // with exactly the instructions of the taken way's block (`join`: the decoder ran on into
  // them). Both ways run as one path: the side's leading ops compute into scratch registers,
  // cmov commits them when the branch would not be taken, and takes their count off the budget;
  // then the join's code runs. Its check at its end is the side block's own end, so it counts
  // and checks at the interpreter's points (a trap in the join's ops counts the side's ops plus
  // its index, as the side block's op would). Near the budget's end (the countdown at most the
  // side's count: it must stay positive between checks) the branch runs as a branch.
  static constexpr size_t kMaxConverted = 4;
  static size_t converted_ops(const Block& side, const Block& join) {
    const size_t n = side.ops.size(), m = join.ops.size();
    if (n <= m) return 0;
    const size_t k = n - m;
    if (k > kMaxConverted || side.count != k + join.count) return 0;
    if (side.paddr + side.ops[k].offset != join.paddr) return 0;
    for (size_t i = 0; i < m; ++i)
      if (side.ops[k + i].bits != join.ops[i].bits || side.ops[k + i].op != join.ops[i].op) return 0;
    // The join's first op must not trap: a block that traps at its first op takes one step of the
    // budget for it (Hart::run), which the side block's op k (where the interpreter traps) does
    // not, so the two would part at the budget's end. ALU ops and branches (misa.C is fixed on:
    // no target is misaligned) never trap.
    switch (join.ops[0].op) {
    case Op::Beq: case Op::Bne: case Op::Blt: case Op::Bge: case Op::Bltu: case Op::Bgeu: break;
    default:
      if (!pure_alu(join.ops[0].op)) return 0;
    }
    unsigned written = 0;
    std::array<bool, kGuestRegisters> seen{};
    for (size_t i = 0; i < k; ++i) {
      const BlockOp& o = side.ops[i];
      switch (o.op) {
      case Op::Addi: case Op::Xori: case Op::Ori: case Op::Andi: case Op::Slli: case Op::Srli: case Op::Srai:
      case Op::Add: case Op::Sub: case Op::Xor: case Op::Or: case Op::And: case Op::Addiw: case Op::Slliw:
      case Op::Srliw: case Op::Sraiw: case Op::Addw: case Op::Subw: case Op::Lui:
        break;
      default: return 0; // shifts by a register and products use rcx and rdx; the rest may not be inline
      }
      if (o.rd == 0 || o.rd >= kGuestRegisters) return 0;
      if (!seen[o.rd]) {
        seen[o.rd] = true;
        if (++written > 3) return 0; // rsi, rdi, rdx
      }
    }
    return k;
  }
  bool if_convert(const BlockOp& op, size_t side_index, size_t join_index, Xbyak::Label& fail) {
    const Block& side = *subs_[side_index].block;
    if (side_index == cur_ || join_index == side_index) return false;
    const size_t k = converted_ops(side, *subs_[join_index].block);
    if (k == 0) return false;
    ++if_conversions;
    settle(narrow_); // the side's ops run on copies, through alu
    count_check(fail);
    Xbyak::Label& plain = labels_.emplace_back();
    compare_for_jump([&] { cmp(r15, static_cast<uint32_t>(k)); });
    jle(plain, T_NEAR);
    // Each register the side writes gets a scratch copy, and the side's ops run on the copies.
    const Xbyak::Reg64 scratch[3] = {rsi, rdi, rdx};
    std::vector<std::pair<unsigned, Xbyak::Reg64>> copies;
    for (size_t i = 0; i < k; ++i) {
      const unsigned r = side.ops[i].rd;
      if (renamed_[r]) continue;
      const Xbyak::Reg64 t = scratch[copies.size()];
      load_into(t, r);
      renamed_[r] = t;
      copies.emplace_back(r, t);
    }
    const BlockOps* const ops_before = cur_ops_;
    const size_t index_before = cur_index_;
    const uint32_t sext_before = sext_known_;
    sext_known_ = 1; // the side's ops run on copies: no sext.w left out there
    cur_ops_ = &side.ops; // upper_half_dead looks ahead among the side's ops
    for (size_t i = 0; i < k; ++i) {
      cur_index_ = i;
      alu(side.ops[i]);
    }
    cur_ops_ = ops_before;
    cur_index_ = index_before;
    sext_known_ = sext_before;
    for (const auto& [r, t] : copies) renamed_[r] = std::nullopt;
    // Commit when the branch is not taken (it goes through the side).
    compare(op.rs1, op.rs2);
    lea(rcx, ptr[r15 - static_cast<int32_t>(k)]);
    cmov_if(op.op, true, r15, rcx);
    for (const auto& [r, t] : copies) {
      if (const auto h = host(r)) {
        cmov_if(op.op, true, *h, t);
      } else {
        mov(rax, slot(r));
        cmov_if(op.op, true, rax, t);
        mov(slot(r), rax);
      }
    }
    jump_internal_last(join_index);
    const BlockOp* p = &op;
    later([this, p, side_index, join_index, &plain]() {
      L(plain);
      compare(p->rs1, p->rs2);
      jump_if(p->op, false, internal_entry(join_index));
      jmp(internal_entry(side_index), T_NEAR);
    });
    return true;
  }
  // cmov dst, src when the branch `op` is taken (or, `invert`, when it is not), on the flags of
  // compare(rs1, rs2).
  void cmov_if(Op op, bool invert, const Xbyak::Reg64& dst, const Xbyak::Operand& src) {
    switch (op) {
    case Op::Beq: invert ? cmovne(dst, src) : cmove(dst, src); break;
    case Op::Bne: invert ? cmove(dst, src) : cmovne(dst, src); break;
    case Op::Blt: invert ? cmovge(dst, src) : cmovl(dst, src); break;
    case Op::Bge: invert ? cmovl(dst, src) : cmovge(dst, src); break;
    case Op::Bltu: invert ? cmovae(dst, src) : cmovb(dst, src); break;
    default: invert ? cmovb(dst, src) : cmovae(dst, src); break; // Bgeu
    }
  }

  // DIV, DIVU, REM, REMU and their W forms, on the host's divider. RISC-V defines every case
  // (riscv/integer_semantics.hpp, sem::div and the others, which the interpreter runs): a zero
  // divisor gives all ones (quotient) or the dividend (remainder); a divisor of -1 gives -x and 0,
  // which also covers the one overflowing case (the most negative value divided by -1), where
  // x86's IDIV would fault. Both are branched around before the divide. The W forms divide the
  // low 32 bits and sign-extend the 32-bit result. (The JIT used to call the semantic functions:
  // a call that saved and restored the guest registers living in r8-r11 around every divide.)
  void divide(const BlockOp& op) {
    const bool word = op.op == Op::Divw || op.op == Op::Divuw || op.op == Op::Remw || op.op == Op::Remuw;
    const bool is_signed = op.op == Op::Div || op.op == Op::Rem || op.op == Op::Divw || op.op == Op::Remw;
    const bool remainder = op.op == Op::Rem || op.op == Op::Remu || op.op == Op::Remw || op.op == Op::Remuw;
    Xbyak::Label by_zero, by_minus_one, done, general;
    get(rax, op.rs1);
    get(rcx, op.rs2);
    // DIVUW/REMUW by the divisor rs2 held when the block was translated (a loop-invariant modulus:
    // Adler-32's 65521, a hash table's size), checked at run time: Lemire's 32-bit division by
    // multiplication (M = floor((2^64 - 1) / d) + 1; n / d = (M * n) >> 64 with a 128-bit
    // product, n % d = ((M * n mod 2^64) * d) >> 64), exact for every 32-bit n and every d >= 1
    // ("Faster Remainder by Direct Computation", Lemire, Kaser, Kurz 2019). Two multiplies
    // instead of a divide; any other divisor takes the divide below.
    const auto speculated = static_cast<uint32_t>(op.rs2 == 0 ? 0 : hart_.x(op.rs2));
    if ((op.op == Op::Divuw || op.op == Op::Remuw) && speculated >= 2) {
      const uint64_t m = ~uint64_t{0} / speculated + 1;
      cmp(ecx, speculated);
      jne(general, T_NEAR);
      mov(eax, eax); // n, zero-extended
      mov(rdx, m);
      if (op.op == Op::Divuw) {
        mul(rdx); // rdx = (M * n) >> 64
        mov(rax, rdx);
      } else {
        imul(rax, rdx); // M * n mod 2^64
        mov(ecx, speculated);
        mul(rcx); // rdx = (that * d) >> 64
        mov(rax, rdx);
      }
      jmp(done, T_NEAR);
      L(general);
    }
    // DIVU/REMU by a power of two rs2 held at translation (`hash % buckets` with a table of 2^k
    // buckets), checked at run time as above: a shift or a mask. Other 64-bit divisors keep the
    // divide: Granlund and Montgomery's multiply, add and shifts measured slower than this host's
    // divider (docs/jit.md, "Unsigned conversions, FCLASS, 64-bit divisors, AMOs, loop registers").
    const uint64_t speculated64 = op.rs2 == 0 ? 0 : hart_.x(op.rs2);
    if ((op.op == Op::Divu || op.op == Op::Remu) && speculated64 >= 2 && std::has_single_bit(speculated64)) {
      mov(rdx, speculated64);
      cmp(rcx, rdx);
      jne(general, T_NEAR);
      if (op.op == Op::Divu) {
        shr(rax, std::countr_zero(speculated64));
      } else {
        mov(rdx, speculated64 - 1);
        and_(rax, rdx);
      }
      jmp(done, T_NEAR);
      L(general);
    }
    if (word)
      test(ecx, ecx);
    else
      test(rcx, rcx);
    jz(by_zero, T_NEAR);
    if (is_signed) {
      if (word)
        cmp(ecx, -1);
      else
        cmp(rcx, -1);
      je(by_minus_one, T_NEAR);
      if (word) {
        cdq();
        idiv(ecx);
      } else {
        cqo();
        idiv(rcx);
      }
    } else {
      xor_(edx, edx);
      if (word)
        div(ecx);
      else
        div(rcx);
    }
    if (remainder) mov(rax, rdx);
    jmp(done, T_NEAR);
    L(by_minus_one); // signed only: x / -1 = -x (wrapping), x % -1 = 0
    if (remainder)
      xor_(eax, eax);
    else if (word)
      neg(eax);
    else
      neg(rax);
    jmp(done, T_NEAR);
    L(by_zero); // x / 0 = all ones, x % 0 = x
    if (!remainder) mov(rax, -1);
    L(done);
    if (word) movsxd(rax, eax);
    put(op.rd, rax);
  }

  // A guest register as an x86 operand (64 or 32 bits): its host register, or its slot in x_[].
  // x0's slot is never written (writes go to the discard register), so it reads 0 as in the
  // interpreter.
  template <typename F> void with_src(unsigned r, F&& f) {
    if (const auto h = host(r))
      f(*h);
    else
      f(slot(r));
  }
  template <typename F> void with_src32(unsigned r, F&& f) {
    if (const auto h = host(r))
      f(h->cvt32());
    else
      f(dword[rbx + l_.x + static_cast<int32_t>(8 * r)]);
  }
  // dst = guest register r (nothing when dst is r's host register).
  void load_into(const Xbyak::Reg64& dst, unsigned r) {
    if (r == 0) {
      xor_(dst.cvt32(), dst.cvt32());
      return;
    }
    const auto h = host(r);
    if (h && h->getIdx() == dst.getIdx()) return;
    with_src(r, [&](const auto& s) { mov(dst, s); });
  }

  // Integer ALU ops, computed in rd's host register when it has one (else in rax, then stored),
  // reading operands straight from host registers or x_[]: `addi a0, a0, 1` is one `add`.
  // Semantics as riscv/integer_semantics.hpp (the differential tests hold them together).
  void alu(const BlockOp& op) {
    if (discarded(op.rd)) return; // a write to x0: these ops have no other effect
    const auto hd = host(op.rd);
    const Xbyak::Reg64 d = hd ? *hd : rax;
    const auto imm32 = static_cast<uint32_t>(static_cast<int32_t>(op.imm)); // I-type: 12-bit, sign-extended
    // rd = rs1 <op> rs2 for a two-operand x86 instruction `emit(dst, src)`. When rd is rs2 (and
    // not rs1), writing rs1 into d first would clobber rs2: a commutative op swaps its operands,
    // another computes in rax.
    const auto binary = [&](bool commutative, auto&& emit) {
      if (hd && op.rs2 == op.rd && op.rs1 != op.rd) {
        if (commutative) {
          with_src(op.rs1, [&](const auto& s) { emit(d, s); });
        } else {
          load_into(rax, op.rs1);
          emit(rax, d);
          mov(d, rax);
        }
        return;
      }
      load_into(d, op.rs1);
      with_src(op.rs2, [&](const auto& s) { emit(d, s); });
    };
    // The 32-bit form, sign-extended into rd (unless nothing sees rd's upper half: `sext`).
    const bool word = is_word_op(op.op);
    const bool sext_needed = !word || extends_word(op);
    const auto sext = [&](const Xbyak::Reg32& from) {
      if (sext_needed) {
        movsxd(d, from);
        return;
      }
      if (from.getIdx() != d.getIdx()) mov(d.cvt32(), from);
      produced_narrow_ = true;
    };
    const auto binary32 = [&](bool commutative, auto&& emit) {
      const Xbyak::Reg32 d32 = d.cvt32();
      if (hd && op.rs2 == op.rd && op.rs1 != op.rd) {
        if (commutative) {
          with_src32(op.rs1, [&](const auto& s) { emit(d32, s); });
          sext(d32);
          return;
        }
        load_into(rax, op.rs1);
        emit(eax, d32);
        sext(eax);
        return;
      }
      load_into(d, op.rs1);
      with_src32(op.rs2, [&](const auto& s) { emit(d32, s); });
      sext(d32);
    };
    // Shifts by a register: the count goes to cl first (rcx is never a guest register's host).
    const auto shift = [&](auto&& emit) {
      with_src32(op.rs2, [&](const auto& s) { mov(ecx, s); });
      load_into(d, op.rs1);
      emit();
    };
    // slt/sltu(i): compare rs1 with rs2 or the immediate, set d to the flag.
    const auto set_less = [&](bool is_signed, bool immediate) {
      Xbyak::Reg64 a = rax;
      if (const auto h = host(op.rs1); h && op.rs1 != 0)
        a = *h;
      else
        load_into(rax, op.rs1);
      if (immediate)
        cmp(a, imm32);
      else
        with_src(op.rs2, [&](const auto& s) { cmp(a, s); });
      if (is_signed)
        setl(al);
      else
        setb(al);
      movzx(d.cvt32(), al);
    };
    // A move (c.mv is `add rd, x0, rs2`) or a negation: one instruction, not a clear and an add.
    if ((op.op == Op::Add || op.op == Op::Or || op.op == Op::Xor) && (op.rs1 == 0 || op.rs2 == 0)) {
      load_into(d, op.rs1 == 0 ? op.rs2 : op.rs1);
      if (!hd) mov(slot(op.rd), rax);
      return;
    }
    if (op.op == Op::Sub && op.rs1 == 0) {
      load_into(d, op.rs2);
      neg(d);
      if (!hd) mov(slot(op.rd), rax);
      return;
    }
    switch (op.op) {
    case Op::Addi: case Op::Xori: case Op::Ori: case Op::Andi:
      if (op.rs1 == 0) { // li: 0 <op> imm
        mov(d, op.op == Op::Andi ? uint64_t{0} : static_cast<uint64_t>(op.imm));
        break;
      }
      if (op.op == Op::Addi && op.imm != 0 && op.rs1 != op.rd && host(op.rs1)) {
        lea(d, ptr[*host(op.rs1) + static_cast<int32_t>(op.imm)]); // one instruction for a copy and an add
        break;
      }
      load_into(d, op.rs1);
      if (op.op == Op::Addi && op.imm != 0) add(d, imm32);
      if (op.op == Op::Xori && op.imm != 0) xor_(d, imm32);
      if (op.op == Op::Ori && op.imm != 0) or_(d, imm32);
      if (op.op == Op::Andi) and_(d, imm32);
      break;
    case Op::Lui: mov(d, static_cast<uint64_t>(op.imm)); break; // if_convert's sides (emit_inline has its own)
    case Op::Slli: load_into(d, op.rs1); shl(d, static_cast<int>(op.imm & 63)); break;
    case Op::Srli: load_into(d, op.rs1); shr(d, static_cast<int>(op.imm & 63)); break;
    case Op::Srai: load_into(d, op.rs1); sar(d, static_cast<int>(op.imm & 63)); break;
    case Op::Slti: set_less(true, true); break;
    case Op::Sltiu: set_less(false, true); break;
    case Op::Slt: set_less(true, false); break;
    case Op::Sltu: set_less(false, false); break;
    case Op::Addiw:
      if (op.imm == 0 && sext_known(op.rs1)) { // sext.w of an extended value: a move, or nothing
        if (op.rs1 == op.rd) return;
        load_into(d, op.rs1);
        break;
      }
      load_into(d, op.rs1);
      if (op.imm != 0) add(d.cvt32(), imm32);
      sext(d.cvt32());
      break;
    case Op::Slliw: load_into(d, op.rs1); shl(d.cvt32(), static_cast<int>(op.imm & 31)); sext(d.cvt32()); break;
    case Op::Srliw: // a shift by 1 or more clears bit 31: shr's zero extension is the sign extension
      load_into(d, op.rs1);
      shr(d.cvt32(), static_cast<int>(op.imm & 31));
      if ((op.imm & 31) == 0) sext(d.cvt32());
      break;
    case Op::Sraiw: load_into(d, op.rs1); sar(d.cvt32(), static_cast<int>(op.imm & 31)); sext(d.cvt32()); break;
    case Op::Add: binary(true, [&](const auto& a, const auto& b) { add(a, b); }); break;
    case Op::Sub: binary(false, [&](const auto& a, const auto& b) { sub(a, b); }); break;
    case Op::Xor: binary(true, [&](const auto& a, const auto& b) { xor_(a, b); }); break;
    case Op::Or: binary(true, [&](const auto& a, const auto& b) { or_(a, b); }); break;
    case Op::And: binary(true, [&](const auto& a, const auto& b) { and_(a, b); }); break;
    case Op::Mul: binary(true, [&](const auto& a, const auto& b) { imul(a, b); }); break;
    case Op::Sll: shift([&] { shl(d, cl); }); break; // x86 masks a 64-bit shift count to 6 bits
    case Op::Srl: shift([&] { shr(d, cl); }); break;
    case Op::Sra: shift([&] { sar(d, cl); }); break;
    case Op::Sllw: shift([&] { shl(d.cvt32(), cl); sext(d.cvt32()); }); break; // and to 5 bits for 32-bit
    case Op::Srlw: shift([&] { shr(d.cvt32(), cl); sext(d.cvt32()); }); break;
    case Op::Sraw: shift([&] { sar(d.cvt32(), cl); sext(d.cvt32()); }); break;
    case Op::Addw: binary32(true, [&](const auto& a, const auto& b) { add(a, b); }); break;
    case Op::Subw: binary32(false, [&](const auto& a, const auto& b) { sub(a, b); }); break;
    case Op::Mulw: binary32(true, [&](const auto& a, const auto& b) { imul(a, b); }); break;
    case Op::Mulh: case Op::Mulhu: case Op::Mulhsu: { // the high half of rax * rcx lands in rdx
      load_into(rax, op.rs1);
      load_into(rcx, op.rs2);
      if (op.op == Op::Mulh) {
        imul(rcx);
      } else if (op.op == Op::Mulhu) {
        mul(rcx);
      } else { // the unsigned high product, minus rs2 when rs1 is negative
        Xbyak::Label positive;
        mov(rsi, rax);
        mul(rcx);
        test(rsi, rsi);
        jns(positive);
        sub(rdx, rcx);
        L(positive);
      }
      mov(d, rdx);
      break;
    }
    default: ud2(); break; // not reached: translated_inline() lists exactly the ops above
    }
    if (!hd) mov(slot(op.rd), rax);
  }

  // rsi = virtual address; jumps to `miss` unless the soft-TLB entry for `access` maps its page
  // and the access stays inside it, else leaves the entry's addend in rcx (host address: rcx + rsi).
  // The entry is indexed by the first byte's page and its tag compared with the last byte's page
  // number: an access that crosses into the next page misses, since that page's number never sits
  // in this page's slot. The context's table base is computed off the address's dependency chain.
  // How a site finds its soft-TLB entry (docs/jit.md, "Loads and stores").
  enum class Lookup {
    direct,     // index by the address
    index_hint, // by the index the site used last, when it is the address's (table lookups)
    addend_hint // by the address, but access through the addend the site used last when it is
                // the entry's (pointer chases)
  };
  // rsi = x[rs1] + imm, the address of a load or store.
  void address_into_rsi(const BlockOp& op) { address_into(rsi, op); }
  void address_into(const Xbyak::Reg64& dst, const BlockOp& op) {
    const auto imm = static_cast<int32_t>(op.imm);
    if (const auto h = host(op.rs1)) {
      if (imm == 0)
        mov(dst, *h); // a register move: no latency on the address's dependency chain
      else
        lea(dst, ptr[*h + imm]);
    } else {
      load_into(dst, op.rs1);
      if (imm != 0) add(dst, static_cast<uint32_t>(imm));
    }
  }
  // Returns the register holding the addend (rcx, or rdi for an addend hint).
  Xbyak::Reg64 tlb_lookup(const BlockOp& op, Access access, unsigned size, Xbyak::Label& miss, Lookup how) {
    const bool use_hint = how == Lookup::index_hint;
    address_into_rsi(op);
    static_assert(3 * SoftTlb::kEntries * sizeof(TlbEntry) * SoftTlb::kContexts < (size_t{1} << 31));
    mov(rdx, qword[rbx + l_.data_tables]); // the context's tables (outside the hart: SoftTlb::base_slot)
    if (!use_hint) {
      emit_entry_offset(*this, ecx);
    } else {
    // The entry is indexed by the site's hint (the entry's byte offset it used last): its tag
    // compared with the first byte's page says the entry maps that page (an entry only ever
    // sits in its own page's slot), and an aligned access stays inside it; the entry's loads
    // then wait for the hint and the context, not for the address (a table lookup keeps the
    // index arithmetic and the addend load off its dependency chain; the address only feeds
    // compares). Otherwise (a wrong hint, a misaligned access that may cross into the next
    // page) the address's own index is taken, and becomes the hint. Only loads whose address
    // the block computed (not loaded: a pointer chase rarely stays in one page, and not an
    // induction variable) use one, where the chain is the address.
    // A site whose hint keeps naming another page's entry (an index into an array of many
    // pages: bzip2's block sort, a matrix's rows) pays a branch miss at each: after kHintMisses
    // of those the hint's load is rewritten in place into the direct index (11 bytes for the
    // load and a 5-byte nop), after which the first byte's tag and the alignment test still
    // guard the access. A wrong hint that was the address's own index (a soft-TLB miss, a
    // misaligned access) does not count.
    Xbyak::Label& rehint = labels_.emplace_back();
    Xbyak::Label& compare = labels_.emplace_back();
    Xbyak::Label& hit = labels_.emplace_back();
    const unsigned k = next_hint_++ % l_.hint_slots;
    hint_budgets_[k] = kHintMisses;
    const auto hint = dword[rbx + l_.hints + static_cast<int32_t>(4 * k)];
    const auto budget = word[rbx + l_.hint_budgets + static_cast<int32_t>(2 * k)];
    const auto table = table_offset(access);
    uint8_t* const site = const_cast<uint8_t*>(getCurr()); // the writable view
    mov(ecx, hint);
    nop(kDirectIndexBytes - (getCurr() - site));
    if (getCurr() - site != kDirectIndexBytes) throw Xbyak::Error(Xbyak::ERR_INTERNAL);
    mov(rax, rsi);
    or_(rax, 0xfff);
    cmp(rax, qword[rdx + rcx + table]);
    jne(rehint, T_NEAR);
    if (size > 1) {
      test(esi, size - 1);
      jnz(rehint, T_NEAR);
    }
    L(hit);
    mov(rcx, qword[rdx + rcx + (table + 8)]); // addend
    later([this, hint, budget, site, size, table, &rehint, &compare, &hit, &miss]() {
      L(rehint);
      emit_entry_offset(*this, ecx);
      cmp(ecx, hint);
      je(compare);
      mov(hint, ecx);
      sub(budget, 1);
      jnz(compare);
      mov(rax, reinterpret_cast<uint64_t>(site));
      call_thunk(thunks_.rewrite_hint); // keeps every register but rax
      L(compare);
      emit_tag_compare(*this, rax, size, qword[rdx + rcx + table]);
      jne(miss, T_NEAR);
      jmp(hit, T_NEAR);
    });
    return rcx;
    }
    const auto table = table_offset(access);
    emit_tag_compare(*this, rax, size, qword[rdx + rcx + table]);
    jne(miss, T_NEAR);
    if (how != Lookup::addend_hint) {
      mov(rcx, qword[rdx + rcx + (table + 8)]); // addend
      return rcx;
    }
    // The site's last addend, checked against the entry's before the access: the access then
    // depends on the address and that prediction only (loaded off the address's chain), not on
    // the index arithmetic and the entry's addend behind the address, which the host runs ahead
    // of the check it predicts. Pages mapped alike (RAM under a bare or linear mapping: a
    // kernel's direct map) share one addend. A wrong one is replaced out of line.
    // A site whose prediction keeps failing (a chase over pages placed one by one, as a
    // process's are) pays a branch miss at each of them: after kAddendMisses wrong ones the
    // prediction's load is rewritten in place into the entry's addend load, 8 bytes for 8, and
    // the compare after it always holds.
    Xbyak::Label& wrong = labels_.emplace_back();
    Xbyak::Label& right = labels_.emplace_back();
    const unsigned k = next_addend_++ % l_.addend_slots;
    addend_budgets_[k] = kAddendMisses;
    const auto slot = qword[rbx + l_.addends + static_cast<int32_t>(8 * k)];
    const auto budget = word[rbx + l_.addend_budgets + static_cast<int32_t>(2 * k)];
    if (access != Access::Load) throw Xbyak::Error(Xbyak::ERR_INTERNAL); // the thunk's bytes
    uint8_t* const site = const_cast<uint8_t*>(getCurr()); // the writable view
    mov(rdi, slot);
    nop(kDirectAddendBytes - (getCurr() - site));
    if (getCurr() - site != kDirectAddendBytes) throw Xbyak::Error(Xbyak::ERR_INTERNAL);
    cmp(rdi, qword[rdx + rcx + (table + 8)]);
    jne(wrong, T_NEAR);
    L(right);
    later([this, slot, budget, site, table, &wrong, &right]() {
      L(wrong);
      mov(rdi, qword[rdx + rcx + (table + 8)]);
      mov(slot, rdi);
      sub(budget, 1);
      jnz(right, T_NEAR);
      mov(rax, reinterpret_cast<uint64_t>(site));
      call_thunk(thunks_.rewrite_addend); // keeps every register but rax
      jmp(right, T_NEAR);
    });
    return rdi;
  }

  // FLW/FLD/FSW/FSD: inline while mstatus.FS is Dirty and, with V=1 (a guest under hw mode),
  // vsstatus.FS too (then the handler's FS checks pass and its marking changes nothing);
  // otherwise the handler runs. The access itself is the integer one's: inline soft-TLB hit in
  // the data context (VS/VU ones with V=1), load_slow/store_slow on a miss.
  void fp_memory_access(const BlockOp& op, bool last) {
    Xbyak::Label handler, done;
    fs_dirty_check(handler);
    const bool single = op.op == Op::Flw || op.op == Op::Fsw;
    const auto f = qword[rbx + l_.f + static_cast<int32_t>(8 * (op.op == Op::Flw || op.op == Op::Fld ? op.rd : op.rs2))];
    if (op.op == Op::Flw || op.op == Op::Fld) {
      load(op, single ? 4 : 8, false, true);
      if (single) { // NaN-boxed
        mov(rdx, 0xffffffff00000000ull);
        or_(rax, rdx);
      }
      mov(f, rax);
    } else {
      mov(rdi, f);
      store(op, single ? 4 : 8, true);
    }
    jmp(done, T_NEAR);
    L(handler);
    emit_fallback(op, last);
    L(done);
  }

  // Jumps to `off` unless mstatus.FS and, with V=1, vsstatus.FS are Dirty (then the handlers'
  // FS checks pass and their marking changes nothing). Nothing to check once an earlier op of
  // the block made sure of it (fs_known_dirty_).
  void fs_dirty_check(Xbyak::Label& off) {
    if (fs_known_dirty_) return;
    Xbyak::Label fs_on;
    mov(eax, dword[rbx + l_.mstatus]);
    and_(eax, static_cast<uint32_t>(riscv::csr::mstatus::kFs));
    cmp(eax, static_cast<uint32_t>(riscv::csr::mstatus::kFs));
    jne(off, T_NEAR);
    cmp(byte[rbx + l_.virt], 0);
    je(fs_on, T_NEAR);
    mov(eax, dword[rbx + l_.vsstatus]);
    and_(eax, static_cast<uint32_t>(riscv::csr::mstatus::kFs));
    cmp(eax, static_cast<uint32_t>(riscv::csr::mstatus::kFs));
    jne(off, T_NEAR);
    L(fs_on);
  }

  // Whether fp_inline_op may emit a fast path: never for the block's last op (it has no
  // successor op to continue at), and only for rounding modes the host can match: RNE (static or
  // dynamic, checked at run time) for ops that round, any valid mode for exact conversions.
  static bool fp_inline_applies(const BlockOp& op, bool last) {
    if (last) return false;
    if (fp_to_int(op.op)) return op.rm() <= 1 || op.rm() == 7; // RNE, RTZ; dynamic: RNE
    if (fp_rounds_inexact(op.op)) return op.rm() == 0 || op.rm() == 7;
    if (op.op == Op::FcvtDW || op.op == Op::FcvtDWu || op.op == Op::FcvtDS) return op.rm() <= 4 || op.rm() == 7;
    return true;
  }

  // The inline SSE path of an FP op, with the interpreter's handler out of line for
  // every case it does not cover. The host (MXCSR set by the enter stub: round to nearest even,
  // no FTZ/DAZ, exceptions masked) computes the IEEE result; it is also the RISC-V result, with no
  // flag owed, when:
  //  - add/sub/mul/div/sqrt: fflags.NX is already set, the rounding mode is RNE and the result is
  //    finite with a magnitude above the smallest normal. A NaN operand or an invalid operation
  //    gives a NaN, division by zero and overflow an infinity, so none of them gets here: the
  //    only flags left are Inexact (already set) and Underflow, which needs a result at or below
  //    the smallest normal. Zero results (whose sign depends on the mode) go to the handler too.
  //  - the fused multiply-adds (FMA3, on a host that has it): the same conditions. The host
  //    rounds once, as RISC-V does; every invalid case (inf * 0, inf - inf, and RISC-V's
  //    inf * 0 + qNaN) gives a NaN, and a result above the smallest normal after rounding is not
  //    tiny before it either (RISC-V detects tininess after rounding), so no Underflow is owed;
  //  - compares: the operands are ordered (a NaN may owe Invalid: handler);
  //  - FCVT.D.W/WU: always exact; FCVT.D.L/LU: NX set and RNE (the only flag is Inexact);
  //  - sign injection and moves: bit operations, no flags.
  // Single precision (add/sub/mul/div/sqrt, the fused ops, sign injection) is the same with the single's
  // bounds, and only when every operand is NaN-boxed (otherwise it reads as the canonical NaN:
  // the handler); the SSE single op rounds once, to single, as RISC-V does, and the result is
  // NaN-boxed.
  void fp_inline_op(const BlockOp& op) {
    Xbyak::Label& slow = labels_.emplace_back();
    Xbyak::Label& done = labels_.emplace_back();
    const auto f = [&](unsigned r) { return qword[rbx + l_.f + static_cast<int32_t>(8 * r)]; };
    fs_dirty_check(slow);
    if (fp_rounds_inexact(op.op)) {
      test(byte[rbx + l_.fflags], riscv::fp::Inexact);
      jz(slow, T_NEAR);
    }
    if (op.rm() == 7 && (fp_rounds_inexact(op.op) || op.op == Op::FcvtDW || op.op == Op::FcvtDWu || op.op == Op::FcvtDS)) {
      cmp(byte[rbx + l_.frm], fp_rounds_inexact(op.op) ? 0 : 4); // RNE; any valid mode
      if (fp_rounds_inexact(op.op))
        jne(slow, T_NEAR);
      else
        ja(slow, T_NEAR);
    }
    if (single_precision(op.op)) { // an operand not NaN-boxed reads as the canonical NaN: handler
      cmp(dword[rbx + l_.f + static_cast<int32_t>(8 * op.rs1 + 4)], -1);
      jne(slow, T_NEAR);
      if (op.op != Op::FsqrtS && op.rs2 != op.rs1) {
        cmp(dword[rbx + l_.f + static_cast<int32_t>(8 * op.rs2 + 4)], -1);
        jne(slow, T_NEAR);
      }
      if (fused(op.op) && op.rs3() != op.rs1 && op.rs3() != op.rs2) {
        cmp(dword[rbx + l_.f + static_cast<int32_t>(8 * op.rs3() + 4)], -1);
        jne(slow, T_NEAR);
      }
    }
    const auto f32 = [&](unsigned r) { return dword[rbx + l_.f + static_cast<int32_t>(8 * r)]; };
    const auto store_boxed = [&]() { // eax: the single-precision result
      mov(rdx, 0xffffffff00000000ull);
      or_(rax, rdx);
      mov(f(op.rd), rax); // one 8-byte store: an FSW or FLD of it reads it forwarded
    };
    // ucomiss/ucomisd of rs1 with rs2 in the op's precision (xmm0 = rs1): the flags of an
    // ordered compare, PF for unordered.
    const auto compare_operands = [&]() {
      if (single_precision(op.op)) {
        movss(xmm0, f32(op.rs1));
        ucomiss(xmm0, f32(op.rs2));
      } else {
        movsd(xmm0, f(op.rs1));
        ucomisd(xmm0, f(op.rs2));
      }
    };
    // The single in xmm0, NaN-boxed, if it is finite and above the smallest normal (as for
    // doubles, in 32 bits: the lea drops the sign); else the handler.
    const auto store_normal_single = [&]() {
      movd(eax, xmm0);
      lea(ecx, ptr[rax + rax]);
      sub(ecx, (kMinNormal32 + 1) << 1);
      cmp(ecx, (kInfinity32 << 1) - ((kMinNormal32 + 1) << 1));
      jae(slow, T_NEAR);
      store_boxed();
    };
    switch (op.op) {
    case Op::FaddS: case Op::FsubS: case Op::FmulS: case Op::FdivS: case Op::FsqrtS:
    case Op::FmaddS: case Op::FmsubS: case Op::FnmsubS: case Op::FnmaddS:
      movss(xmm0, f32(op.rs1));
      if (op.op == Op::FaddS) addss(xmm0, f32(op.rs2));
      if (op.op == Op::FsubS) subss(xmm0, f32(op.rs2));
      if (op.op == Op::FmulS) mulss(xmm0, f32(op.rs2));
      if (op.op == Op::FdivS) divss(xmm0, f32(op.rs2));
      if (op.op == Op::FsqrtS) sqrtss(xmm0, xmm0);
      if (fused(op.op)) { // xmm0 = rs2 * rs1 +- rs3, rounded once (the product is exact: any order)
        movss(xmm1, f32(op.rs2));
        if (op.op == Op::FmaddS) vfmadd213ss(xmm0, xmm1, f32(op.rs3()));
        if (op.op == Op::FmsubS) vfmsub213ss(xmm0, xmm1, f32(op.rs3()));
        if (op.op == Op::FnmsubS) vfnmadd213ss(xmm0, xmm1, f32(op.rs3())); // -(rs1 * rs2) + rs3
        if (op.op == Op::FnmaddS) vfnmsub213ss(xmm0, xmm1, f32(op.rs3())); // -(rs1 * rs2) - rs3
      }
      store_normal_single();
      break;
    case Op::FsgnjS: case Op::FsgnjnS: case Op::FsgnjxS:
      mov(eax, f32(op.rs1));
      mov(ecx, f32(op.rs2));
      if (op.op == Op::FsgnjnS) not_(ecx);
      if (op.op == Op::FsgnjxS) xor_(ecx, eax);
      and_(ecx, 0x80000000u); // the sign to inject
      and_(eax, 0x7fffffffu); // rs1 without its sign (a 32-bit op: the upper half cleared)
      or_(eax, ecx);
      store_boxed();
      break;
    case Op::FaddD: case Op::FsubD: case Op::FmulD: case Op::FdivD: case Op::FsqrtD:
    case Op::FmaddD: case Op::FmsubD: case Op::FnmsubD: case Op::FnmaddD:
      movsd(xmm0, f(op.rs1));
      if (op.op == Op::FaddD) addsd(xmm0, f(op.rs2));
      if (op.op == Op::FsubD) subsd(xmm0, f(op.rs2));
      if (op.op == Op::FmulD) mulsd(xmm0, f(op.rs2));
      if (op.op == Op::FdivD) divsd(xmm0, f(op.rs2));
      if (op.op == Op::FsqrtD) sqrtsd(xmm0, xmm0);
      if (fused(op.op)) { // as for singles
        movsd(xmm1, f(op.rs2));
        if (op.op == Op::FmaddD) vfmadd213sd(xmm0, xmm1, f(op.rs3()));
        if (op.op == Op::FmsubD) vfmsub213sd(xmm0, xmm1, f(op.rs3()));
        if (op.op == Op::FnmsubD) vfnmadd213sd(xmm0, xmm1, f(op.rs3()));
        if (op.op == Op::FnmaddD) vfnmsub213sd(xmm0, xmm1, f(op.rs3()));
      }
      // Finite and above the smallest normal: 2|r| - 2(min normal + 1) < 2 inf - 2(min normal + 1).
      movq(rax, xmm0);
      lea(rcx, ptr[rax + rax]);
      mov(rdx, (kMinNormal64 + 1) << 1);
      sub(rcx, rdx);
      mov(rdx, (kInfinity64 << 1) - ((kMinNormal64 + 1) << 1));
      cmp(rcx, rdx);
      jae(slow, T_NEAR);
      mov(f(op.rd), rax);
      break;
    case Op::FsgnjD: case Op::FsgnjnD: case Op::FsgnjxD:
      mov(rax, f(op.rs1));
      mov(rcx, f(op.rs2));
      if (op.op == Op::FsgnjnD) not_(rcx);
      if (op.op == Op::FsgnjxD) xor_(rcx, rax);
      shr(rcx, 63);
      shl(rcx, 63); // the sign to inject
      shl(rax, 1);
      shr(rax, 1); // rs1 without its sign
      or_(rax, rcx);
      mov(f(op.rd), rax);
      break;
    case Op::FmvXD:
      mov(rax, f(op.rs1));
      put(op.rd, rax);
      break;
    case Op::FmvDX:
      get(rax, op.rs1);
      mov(f(op.rd), rax);
      break;
    case Op::FeqD: case Op::FltD: case Op::FleD:
    case Op::FeqS: case Op::FltS: case Op::FleS: // singles: both operands NaN-boxed (checked above)
      compare_operands();
      jp(slow, T_NEAR); // unordered
      if (op.op == Op::FeqD || op.op == Op::FeqS) sete(al);
      if (op.op == Op::FltD || op.op == Op::FltS) setb(al);
      if (op.op == Op::FleD || op.op == Op::FleS) setbe(al);
      movzx(eax, al);
      put(op.rd, rax);
      break;
    case Op::FminD: case Op::FmaxD: case Op::FminS: case Op::FmaxS: // no flags for ordered operands
      compare_operands();
      // A NaN (a quiet one loses to a number, a signaling one owes Invalid) and equal operands
      // (-0 is below +0 for RISC-V, not for minsd): the handler.
      jp(slow, T_NEAR);
      je(slow, T_NEAR);
      if (op.op == Op::FminS) minss(xmm0, f32(op.rs2));
      if (op.op == Op::FmaxS) maxss(xmm0, f32(op.rs2));
      if (op.op == Op::FminD) minsd(xmm0, f(op.rs2));
      if (op.op == Op::FmaxD) maxsd(xmm0, f(op.rs2));
      if (single_precision(op.op)) {
        movd(eax, xmm0);
        store_boxed();
      } else {
        movsd(f(op.rd), xmm0);
      }
      break;
    case Op::FcvtWD: case Op::FcvtLD: case Op::FcvtWS: case Op::FcvtLS:
    case Op::FcvtWuD: case Op::FcvtLuD: case Op::FcvtWuS: case Op::FcvtLuS: {
      // cvt(t)sd2si gives the "integer indefinite" (the sign bit alone) for a NaN or an operand
      // out of range, which owe Invalid: the handler (with an operand that converts to exactly
      // that value, which it gets right too). In range, the result is RISC-V's, and Inexact, the
      // only flag it can owe, is set already. A single operand not NaN-boxed: the handler.
      // Unsigned: a 64-bit conversion whose result is in [0, 2^32) (WU, sign-extended as RISC-V
      // writes it) or [0, 2^63) (LU) is RISC-V's, a negative operand that rounds to 0 included
      // (RISC-V owes only Inexact for it); a negative result, the indefinite and LU's operands
      // at or above 2^63 go to the handler.
      const bool is_unsigned = op.op == Op::FcvtWuD || op.op == Op::FcvtLuD || op.op == Op::FcvtWuS || op.op == Op::FcvtLuS;
      const bool word = op.op == Op::FcvtWD || op.op == Op::FcvtWS; // signed words
      const bool single = op.op == Op::FcvtWS || op.op == Op::FcvtLS || op.op == Op::FcvtWuS || op.op == Op::FcvtLuS;
      const Xbyak::Reg64 r = rax;
      if (single) {
        cmp(dword[rbx + l_.f + static_cast<int32_t>(8 * op.rs1 + 4)], -1);
        jne(slow, T_NEAR);
        if (op.rm() == 1) {
          if (word) cvttss2si(r.cvt32(), f32(op.rs1)); else cvttss2si(r, f32(op.rs1));
        } else {
          if (word) cvtss2si(r.cvt32(), f32(op.rs1)); else cvtss2si(r, f32(op.rs1));
        }
      } else if (op.rm() == 1) {
        if (word) cvttsd2si(r.cvt32(), f(op.rs1)); else cvttsd2si(r, f(op.rs1));
      } else { // RNE (static, or dynamic with frm checked above): MXCSR's mode
        if (word) cvtsd2si(r.cvt32(), f(op.rs1)); else cvtsd2si(r, f(op.rs1));
      }
      if (op.op == Op::FcvtWuD || op.op == Op::FcvtWuS) {
        mov(ecx, 0xffffffffu);
        cmp(rax, rcx);
        ja(slow, T_NEAR); // negative (the indefinite among them) or above 2^32 - 1
        movsxd(rax, eax);
      } else if (is_unsigned) {
        test(rax, rax);
        js(slow, T_NEAR);
      } else if (word) {
        cmp(eax, 0x80000000u);
        je(slow, T_NEAR);
        movsxd(rax, eax);
      } else {
        mov(rcx, 0x8000000000000000ull);
        cmp(rax, rcx);
        je(slow, T_NEAR);
      }
      put(op.rd, rax);
      break;
    }
    case Op::FcvtSW: case Op::FcvtSL: case Op::FcvtSWu: case Op::FcvtSLu:
      // rounds above 2^24 (NX set, RNE); never overflows or underflows. Unsigned: the 32-bit
      // operand zero-extended (a signed 64-bit conversion of it is exact), a 64-bit one at or
      // above 2^63 (which cvtsi2ss reads as negative) to the handler.
      get(rax, op.rs1);
      if (op.op == Op::FcvtSWu) mov(eax, eax);
      if (op.op == Op::FcvtSLu) {
        test(rax, rax);
        js(slow, T_NEAR);
      }
      pxor(xmm0, xmm0);
      if (op.op == Op::FcvtSW) cvtsi2ss(xmm0, eax); else cvtsi2ss(xmm0, rax);
      movd(eax, xmm0); // a 32-bit write: the upper half cleared for the box
      store_boxed();
      break;
    case Op::FclassD: case Op::FclassS: {
      // One bit set, by class: negative inf, normal, subnormal, zero (bits 0-3), positive zero,
      // subnormal, normal, inf (4-7), signaling NaN (8), quiet NaN (9). No flags. The magnitude is
      // compared doubled (the sign shifted out). A single not NaN-boxed (the canonical NaN to
      // RISC-V): the handler.
      const bool single = op.op == Op::FclassS;
      Xbyak::Label with_sign, to_bit;
      if (single) {
        cmp(dword[rbx + l_.f + static_cast<int32_t>(8 * op.rs1 + 4)], -1);
        jne(slow, T_NEAR);
        mov(eax, f32(op.rs1));
        lea(ecx, ptr[rax + rax]);
      } else {
        mov(rax, f(op.rs1));
        lea(rcx, ptr[rax + rax]);
      }
      const auto below = [&](uint64_t doubled_bound, uint32_t cls) { // edx = cls if magnitude * 2 < bound
        if (single) {
          cmp(ecx, static_cast<uint32_t>(doubled_bound));
        } else {
          mov(rdx, doubled_bound);
          cmp(rcx, rdx);
        }
        mov(edx, cls); // flags kept
      };
      mov(edx, 4);
      if (single) test(ecx, ecx); else test(rcx, rcx);
      jz(with_sign);
      below(single ? uint64_t{kMinNormal32} << 1 : kMinNormal64 << 1, 5);
      jb(with_sign);
      below(single ? uint64_t{kInfinity32} << 1 : kInfinity64 << 1, 6);
      jb(with_sign);
      mov(edx, 7);
      je(with_sign);
      mov(edx, 8); // a NaN: quiet when the fraction's top bit (one place up, doubled) is set
      bt(rcx, single ? 23 : 52);
      adc(edx, 0);
      jmp(to_bit);
      L(with_sign); // a negative number's class mirrors its magnitude's: 7 - class
      if (single) test(eax, eax); else test(rax, rax);
      jns(to_bit);
      neg(edx);
      add(edx, 7);
      L(to_bit);
      mov(ecx, edx);
      mov(eax, 1);
      shl(eax, cl);
      put(op.rd, rax);
      break;
    }
    case Op::FmvXW: // the low 32 bits, sign-extended; no flags, FS untouched
      movsxd(rax, f32(op.rs1));
      put(op.rd, rax);
      break;
    case Op::FmvWX: // NaN-boxed
      get(rax, op.rs1);
      mov(eax, eax);
      store_boxed();
      break;
    case Op::FcvtSD: // rounds: as FADD.S (NX set, RNE, a finite single above the smallest normal)
      cvtsd2ss(xmm0, f(op.rs1));
      store_normal_single();
      break;
    case Op::FcvtDS: // exact, no flag, unless a NaN (canonical result, Invalid if signaling) or
                     // an operand not NaN-boxed (the canonical NaN): the handler
      cmp(dword[rbx + l_.f + static_cast<int32_t>(8 * op.rs1 + 4)], -1);
      jne(slow, T_NEAR);
      mov(eax, f32(op.rs1));
      and_(eax, 0x7fffffffu);
      cmp(eax, kInfinity32);
      ja(slow, T_NEAR);
      cvtss2sd(xmm0, f32(op.rs1));
      movsd(f(op.rd), xmm0);
      break;
    default: // FCVT.D.W, .WU, .L, .LU
      get(rax, op.rs1);
      if (op.op == Op::FcvtDW) movsxd(rax, eax);
      if (op.op == Op::FcvtDWu) mov(eax, eax);
      if (op.op == Op::FcvtDLu) {
        test(rax, rax);
        js(slow, T_NEAR); // above INT64_MAX: cvtsi2sd would read it as negative
      }
      pxor(xmm0, xmm0);
      cvtsi2sd(xmm0, rax);
      movsd(f(op.rd), xmm0);
      break;
    }
    L(done);
    const BlockOp* p = &op;
    later([this, p, &slow, &done]() {
      L(slow);
      emit_fallback(*p, false);
      jmp(done, T_NEAR);
    });
  }

  // An AMO inline (never a block's last op: its slow path continues at the next op). The store
  // entry of the soft TLB gives the host address of a naturally aligned address: an AMO needs
  // write permission, and a store entry is only ever filled for a RAM page that holds no decoded
  // code and is not under a dirty log (as the handler's own fast path). The read-modify-write is
  // one locked host instruction (xchg, lock xadd) or a lock cmpxchg loop: sequentially
  // consistent for harts on other host threads, as the handler's compare-exchange (covering .aq
  // and .rl). rd gets the old value, a word's sign-extended. A miss or a misaligned address
  // (which owes its fault) calls the handler, which also covers MMIO.
  void amo_op(const BlockOp& op) {
    Xbyak::Label& slow = labels_.emplace_back();
    Xbyak::Label& done = labels_.emplace_back();
    const bool word = amo_word(op.op);
    const unsigned size = word ? 4 : 8;
    if (op.imm != 0) throw Xbyak::Error(Xbyak::ERR_INTERNAL); // AMOs address x[rs1] alone
    tlb_lookup(op, Access::Store, size, slow, Lookup::direct); // rsi: the address
    test(esi, size - 1);
    jnz(slow, T_NEAR);
    lea(rsi, ptr[rcx + rsi]); // the host address
    get(rax, op.rs2);
    const Xbyak::Address cell = word ? dword[rsi] : qword[rsi];
    switch (op.op) {
    case Op::AmoswapW: case Op::AmoswapD:
      if (word) xchg(cell, eax); else xchg(cell, rax);
      break;
    case Op::AmoaddW: case Op::AmoaddD:
      lock();
      if (word) xadd(cell, eax); else xadd(cell, rax);
      break;
    default: { // rcx: the operand; rax: the value seen; rdx: the value to store
      Xbyak::Label retry;
      mov(rcx, rax);
      if (word) mov(eax, cell); else mov(rax, cell);
      L(retry);
      mov(rdx, rcx);
      switch (op.op) {
      case Op::AmoxorW: case Op::AmoxorD: xor_(rdx, rax); break;
      case Op::AmoandW: case Op::AmoandD: and_(rdx, rax); break;
      case Op::AmoorW: case Op::AmoorD: or_(rdx, rax); break;
      default: // min/max: keep the seen value where it wins
        if (word) cmp(eax, ecx); else cmp(rax, rcx);
        if (op.op == Op::AmominW || op.op == Op::AmominD) cmovl(rdx, rax);
        if (op.op == Op::AmomaxW || op.op == Op::AmomaxD) cmovg(rdx, rax);
        if (op.op == Op::AmominuW || op.op == Op::AmominuD) cmovb(rdx, rax);
        if (op.op == Op::AmomaxuW || op.op == Op::AmomaxuD) cmova(rdx, rax);
        break;
      }
      lock();
      if (word) cmpxchg(cell, edx); else cmpxchg(cell, rdx); // rax: what the cell held when it failed
      jne(retry);
      break;
    }
    }
    if (word) movsxd(rax, eax);
    put(op.rd, rax);
    L(done);
    const BlockOp* p = &op;
    later([this, p, &slow, &done]() {
      L(slow);
      emit_fallback(*p, false);
      jmp(done, T_NEAR);
    });
  }

  // Access groups (docs/jit.md, "Access groups"): consecutive integer loads (or stores) through
  // one base register (a node's fields, a frame's saved registers, an unrolled copy) share one
  // soft-TLB lookup of the span they cover. A group: how many ops from its first form it (1:
  // none) and the span of offsets from the base they touch, [lo, hi).
  // A load that writes the base ends its group: the ones after it address from the new value.
  struct Group {
    size_t n = 1;
    int64_t lo = 0, hi = 0;
  };
  static Group group_at(const BlockOps& ops, size_t i) {
    const BlockOp& first = ops[i];
    const bool loads = is_load(first.op);
    Group g{1, first.imm, first.imm + access_size(first.op)};
    if ((!loads && !is_store(first.op)) || first.rs1 == 0 || (loads && first.rd == first.rs1)) return g;
    while (i + g.n < ops.size()) {
      const BlockOp& op = ops[i + g.n];
      if ((loads ? !is_load(op.op) : !is_store(op.op)) || op.rs1 != first.rs1) break;
      const int64_t l = std::min<int64_t>(g.lo, op.imm), h = std::max<int64_t>(g.hi, op.imm + access_size(op.op));
      if (h - l > kMaxGroupSpan) break;
      g.lo = l;
      g.hi = h;
      ++g.n;
      if (loads && op.rd == first.rs1) break;
    }
    return g;
  }
  // One lookup checks that the group's whole span lies in one page mapped for the access: then
  // no member can fault or reach MMIO or a watched code page, and each is one host access at its
  // offset from the span's start. Otherwise each member runs as alone, out of line (its own
  // lookup, slow path and exit), in order.
  void access_group(const BlockOps& ops, size_t i, const Group& g) {
    const BlockOp& first = ops[i];
    const bool loads = is_load(first.op);
    Xbyak::Label& apart = labels_.emplace_back();
    Xbyak::Label& done = labels_.emplace_back();
    BlockOp span = first;
    span.imm = static_cast<int32_t>(g.lo); // a member's immediate: a 32-bit value
    const Lookup how = loads && chased(first.rs1) ? Lookup::addend_hint : Lookup::direct;
    const Access access = loads ? Access::Load : Access::Store;
    const auto span_bytes = static_cast<unsigned>(g.hi - g.lo);
    const auto [a, index] = host_lookup(span, access, span_bytes, apart, how); // rsi: the span's first byte
    for (size_t m = i; m < i + g.n; ++m) {
      const BlockOp& op = ops[m];
      const auto disp = static_cast<int32_t>(op.imm - g.lo);
      if (loads) {
        const std::optional<Xbyak::Reg64> hd = host(op.rd);
        host_load(hd ? *hd : rax, access_size(op.op), sign_extends(op.op), a, disp, index);
        if (!hd) put(op.rd, rax);
      } else {
        host_store(access_size(op.op), a, disp, store_value(op), index); // a is rcx or rdx for stores
      }
    }
    L(done);
    later([this, &ops, i, n = g.n, &apart, &done]() {
      L(apart);
      for (size_t m = i; m < i + n; ++m) runtime_access(ops[m]);
      jmp(done, T_NEAR);
    });
  }

  // An integer load or store on its own, in order, as an access group's members are when the
  // group's span is not one mapped page (it crosses into the next page, or the soft TLB missed):
  // a call to a shared thunk that looks the soft TLB up as the inline path does and calls the
  // runtime on a miss. Out of line and not rare (a copy at a random alignment crosses pages
  // often: memcpy in the suite), so short but without the runtime's cost on a hit.
  void runtime_access(const BlockOp& op) {
    address_into_rsi(op);
    sync_block_pc(); // rax only
    const unsigned size = access_size(op.op);
    if (is_load(op.op)) {
      mov(rdx, reinterpret_cast<uint64_t>(&op)); // rsi: the address
      call_thunk(thunks_.probe_load[log2_of(size)][sign_extends(op.op) ? 1 : 0]);
      test(rdx, rdx);
      jz(sync_exit_label(), T_NEAR);
      if (const auto hd = host(op.rd))
        mov(*hd, rax);
      else
        put(op.rd, rax);
    } else {
      get(rdx, op.rs2);
      mov(rcx, reinterpret_cast<uint64_t>(&op)); // rsi: the address, rdx: the value
      call_thunk(thunks_.probe_store[log2_of(size)]);
      test(rax, rax);
      jnz(sync_exit_label(), T_NEAR);
    }
  }

  // The host access of a load or store that hit: [a + rsi + disp], `size` bytes. A load lands in
  // d, zero- or sign-extended; a store writes `value`, or zero when there is none (x0).
  void host_load(const Xbyak::Reg64& d, unsigned size, bool sign, const Xbyak::Reg64& a, int32_t disp) {
    host_load(d, size, sign, a, disp, rsi);
  }
  void host_load(const Xbyak::Reg64& d, unsigned size, bool sign, const Xbyak::Reg64& a, int32_t disp,
                 const Xbyak::Reg64& index, int scale = 1) {
    const Xbyak::RegExp at = a + index * scale + disp;
    switch (size) {
    case 1: if (sign) movsx(d, byte[at]); else movzx(d.cvt32(), byte[at]); break;
    case 2: if (sign) movsx(d, word[at]); else movzx(d.cvt32(), word[at]); break;
    case 4: if (sign) movsxd(d, dword[at]); else mov(d.cvt32(), dword[at]); break;
    default: mov(d, qword[at]); break;
    }
  }
  // A load through the flat-RAM slot's load range (TlbFlatRam): when the address's offset from
  // the range's base is below its limit (0 when empty), the host address is the slot's bias plus
  // the address; the check runs beside the access, which waits for the address only (a table
  // element's address straight from its index, as plan_scaled_load has it). Otherwise, out of
  // line: an empty range nobody asked for since the last flush is filled around the address (or
  // refused) and the load starts over; else (also an address outside RAM, which fills nothing)
  // the direct lookup, whose miss goes to `miss` (rsi the address) as the others do.
  void flat_load(const BlockOp& op, unsigned size, bool sign, const Xbyak::Reg64& d, Xbyak::Label& miss,
                 Xbyak::Label& done) {
    ++flat_load_sites;
    Xbyak::Label& again = labels_.emplace_back();
    Xbyak::Label& outside = labels_.emplace_back();
    L(again);
    if (&op == scaled_.load) { // x is in rdi: the address is b + x << k + imm
      const auto imm = static_cast<int32_t>(op.imm);
      if (const auto h = host(scaled_.base)) {
        lea(rax, ptr[*h + rdi * scaled_.scale + imm]);
      } else {
        load_into(rax, scaled_.base);
        lea(rax, ptr[rax + rdi * scaled_.scale + imm]);
      }
    } else {
      address_into(rax, op);
    }
    const int32_t range = l_.flat + static_cast<int32_t>(offsetof(TlbFlatRam, load));
    flat_check(range, outside); // host address: rcx + rax
    host_load(d, size, sign, rcx, 0, rax);
    const BlockOp* p = &op;
    later([this, p, size, sign, d, range, &again, &outside, &miss, &done]() {
      L(outside);
      flat_fill(range, thunks_.fill_flat, again);
      const auto [a, index] = host_lookup(*p, Access::Load, size, miss, Lookup::direct);
      host_load(d, size, sign, a, 0, index);
      jmp(done, T_NEAR);
    });
  }
  // A store through the flat-RAM slot's store range (pages without decoded code): as flat_load.
  void flat_store(const BlockOp& op, unsigned size, bool fp, Xbyak::Label& miss, Xbyak::Label& done) {
    ++flat_store_sites;
    Xbyak::Label& again = labels_.emplace_back();
    Xbyak::Label& outside = labels_.emplace_back();
    const std::optional<Xbyak::Reg64> value = fp ? std::optional<Xbyak::Reg64>(rdi) : store_value(op);
    L(again);
    address_into(rax, op);
    const int32_t range = l_.flat + static_cast<int32_t>(offsetof(TlbFlatRam, store));
    flat_check(range, outside); // host address: rcx + rax
    host_store(size, rcx, 0, value, rax);
    const BlockOp* p = &op;
    later([this, p, size, value, range, &again, &outside, &miss, &done]() {
      L(outside);
      flat_fill(range, thunks_.fill_flat_store, again);
      tlb_lookup(*p, Access::Store, size, miss, Lookup::direct);
      host_store(size, rcx, 0, value);
      jmp(done, T_NEAR);
    });
  }
  // A flat access's check of rax, the address, against the range (TlbFlatRange at `range` from
  // rbx): beside the access, rcx = the slot's bias when it holds, else off to `outside`.
  void flat_check(int32_t range, Xbyak::Label& outside) {
    mov(rdx, rax);
    sub(rdx, qword[rbx + range + static_cast<int32_t>(offsetof(TlbFlatRange, base))]);
    cmp(rdx, qword[rbx + range + static_cast<int32_t>(offsetof(TlbFlatRange, limit))]);
    jae(outside, T_NEAR);
    mov(rcx, qword[rbx + l_.flat + static_cast<int32_t>(offsetof(TlbFlatRam, bias))]);
  }
  // Out of line, rax the address outside the range: a range nobody asked for since the last
  // flush is filled around it by `fill` (Hart::fill_flat_ram, fill_flat_store) and the access
  // starts `again`, unless it is still unasked (the address is outside RAM); the code emitted
  // next, the direct lookup, takes every other case.
  void flat_fill(int32_t range, const void* fill, Xbyak::Label& again) {
    const auto state = qword[rbx + range + static_cast<int32_t>(offsetof(TlbFlatRange, state))];
    Xbyak::Label& lookup = labels_.emplace_back();
    cmp(state, static_cast<int32_t>(TlbFlatRange::kUnknown));
    jne(lookup, T_NEAR);
    mov(rsi, rax); // the address
    call_thunk(fill);
    cmp(state, static_cast<int32_t>(TlbFlatRange::kUnknown));
    jne(again, T_NEAR); // filled or refused
    L(lookup);
  }
  // A strided load site (find_strided): the address's offset from the slot's page, below the
  // slot's limit (0 when empty), takes the slot's host page; otherwise, out of line, the direct
  // soft-TLB lookup, which on a hit refills the slot with the access's page (the entry maps the
  // whole page) and on a miss goes to `miss` with rsi the address, as the other lookups do.
  // Five host instructions on the hit path where the direct lookup takes ten.
  void site_page_load(const BlockOp& op, unsigned size, bool sign, const Xbyak::Reg64& d, Xbyak::Label& miss,
                      Xbyak::Label& done) {
    ++site_page_sites;
    const unsigned k = next_site_++ % l_.site_slots;
    const int32_t slot = l_.site_pages + static_cast<int32_t>(sizeof(TlbSitePage) * k);
    Xbyak::Label& lookup = labels_.emplace_back();
    address_into(rax, op);
    sub(rax, qword[rbx + slot + offsetof(TlbSitePage, base)]);
    cmp(rax, qword[rbx + slot + offsetof(TlbSitePage, limit)]);
    jae(lookup, T_NEAR);
    mov(rcx, qword[rbx + slot + offsetof(TlbSitePage, host)]);
    host_load(d, size, sign, rcx, 0, rax);
    const BlockOp* p = &op;
    later([this, p, size, sign, d, k, slot, &lookup, &miss, &done]() {
      L(lookup);
      const auto [a, index] = host_lookup(*p, Access::Load, size, miss, Lookup::direct); // the page: a + (index & -4096)
      mov(rax, rsi);
      and_(rax, -4096);
      mov(qword[rbx + slot + offsetof(TlbSitePage, base)], rax);
      if (index.getIdx() != rsi.getIdx()) {
        mov(rax, index);
        and_(rax, -4096);
      }
      add(rax, a);
      mov(qword[rbx + slot + offsetof(TlbSitePage, host)], rax);
      mov(qword[rbx + slot + offsetof(TlbSitePage, limit)], static_cast<uint32_t>(TlbSitePages::kFilledLimit));
      bts(qword[rbx + l_.site_filled + static_cast<int32_t>(8 * (k / 64))], static_cast<uint8_t>(k % 64));
      host_load(d, size, sign, a, 0, index);
      jmp(done, T_NEAR);
    });
  }
  // A store's value: rs2's host register, else rdi loaded from x_[] (free: a store's addend is
  // in rcx), or none for x0 (an immediate zero).
  std::optional<Xbyak::Reg64> store_value(const BlockOp& op) {
    if (op.rs2 == 0) return std::nullopt;
    if (const auto h = host(op.rs2)) return h;
    load_into(rdi, op.rs2);
    return rdi;
  }
  void host_store(unsigned size, const Xbyak::Reg64& a, int32_t disp, const std::optional<Xbyak::Reg64>& value,
                  const Xbyak::Reg64& index = Xbyak::Reg64(Xbyak::Operand::RSI)) {
    const Xbyak::RegExp at = a + index + disp;
    if (!value) {
      switch (size) {
      case 1: mov(byte[at], 0); break;
      case 2: mov(word[at], 0); break;
      case 4: mov(dword[at], 0); break;
      default: mov(qword[at], 0); break;
      }
      return;
    }
    const Xbyak::Reg64& v = *value;
    switch (size) {
    case 1: mov(byte[at], v.cvt8()); break;
    case 2: mov(word[at], v.cvt16()); break;
    case 4: mov(dword[at], v.cvt32()); break;
    default: mov(qword[at], v); break;
    }
  }

  // Integer loads land in rd's host register when it has one (else rax, then stored); FP loads
  // (`fp`) leave the value in rax for the caller.
  void load(const BlockOp& op, unsigned size, bool sign, bool fp = false) {
    Xbyak::Label& miss = labels_.emplace_back();
    Xbyak::Label& done = labels_.emplace_back();
    const std::optional<Xbyak::Reg64> hd = fp ? std::nullopt : host(op.rd);
    const Xbyak::Reg64 d = hd ? *hd : rax;
    // A table lookup (an address computed by this block) takes the index hint; a load through
    // a pointer that a load of the unit produced (a chase: list->next) the addend hint.
    const Lookup how = computed_[op.rs1]                  ? Lookup::index_hint
                       : chased(op.rs1)                   ? Lookup::addend_hint
                                                          : Lookup::direct;
    if (site_page_applies(op)) { // as short as a flat load, and tested alone
      site_page_load(op, size, sign, d, miss, done);
    } else if (flat_) {
      flat_load(op, size, sign, d, miss, done);
    } else if (window_) {
      window_load(op, size, sign, d, miss);
    } else if (how == Lookup::index_hint && &op == scaled_.load) { // plan_scaled_load: x is in rdi
      const Xbyak::Reg64 a = tlb_lookup(op, Access::Load, size, miss, how);
      with_src(scaled_.base, [&](const auto& s) { add(a, s); });
      host_load(d, size, sign, a, static_cast<int32_t>(op.imm), rdi, scaled_.scale);
    } else {
      host_load(d, size, sign, tlb_lookup(op, Access::Load, size, miss, how), 0);
    }
    if (&op == scaled_.load) scaled_ = {};
    L(done);
    if (!fp && !hd) put(op.rd, rax);
    const BlockOp* p = &op;
    later([this, p, size, sign, d, &miss, &done]() {
      L(miss);
      sync_block_pc();
      mov(rdx, reinterpret_cast<uint64_t>(p)); // rsi: the address
      call_thunk(thunks_.load[log2_of(size)][sign ? 1 : 0]);
      test(rdx, rdx);
      jz(sync_exit_label(), T_NEAR);
      if (d.getIdx() != rax.getIdx()) mov(d, rax);
      jmp(done, T_NEAR);
    });
  }

  // The lookup of an access whose host address is [base + index]: the window's (window_lookup:
  // rdx, rcx) in a U-mode unit with a window, else the entry's addend and rsi (tlb_lookup, `how`).
  struct HostAddress {
    Xbyak::Reg64 base, index;
  };
  HostAddress host_lookup(const BlockOp& op, Access access, unsigned size, Xbyak::Label& miss, Lookup how) {
    if (!window_) return {tlb_lookup(op, access, size, miss, how), rsi};
    window_lookup(op, access, size, miss);
    return {rdx, rcx};
  }
  // The host-mapped window (host_window.hpp), for every load and store of a U-mode unit: one
  // mapping for all of them, since a load through the window of bytes a store wrote through
  // RAM's own mapping (another virtual address of the page) cannot be forwarded from the host's
  // store buffer. rsi = the address. When the entry's window tag for `access` names the page of
  // the access's `size` bytes, rdx = the context's window and rcx = the address's low 32 bits:
  // the access, emitted by the caller right after, is [rdx + rcx] and waits for the address
  // only (the index arithmetic and the tag's load run beside it). Otherwise, out of line, the
  // shared window thunk (StubEmitter::emit_window_miss) looks at the entry itself and comes back
  // with the same registers for the window or rdx = the entry's addend, rcx = rsi; or the access
  // goes to `miss` (a soft-TLB miss, a page crossing), rsi the address.
  // `index`, when given, computes rcx on the window's path instead of the copy of esi (the low
  // 32 bits of the same address, by another route: a table element's).
  void window_lookup(const BlockOp& op, Access access, unsigned size, Xbyak::Label& miss,
                     const std::function<void()>& index = nullptr) {
    Xbyak::Label& unmapped = labels_.emplace_back();
    Xbyak::Label& at = labels_.emplace_back();
    address_into_rsi(op);
    mov(rdx, qword[rbx + l_.data_tables]);
    emit_entry_offset(*this, ecx);
    emit_tag_compare(*this, rax, size, qword[rdx + rcx + (table_offset(access) + SoftTlb::kWindowTagOffset)]);
    jne(unmapped, T_NEAR);
    mov(rdx, qword[rbx + l_.window_base]);
    if (index)
      index();
    else
      mov(ecx, esi); // the address's low 32 bits: its offset in the window
    L(at);
    later([this, access, &unmapped, &at, &miss]() {
      L(unmapped); // rax: the tag of the last byte's page
      call_thunk(thunks_.window_miss[access == Access::Store ? 1 : 0]);
      test(eax, eax);
      jnz(miss, T_NEAR);
      jmp(at, T_NEAR);
    });
  }
  void window_load(const BlockOp& op, unsigned size, bool sign, const Xbyak::Reg64& d, Xbyak::Label& miss) {
    if (&op != scaled_.load) {
      window_lookup(op, Access::Load, size, miss);
    } else { // plan_scaled_load: x is in rdi; the offset is (b + x << k + imm) mod 2^32, from x
      const auto scale = scaled_.scale;
      const auto imm = static_cast<int32_t>(op.imm);
      const unsigned b = scaled_.base;
      window_lookup(op, Access::Load, size, miss, [this, scale, imm, b]() {
        if (const auto h = host(b)) {
          lea(ecx, ptr[h->cvt32() + edi * scale + imm]);
        } else {
          mov(ecx, dword[rbx + l_.x + static_cast<int32_t>(8 * b)]);
          lea(ecx, ptr[ecx + edi * scale + imm]);
        }
      });
    }
    host_load(d, size, sign, rdx, 0, rcx);
  }
  void window_store(const BlockOp& op, unsigned size, bool fp, Xbyak::Label& miss) {
    window_lookup(op, Access::Store, size, miss);
    host_store(size, rdx, 0, fp ? std::optional<Xbyak::Reg64>(rdi) : store_value(op), rcx);
  }

  // `fp`: the value is in rdi already (an FP register); it survives the TLB lookup. Otherwise the
  // value is stored straight from rs2's host register when it has one.
  void store(const BlockOp& op, unsigned size, bool fp = false) {
    Xbyak::Label& miss = labels_.emplace_back();
    Xbyak::Label& done = labels_.emplace_back();
    if (flat_) {
      flat_store(op, size, fp, miss, done);
    } else if (window_) {
      window_store(op, size, fp, miss);
    } else {
      tlb_lookup(op, Access::Store, size, miss, Lookup::direct);
      host_store(size, rcx, 0, fp ? std::optional<Xbyak::Reg64>(rdi) : store_value(op));
    }
    L(done);
    const BlockOp* p = &op;
    later([this, p, size, fp, &miss, &done]() {
      L(miss);
      sync_block_pc(); // rax only: rdi holds an FP store's value
      if (fp)
        mov(rdx, rdi);
      else
        get(rdx, p->rs2);
      mov(rcx, reinterpret_cast<uint64_t>(p)); // rsi: the address
      call_thunk(thunks_.store[log2_of(size)]);
      test(rax, rax);
      jnz(sync_exit_label(), T_NEAR);
      jmp(done, T_NEAR);
    });
  }

  const Layout& l_;
  Block& owner_; // the entry block, whose Block holds the unit's native code and exits
  const void* exit_;
  const MissThunks& thunks_;
  const LookupEntry* lookup_;
  intptr_t exec_delta_;
  unsigned& next_hint_;
  unsigned& next_addend_;
  unsigned& next_site_;
  uint16_t* hint_budgets_;   // Hart::jit_hint_budgets_
  uint16_t* addend_budgets_; // Hart::jit_addend_budgets_
  const Hart& hart_; // its registers at translation time (a divisor to specialise for)
  // Loads and stores go through the host-mapped window (window_lookup): the hart has one and the
  // unit runs in U-mode (a unit runs at the privilege it was translated at: blocks are keyed by
  // it), where a process's pages were placed one by one and no addend prediction holds across
  // them. A kernel's keep the soft TLB's paths: its linear map shares one addend, and it touches
  // more pages than a window holds.
  const bool window_;
  // Loads and stores go through the flat-RAM slot (flat_load, flat_store): the hart's data
  // context read RAM untranslated when the unit was translated (bare-metal code, a firmware's
  // own). The slot's range check keeps every access right if that changes; a unit whose data
  // context then does not read RAM flat pays that check and the direct lookup after it.
  const bool flat_;
  // A load through rs1 takes the addend hint when rs1 holds a pointer a load produced (p =
  // p->next), in this block or, on every edge into it from the unit's other blocks, in them
  // (chased_in_). Not a pointer an add moved since (p += stride: an induction pointer loaded
  // once before its loop, a stride no prediction of the last addend shortens), nor one the
  // unit's entry brings from outside (nothing known: a hint is only a prediction).
  std::vector<std::array<bool, kGuestRegisters>> chased_in_; // per block of the unit, at its start
  std::array<bool, kGuestRegisters> chased_{};              // at the op being emitted
  bool chased(unsigned r) const { return r != 0 && r < kGuestRegisters && chased_[r]; }
  // chased_in_: the greatest fixed point of "held at the end of every internal predecessor"
  // (a block with none holds nothing), over the unit's few blocks.
  void find_chases() {
    const size_t n = subs_.size();
    std::vector<std::vector<size_t>> preds(n);
    for (size_t k = 0; k < n; ++k)
      for (const size_t to : edges_from(k)) preds[to].push_back(k);
    std::array<bool, kGuestRegisters> all{};
    all.fill(true);
    chased_in_.assign(n, all);
    for (size_t k = 0; k < n; ++k)
      if (preds[k].empty()) chased_in_[k] = {};
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t k = 0; k < n; ++k) {
        if (preds[k].empty()) continue;
        std::array<bool, kGuestRegisters> in = all;
        for (const size_t p : preds[k]) {
          std::array<bool, kGuestRegisters> out = chased_in_[p];
          chase_transfer(*subs_[p].block, out);
          for (unsigned r = 0; r < kGuestRegisters; ++r) in[r] = in[r] && out[r];
        }
        if (in != chased_in_[k]) {
          chased_in_[k] = in;
          changed = true;
        }
      }
    }
  }
  // A load in a loop of the unit whose base register the loop changes only by `addi r, r, imm`
  // (an induction pointer, `p += 2`) or not at all keeps the page it touched last in a slot of
  // its own (tlb_site_pages.hpp): it stays in that page for many iterations. The loop is the
  // innermost one around the load's block: the shortest back edge (to a block at or below the
  // load's address, from one at or above it) and the blocks between its ends (a compiler lays a
  // loop out in one piece), so an outer loop resetting the pointer for each row does not count.
  // Only where the site page pays: correctness rests on the slot's check alone.
  std::vector<std::array<bool, kGuestRegisters>> strided_; // per block of the unit
  void find_strided() {
    const size_t n = subs_.size();
    strided_.assign(n, {});
    for (size_t k = 0; k < n; ++k) {
      const uint64_t at = subs_[k].block->paddr;
      uint64_t lo = 0, hi = 0;
      bool found = false;
      for (size_t j = 0; j < n; ++j)
        for (const size_t t : successors_[j]) {
          const uint64_t from = subs_[j].block->paddr, to = subs_[t].block->paddr;
          if (to > from || to > at || at > from) continue; // not a back edge around block k
          if (!found || from - to < hi - lo) lo = to, hi = from, found = true;
        }
      if (!found) continue;
      const auto in_loop = [&](const Sub& sub) { return sub.block->paddr >= lo && sub.block->paddr <= hi; };
      // A loop that stores too keeps the direct lookup: memcpy's copy loop in the suite, loads
      // and stores taking turns, ran 10 % slower with slots (docs/jit.md, "Site pages").
      bool stores = false;
      for (const Sub& sub : subs_)
        if (in_loop(sub))
          for (const BlockOp& op : sub.block->ops)
            stores = stores || is_store(op.op) || op.op == Op::Fsw || op.op == Op::Fsd || is_amo(op.op);
      if (stores) continue;
      std::array<bool, kGuestRegisters>& strided = strided_[k];
      strided.fill(true);
      strided[0] = false;
      std::array<uint64_t, kGuestRegisters> step{}; // bytes a register moves per pass, at most
      for (const Sub& sub : subs_) {
        if (!in_loop(sub)) continue;
        for (const BlockOp& op : sub.block->ops) {
          if (op.rd == 0 || op.rd >= kGuestRegisters) continue;
          if (translated_inline(op.op) && !writes_rd(op.op)) continue; // a branch, store, fence, FP access
          if (fp_inline(op.op) && !fp_writes_x(op.op)) continue;       // an FP destination
          if (op.op == Op::Addi && op.rs1 == op.rd) {
            step[op.rd] += static_cast<uint64_t>(op.imm < 0 ? -static_cast<int64_t>(op.imm) : op.imm);
            continue;
          }
          strided[op.rd] = false;
        }
      }
      // A step of more than kMaxSiteStride leaves the page within a few passes, and each miss
      // costs a mispredicted branch and the direct lookup besides: a column walk through 1 KiB
      // rows ran at half the speed of the direct lookup.
      for (unsigned r = 1; r < kGuestRegisters; ++r)
        if (step[r] > kMaxSiteStride) strided[r] = false;
    }
  }
  static constexpr uint64_t kMaxSiteStride = 256; // 16 or more accesses per page
  bool site_page_applies(const BlockOp& op) const {
    return op.rs1 != 0 && op.rs1 < kGuestRegisters && strided_[cur_][op.rs1];
  }
  // The unit's internal edges: for each block, the blocks of the unit its direct branches and
  // fall-through reach (the register allocation's loops and the chase hints' fixed point).
  std::vector<std::vector<size_t>> successors_;
  // The unit's return points: blocks after a call whose callee is in the unit. A block ending
  // in a return goes to one of them when the return address is one (return_inside), else out
  // through the lookup table.
  std::vector<size_t> return_points_;
  void find_successors() {
    successors_.assign(subs_.size(), {});
    return_points_.clear();
    for (size_t k = 0; k < subs_.size(); ++k) {
      uint64_t targets[2];
      const unsigned count = direct_targets(*subs_[k].block, targets);
      for (unsigned t = 0; t < count; ++t)
        if (const auto to = member(targets[t])) successors_[k].push_back(*to);
      if (const auto call = call_in_page(*subs_[k].block); call && member(call->callee))
        if (const auto back = member(call->back);
            back && std::find(return_points_.begin(), return_points_.end(), *back) == return_points_.end())
          return_points_.push_back(*back);
    }
  }
  // Where block k's return may go inside the unit: every return point, or none.
  const std::vector<size_t>& returns_from(size_t k) const {
    static const std::vector<size_t> none;
    return ends_in_return(*subs_[k].block) ? return_points_ : none;
  }
  // Direct and return edges: the unit's whole flow, for the register allocation's loops and the
  // chase hints' fixed point (the site pages' innermost loops and the loop heads' alignment
  // look at direct edges only: a return is not a loop's back edge).
  std::vector<size_t> edges_from(size_t k) const {
    std::vector<size_t> to = successors_[k];
    to.insert(to.end(), returns_from(k).begin(), returns_from(k).end());
    return to;
  }
  std::deque<Sub> subs_;
  size_t cur_ = 0; // the block being emitted
  bool fs_known_dirty_ = false; // an earlier op of the block made sure FS is Dirty from here on
  // Where the current block's code ended with a jump left out (jump_internal_last): the next
  // block's code must start there.
  std::optional<size_t> falls_into_next_;
  std::pair<size_t, bool> next_entry_{}; // the block and copy whose code comes next (jump_internal_last)
  std::array<bool, kGuestRegisters> computed_{}; // written by an earlier inline op of the block, not a load
  uint32_t sext_known_ = 1; // registers holding sign-extended 32-bit values (sext_known)
  ScaledLoad scaled_;       // the table element load planned at its shift (plan_scaled_load)
  const BlockOps* cur_ops_ = nullptr; // the ops of the block being emitted
  size_t cur_index_ = 0;                          // and the one being emitted now
  static constexpr uint64_t kMinNormal64 = uint64_t{1} << 52, kInfinity64 = uint64_t{0x7ff} << 52;
  static constexpr uint32_t kMinNormal32 = uint32_t{1} << 23, kInfinity32 = uint32_t{0xff} << 23;
  std::array<std::optional<Xbyak::Reg64>, kGuestRegisters> host_{};
  std::array<std::optional<Xbyak::Reg64>, kGuestRegisters> renamed_{}; // if_convert's scratch copies
  std::array<bool, kGuestRegisters> written_{};
  Xbyak::Label link_stub_[2];
  size_t exit_sub_[2] = {}; // the block each patchable exit leaves from
  std::deque<Xbyak::Label> labels_; // of out-of-line paths (stable addresses)
  struct SlowPath {
    size_t sub;      // the block it belongs to
    uint32_t narrow; // narrow_ where it was made: what its exits settle (settle_for_exit)
    std::function<void()> emit;
  };
  std::deque<SlowPath> slow_paths_;
};

// enter(hart, code): saves the host's callee-saved registers and MXCSR, aligns the stack, sets
// the SSE mode the inline FP paths rely on, jumps to code. exit: undoes that and returns.
// r15 holds the chain budget's countdown (Hart::jit_left_) while native code runs.
class StubEmitter : public Xbyak::CodeGenerator {
public:
  StubEmitter(size_t max, uint8_t* at, const Layout& layout)
      : Xbyak::CodeGenerator(max, at), l_(layout) {}
  const uint8_t* enter = nullptr;
  const uint8_t* exit = nullptr;
  const uint8_t* load[4][2] = {};
  const uint8_t* store[4] = {};
  const uint8_t* probe_load[4][2] = {};
  const uint8_t* probe_store[4] = {};
  const uint8_t* count_limit = nullptr;
  const uint8_t* full_check = nullptr;
  const uint8_t* rewrite_hint = nullptr;
  const uint8_t* rewrite_addend = nullptr;
  const uint8_t* window_miss[2] = {}; // [store]
  const uint8_t* fill_flat = nullptr;
  const uint8_t* fill_flat_store = nullptr;
  void emit() {
    emit_entry_and_exit();
    emit_checks();
    fill_flat = emit_fill_flat(reinterpret_cast<const void*>(&Runtime::fill_flat_ram));
    fill_flat_store = emit_fill_flat(reinterpret_cast<const void*>(&Runtime::fill_flat_store));
    window_miss[0] = emit_window_miss(Access::Load);
    window_miss[1] = emit_window_miss(Access::Store);
    rewrite_hint = emit_rewrite(direct_index_bytes());
    rewrite_addend = emit_rewrite(direct_addend_bytes());
    for (unsigned log = 0; log < 4; ++log) {
      for (unsigned sign = 0; sign < (log == 3 ? 1u : 2u); ++sign) load[log][sign] = emit_load(log, sign != 0);
      if (log == 3) load[3][1] = load[3][0]; // 8 bytes: nothing to extend
      store[log] = emit_store(log);
      for (unsigned sign = 0; sign < 2; ++sign) probe_load[log][sign] = emit_probe_load(log, sign != 0, load[log][sign]);
      probe_store[log] = emit_probe_store(log, store[log]);
    }
  }

private:
  // In: rsi the address, rdx the op. Unit code runs with rsp 16-byte aligned, so the thunk is
  // entered with rsp 8 below that: call_runtime's five saves make the call aligned again.
  const uint8_t* emit_load(unsigned log, bool sign) {
    align(16);
    const uint8_t* at = getCurr();
    static const void* const functions[4] = {
        reinterpret_cast<const void*>(&Runtime::load<1>), reinterpret_cast<const void*>(&Runtime::load<2>),
        reinterpret_cast<const void*>(&Runtime::load<4>), reinterpret_cast<const void*>(&Runtime::load<8>)};
    Xbyak::Label trapped;
    call_runtime(functions[log]);
    test(rdx, rdx);
    jz(trapped);
    force_full_check(); // MMIO: a device may have raised an interrupt
    if (sign) {
      if (log == 0) movsx(rax, al);
      if (log == 1) movsx(rax, ax);
      if (log == 2) movsxd(rax, eax);
    }
    L(trapped);
    ret();
    return at;
  }
  // The soft-TLB lookup of the inline path (BlockEmitter::tlb_lookup, direct) in a thunk, then
  // the access on a hit; a miss goes on to the miss thunk `miss` with the same registers.
  // Loads: in rsi the address, rdx the op; out as the miss thunk (rax the value, rdx 1).
  const uint8_t* emit_probe_load(unsigned log, bool sign, const uint8_t* miss) {
    align(16);
    const uint8_t* at = getCurr();
    probe(Access::Load, 1u << log, miss);
    switch (1u << log) {
    case 1: if (sign) movsx(rax, byte[rdi + rsi]); else movzx(eax, byte[rdi + rsi]); break;
    case 2: if (sign) movsx(rax, word[rdi + rsi]); else movzx(eax, word[rdi + rsi]); break;
    case 4: if (sign) movsxd(rax, dword[rdi + rsi]); else mov(eax, dword[rdi + rsi]); break;
    default: mov(rax, qword[rdi + rsi]); break;
    }
    mov(edx, 1);
    ret();
    return at;
  }
  // Stores: in rsi the address, rdx the value, rcx the op; out as the miss thunk (rax 0).
  const uint8_t* emit_probe_store(unsigned log, const uint8_t* miss) {
    align(16);
    const uint8_t* at = getCurr();
    probe(Access::Store, 1u << log, miss);
    switch (1u << log) {
    case 1: mov(byte[rdi + rsi], dl); break;
    case 2: mov(word[rdi + rsi], dx); break;
    case 4: mov(dword[rdi + rsi], edx); break;
    default: mov(qword[rdi + rsi], rdx); break;
    }
    xor_(eax, eax);
    ret();
    return at;
  }
  // The lookup of `size` bytes at rsi: on a hit rdi holds the page's addend, else to `miss`.
  // Uses rax and rdi only (rcx and rdx carry the miss thunk's arguments).
  // When the host-mapped window maps the page (the entry's window tag is its tag: U-mode units
  // with a window), rdi is the window's equivalent of an addend, window + (uint32_t)rsi - rsi:
  // the access goes through the mapping the unit's other accesses use.
  void probe(Access access, unsigned size, const uint8_t* miss) {
    const auto table = table_offset(access);
    Xbyak::Label window, done;
    mov(rdi, qword[rbx + l_.data_tables]);
    emit_entry_offset(*this, eax);
    add(rdi, rax);
    emit_tag_compare(*this, rax, size, qword[rdi + table]);
    jne(static_cast<const void*>(miss));
    if (l_.window) {
      cmp(rax, qword[rdi + (table + SoftTlb::kWindowTagOffset)]);
      je(window);
    }
    mov(rdi, qword[rdi + (table + 8)]);
    if (!l_.window) return;
    jmp(done);
    L(window);
    mov(eax, esi);
    add(rax, qword[rbx + l_.window_base]);
    sub(rax, rsi);
    mov(rdi, rax);
    L(done);
  }
  // A flat load or store whose range is empty and unasked (BlockEmitter::flat_fill):
  // Hart::fill_flat_ram or fill_flat_store (rsi the access's address) fills it or records that it
  // cannot be. Keeps rsi, rdi and the guest registers.
  const uint8_t* emit_fill_flat(const void* fill) {
    align(16);
    const uint8_t* at = getCurr();
    push(rdi);
    push(rax); // two pushes keep the call aligned
    call_runtime(fill);
    pop(rax);
    pop(rdi);
    ret();
    return at;
  }
  // A window site whose entry's window tag did not name the access's page (BlockEmitter::
  // window_lookup). In: rsi the address, rax the tag of its last byte's page, rdx the context's
  // tables, rcx the entry's offset. If the entry does not match: eax 1 (the site's miss path).
  // Otherwise eax 0 and the access is [rdx + rcx]: through the window when its page is mapped
  // there (rdx the window, rcx the address's low 32 bits), else through the entry's addend (rdx
  // the addend, rcx the address). An entry whose window tag is not its tag holds a count of
  // such accesses: at Hart::jit_window_heat_ the page is mapped (Hart::jit_map_window, which
  // may refuse and zero the count; a page a short-lived process touches a few times is not
  // worth a host mapping call). Keeps rsi, rdi and the guest registers.
  const uint8_t* emit_window_miss(Access access) {
    align(16);
    const uint8_t* at = getCurr();
    const auto table = table_offset(access);
    const auto window_tag = qword[rdx + rcx + (table + SoftTlb::kWindowTagOffset)];
    Xbyak::Label mismatch, addend, hot;
    cmp(rax, qword[rdx + rcx + table]);
    jne(mismatch, T_NEAR);
    mov(rax, window_tag); // a count: never a tag (below 0xfff)
    cmp(rax, l_.window_heat);
    jae(hot, T_NEAR);
    add(rax, 1);
    mov(window_tag, rax);
    L(addend);
    mov(rdx, qword[rdx + rcx + (table + 8)]);
    mov(rcx, rsi);
    xor_(eax, eax);
    ret();
    L(hot);
    push(rdi); // a store's value may be there; two pushes keep the call aligned
    push(rax);
    mov(rax, qword[rdx + rcx + table]); // the tag (rax was the count)
    mov(qword[rsp], rax);
    mov(edx, static_cast<uint32_t>(access));
    call_runtime(reinterpret_cast<const void*>(&Runtime::map_window));
    pop(rax);
    pop(rdi);
    mov(rdx, qword[rbx + l_.data_tables]);
    emit_entry_offset(*this, ecx);
    cmp(rax, window_tag);
    jne(addend, T_NEAR); // not mapped (the budget or the host refused)
    mov(rdx, qword[rbx + l_.window_base]);
    mov(ecx, esi);
    xor_(eax, eax);
    ret();
    L(mismatch);
    mov(eax, 1);
    ret();
    return at;
  }
  // In: rsi the address, rdx the value, rcx the op.
  const uint8_t* emit_store(unsigned log) {
    align(16);
    const uint8_t* at = getCurr();
    static const void* const functions[4] = {
        reinterpret_cast<const void*>(&Runtime::store<1>), reinterpret_cast<const void*>(&Runtime::store<2>),
        reinterpret_cast<const void*>(&Runtime::store<4>), reinterpret_cast<const void*>(&Runtime::store<8>)};
    Xbyak::Label ended;
    call_runtime(functions[log]);
    test(rax, rax);
    jnz(ended);
    force_full_check(); // MMIO: a device may have raised an interrupt or written memory
    L(ended);
    ret();
    return at;
  }
  // Calls function(Hart*, rsi, rdx, rcx) keeping rsi and the guest registers in r8-r11 (five
  // saves after the thunk's return address: the call is 16-byte aligned).
  void call_runtime(const void* function) {
    for (const auto& reg : {r8, r9, r10, r11, rsi}) push(reg);
    lea(rdi, ptr[rbx - l_.bias]); // the Hart*
    mov(rax, reinterpret_cast<uint64_t>(function));
    call(rax);
    for (const auto& reg : {rsi, r11, r10, r9, r8}) pop(reg);
  }
  void force_full_check() { emit_force_full_check(*this, l_.check_generation); }
  // The per-block check's slow paths (MissThunks::count_limit, full_check), entered by a call
  // from a unit: eax nonzero to go on (count the block again), zero to leave the unit.
  void emit_checks() {
    Xbyak::Label forced, failed;
    // In: r15 the countdown before this block's count came off. Keeps rsi (a JALR's target) and
    // the guest registers.
    align(16);
    count_limit = getCurr();
    btr(r15, 63);
    jc(forced, T_NEAR);
    // The budget ran out: the timer poll point (go on when it finds nothing to do) or run()'s end.
    mov(qword[rbx + l_.jit_left], r15);
    call_runtime(reinterpret_cast<const void*>(&Runtime::chain_limit));
    mov(r15, qword[rbx + l_.jit_left]);
    ret();
    // An out-of-line call went on with the block: look at everything, then count the block.
    L(forced);
    mov(rax, ptr[reinterpret_cast<uint64_t>(l_.dma_generation)]);
    // In: rax the DMA generation. Leaves when an exit was requested, an enabled interrupt is
    // pending or DMA wrote memory; else notes the generation as checked. Clobbers rcx, rdi.
    align(16);
    full_check = getCurr();
    cmp(byte[rbx + l_.exit_requested], 0);
    jne(failed, T_NEAR);
    mov(rcx, qword[rbx + l_.mip]);
    or_(rcx, qword[rbx + l_.sstc_pending]);
    mov(rdi, reinterpret_cast<uint64_t>(l_.pins));
    or_(rcx, qword[rdi]);
    test(qword[rbx + l_.mie], rcx);
    jnz(failed, T_NEAR);
    cmp(rax, qword[rbx + l_.dma_seen]);
    jne(failed, T_NEAR);
    mov(qword[rbx + l_.check_generation], rax);
    mov(eax, 1);
    ret();
    L(failed);
    xor_(eax, eax);
    ret();
  }
  // MissThunks::rewrite_hint and rewrite_addend. In: rax the site's address in the code cache's
  // writable view. Writes `bytes` (the direct lookup) over its hint load and padding with
  // immediates only (the thread runs this, not the site, so the pieces need not land at once),
  // counts it; keeps every register but rax.
  template <size_t N>
  const uint8_t* emit_rewrite(const std::array<uint8_t, N>& bytes) {
    align(16);
    const uint8_t* const start = getCurr();
    size_t i = 0;
    for (; i + 4 <= N; i += 4) {
      uint32_t piece;
      std::memcpy(&piece, bytes.data() + i, 4);
      mov(dword[rax + static_cast<int>(i)], piece);
    }
    if (i + 2 <= N) {
      uint16_t piece;
      std::memcpy(&piece, bytes.data() + i, 2);
      mov(word[rax + static_cast<int>(i)], piece);
      i += 2;
    }
    if (i < N) mov(byte[rax + static_cast<int>(i)], bytes[i]);
    add(qword[rbx + l_.rewritten_sites], 1);
    ret();
    return start;
  }
  void emit_entry_and_exit() {
    Xbyak::Label mode;
    enter = getCurr();
    push(rbx);
    push(rbp);
    push(r12);
    push(r13);
    push(r14);
    push(r15);
    sub(rsp, 8);
    stmxcsr(dword[rsp]);
    ldmxcsr(dword[rip + mode]);
    lea(rbx, ptr[rdi + l_.bias]); // rbx: the hart, biased (Layout)
    mov(r15, qword[rbx + l_.jit_left]);
    jmp(rsi);
    align(16);
    exit = getCurr();
    btr(r15, 63); // set by force_full_check when a trap or a store into code left mid-block
    mov(qword[rbx + l_.jit_left], r15);
    ldmxcsr(dword[rsp]);
    add(rsp, 8);
    pop(r15);
    pop(r14);
    pop(r13);
    pop(r12);
    pop(rbp);
    pop(rbx);
    ret();
    align(4);
    L(mode);
    dd(0x1f80); // round to nearest even, every exception masked, no flush-to-zero or denormals-are-zero
  }

  const Layout& l_;
};

} // namespace

Translator::Translator(Hart& hart) : hart_(hart), code_(kCodeCacheBytes) {
  if (const char* dir = std::getenv("NIMBUS_JIT_DUMP"); dir != nullptr && *dir != '\0') dump_dir_ = dir;
  Layout& l = layout_;
  const Hart& h = hart;
  // x1 at -128 from rbx: x1..x31 within a signed byte.
  l.bias = offset_of(h, h.x_) + 8 + 128;
  const auto at = [&](const auto& field) { return offset_of(h, field) - l.bias; };
  l.x = at(h.x_);
  l.pc = at(h.pc_);
  l.block_pc = at(h.block_pc_);
  l.block_retired = at(h.block_retired_);
  l.data_context = at(h.data_context_);
  l.data_tables = at(h.jit_data_tables_);
  l.window_base = at(h.jit_window_base_);
  l.window = hart.window_ != nullptr;
  l.window_heat = hart.jit_window_heat_;
  l.flat = at(h.tlb_.site_pages().flat_);
  l.fetch_context = at(h.fetch_context_);
  l.exit_requested = at(h.exit_requested_);
  l.mip = at(h.mip_);
  l.sstc_pending = at(h.sstc_pending_);
  l.mie = at(h.mie_);
  l.translation_epoch = at(h.translation_epoch_);
  l.tlb = at(*h.tlb_.base_slot());
  l.jit_left = at(h.jit_left_);
  l.check_generation = at(h.jit_check_generation_);
  l.region_pc = at(h.jit_region_pc_);
  l.hints = at(h.jit_hints_);
  l.hint_budgets = at(h.jit_hint_budgets_);
  l.hint_slots = Hart::kJitHints;
  l.addends = at(h.jit_addends_);
  l.addend_budgets = at(h.jit_addend_budgets_);
  l.rewritten_sites = at(h.jit_rewritten_sites_);
  l.addend_slots = Hart::kJitAddends;
  l.site_pages = at(h.tlb_.site_pages().slots_);
  l.site_filled = at(h.tlb_.site_pages().filled_);
  l.site_slots = TlbSitePages::kSlots;
  static_assert(sizeof(TlbSitePage) == 32 && TlbSitePages::kFilledLimit < (uint64_t{1} << 31));
  l.jit_block = at(h.jit_block_);
  l.dma_seen = at(h.dma_generation_seen_);
  l.link_request = at(h.jit_link_request_);
  l.f = at(h.f_);
  l.mstatus = at(h.mstatus_);
  l.vsstatus = at(h.vsstatus_);
  l.virt = at(h.virt_);
  l.fflags = at(h.fflags_);
  l.frm = at(h.frm_);
  static_assert(sizeof(h.fflags_) == 1 && sizeof(h.frm_) == 1);
  static_assert(sizeof(h.virt_) == 1);
  l.pins = hart.pins_.level_address();
  l.dma_generation = hart.bus_.dma_generation_address();
  static_assert(sizeof(h.block_retired_) == 8 && sizeof(h.fetch_context_) == 4 && sizeof(h.data_context_) == 4);
  static_assert(sizeof(h.exit_requested_) == 1);
  static_assert(sizeof(h.jit_link_request_) == 8 && sizeof(LookupEntry) == 16);
  static_assert(Hart::kLookupEpochBits + 3 == 16, "a lookup key is the epoch's low bits and the context's 3");
  static_assert(sizeof(h.jit_hints_[0]) == 4, "a hint is a dword (BlockEmitter::tlb_lookup)");
  // A lookup entry keeps a chain entry's address in 48 bits: Linux maps below 2^47 whenever no
  // address is asked for, with 5-level paging too, so this never fires; if it did, say so.
  if ((reinterpret_cast<uintptr_t>(code_.executable(code_.cursor())) + code_.size()) >> 47 != 0)
    throw std::runtime_error("JIT: the code cache was mapped above 2^47, beyond what the lookup table "
                             "can hold; run with --jit off");
  lookup_ = std::make_unique<LookupEntry[]>(kLookupEntries);
  hart.blocks_.set_retire_listener(this);
  emit_stubs();
}

Translator::~Translator() { hart_.blocks_.set_retire_listener(nullptr); }

void Translator::emit_stubs() {
  StubEmitter stubs(4096, code_.cursor(), layout_);
  stubs.emit();
  enter_ = reinterpret_cast<void (*)(Hart*, const void*)>(const_cast<void*>(code_.executable(stubs.enter)));
  exit_ = code_.executable(stubs.exit);
  for (unsigned log = 0; log < 4; ++log) {
    for (unsigned sign = 0; sign < 2; ++sign) {
      thunks_.load[log][sign] = code_.executable(stubs.load[log][sign]);
      thunks_.probe_load[log][sign] = code_.executable(stubs.probe_load[log][sign]);
    }
    thunks_.probe_store[log] = code_.executable(stubs.probe_store[log]);
    thunks_.store[log] = code_.executable(stubs.store[log]);
  }
  thunks_.count_limit = code_.executable(stubs.count_limit);
  thunks_.full_check = code_.executable(stubs.full_check);
  thunks_.rewrite_hint = code_.executable(stubs.rewrite_hint);
  thunks_.rewrite_addend = code_.executable(stubs.rewrite_addend);
  for (unsigned a = 0; a < 2; ++a) thunks_.window_miss[a] = code_.executable(stubs.window_miss[a]);
  thunks_.fill_flat = code_.executable(stubs.fill_flat);
  thunks_.fill_flat_store = code_.executable(stubs.fill_flat_store);
  code_.commit(stubs.getSize());
  stub_bytes_ = code_.used();
}

// The code cache is full: every unit goes, the decoded blocks stay, their heat starting again
// (keeping it translated again every block ever hot, at once: slower, docs/jit.md). Only the
// dispatcher calls translate(), so no native code is running.
void Translator::drop_all_code() {
  hart_.blocks_.for_each_block([](Block& block) {
    block.jit_code = nullptr;
    block.heat = 0;
    if (block.jit != nullptr) *block.jit = JitBlock{};
  });
  reset_code();
  hart_.break_chains();
}

void Translator::blocks_cleared() {
  // No block is left to run or link to: the code goes, and the lookup table with it. The block
  // running now (a FENCE.I, a PMP write) only returns to the dispatcher before anything new is
  // written over it.
  reset_code();
}

// Empties the code cache (the shared stubs stay) and the lookup table into it.
void Translator::reset_code() {
  code_.reset_to(stub_bytes_);
  clear_lookups();
}

void Translator::clear_lookups() { std::fill_n(lookup_.get(), kLookupEntries, LookupEntry{}); }

void Translator::patch(const JitExit& exit, const void* target) {
  const intptr_t next = reinterpret_cast<intptr_t>(code_.executable(exit.site)) + 4;
  const auto rel = static_cast<int32_t>(reinterpret_cast<intptr_t>(target) - next);
  std::memcpy(exit.site, &rel, 4);
}

void Translator::link(Block& from, unsigned exit, Block& to) {
  if (exit >= 2) return;
  if (from.jit == nullptr || to.jit == nullptr || to.jit_code == nullptr) return;
  JitExit& e = from.jit->exits[exit];
  if (e.site == nullptr || e.linked != nullptr || e.target_paddr != to.paddr) return;
  if (!fetch_uniform(to.paddr)) return;
  patch(e, to.jit->chain);
  e.linked = &to;
  e.next_incoming = to.jit->incoming;
  to.jit->incoming = &e;
  ++linked_;
}

void Translator::unlink(JitExit& e) {
  if (e.linked == nullptr) return;
  std::memcpy(e.site, &e.unlinked, 4);
  e.linked = nullptr;
  e.next_incoming = nullptr;
}

void Translator::block_retired(Block& block) {
  if (block.jit == nullptr) return; // never translated: nothing links to or from it
  for (JitExit* e = block.jit->incoming; e != nullptr;) {
    JitExit* const next = e->next_incoming;
    if (e->linked == &block) unlink(*e);
    e = next;
  }
  block.jit->incoming = nullptr;
  for (JitExit& exit : block.jit->exits) {
    Block* target = exit.linked;
    if (target == nullptr) continue;
    JitExit** in = &target->jit->incoming; // a short list: links stay inside one page
    while (*in != nullptr && *in != &exit) in = &(*in)->next_incoming;
    if (*in != nullptr) *in = exit.next_incoming;
    unlink(exit);
  }
}

void Translator::remember(uint64_t pc, unsigned context, uint64_t epoch, const Block& block) {
  LookupEntry& e = lookup_[(pc >> 1) & (kLookupEntries - 1)];
  const auto code = reinterpret_cast<uintptr_t>(block.jit->chain); // called after translate() succeeded
  assert(code >> 47 == 0 && context < 8);
  e.pc = pc;
  e.code_key = code << 16 | LookupEntry::key(epoch, context);
}

// A link, and a unit's internal edge, skip the fetch checks of the block they jump to.
// Translation and page permissions are the same inside one page; PMP may not be (its regions are
// as small as 4 bytes), so both are made only where it allows or denies the whole page alike for
// every privilege. A PMP write drops every block (csr_file.cpp).
bool Translator::fetch_uniform(uint64_t paddr) const {
  const uint64_t page = paddr & ~uint64_t{0xfff};
  for (const Privilege p : {Privilege::User, Privilege::Supervisor, Privilege::Machine})
    if (!hart_.pmp_.allows(page, 4096, Access::Fetch, p)) return false;
  return true;
}

namespace {
// The physical addresses inside its page that a block's direct exits go to (at most 2).
unsigned direct_targets(const Block& b, uint64_t (&out)[2]) {
  const OpHandler fall_through = fall_through_handler();
  unsigned n = 0;
  for (size_t i = 0; i < b.ops.size(); ++i) {
    const BlockOp& op = b.ops[i];
    int64_t targets[2];
    unsigned k = 0;
    if (op.handler == fall_through) {
      targets[k++] = op.offset;
    } else if (const auto target = static_jump_target(b.ops, i)) {
      targets[k++] = *target;
    } else if (is_conditional_branch(op.op)) {
      targets[k++] = static_cast<int64_t>(op.offset) + op.length;
      targets[k++] = static_cast<int64_t>(op.offset) + op.imm;
    }
    for (unsigned t = 0; t < k && n < 2; ++t)
      if (const auto target = in_page(b.paddr, targets[t])) out[n++] = *target;
  }
  return n;
}

// A call to a function in the same page (`jal ra, f` or `auipc ra, hi; jalr ra, lo(ra)`, ra
// being x1 or x5, as the calling convention's link registers): the callee's and the return
// point's physical addresses.
std::optional<CallInPage> call_in_page(const Block& b) {
  if (b.ops.empty()) return std::nullopt;
  const BlockOp& op = b.ops.back();
  if (op.rd != 1 && op.rd != 5) return std::nullopt;
  const std::optional<int64_t> target = static_jump_target(b.ops, b.ops.size() - 1);
  if (!target) return std::nullopt;
  const auto callee = in_page(b.paddr, *target);
  const auto back = in_page(b.paddr, static_cast<int64_t>(op.offset) + op.length);
  if (!callee || !back) return std::nullopt;
  return CallInPage{*callee, *back};
}

// A return (`ret`, `jr ra`: JALR through x1 or x5 that links nothing) ending the block.
bool ends_in_return(const Block& b) {
  if (b.ops.empty()) return false;
  const BlockOp& op = b.ops.back();
  const bool links = op.rd != 0 && op.rd < kGuestRegisters; // else x0 or the decoder's discard register
  return op.op == Op::Jalr && !links && (op.rs1 == 1 || op.rs1 == 5);
}
} // namespace

std::vector<Block*> Translator::region_of(Block& entry) const {
  std::vector<Block*> region{&entry};
  if (max_region_blocks_ <= 1 || !fetch_uniform(entry.paddr)) return region;
  size_t ops = entry.ops.size();
  bool loop = false; // another block of the unit jumps back to the entry
  const auto in_region = [&](uint64_t paddr) {
    return std::any_of(region.begin(), region.end(), [&](const Block* r) { return r->paddr == paddr; });
  };
  for (size_t i = 0; i < region.size(); ++i) {
    const auto reach = [&](uint64_t paddr) {
      if (i != 0 && paddr == entry.paddr) loop = true;
      if (region.size() >= max_region_blocks_ || in_region(paddr)) return;
      // Only blocks the hart has decoded already (they ran): decoding here could clear the cache.
      Block* next = hart_.blocks_.find(paddr);
      if (next == nullptr || next->ops.empty() || ops + next->ops.size() > kMaxRegionOps) return;
      ops += next->ops.size();
      region.push_back(next);
    };
    uint64_t targets[2];
    const unsigned n = direct_targets(*region[i], targets);
    for (unsigned t = 0; t < n; ++t) reach(targets[t]);
    // A call to a function of the page: where it returns, once the callee is in the unit (its
    // return then stays inside, BlockEmitter::return_inside), joins as a direct target would.
    // The call's own target, the callee, was reached just before.
    if (const std::optional<CallInPage> call = call_in_page(*region[i]); call && in_region(call->callee))
      reach(call->back);
  }
  // Without a loop through the entry, a unit only translates its blocks again (each is
  // translated alone when it gets hot) and chains them as links would: the boot, mostly
  // straight-line code, spent a fifth more host time translating when every unit was kept.
  // Except one step through an unconditional jump or fall-through: the block it always goes on
  // to (a switch's case going back to the dispatch) runs in the same unit, with the registers
  // still in host registers.
  if (!loop) {
    uint64_t targets[2];
    const bool one_way = direct_targets(entry, targets) == 1 && region.size() > 1 && region[1]->paddr == targets[0];
    region.resize(one_way ? 2 : 1);
  }
  return region;
}

Block* Translator::translate(Block& entry) {
  if (entry.jit_code != nullptr) return &entry;
  if (entry.ops.empty()) return nullptr;
  std::vector<Block*> region = region_of(entry);
  bool room = true;
  for (Block*& member : region) room = room && (member = hart_.blocks_.tenure(*member)) != nullptr;
  JitBlock* const jit = room ? hart_.blocks_.jit_block(*region.front()) : nullptr;
  if (jit == nullptr) {
    // The tenured arena is full: start over (as for a full code cache, QEMU's tb_flush).
    hart_.blocks_.clear();
    hart_.break_chains();
    return nullptr;
  }
  Block& block = *region.front();
  const size_t window = std::min(kMaxBlockBytes, code_.remaining());
  uint8_t* const start = code_.cursor();
  const intptr_t delta = reinterpret_cast<intptr_t>(code_.executable(start)) - reinterpret_cast<intptr_t>(start);
  try {
    BlockEmitter emitter(layout_, region, exit_, thunks_, lookup_.get(), delta, window, start, next_hint_,
                         next_addend_, next_site_, hart_.jit_hint_budgets_, hart_.jit_addend_budgets_, hart_,
                         hart_.priv_ == Privilege::User, hart_.jit_flat_ram_ && hart_.flat_ram_possible());
    emitter.emit();
    emitter.ready();
    block.jit_code = code_.executable(start);
    jit->chain = code_.executable(start + emitter.chain_entry);
    for (unsigned i = 0; i < 2; ++i) jit->exits[i] = JitExit{};
    for (unsigned i = 0; i < emitter.exits; ++i) {
      JitExit& e = jit->exits[i];
      e.site = start + emitter.site[i];
      std::memcpy(&e.unlinked, e.site, 4);
      e.target_paddr = emitter.target_paddr[i];
    }
    if (!dump_dir_.empty()) dump(block, start, emitter.getSize());
    code_.commit(emitter.getSize());
    ++translated_;
    region_blocks_ += region.size() - 1;
    if_conversions_ += emitter.if_conversions;
    site_page_sites_ += emitter.site_page_sites;
    flat_load_sites_ += emitter.flat_load_sites;
    flat_store_sites_ += emitter.flat_store_sites;
    internal_return_sites_ += emitter.internal_return_sites;
    narrow_loops_ += emitter.narrow_loops;
  } catch (const Xbyak::Error& error) {
    if (static_cast<int>(error) == Xbyak::ERR_CODE_IS_TOO_BIG) {
      // The cache is full (the only error a well-formed unit can meet): start over.
      drop_all_code();
      return nullptr;
    }
    // The emitter's own layout checks failed (a translator bug, never the guest's doing): the
    // unit's bytes are not committed, and its entry stays with the interpreter, which runs the
    // same semantics, until it is hot again. Counted, so tests see it rather than slowness.
    ++failed_;
    block.heat = entry.heat = 0; // the tenured copy, which lookups find from now on, and the original
    return nullptr;
  }
  return &block;
}

// A debugging aid (NIMBUS_JIT_DUMP=DIR, docs/jit.md): each unit's bytes go to
// DIR/EXEC_ADDRESS-GUEST_PADDR.bin, for `objdump -D -b binary -mi386:x86-64 --adjust-vma=EXEC`
// and for matching perf samples (their addresses are the executable view's).
void Translator::dump(const Block& block, const uint8_t* start, size_t size) const {
  char name[64];
  std::snprintf(name, sizeof name, "/%llx-%llx.bin",
                static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(code_.executable(start))),
                static_cast<unsigned long long>(block.paddr));
  if (std::FILE* f = std::fopen((dump_dir_ + name).c_str(), "wb")) {
    std::fwrite(start, 1, size, f);
    std::fclose(f);
  }
}

} // namespace nimbus::machine::jit

#pragma once
// Decoded basic blocks, keyed by the physical address of their first instruction.
//
// A block never crosses a 4 KiB page, so it is valid for any virtual mapping of that page; the
// hart re-translates the pc (one soft-TLB hit) before looking a block up. The cache tracks which
// physical pages hold decoded code so stores to them can drop the stale blocks.
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "riscv/opcode.hpp"

namespace nimbus::machine {

class Hart;
struct BlockOp;
// Direct-threaded dispatch: each handler executes one instruction and returns the next op to
// run, or nullptr when the block is left (branch taken or not, trap, state change).
using OpHandler = const BlockOp* (*)(Hart&, const BlockOp*);

struct BlockOp {
  OpHandler handler;
  int64_t imm;
  uint32_t bits;      // raw instruction, reported as mtval when it turns out illegal
  uint8_t rd;         // integer destinations: x0 is remapped to a discard register
  uint8_t rs1, rs2, rs3;
  uint8_t rm;         // funct3 / rounding mode
  uint8_t length;     // 2 or 4
  uint16_t index;     // instructions before this one in the block
  uint16_t offset;    // bytes from the block's first instruction
  riscv::Op op;
};

class Block;
// A remembered successor: when the block ends with pc == `pc` at `privilege`, and the hart's chain
// epoch is still `epoch` (no translation or code change since), the next block is `block`.
struct BlockLink {
  uint64_t pc = ~uint64_t{0};
  uint64_t epoch = 0;
  class Block* block = nullptr;
  uint8_t privilege = 0xff;
};

// JIT tier (machine/jit): one direct exit of a translated block whose successor lies in the same
// 4 KiB page (so it is the same physical block whatever the mapping, privilege or TLB state). Its
// `jmp rel32` at `site` goes to the block's own "ask for a link" stub until the dispatcher patches
// it to `linked`'s code; the patch is undone when either block is dropped.
struct JitExit {
  uint8_t* site = nullptr;      // the rel32 of the jmp, in the code cache's writable view
  int32_t unlinked = 0;         // its value when unlinked (to the stub)
  uint64_t target_paddr = ~uint64_t{0};
  class Block* linked = nullptr;
};

class Block {
public:
  uint64_t paddr = 0;
  uint32_t count = 0; // instructions (the trailing fall-through op is not one)
  uint32_t next_link = 0; // which link to replace next
  BlockLink links[2];     // taken / not taken successors
  std::vector<BlockOp> ops;
  // JIT tier (machine/jit): native code for this block once it is hot (null: interpret), and how
  // often the dispatcher has run it. The code dies with the block.
  const void* jit_code = nullptr;
  uint32_t heat = 0;
  // The entry other blocks' native code jumps to: the once-per-block check, then jit_code.
  const void* jit_chain = nullptr;
  JitExit jit_exits[2];
  // Exits of other blocks patched to jump here: (block, exit index).
  std::vector<std::pair<Block*, uint8_t>> jit_incoming;
};

// Told when blocks are dropped (the JIT unlinks native jumps into them).
class BlockRetireListener {
public:
  virtual void block_retired(Block& block) = 0; // one block (its page was written, or it was replaced)
  virtual void blocks_cleared() = 0;            // every block at once
protected:
  ~BlockRetireListener() = default;
};

class BlockCache {
public:
  static constexpr unsigned kFastSlots = 32768;
  // Decoded ops kept before the whole cache is dropped and refilled from what runs next (QEMU
  // flushes its translation buffer the same way). ~4 MiB: a Linux guest's hot code fits, and the
  // host memory a hart costs beyond guest RAM stays bounded whatever the guest executes.
  static constexpr size_t kMaxCachedOps = size_t{1} << 16;

  Block* find(uint64_t paddr) {
    Block*& slot = fast_[(paddr >> 1) & (kFastSlots - 1)];
    if (slot != nullptr && slot->paddr == paddr) return slot;
    const auto it = blocks_.find(paddr);
    if (it == blocks_.end()) return nullptr;
    slot = it->second.get();
    return slot;
  }
  // Takes ownership; returns true when the block's page held no code before (the caller must then
  // stop fast stores into that page).
  bool insert(std::unique_ptr<Block> block);
  bool page_has_code(uint64_t paddr_page) const { return pages_.count(paddr_page) != 0; }
  // Drops every block starting in the page. Blocks are kept alive until collect_garbage(),
  // because the block being executed may be one of them.
  void invalidate_page(uint64_t paddr_page);
  void clear();
  void collect_garbage() {
    if (!retired_.empty()) retired_.clear();
  }
  size_t size() const { return blocks_.size(); }
  bool full() const { return cached_ops_ >= kMaxCachedOps; }
  void set_retire_listener(BlockRetireListener* listener) { listener_ = listener; }

private:
  void forget_fast(const Block* block);
  std::unordered_map<uint64_t, std::unique_ptr<Block>> blocks_;
  std::unordered_map<uint64_t, std::vector<uint64_t>> pages_; // page -> block addresses
  std::vector<std::unique_ptr<Block>> retired_;
  size_t cached_ops_ = 0;
  Block* fast_[kFastSlots] = {};
  BlockRetireListener* listener_ = nullptr;
};

} // namespace nimbus::machine

#pragma once
// Decoded basic blocks, keyed by the physical address of their first instruction.
//
// A block never crosses a 4 KiB page, so it is valid for any virtual mapping of that page; the
// hart re-translates the pc (one soft-TLB hit) before looking a block up. The cache tracks which
// physical pages hold decoded code so stores to them can drop the stale blocks.
//
// Blocks, their ops and the cache's page records live in one bump-allocated arena (a private
// mapping that costs only the pages written): building a block allocates nothing from the heap,
// and clearing the cache is O(1) besides emptying the hash buckets (a Linux boot fills and clears
// it about 22 times; per-block malloc/free and freeing every block at a clear were ~15 % of it).
// Blocks dropped one by one (a store into their page) keep their bytes until the next clear.
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "machine/zero_pages.hpp"
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

// A block's ops: storage the block does not own (the cache's arena, or the hart's scratch
// array), filled in order up to a fixed capacity.
class BlockOps {
public:
  BlockOps() = default;
  BlockOps(BlockOp* storage, uint32_t capacity) : data_(storage), capacity_(capacity) {}
  BlockOp* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  BlockOp& operator[](size_t i) const { return data_[i]; }
  BlockOp& back() const { return data_[size_ - 1]; }
  BlockOp* begin() const { return data_; }
  BlockOp* end() const { return data_ + size_; }
  void push_back(const BlockOp& op) {
    assert(size_ < capacity_);
    data_[size_++] = op;
  }

private:
  BlockOp* data_ = nullptr;
  uint32_t size_ = 0;
  [[maybe_unused]] uint32_t capacity_ = 0; // read by push_back's assert only
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
  JitExit* next_incoming = nullptr; // the next exit linked to the same block (`linked`)
};

// A translated block's JIT state (machine/jit), kept out of Block: most decoded blocks never get
// hot, and these 96 bytes on each of them cost more host memory than their ops.
struct JitBlock {
  // The entry other blocks' native code jumps to: the once-per-block check, then Block::jit_code.
  const void* chain = nullptr;
  JitExit exits[2];
  // Exits of other blocks patched to jump here, chained through JitExit::next_incoming.
  JitExit* incoming = nullptr;
};

// Trivially destructible: the arena is reset without visiting its blocks.
class Block {
public:
  uint64_t paddr = 0;
  uint32_t count = 0; // instructions (the trailing fall-through op is not one)
  uint32_t next_link = 0; // which link to replace next
  BlockLink links[2];     // taken / not taken successors
  BlockOps ops;
  // JIT tier (machine/jit): native code for this block once it is hot (null: interpret), how
  // often the dispatcher has run it, and the rest of its JIT state (in the arena, from its first
  // translation). The code dies with the block.
  const void* jit_code = nullptr;
  uint32_t heat = 0;
  JitBlock* jit = nullptr;

private:
  friend class BlockCache;
  Block* hash_next = nullptr; // the next block in the same hash bucket
  Block* page_next = nullptr; // the next block starting in the same page
};

// Told when blocks are dropped (the JIT unlinks native jumps into them).
class BlockRetireListener {
public:
  virtual void block_retired(Block& block) = 0; // one block (its page was written, or it was replaced)
  virtual void blocks_cleared() = 0;            // every block at once
protected:
  ~BlockRetireListener() = default;
};

// The arena hands out 16-byte aligned pieces.
constexpr size_t arena_align(size_t bytes) { return (bytes + 15) & ~size_t{15}; }

class BlockCache {
public:
  static constexpr unsigned kBuckets = 32768;
  static constexpr unsigned kPageBuckets = 4096;
  // Decoded ops kept before the whole cache is dropped and refilled from what runs next (QEMU
  // flushes its translation buffer the same way): a Linux guest's hot code fits, and the host
  // memory a hart costs beyond guest RAM stays bounded whatever the guest executes. 80 Ki since
  // JIT state left Block (JitBlock), in the memory 64 Ki took before: busybox's tools ran at
  // 1.36-1.40x QEMU's speed instead of 1.06x (docs/jit.md).
  static constexpr size_t kMaxCachedOps = size_t{80} << 10;
  // The largest block (the hart's 64 instructions and a fall-through op).
  static constexpr unsigned kMaxBlockOps = 65;
  // The arena's bound, live and dropped blocks together. A fill of 80 Ki ops (busybox's tools)
  // takes about 5.1 MiB, so the op bound above is what normally ends a fill; this one bounds what
  // dropped blocks (code pages rewritten) may add before the next clear, so that such a guest
  // too stays under 16 MiB beyond its RAM (a long tools run peaks at 15.0 MiB).
  static constexpr size_t kArenaBytes = size_t{6} << 20;

  BlockCache();
  ~BlockCache();
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  Block* find(uint64_t paddr) const {
    Block* block = buckets_[bucket(paddr)];
    while (block != nullptr && block->paddr != paddr) block = block->hash_next;
    return block;
  }
  // A new block at the arena's cursor with room for kMaxBlockOps ops, not yet in the cache: fill
  // it, then insert() it (or leave it, and the next start_block() reuses its bytes). Only when
  // !full() and no clear is waiting for collect_garbage().
  Block* start_block(uint64_t paddr);
  // Adds the block start_block() returned, keeping only the ops it used; returns true when its
  // page held no code before (the caller must then stop fast stores into that page).
  bool insert(Block* block);
  bool page_has_code(uint64_t paddr_page) const { return find_page(paddr_page) != nullptr; }
  // The JIT state of `block` (in the cache), made on first use; null when the arena has no room
  // left for it (the block stays interpreted until the cache is next cleared).
  JitBlock* jit_block(Block& block);
  // Drops every block starting in the page. Their bytes stay valid until the next clear, because
  // the block being executed may be one of them.
  void invalidate_page(uint64_t paddr_page);
  // Drops every block. The arena is reused only after collect_garbage(): the block being
  // executed may be one of them.
  void clear();
  void collect_garbage() {
    if (reset_pending_) reset_arena();
  }
  size_t size() const { return blocks_; }
  // Visits every block in the cache (not the dropped ones).
  template <class Visit> void for_each_block(Visit visit) {
    for (Block* head : buckets_)
      for (Block* block = head; block != nullptr; block = block->hash_next) visit(*block);
  }
  bool full() const {
    return cached_ops_ >= kMaxCachedOps || used_ + kRoomForBlock > kArenaBytes;
  }
  size_t arena_used() const { return used_; }
  void set_retire_listener(BlockRetireListener* listener) { listener_ = listener; }

private:
  // One physical page holding decoded code, and the blocks that start in it.
  struct CodePage {
    uint64_t page = 0;
    Block* blocks = nullptr;
    CodePage* next = nullptr; // the next page in the same bucket
  };
  static constexpr size_t kMaxBlockBytes = arena_align(sizeof(Block) + kMaxBlockOps * sizeof(BlockOp));
  // What insert() may take: the largest block and a new page's record.
  static constexpr size_t kRoomForBlock = kMaxBlockBytes + arena_align(sizeof(CodePage));
  static unsigned bucket(uint64_t paddr) {
    return static_cast<unsigned>((paddr >> 1) ^ (paddr >> 16)) & (kBuckets - 1);
  }
  static unsigned page_bucket(uint64_t page) {
    return static_cast<unsigned>((page >> 12) ^ (page >> 24)) & (kPageBuckets - 1);
  }
  CodePage* find_page(uint64_t page) const {
    CodePage* p = page_buckets_[page_bucket(page)];
    while (p != nullptr && p->page != page) p = p->next;
    return p;
  }
  void* allocate(size_t bytes);
  void reset_arena();
  void unhash(Block* block);
  void retire(Block* block);

  ZeroPages arena_{kArenaBytes};
  uint8_t* const base_;
  size_t used_ = 0;
  bool reset_pending_ = false;
  Block* started_ = nullptr;
  size_t cached_ops_ = 0;
  size_t blocks_ = 0;
  Block* buckets_[kBuckets] = {};
  CodePage* page_buckets_[kPageBuckets] = {};
  BlockRetireListener* listener_ = nullptr;
};

} // namespace nimbus::machine

#pragma once
// Decoded basic blocks, keyed by the physical address of their first instruction.
//
// A block never crosses a 4 KiB page, so it is valid for any virtual mapping of that page; the
// hart re-translates the pc (one soft-TLB hit) before looking a block up. The cache tracks which
// physical pages hold decoded code so stores to them can drop the stale blocks.
//
// Blocks live in two bump-allocated arenas (private mappings that cost only the pages written),
// so building a block allocates nothing from the heap and dropping many at once is O(1) besides
// emptying hash buckets (per-block malloc/free was ~15 % of a Linux boot):
//  - the nursery, where the hart decodes every block. When it is full only its blocks go: most
//    decoded code runs a few times and never again;
//  - the tenured arena, where a block moves when the JIT translates it (with the other blocks of
//    its unit: native code points at their ops). Translated code survives the nursery's churn, so
//    a guest whose code outgrows the nursery (Python's interpreter and compiler) keeps its hot
//    code translated instead of translating it again after every clear (docs/jit.md).
// Everything goes at once only when the tenured arena is full, the code changes under a rule
// that drops all (FENCE.I, PMP), or the JIT starts or stops.
// Blocks dropped one by one (a store into their page) keep their bytes until the next clear of
// their arena.
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

// 24 bytes: the nursery's bound is in bytes, so the smaller an op the more of a large guest's
// warm code stays decoded (Python's interpreter and compiler outgrow it; docs/jit.md). What the
// raw bits say (rs3, the rounding mode) is read from them.
struct BlockOp {
  OpHandler handler;
  int32_t imm;        // every RISC-V immediate (LUI's included) is a sign-extended 32-bit value
  uint32_t bits;      // raw instruction, reported as mtval when it turns out illegal
  uint8_t rd;         // integer destinations: x0 is remapped to a discard register
  uint8_t rs1, rs2;
  uint8_t length;     // 2 or 4; 0 for a block's trailing fall-through op
  uint16_t offset;    // bytes from the block's first instruction
  uint8_t index;      // instructions before this one in the block (at most 64)
  riscv::Op op;
  // R4-type (fused multiply-add) third source.
  unsigned rs3() const { return bits >> 27; }
  // The rounding mode (funct3) of an F or D operation: those have no compressed form.
  unsigned rm() const { return (bits >> 12) & 7; }
};
static_assert(sizeof(BlockOp) == 24);

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
  // The next op's storage, for building it in place (`new (ops.append()) BlockOp(make())`): a
  // copy's wide loads of an op just written field by field stall on store forwarding, which
  // was a third of decoding's time (docs/jit.md).
  void* append() {
    assert(size_ < capacity_);
    return &data_[size_++];
  }

private:
  BlockOp* data_ = nullptr;
  uint32_t size_ = 0;
  [[maybe_unused]] uint32_t capacity_ = 0; // read by push_back's assert only
};

class Block;
// A remembered successor: when the block ends with pc == `pc` at a privilege, and the hart's chain
// epoch is still the one recorded (no translation or code change since), the next block is
// `block`. A successor fetched through a global mapping records the global epoch instead, which a
// change of address space leaves alone (Hart::break_local_chains). Epoch, kind and privilege (a
// fetch context, below 8) share one word (`tag`): an epoch is bumped at most a few million times a
// second, so its 56 bits do not wrap in the life of any machine.
struct BlockLink {
  static constexpr uint64_t tag_of(uint64_t epoch, uint8_t privilege) { return epoch << 8 | privilege; }
  static constexpr uint64_t global_tag_of(uint64_t epoch, uint8_t privilege) { return epoch << 8 | 0x80 | privilege; }
  uint64_t pc = ~uint64_t{0};
  uint64_t tag = 0; // tag_of(epoch, privilege); epochs start at 1, so 0 matches nothing
  class Block* block = nullptr;
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
  uint16_t count = 0;    // instructions (the trailing fall-through op is not one); at most 64
  uint16_t next_link = 0; // which link to replace next
  // JIT tier (machine/jit): how often the dispatcher has run the block (see jit_code below).
  uint32_t heat = 0;
  BlockLink links[2];     // taken / not taken successors
  BlockOps ops;
  // JIT tier (machine/jit): native code for this block once it is hot (null: interpret) and the
  // rest of its JIT state (in the arena, from its first translation). The code dies with the block.
  const void* jit_code = nullptr;
  JitBlock* jit = nullptr;
  // Set on a nursery block when it moved to the tenured arena: links recorded to it before the
  // move (valid until the next epoch, as the copy is) lead to the copy.
  Block* moved = nullptr;

private:
  friend class BlockCache;
  Block* hash_next = nullptr; // the next block in the same hash bucket
  Block* page_next = nullptr; // the next block starting in the same page
};

// Asks the host for a block's header and first ops at once (an arena puts the ops right after
// the header). The dispatcher reads them one after another, and a warm block is seldom in the
// host's caches: without this, a chain of dependent misses per block run (docs/jit.md).
inline void prefetch_block(const Block* block) {
  const auto* bytes = reinterpret_cast<const char*>(block);
  for (int line = 0; line < 4; ++line) __builtin_prefetch(bytes + 64 * line);
}

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
  // The largest block (the hart's 64 instructions and a fall-through op).
  static constexpr unsigned kMaxBlockOps = 65;
  // The nursery: every block the hart decodes, and the code pages' records. When it is full its
  // blocks are dropped (the hart then decodes what runs next again): most of them are warm code
  // that does not get hot before then, and dropping them keeps what was translated.
  static constexpr size_t kNurseryBytes = size_t{2} << 20;
  // The tenured arena: translated units' blocks and their JIT state, sized with the code cache
  // (3.5 MiB: a unit's native code takes about twice its blocks' decoded bytes) so that both fill
  // at about the same time; when it is full everything is dropped, as when the code cache is full.
  // 2.125 MiB: 2.5 MiB held the same blocks when an op was 32 bytes and a block's header 144.
  // With the code cache, 7.625 MiB at most beyond guest RAM per hart (docs/jit.md, "Host memory").
  static constexpr size_t kTenuredBytes = size_t{17} << 17;

  BlockCache();
  ~BlockCache();
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  Block* find(uint64_t paddr) const {
    Block* block = buckets_[bucket(paddr)];
    while (block != nullptr && block->paddr != paddr) block = block->hash_next;
    return block;
  }
  // A new block at the nursery's cursor with room for kMaxBlockOps ops, not yet in the cache:
  // fill it, then insert() it (or leave it, and the next start_block() reuses its bytes). Only
  // when !full() and no clear is waiting for collect_garbage().
  Block* start_block(uint64_t paddr);
  // Adds the block start_block() returned, keeping only the ops it used; returns true when its
  // page held no code before (the caller must then stop fast stores into that page).
  bool insert(Block* block);
  bool page_has_code(uint64_t paddr_page) const { return find_page(paddr_page) != nullptr; }
  // The block (in the cache) in the tenured arena: itself if it is there already, else a copy
  // that takes its place (the nursery block's `moved` points to it). Null when the tenured arena
  // has no room: then the caller clears the cache.
  Block* tenure(Block& block);
  bool tenured(const Block& block) const {
    const auto* p = reinterpret_cast<const uint8_t*>(&block);
    return p >= tenured_.base && p < tenured_.base + kTenuredBytes;
  }
  // The JIT state of a tenured `block`, made on first use; null when the tenured arena has no
  // room left for it.
  JitBlock* jit_block(Block& block);
  // Drops every block starting in the page. Their bytes stay valid until their arena's next
  // reset, because the block being executed may be one of them.
  void invalidate_page(uint64_t paddr_page);
  // Drops the nursery's blocks and starts it over at once: only between two blocks (none of its
  // blocks is running), the caller breaking every link into it. Tenured blocks stay.
  void clear_nursery();
  // Drops every block. The arenas are reused only after collect_garbage(): the block being
  // executed may be one of them.
  void clear();
  void collect_garbage() {
    if (reset_pending_) reset_arenas();
  }
  size_t size() const { return blocks_; }
  // Visits every block in the cache (not the dropped ones).
  template <class Visit> void for_each_block(Visit visit) {
    for (Block* head : buckets_)
      for (Block* block = head; block != nullptr; block = block->hash_next) visit(*block);
  }
  // The nursery has no room for another block: the hart clears it before decoding one.
  bool full() const { return nursery_.used + kRoomForBlock > kNurseryBytes; }
  size_t nursery_used() const { return nursery_.used; }
  size_t tenured_used() const { return tenured_.used; }
  void set_retire_listener(BlockRetireListener* listener) { listener_ = listener; }

private:
  // One physical page holding decoded code, and the blocks that start in it.
  struct CodePage {
    uint64_t page = 0;
    Block* blocks = nullptr;
    CodePage* next = nullptr; // the next page in the same bucket
  };
  struct Arena {
    explicit Arena(size_t bytes);
    ~Arena();
    void* allocate(size_t bytes);
    void reset();
    ZeroPages pages;
    uint8_t* const base;
    const size_t bytes;
    size_t used = 0;
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
  // Puts the block at the head of its page's list (a new page record from the nursery if its
  // page has none); returns true when the page is new.
  bool add_to_page(Block* block);
  void reset_arenas();
  void unhash(Block* block);
  void retire(Block* block);

  Arena nursery_{kNurseryBytes};
  Arena tenured_{kTenuredBytes};
  bool reset_pending_ = false;
  Block* started_ = nullptr;
  size_t blocks_ = 0;
  Block* buckets_[kBuckets] = {};
  CodePage* page_buckets_[kPageBuckets] = {};
  BlockRetireListener* listener_ = nullptr;
};

} // namespace nimbus::machine

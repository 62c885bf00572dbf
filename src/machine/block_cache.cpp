#include "machine/block_cache.hpp"

#include <algorithm>
#include <iterator>
#include <new>
#include <type_traits>

#if defined(__SANITIZE_ADDRESS__)
#define NIMBUS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NIMBUS_ASAN 1
#endif
#endif
#if defined(NIMBUS_ASAN)
#include <sanitizer/asan_interface.h>
// Under ASan the arena's free part is poisoned: a block used after the reset that freed it (or
// bytes past a block's ops) is reported as a heap use-after-free would be.
#define NIMBUS_ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define NIMBUS_ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define NIMBUS_ARENA_POISON(p, n) ((void)(p), (void)(n))
#define NIMBUS_ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace nimbus::machine {

static_assert(std::is_trivially_destructible_v<Block> && std::is_trivially_destructible_v<JitBlock>,
              "the arenas are reset without destroying their blocks");
static_assert(alignof(Block) <= 16 && alignof(BlockOp) <= 16 && sizeof(Block) % alignof(BlockOp) == 0);

BlockCache::Arena::Arena(size_t size) : pages(size), base(static_cast<uint8_t*>(pages.data())), bytes(size) {
  NIMBUS_ARENA_POISON(base, bytes);
}

// The mapping goes with the cache; whatever is mapped there next must not inherit the poison.
BlockCache::Arena::~Arena() { NIMBUS_ARENA_UNPOISON(base, bytes); }

void* BlockCache::Arena::allocate(size_t size) {
  size = arena_align(size);
  assert(used + size <= bytes);
  void* p = base + used;
  NIMBUS_ARENA_UNPOISON(p, size);
  used += size;
  return p;
}

void BlockCache::Arena::reset() {
  NIMBUS_ARENA_POISON(base, std::min(used + kMaxBlockBytes, bytes));
  used = 0;
}

BlockCache::BlockCache() = default;
BlockCache::~BlockCache() = default;

void BlockCache::reset_arenas() {
  nursery_.reset();
  tenured_.reset();
  reset_pending_ = false;
}

Block* BlockCache::start_block(uint64_t paddr) {
  assert(!reset_pending_ && !full());
  // Not allocated yet: insert() keeps only the bytes the block used.
  uint8_t* const at = nursery_.base + nursery_.used;
  NIMBUS_ARENA_UNPOISON(at, kMaxBlockBytes);
  auto* block = new (at) Block{};
  block->paddr = paddr;
  block->ops = BlockOps(reinterpret_cast<BlockOp*>(block + 1), kMaxBlockOps);
  started_ = block;
  return block;
}

bool BlockCache::add_to_page(Block* block) {
  const uint64_t page = block->paddr & ~uint64_t{0xfff};
  CodePage* code_page = find_page(page);
  const bool new_page = code_page == nullptr;
  if (new_page) {
    code_page = new (nursery_.allocate(sizeof(CodePage))) CodePage{};
    code_page->page = page;
    CodePage*& head = page_buckets_[page_bucket(page)];
    code_page->next = head;
    head = code_page;
  }
  block->page_next = code_page->blocks;
  code_page->blocks = block;
  return new_page;
}

bool BlockCache::insert(Block* block) {
  assert(block == started_ && reinterpret_cast<uint8_t*>(block) == nursery_.base + nursery_.used);
  started_ = nullptr;
  uint8_t* const room_end = reinterpret_cast<uint8_t*>(block) + kMaxBlockBytes;
  nursery_.allocate(sizeof(Block) + block->ops.size() * sizeof(BlockOp));
  if (Block* old = find(block->paddr)) retire(old); // not expected: the hart inserts after a miss
  const bool new_page = add_to_page(block);
  // The rest of the room start_block() gave it is free again.
  uint8_t* const cursor = nursery_.base + nursery_.used;
  if (cursor < room_end) NIMBUS_ARENA_POISON(cursor, room_end - cursor);
  // After the bucket's tenured blocks (clear_nursery() then cuts each chain at its first nursery
  // block without visiting the rest). The lookup that missed has just walked this chain.
  Block** link = &buckets_[bucket(block->paddr)];
  while (*link != nullptr && tenured(**link)) link = &(*link)->hash_next;
  block->hash_next = *link;
  *link = block;
  ++blocks_;
  return new_page;
}

Block* BlockCache::tenure(Block& block) {
  if (tenured(block)) return &block;
  started_ = nullptr; // a block started and left unused (a page-crossing fetch) is given up
  const size_t size = sizeof(Block) + block.ops.size() * sizeof(BlockOp);
  if (reset_pending_ || tenured_.used + arena_align(size) > kTenuredBytes) return nullptr;
  auto* copy = new (tenured_.allocate(size)) Block{};
  copy->paddr = block.paddr;
  copy->count = block.count;
  copy->heat = block.heat;
  copy->ops = BlockOps(reinterpret_cast<BlockOp*>(copy + 1), static_cast<uint32_t>(block.ops.size()));
  for (const BlockOp& op : block.ops) copy->ops.push_back(op);
  // At the head of its bucket's chain (tenured blocks come first: insert()), in the block's
  // place in its page's list.
  Block*& head = buckets_[bucket(block.paddr)];
  Block** link = &head;
  while (*link != &block) link = &(*link)->hash_next;
  *link = block.hash_next;
  copy->hash_next = head;
  head = copy;
  CodePage* const code_page = find_page(block.paddr & ~uint64_t{0xfff});
  Block** in_page = &code_page->blocks;
  while (*in_page != &block) in_page = &(*in_page)->page_next;
  copy->page_next = block.page_next;
  *in_page = copy;
  block.moved = copy;
  return copy;
}

JitBlock* BlockCache::jit_block(Block& block) {
  assert(tenured(block));
  if (block.jit != nullptr) return block.jit;
  if (reset_pending_ || tenured_.used + arena_align(sizeof(JitBlock)) > kTenuredBytes) return nullptr;
  block.jit = new (tenured_.allocate(sizeof(JitBlock))) JitBlock{};
  return block.jit;
}

void BlockCache::unhash(Block* block) {
  Block** link = &buckets_[bucket(block->paddr)];
  while (*link != block) link = &(*link)->hash_next;
  *link = block->hash_next;
  if (listener_ != nullptr) listener_->block_retired(*block);
  --blocks_;
}

// One block replaced by another at the same address: out of its bucket and its page's list.
void BlockCache::retire(Block* block) {
  unhash(block);
  CodePage* code_page = find_page(block->paddr & ~uint64_t{0xfff});
  Block** link = &code_page->blocks;
  while (*link != block) link = &(*link)->page_next;
  *link = block->page_next;
}

void BlockCache::invalidate_page(uint64_t paddr_page) {
  CodePage** link = &page_buckets_[page_bucket(paddr_page)];
  while (*link != nullptr && (*link)->page != paddr_page) link = &(*link)->next;
  CodePage* code_page = *link;
  if (code_page == nullptr) return;
  *link = code_page->next;
  for (Block* block = code_page->blocks; block != nullptr; block = block->page_next) unhash(block);
}

void BlockCache::clear_nursery() {
  assert(!reset_pending_);
  started_ = nullptr;
  // Nursery blocks were never translated (translation tenures a unit's blocks first): nothing
  // native links to them, so the listener has nothing to undo. Each chain is its tenured blocks
  // and then its nursery blocks (insert(), tenure()): cut it after the first part. The page
  // records lived in the nursery too: made again for the tenured blocks' pages.
#ifndef NDEBUG
  for (const Block* head : buckets_) { // before the reset poisons the nursery's blocks (ASan)
    const Block* block = head;
    while (block != nullptr && tenured(*block)) block = block->hash_next;
    for (; block != nullptr; block = block->hash_next) assert(!tenured(*block));
  }
#endif
  std::fill(std::begin(page_buckets_), std::end(page_buckets_), nullptr);
  nursery_.reset();
  blocks_ = 0;
  for (Block*& head : buckets_) {
    Block** link = &head;
    for (; *link != nullptr && tenured(**link); link = &(*link)->hash_next) {
      add_to_page(*link);
      ++blocks_;
    }
    *link = nullptr;
  }
}

void BlockCache::clear() {
  std::fill(std::begin(buckets_), std::end(buckets_), nullptr);
  std::fill(std::begin(page_buckets_), std::end(page_buckets_), nullptr);
  blocks_ = 0;
  started_ = nullptr;
  reset_pending_ = true;
  if (listener_ != nullptr) listener_->blocks_cleared();
}

} // namespace nimbus::machine

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
              "the arena is reset without destroying its blocks");
static_assert(alignof(Block) <= 16 && alignof(BlockOp) <= 16 && sizeof(Block) % alignof(BlockOp) == 0);

BlockCache::BlockCache() : base_(static_cast<uint8_t*>(arena_.data())) { NIMBUS_ARENA_POISON(base_, kArenaBytes); }

// The mapping goes with the cache; whatever is mapped there next must not inherit the poison.
BlockCache::~BlockCache() { NIMBUS_ARENA_UNPOISON(base_, kArenaBytes); }

void BlockCache::reset_arena() {
  NIMBUS_ARENA_POISON(base_, std::min(used_ + kMaxBlockBytes, kArenaBytes));
  used_ = 0;
  reset_pending_ = false;
}

void* BlockCache::allocate(size_t bytes) {
  bytes = arena_align(bytes);
  assert(!reset_pending_ && used_ + bytes <= kArenaBytes);
  void* p = base_ + used_;
  NIMBUS_ARENA_UNPOISON(p, bytes);
  used_ += bytes;
  return p;
}

Block* BlockCache::start_block(uint64_t paddr) {
  assert(!reset_pending_ && !full());
  // Not allocated yet: insert() keeps only the bytes the block used.
  NIMBUS_ARENA_UNPOISON(base_ + used_, kMaxBlockBytes);
  auto* block = new (base_ + used_) Block{};
  block->paddr = paddr;
  block->ops = BlockOps(reinterpret_cast<BlockOp*>(block + 1), kMaxBlockOps);
  started_ = block;
  return block;
}

bool BlockCache::insert(Block* block) {
  assert(block == started_ && reinterpret_cast<uint8_t*>(block) == base_ + used_);
  started_ = nullptr;
  allocate(sizeof(Block) + block->ops.size() * sizeof(BlockOp));
  if (Block* old = find(block->paddr)) retire(old); // not expected: the hart inserts after a miss
  const uint64_t page = block->paddr & ~uint64_t{0xfff};
  CodePage* code_page = find_page(page);
  const bool new_page = code_page == nullptr;
  if (new_page) {
    code_page = new (allocate(sizeof(CodePage))) CodePage{};
    code_page->page = page;
    CodePage*& head = page_buckets_[page_bucket(page)];
    code_page->next = head;
    head = code_page;
  }
  // The rest of the room start_block() gave it is free again.
  uint8_t* const room_end = reinterpret_cast<uint8_t*>(block) + kMaxBlockBytes;
  if (base_ + used_ < room_end) NIMBUS_ARENA_POISON(base_ + used_, room_end - (base_ + used_));
  block->page_next = code_page->blocks;
  code_page->blocks = block;
  Block*& head = buckets_[bucket(block->paddr)];
  block->hash_next = head;
  head = block;
  cached_ops_ += block->ops.size();
  ++blocks_;
  return new_page;
}

JitBlock* BlockCache::jit_block(Block& block) {
  if (block.jit != nullptr) return block.jit;
  started_ = nullptr; // a block started and left unused (a page-crossing fetch) is given up
  if (reset_pending_ || used_ + arena_align(sizeof(JitBlock)) + kRoomForBlock > kArenaBytes) return nullptr;
  block.jit = new (allocate(sizeof(JitBlock))) JitBlock{};
  return block.jit;
}

void BlockCache::unhash(Block* block) {
  Block** link = &buckets_[bucket(block->paddr)];
  while (*link != block) link = &(*link)->hash_next;
  *link = block->hash_next;
  if (listener_ != nullptr) listener_->block_retired(*block);
  cached_ops_ -= block->ops.size();
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

void BlockCache::clear() {
  std::fill(std::begin(buckets_), std::end(buckets_), nullptr);
  std::fill(std::begin(page_buckets_), std::end(page_buckets_), nullptr);
  cached_ops_ = 0;
  blocks_ = 0;
  started_ = nullptr;
  reset_pending_ = true;
  if (listener_ != nullptr) listener_->blocks_cleared();
}

} // namespace nimbus::machine

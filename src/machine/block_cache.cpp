#include "machine/block_cache.hpp"

#include <algorithm>
#include <iterator>
#include <new>
#include <type_traits>

namespace nimbus::machine {

static_assert(std::is_trivially_destructible_v<Block>, "the arena is reset without destroying its blocks");
static_assert(alignof(Block) <= 16 && alignof(BlockOp) <= 16 && sizeof(Block) % alignof(BlockOp) == 0);

BlockCache::BlockCache() : base_(static_cast<uint8_t*>(arena_.data())) {}

void* BlockCache::allocate(size_t bytes) {
  bytes = (bytes + 15) & ~size_t{15};
  assert(!reset_pending_ && used_ + bytes <= kArenaBytes);
  void* p = base_ + used_;
  used_ += bytes;
  return p;
}

Block* BlockCache::start_block(uint64_t paddr) {
  assert(!reset_pending_ && !full());
  // Not allocated yet: insert() keeps only the bytes the block used.
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
  block->page_next = code_page->blocks;
  code_page->blocks = block;
  Block*& head = buckets_[bucket(block->paddr)];
  block->hash_next = head;
  head = block;
  cached_ops_ += block->ops.size();
  ++blocks_;
  return new_page;
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

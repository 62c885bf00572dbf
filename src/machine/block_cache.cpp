#include "machine/block_cache.hpp"

#include <algorithm>

namespace nimbus::machine {

bool BlockCache::insert(std::unique_ptr<Block> block) {
  const uint64_t paddr = block->paddr;
  const uint64_t page = paddr & ~uint64_t{0xfff};
  auto [page_it, new_page] = pages_.try_emplace(page);
  page_it->second.push_back(paddr);
  auto& stored = blocks_[paddr];
  if (stored) {
    if (listener_ != nullptr) listener_->block_retired(*stored);
    forget_fast(stored.get());
    cached_ops_ -= stored->ops.size();
    retired_.push_back(std::move(stored));
  }
  cached_ops_ += block->ops.size();
  stored = std::move(block);
  fast_[(paddr >> 1) & (kFastSlots - 1)] = stored.get();
  return new_page;
}

void BlockCache::forget_fast(const Block* block) {
  Block*& slot = fast_[(block->paddr >> 1) & (kFastSlots - 1)];
  if (slot == block) slot = nullptr;
}

void BlockCache::invalidate_page(uint64_t paddr_page) {
  const auto page_it = pages_.find(paddr_page);
  if (page_it == pages_.end()) return;
  for (const uint64_t paddr : page_it->second) {
    const auto it = blocks_.find(paddr);
    if (it == blocks_.end()) continue;
    if (listener_ != nullptr) listener_->block_retired(*it->second);
    forget_fast(it->second.get());
    cached_ops_ -= it->second->ops.size();
    retired_.push_back(std::move(it->second));
    blocks_.erase(it);
  }
  pages_.erase(page_it);
}

void BlockCache::clear() {
  for (auto& [paddr, block] : blocks_) retired_.push_back(std::move(block));
  blocks_.clear();
  pages_.clear();
  cached_ops_ = 0;
  std::fill(std::begin(fast_), std::end(fast_), nullptr);
  if (listener_ != nullptr) listener_->blocks_cleared();
}

} // namespace nimbus::machine

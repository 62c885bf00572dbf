// The decoded-block cache (block_cache.hpp): lookups through shared hash buckets, dropping one
// page's blocks, the O(1) clear of its arenas (reused only after collect_garbage, since the block
// being executed may be a dropped one), the nursery's bound, and tenured blocks: moved in their
// place, kept when the nursery starts over (also when they share a hash bucket with nursery
// blocks), and what a full tenured arena does.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

#include "machine/block_cache.hpp"

namespace nimbus::test {
namespace {

using machine::Block;
using machine::BlockCache;
using machine::BlockLink;
using machine::BlockOp;
using machine::BlockRetireListener;

class Listener : public BlockRetireListener {
public:
  void block_retired(Block& block) override { retired.push_back(block.paddr); }
  void blocks_cleared() override { ++cleared; }
  std::vector<uint64_t> retired;
  int cleared = 0;
};

// Builds a block of `ops` ops whose raw bits record where it starts and which op each is.
Block* add(BlockCache& cache, uint64_t paddr, unsigned ops, bool* new_page = nullptr) {
  Block* block = cache.start_block(paddr);
  for (unsigned i = 0; i < ops; ++i) {
    BlockOp op{};
    op.bits = static_cast<uint32_t>(paddr + i);
    op.index = static_cast<uint8_t>(i);
    block->ops.push_back(op);
  }
  block->count = ops;
  const bool fresh = cache.insert(block);
  if (new_page != nullptr) *new_page = fresh;
  return block;
}

bool intact(const Block* block, uint64_t paddr, unsigned ops) {
  if (block->paddr != paddr || block->ops.size() != ops) return false;
  for (unsigned i = 0; i < ops; ++i)
    if (block->ops[i].bits != static_cast<uint32_t>(paddr + i)) return false;
  return true;
}

TEST(BlockCache, FindsBlocksAndTellsWhenAPageFirstHoldsCode) {
  BlockCache cache;
  bool new_page = false;
  Block* a = add(cache, 0x80001000, 3, &new_page);
  EXPECT_TRUE(new_page);
  Block* b = add(cache, 0x80001010, 65, &new_page);
  EXPECT_FALSE(new_page);
  Block* c = add(cache, 0x80002ffe, 1, &new_page);
  EXPECT_TRUE(new_page);
  EXPECT_EQ(cache.find(0x80001000), a);
  EXPECT_EQ(cache.find(0x80001010), b);
  EXPECT_EQ(cache.find(0x80002ffe), c);
  EXPECT_EQ(cache.find(0x80001002), nullptr);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_TRUE(cache.page_has_code(0x80001000));
  EXPECT_TRUE(cache.page_has_code(0x80002000));
  EXPECT_FALSE(cache.page_has_code(0x80003000));
  EXPECT_TRUE(intact(a, 0x80001000, 3));
  EXPECT_TRUE(intact(b, 0x80001010, 65));
  EXPECT_TRUE(intact(c, 0x80002ffe, 1));
}

// Blocks whose addresses share a hash bucket (and pages that share a page bucket) are told apart.
TEST(BlockCache, CollidingAddressesAndDroppingOnePage) {
  BlockCache cache;
  Listener listener;
  cache.set_retire_listener(&listener);
  // Blocks in one hash bucket (paddr >> 1 ^ paddr >> 16: the low bits cancel the high ones), then
  // pages in one page bucket (page >> 12 ^ page >> 24 likewise).
  std::vector<uint64_t> colliding;
  for (uint64_t k = 0; k < 6; ++k) colliding.push_back(0x80000000 + (k << 16) + (k << 1));
  for (uint64_t k = 1; k < 6; ++k) colliding.push_back(0x80000000 + k * 0x1001000 + 0x20);
  std::set<uint64_t> pages;
  for (const uint64_t p : colliding) {
    add(cache, p, 2);
    pages.insert(p & ~uint64_t{0xfff});
  }
  add(cache, colliding[2] + 0x40, 4); // a second block in the page of colliding[2]
  for (const uint64_t p : colliding) ASSERT_NE(cache.find(p), nullptr) << std::hex << p;
  cache.invalidate_page(colliding[2] & ~uint64_t{0xfff});
  EXPECT_EQ(std::set<uint64_t>(listener.retired.begin(), listener.retired.end()),
            (std::set<uint64_t>{colliding[2], colliding[2] + 0x40}));
  EXPECT_EQ(cache.find(colliding[2]), nullptr);
  EXPECT_EQ(cache.find(colliding[2] + 0x40), nullptr);
  EXPECT_FALSE(cache.page_has_code(colliding[2] & ~uint64_t{0xfff}));
  for (const uint64_t p : colliding)
    if (p != colliding[2]) {
      ASSERT_NE(cache.find(p), nullptr) << std::hex << p;
      EXPECT_TRUE(intact(cache.find(p), p, 2));
      EXPECT_TRUE(cache.page_has_code(p & ~uint64_t{0xfff}));
    }
  EXPECT_EQ(cache.size(), colliding.size() - 1);
  cache.invalidate_page(0x90000000); // no code there: nothing happens
  EXPECT_EQ(listener.retired.size(), 2u);
  cache.set_retire_listener(nullptr);
}

// A dropped block stays readable until the next clear (the hart may be running it), and a
// cleared cache reuses its arena only after collect_garbage.
TEST(BlockCache, DroppedBlocksStayIntactUntilTheArenaIsReset) {
  BlockCache cache;
  Listener listener;
  cache.set_retire_listener(&listener);
  Block* running = add(cache, 0x80004000, 5);
  add(cache, 0x80005000, 7);
  cache.invalidate_page(0x80004000);
  Block* other = add(cache, 0x80006000, 9);
  EXPECT_TRUE(intact(running, 0x80004000, 5));
  EXPECT_TRUE(intact(other, 0x80006000, 9));
  const size_t used = cache.nursery_used();
  EXPECT_GT(used, 0u);

  cache.clear();
  EXPECT_EQ(listener.cleared, 1);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.find(0x80005000), nullptr);
  EXPECT_EQ(cache.find(0x80006000), nullptr);
  EXPECT_FALSE(cache.page_has_code(0x80005000));
  EXPECT_TRUE(intact(other, 0x80006000, 9)); // still there: not reset yet
  EXPECT_EQ(cache.nursery_used(), used);

  cache.collect_garbage();
  EXPECT_EQ(cache.nursery_used(), 0u);
  Block* again = add(cache, 0x80007000, 2);
  EXPECT_EQ(again, running); // the arena starts over
  EXPECT_EQ(cache.find(0x80007000), again);
  EXPECT_EQ(cache.find(0x80004000), nullptr);
  cache.set_retire_listener(nullptr);
}

#if defined(__SANITIZE_ADDRESS__)
#define BLOCK_CACHE_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BLOCK_CACHE_TEST_ASAN 1
#endif
#endif
#if defined(BLOCK_CACHE_TEST_ASAN)
// Under ASan a block read after the arena's reset is reported (the free part is poisoned).
TEST(BlockCacheDeathTest, ReadingABlockAfterTheResetIsReportedUnderAsan) {
  BlockCache cache;
  Block* block = add(cache, 0x80004000, 5);
  cache.clear();
  EXPECT_TRUE(intact(block, 0x80004000, 5)); // not reset yet
  volatile const uint32_t* bits = &block->ops[0].bits;
  cache.collect_garbage();
  EXPECT_DEATH((void)*bits, "use-after-poison");
}
#endif

// The nursery's bound ends a fill (dropped blocks' bytes count until the nursery starts over),
// and while it is not full even the largest block fits.
TEST(BlockCache, FullAtTheNurseryBound) {
  BlockCache cache;
  uint64_t paddr = 0x80000000;
  size_t blocks = 0;
  while (!cache.full()) {
    add(cache, paddr, blocks % 64 == 63 ? BlockCache::kMaxBlockOps : 6);
    if (++blocks % 16 == 0) cache.invalidate_page(paddr & ~uint64_t{0xfff});
    paddr += 0x100;
  }
  EXPECT_LE(cache.nursery_used(), BlockCache::kNurseryBytes);
  EXPECT_GT(cache.nursery_used() + 2 * sizeof(Block) + BlockCache::kMaxBlockOps * sizeof(BlockOp),
            BlockCache::kNurseryBytes);
  EXPECT_GT(blocks, BlockCache::kNurseryBytes / (sizeof(Block) + 8 * sizeof(BlockOp)));
  EXPECT_EQ(cache.tenured_used(), 0u);
  cache.clear_nursery();
  EXPECT_FALSE(cache.full());
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.nursery_used(), 0u);
}

// A tenured copy takes the block's place: the same lookups, its bucket's chain and its page's list
// intact around it (the blocks share both), and the nursery block points to it.
TEST(BlockCache, TenureMovesTheBlockInItsPlace) {
  BlockCache cache;
  Listener listener;
  cache.set_retire_listener(&listener);
  // Three blocks in one page: the middle one of its page's list moves.
  const uint64_t page = 0x80010000;
  const uint64_t a = page + 0x10, b = page + 0x20, c = page + 0x40;
  Block* ba = add(cache, a, 3);
  Block* bb = add(cache, b, 4);
  Block* bc = add(cache, c, 5);
  EXPECT_FALSE(cache.tenured(*bb));
  Block* moved = cache.tenure(*bb);
  ASSERT_NE(moved, nullptr);
  EXPECT_NE(moved, bb);
  EXPECT_TRUE(cache.tenured(*moved));
  EXPECT_EQ(bb->moved, moved);
  EXPECT_EQ(moved->moved, nullptr);
  EXPECT_EQ(cache.find(b), moved);
  EXPECT_EQ(cache.find(a), ba);
  EXPECT_EQ(cache.find(c), bc);
  EXPECT_TRUE(intact(moved, b, 4));
  EXPECT_EQ(moved->ops.data(), reinterpret_cast<BlockOp*>(moved + 1));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_GT(cache.tenured_used(), 0u);
  EXPECT_EQ(cache.tenure(*moved), moved); // already there
  // Its JIT state comes from the tenured arena, once.
  machine::JitBlock* jit = cache.jit_block(*moved);
  ASSERT_NE(jit, nullptr);
  EXPECT_EQ(cache.jit_block(*moved), jit);
  EXPECT_TRUE(cache.tenured(*reinterpret_cast<Block*>(jit)));
  // The page's list holds the copy: dropping the page drops all three, the copy not the original.
  cache.invalidate_page(page);
  EXPECT_EQ(std::set<uint64_t>(listener.retired.begin(), listener.retired.end()), (std::set<uint64_t>{a, b, c}));
  EXPECT_EQ(cache.find(b), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_TRUE(intact(bb, b, 4)); // the original stays readable until its arena starts over
  cache.set_retire_listener(nullptr);
}

// When the nursery starts over, tenured blocks stay, with their pages watched; nursery blocks and
// pages that held only them go.
TEST(BlockCache, ClearingTheNurseryKeepsTenuredBlocks) {
  BlockCache cache;
  Listener listener;
  cache.set_retire_listener(&listener);
  std::vector<uint64_t> kept, dropped;
  for (uint64_t k = 0; k < 200; ++k) {
    const uint64_t paddr = 0x80100000 + k * 0x340; // several blocks per page, pages of both kinds
    Block* block = add(cache, paddr, 1 + k % 9);
    if (k % 3 == 0) {
      ASSERT_NE(cache.tenure(*block), nullptr);
      kept.push_back(paddr);
    } else {
      dropped.push_back(paddr);
    }
  }
  cache.clear_nursery();
  EXPECT_EQ(listener.cleared, 0);
  EXPECT_TRUE(listener.retired.empty()); // nursery blocks never had JIT state
  EXPECT_EQ(cache.size(), kept.size());
  for (const uint64_t p : kept) {
    ASSERT_NE(cache.find(p), nullptr) << std::hex << p;
    EXPECT_TRUE(intact(cache.find(p), p, 1 + static_cast<unsigned>((p - 0x80100000) / 0x340) % 9));
    EXPECT_TRUE(cache.page_has_code(p & ~uint64_t{0xfff}));
  }
  std::set<uint64_t> kept_pages;
  for (const uint64_t p : kept) kept_pages.insert(p & ~uint64_t{0xfff});
  for (const uint64_t p : dropped) {
    EXPECT_EQ(cache.find(p), nullptr) << std::hex << p;
    EXPECT_EQ(cache.page_has_code(p & ~uint64_t{0xfff}), kept_pages.count(p & ~uint64_t{0xfff}) != 0);
  }
  // The rebuilt page lists work: a new nursery block shares a tenured block's page, and dropping
  // that page drops both.
  const uint64_t shared_page = kept.front() & ~uint64_t{0xfff};
  bool new_page = true;
  add(cache, shared_page + 0xffe, 1, &new_page);
  EXPECT_FALSE(new_page);
  cache.invalidate_page(shared_page);
  EXPECT_EQ(cache.find(shared_page + 0xffe), nullptr);
  for (const uint64_t p : kept)
    EXPECT_EQ(cache.find(p) == nullptr, (p & ~uint64_t{0xfff}) == shared_page) << std::hex << p;
  cache.set_retire_listener(nullptr);
}

// A nursery clear cuts each hash chain after its tenured blocks without visiting the rest, so
// every chain must keep its tenured blocks first however inserts and moves interleave: blocks of
// one bucket, tenured in the middle, at the head and at the tail, over two nursery lifetimes.
TEST(BlockCache, ClearingTheNurseryKeepsTenuredBlocksOfASharedBucket) {
  BlockCache cache;
  std::vector<uint64_t> colliding; // paddr >> 1 ^ paddr >> 16 the same for all
  for (uint64_t k = 0; k < 8; ++k) colliding.push_back(0x80000000 + (k << 16) + (k << 1));
  std::set<uint64_t> kept;
  for (int lifetime = 0; lifetime < 2; ++lifetime) {
    std::vector<Block*> blocks;
    for (const uint64_t p : colliding)
      if (kept.count(p) == 0) blocks.push_back(add(cache, p, 2));
    // The first inserted (last in the chain), one in the middle, the last inserted (the head).
    for (const size_t i : {size_t{0}, blocks.size() / 2, blocks.size() - 1}) {
      ASSERT_NE(cache.tenure(*blocks[i]), nullptr);
      kept.insert(blocks[i]->paddr);
    }
    add(cache, 0x80000000 + (9 << 16) + (9 << 1), 3); // a nursery block after the moves
    cache.clear_nursery();
    EXPECT_EQ(cache.size(), kept.size());
    for (const uint64_t p : colliding) {
      const Block* found = cache.find(p);
      EXPECT_EQ(found != nullptr, kept.count(p) != 0) << std::hex << p << " lifetime " << lifetime;
      if (found != nullptr) {
        EXPECT_TRUE(cache.tenured(*found));
        EXPECT_TRUE(intact(found, p, 2));
      }
    }
    EXPECT_EQ(cache.find(0x80000000 + (9 << 16) + (9 << 1)), nullptr);
  }
  EXPECT_EQ(kept.size(), 6u);
}

// A full tenured arena refuses the next block (the JIT then clears everything); both arenas start
// over after the clear.
TEST(BlockCache, FullTenuredArenaRefusesThenStartsOverAfterAClear) {
  BlockCache cache;
  uint64_t paddr = 0x80000000;
  size_t tenured = 0;
  for (;;) {
    if (cache.full()) cache.clear_nursery();
    Block* block = add(cache, paddr, 16);
    paddr += 0x80;
    if (cache.tenure(*block) == nullptr) break;
    ++tenured;
  }
  EXPECT_LE(cache.tenured_used(), BlockCache::kTenuredBytes);
  EXPECT_EQ(tenured, BlockCache::kTenuredBytes / machine::arena_align(sizeof(Block) + 16 * sizeof(BlockOp)));
  EXPECT_EQ(cache.size(), tenured + 1);
  cache.clear();
  EXPECT_EQ(cache.find(0x80000000), nullptr);
  cache.collect_garbage();
  EXPECT_EQ(cache.tenured_used(), 0u);
  EXPECT_EQ(cache.nursery_used(), 0u);
  Block* again = add(cache, 0x80000000, 2);
  ASSERT_NE(cache.tenure(*again), nullptr);
}

// A link's tag keeps epoch and privilege apart (one compare checks both), and a link never
// recorded matches no epoch the hart can be in (they start at 1).
TEST(BlockLinkTag, EpochAndPrivilegeNeverAlias) {
  const uint64_t epochs[] = {1, 2, 255, 256, 257, (uint64_t{1} << 56) - 1};
  for (uint64_t e : epochs) {
    for (unsigned p = 0; p < 256; ++p) {
      const uint64_t tag = BlockLink::tag_of(e, static_cast<uint8_t>(p));
      EXPECT_NE(tag, BlockLink{}.tag);
      EXPECT_EQ(tag >> 8, e);
      EXPECT_EQ(tag & 0xff, p);
    }
  }
}

} // namespace
} // namespace nimbus::test

#pragma once
// The JIT tier: translates a hart's decoded blocks to x86-64 (docs/jit.md).
//
// Input is a decoded Block (the interpreter's BlockOps), never raw guest bytes. RV64I + M integer
// ops, branches, JAL/JALR and loads/stores (inline soft-TLB hit path) are translated; every other
// op is a call of the interpreter's own handler. Native code chains from block to block through
// the blocks' successor links and returns to Hart::run only when the once-per-block check asks
// (budget, exit request, pending interrupt, DMA) or a block has no native successor.
#include <cstddef>
#include <cstdint>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "machine/block_cache.hpp"
#include "machine/jit/code_buffer.hpp"

namespace nimbus::machine {
class Hart;
} // namespace nimbus::machine

namespace nimbus::machine::jit {

// Byte offsets of the hart and block fields generated code touches (computed from live objects),
// from rbx, which points `bias` bytes into the hart: the guest registers then sit within a
// signed byte of it, and their loads and stores take a 1-byte displacement (4-byte
// instructions, not 7).
struct Layout {
  int32_t bias = 0;
  int32_t x = 0, pc = 0, block_pc = 0, block_retired = 0, data_context = 0, fetch_context = 0;
  int32_t exit_requested = 0, mip = 0, sstc_pending = 0, mie = 0, translation_epoch = 0, tlb = 0;
  int32_t jit_left = 0, jit_block = 0, dma_seen = 0, link_request = 0, check_generation = 0;
  int32_t region_pc = 0, hints = 0, hint_budgets = 0, data_tables = 0;
  uint32_t hint_slots = 1; // Hart::kJitHints
  int32_t addends = 0, addend_budgets = 0, rewritten_sites = 0;
  uint32_t addend_slots = 1; // Hart::kJitAddends
  int32_t site_pages = 0, site_filled = 0; // SoftTlb::site_pages()
  uint32_t site_slots = 1; // TlbSitePages::kSlots
  int32_t f = 0, mstatus = 0, vsstatus = 0, virt = 0, fflags = 0, frm = 0;
  int32_t window_base = 0;                    // Hart::jit_window_base_
  bool window = false;                        // the hart has a host-mapped window
  uint32_t window_heat = 0;                   // Hart::jit_window_heat_
  int32_t flat = 0;                           // SoftTlb::site_pages().flat_ (TlbFlatRam)
  const void* pins = nullptr;          // the interrupt pin levels (64-bit)
  const uint64_t* dma_generation = nullptr;
};

// The lookup table of indirect jumps, returns and jumps to another page: (guest pc, fetch
// context, translation epoch) -> the block's chain entry. Direct-mapped by pc; generated code probes it
// inline and returns to the dispatcher on a miss, which fills it. 16 bytes, so that twice the
// entries fit in the same memory (at 4096 entries, a fifth of Python's trips back to the
// dispatcher were its returns and calls through pointers colliding, docs/jit.md): the chain entry's address (a user-space address,
// below 2^47) shares a word with a 16-bit key, the epoch's low bits and the context; the hart
// empties the table whenever those epoch bits wrap (Hart::kLookupEpochBits), so a key never
// matches an entry of an older epoch.
struct LookupEntry {
  uint64_t pc = ~uint64_t{0}; // never a pc: pcs are even
  uint64_t code_key = 0;      // chain entry << 16 | (translation epoch << 3 | fetch context) mod 2^16
  static uint64_t key(uint64_t epoch, unsigned context) { return (epoch << 3 | context) & 0xffff; }
};

// The slow paths of loads and stores that miss the inline soft-TLB path, shared by every unit
// (docs/jit.md, "Shared slow paths"): a unit's miss stub sets the address, the op (and a store's
// value) and calls one; it preserves the guest registers in caller-saved host registers, calls
// Runtime::load / store, and on a continuing access forces the next full check. A load's value
// comes back in rax, extended; rdx is 0 when the load trapped, a store's rax 1 when its block ended.
struct MissThunks {
  const void* load[4][2] = {}; // [log2 of the size][sign-extending]
  const void* store[4] = {};   // [log2 of the size]
  // The same calls with the soft-TLB lookup first (for code that has no inline lookup).
  const void* probe_load[4][2] = {};
  const void* probe_store[4] = {};
  const void* count_limit = nullptr; // the per-block check's slow paths (StubEmitter::emit_checks)
  const void* full_check = nullptr;
  const void* rewrite_hint = nullptr; // an index-hint site out of wrong hints (BlockEmitter::tlb_lookup)
  const void* rewrite_addend = nullptr; // an addend-hint site out of wrong predictions (the same)
  const void* window_miss[2] = {}; // [store]: a window site's entry, out of line (BlockEmitter::window_lookup)
  const void* fill_flat = nullptr; // a flat load's slot asks for a fill (BlockEmitter::flat_load)
  const void* fill_flat_store = nullptr; // a flat store's range, the same (BlockEmitter::flat_store)
};

class Translator final : public BlockRetireListener {
public:
  static constexpr size_t kCodeCacheBytes = size_t{7} << 19; // 3.5 MiB (docs/jit.md)
  // Generous for one unit (at most kMaxRegionOps instructions, their out-of-line paths and the
  // chain code).
  static constexpr size_t kMaxBlockBytes = size_t{256} << 10;
  // A unit (docs/jit.md, "Regions"): its entry block and at most this many blocks in all, of at
  // most kMaxRegionOps ops together.
  static constexpr unsigned kMaxRegionBlocks = 8;
  static constexpr size_t kMaxRegionOps = 192;
  static constexpr unsigned kLookupEntries = 16384;

  explicit Translator(Hart& hart);
  ~Translator();
  Translator(const Translator&) = delete;
  Translator& operator=(const Translator&) = delete;

  // Gives `block` native code if it has none, moving it and the other blocks of its unit to the
  // tenured arena first (block_cache.hpp). Returns the block that has the code (the tenured copy,
  // which took `block`'s place in the cache), or null when it cannot: the code cache or the
  // tenured arena was full and has been emptied (every unit's code dropped, or every block: run
  // `block` in the interpreter; it stays readable until the cache's collect_garbage()).
  Block* translate(Block& block);
  // One entry of native code from the dispatcher, which has just checked everything the chain
  // check looks at: its run() steps so far and budget (Runtime::chain_limit), and the check's state.
  struct NativeRun {
    uint64_t steps = 0;
    uint64_t budget = 0;
  };
  NativeRun native_run;
  // Runs native code from `code` until it returns to the dispatcher (the hart's jit_left_,
  // jit_limit_ and jit_check_generation_ are set).
  void enter(const void* code, uint64_t steps, uint64_t budget) {
    native_run = NativeRun{steps, budget};
    enter_(&hart_, code);
  }
  // Patches direct exit `exit` of `from` to jump straight to `to` when `to` is the block that
  // exit names (same page, translated) and PMP treats the page alike in every privilege.
  void link(Block& from, unsigned exit, Block& to);
  // The dispatcher is about to enter `block` at `pc` in `context`: indirect jumps find it from now on.
  void remember(uint64_t pc, unsigned context, uint64_t epoch, const Block& block);
  // Forgets every lookup (the low bits of the translation epoch that the keys hold wrapped).
  void clear_lookups();
  uint64_t translated_blocks() const { return translated_; }
  // Load sites translated with a site page (BlockEmitter::site_page_load; tests and statistics).
  uint64_t site_page_sites() const { return site_page_sites_; }
  uint64_t flat_load_sites() const { return flat_load_sites_; } // loads through the flat-RAM slot
  uint64_t flat_store_sites() const { return flat_store_sites_; } // stores through its store range
  // Returns translated to stay in their unit when they go back to one of its calls.
  uint64_t internal_return_sites() const { return internal_return_sites_; }
  // Blocks emitted a second time for a loop that carries narrow word results (BlockEmitter::choose_narrow).
  uint64_t narrow_loops() const { return narrow_loops_; }
  // Blocks translated into other blocks' units besides their own translation.
  uint64_t region_blocks() const { return region_blocks_; }
  uint64_t if_conversions() const { return if_conversions_; } // branches translated as one path
  // Units the emitter gave up on because one of its own layout checks failed (a translator bug:
  // tests expect 0); their blocks went on in the interpreter.
  uint64_t failed_units() const { return failed_; }
  // At most this many blocks per unit (1: every block alone, as before units; for tests).
  void set_max_region_blocks(unsigned n) { max_region_blocks_ = std::clamp(n, 1u, kMaxRegionBlocks); }
  uint64_t linked_exits() const { return linked_; }

  // BlockRetireListener: unlink native jumps into dropped blocks; a cleared cache frees the code.
  void block_retired(Block& block) override;
  void blocks_cleared() override;

private:
  bool fetch_uniform(uint64_t paddr) const;
  std::vector<Block*> region_of(Block& entry) const;
  void emit_stubs();
  void drop_all_code();
  void reset_code();
  void dump(const Block& block, const uint8_t* start, size_t size) const;
  void patch(const JitExit& exit, const void* target);
  void unlink(JitExit& exit);

  Hart& hart_;
  Layout layout_;
  CodeBuffer code_;
  std::unique_ptr<LookupEntry[]> lookup_;
  size_t stub_bytes_ = 0;
  void (*enter_)(Hart*, const void*) = nullptr;
  const void* exit_ = nullptr; // restores host registers and returns from enter_
  MissThunks thunks_;
  uint64_t translated_ = 0;
  uint64_t linked_ = 0;
  uint64_t region_blocks_ = 0;
  uint64_t if_conversions_ = 0;
  uint64_t failed_ = 0;
  unsigned next_hint_ = 0; // the next load/store site's slot in Hart::jit_hints_ (round robin)
  unsigned next_addend_ = 0; // the next pointer-chase site's slot in Hart::jit_addends_
  unsigned next_site_ = 0; // the next strided load site's slot in SoftTlb::site_pages()
  uint64_t site_page_sites_ = 0;
  uint64_t flat_load_sites_ = 0;
  uint64_t flat_store_sites_ = 0;
  uint64_t internal_return_sites_ = 0;
  uint64_t narrow_loops_ = 0;
  unsigned max_region_blocks_ = kMaxRegionBlocks;
  std::string dump_dir_; // NIMBUS_JIT_DUMP: where each unit's bytes go (empty: nowhere)
};

} // namespace nimbus::machine::jit

#pragma once
// What generated code calls out of line: the interpreter's own slow paths and handlers, so the
// JIT defines no semantics of its own beyond the ops it emits inline.
#include <algorithm>
#include <cstdint>

#include "machine/block_cache.hpp"
#include "machine/hart.hpp"
#include "machine/jit/translator.hpp"

namespace nimbus::machine::jit {

// Returned in rax:rdx (System V: a 16-byte trivially copyable struct).
struct LoadResult {
  uint64_t value; // the bytes read, zero-extended
  uint64_t ok;    // 0: the load trapped (pc, block_retired_ and the trap CSRs are set)
};

struct Runtime {
  // A CSR op, run by the interpreter's handler. Instructions of earlier chained blocks are
  // retired first so counter CSRs read (and write) exactly what the interpreter sees. Other
  // untranslated ops call their handler directly (nothing else reads the counters mid-run).
  // Returns the handler's result: the next op, or null when the block was left.
  static const BlockOp* call_handler(Hart* h, const BlockOp* op) {
    // Native code stored the countdown (r15) into jit_left_ before the call; it stays as it is.
    if (const uint64_t retired = h->jit_retired(); retired != 0) {
      h->retire(retired);
      h->jit_committed_ += retired;
      h->jit_limit_ = h->jit_left_; // the chain budget counts committed instructions too
    }
    return op->handler(*h, op);
  }
  // The chain budget ran out at the end of a block (native code put the countdown back as it was
  // before that block and stored it in jit_left_); the block that just completed is counted in
  // block_retired_. Returns 0 to go back to the dispatcher with the state after that block: at
  // run()'s budget, or at the timer poll point when the dispatcher has something to do there (an
  // enabled interrupt pending, an exit request, DMA). Otherwise does what the dispatcher does at
  // that point (polls the timer, moves the next poll point), extends the budget and returns 1:
  // interrupts are taken at the same instruction as in the interpreter, without the round trip.
  static uint64_t chain_limit(Hart* h) {
    Translator::NativeRun& run = h->jit_->native_run;
    const uint64_t retired = h->jit_retired();
    const uint64_t done = run.steps + h->jit_committed_ + retired + h->block_retired_;
    if (done >= run.budget || done < h->next_timer_poll_) return 0;
    h->poll_timer();
    h->next_timer_poll_ = done + Hart::kTimerPollInterval;
    if (h->exit_requested_ || ((h->mip_ | h->sstc_pending_ | h->pins_.sample()) & h->mie_) != 0 ||
        h->bus_.dma_generation() != h->dma_generation_seen_)
      return 0;
    h->jit_check_generation_ = h->dma_generation_seen_;
    h->jit_limit_ = std::min(run.budget, h->next_timer_poll_) - (run.steps + h->jit_committed_);
    h->jit_left_ = h->jit_limit_ - retired; // above the block's count: done < the new limit
    return 1;
  }
  // The page of an access the soft TLB maps (`access`: Load or Store) into the host-mapped window.
  static void map_window(Hart* h, uint64_t va, uint64_t access) { h->jit_map_window(va, static_cast<Access>(access)); }
  // The flat-RAM slot of the data context around a flat load's address (`va`), on a flat load's
  // first use since a flush.
  static void fill_flat_ram(Hart* h, uint64_t va) { h->fill_flat_ram(va); }
  // The flat store range around a flat store's address (`va`), on its first use since a flush.
  static void fill_flat_store(Hart* h, uint64_t va) { h->fill_flat_store(va); }
  // A load that missed the inline soft-TLB path (miss, MMIO, page crossing).
  template <unsigned Size> static LoadResult load(Hart* h, uint64_t va, const BlockOp* op) {
    uint64_t value = 0;
    const bool ok = h->load_slow(va, Size, value, op);
    return LoadResult{value, ok ? 1u : 0u};
  }
  // A store that missed the inline path. Returns 0 to continue the block, 1 when it ended: the
  // store trapped, or it hit decoded code (as the interpreter's after_store: leave after it).
  template <unsigned Size> static uint64_t store(Hart* h, uint64_t va, uint64_t value, const BlockOp* op) {
    if constexpr (Size < 8) value &= (uint64_t{1} << (8 * Size)) - 1;
    if (!h->store_slow(va, Size, value, op)) return 1;
    if (h->code_modified_) {
      h->code_modified_ = false;
      h->block_retired_ = op->index + 1u;
      h->pc_ = h->block_pc_ + op->offset + op->length;
      return 1;
    }
    return 0;
  }
};

} // namespace nimbus::machine::jit

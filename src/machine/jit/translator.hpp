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

#include "machine/jit/code_buffer.hpp"

namespace nimbus::machine {
class Hart;
class Block;
} // namespace nimbus::machine

namespace nimbus::machine::jit {

// Byte offsets of the hart and block fields generated code touches (computed from live objects).
struct Layout {
  int32_t x = 0, pc = 0, block_pc = 0, block_retired = 0, data_context = 0, fetch_context = 0;
  int32_t exit_requested = 0, mip = 0, sstc_pending = 0, mie = 0, chain_epoch = 0, tlb = 0;
  int32_t jit_retired = 0, jit_limit = 0, jit_block = 0, dma_seen = 0;
  const void* pins = nullptr;          // the interrupt pin levels (64-bit)
  const uint64_t* dma_generation = nullptr;
  // Block and BlockLink.
  int32_t block_links = 0, block_jit_code = 0, link_size = 0, link_pc = 0, link_epoch = 0, link_block = 0,
          link_privilege = 0;
};

class Translator {
public:
  static constexpr size_t kCodeCacheBytes = size_t{4} << 20;
  // Generous for one block (64 instructions, their out-of-line paths and the chain code).
  static constexpr size_t kMaxBlockBytes = size_t{64} << 10;

  explicit Translator(Hart& hart);
  ~Translator();
  Translator(const Translator&) = delete;
  Translator& operator=(const Translator&) = delete;

  // Gives `block` native code if it has none. False when it cannot (the code cache was full: it
  // has been reset and every decoded block dropped; run this block in the interpreter).
  bool translate(Block& block);
  // Runs native code from `code` until it returns to the dispatcher.
  void enter(const void* code) { enter_(&hart_, code); }
  uint64_t translated_blocks() const { return translated_; }

private:
  void emit_stubs();
  void flush_everything();

  Hart& hart_;
  Layout layout_;
  CodeBuffer code_;
  size_t stub_bytes_ = 0;
  void (*enter_)(Hart*, const void*) = nullptr;
  const void* exit_ = nullptr; // restores host registers and returns from enter_
  uint64_t translated_ = 0;
};

} // namespace nimbus::machine::jit

#include "machine/hart.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

#include "machine/hart_execute.hpp"
#include "machine/jit/translator.hpp"
#include "riscv/csr.hpp"
#include "riscv/decoder.hpp"

namespace nimbus::machine {

using riscv::Exception;
namespace mstatus = riscv::csr::mstatus;

Hart::Hart(unsigned hart_id, Bus& bus, Clock& clock, ReservationSet& reservations)
    : id_(hart_id), bus_(bus), clock_(clock), reservations_(reservations) {
  reservations_.reserve_harts(hart_id + 1);
  bus_.watch_code_pages(); // DMA notices for pages without decoded code need not reach us
  reset(0);
}

Hart::~Hart() = default;

void Hart::reset(uint64_t pc) {
  std::memset(x_, 0, sizeof(x_));
  std::memset(f_, 0, sizeof(f_));
  pc_ = pc;
  priv_ = Privilege::Machine;
  virt_ = false;
  fetch_context_ = tlb_context(priv_, false);
  exit_requested_ = false;
  waiting_ = false;
  code_modified_ = false;
  pending_exit_.reset();
  first_fault_.reset();
  fflags_ = frm_ = 0;
  mstatus_ = (mstatus::kXlen64 << 32) | (mstatus::kXlen64 << 34);
  mip_ = sstc_pending_ = mie_ = medeleg_ = mideleg_ = 0;
  mtvec_ = stvec_ = mepc_ = sepc_ = mcause_ = scause_ = mtval_ = stval_ = 0;
  mscratch_ = sscratch_ = mcounteren_ = scounteren_ = mcountinhibit_ = 0;
  menvcfg_ = senvcfg_ = satp_ = 0;
  stimecmp_ = ~uint64_t{0};
  hstatus_ = riscv::csr::hstatus::kVsxl & (mstatus::kXlen64 << 32);
  hedeleg_ = hideleg_ = hcounteren_ = htimedelta_ = htval_ = htinst_ = hgatp_ = henvcfg_ = 0;
  vsstatus_ = mstatus::kXlen64 << 32; // UXL = 64
  vstvec_ = vsscratch_ = vsepc_ = vscause_ = vstval_ = vsatp_ = 0;
  vstimecmp_ = ~uint64_t{0};
  mtval2_ = mtinst_ = fault_gpa_ = fault_tinst_ = 0;
  mideleg_ = riscv::csr::irq::kVsBits; // read-only one with H
  hypervisor_access_ = false;
  virt_ = false;
  instret_ = cycle_ = 0;
  csr_read_bias_ = csr_write_bias_ = 0;
  next_timer_poll_ = 0;
  pmp_.reset();
  update_data_context();
  flush_caches();
}

void Hart::flush_caches() {
  flush_tlb();
  blocks_.clear();
  dma_generation_seen_ = bus_.dma_generation();
}

void Hart::set_privilege(unsigned level) {
  set_priv(level == 0 ? Privilege::User : level == 1 ? Privilege::Supervisor : Privilege::Machine);
}

void Hart::set_virtualization(bool on) { set_mode(priv_, on); }

// Reads the Sstc timer afresh: time moves while the hart sleeps, and nothing else would notice.
bool Hart::fetch_instruction(uint64_t pc, uint32_t& bits) {
  uint32_t value = 0;
  for (unsigned half = 0; half < 2; ++half) {
    const uint64_t vaddr = pc + 2 * half;
    uint64_t paddr = 0;
    if (translate(vaddr, Access::Fetch, priv_, paddr, virt_)) return false;
    if (!pmp_.allows(paddr, 2, Access::Fetch, priv_)) return false;
    const uint8_t* host = bus_.code_pointer(paddr, 2);
    if (host == nullptr) return false;
    value |= static_cast<uint32_t>(load_le(host, 2)) << (16 * half);
    if (half == 0 && (value & 3) != 3) break; // compressed: one parcel
  }
  bits = value;
  return true;
}

// Something other than this hart wrote RAM: drop the decoded code on the pages written, or all
// of it when the bus no longer knows which pages (or they are too many to look at one by one).
void Hart::drop_code_written_by_dma() {
  constexpr uint64_t kMostPages = 1024;
  thread_local std::vector<Bus::DmaPages> written;
  // Read first: pages written by DMA on other threads meanwhile are looked at again next time.
  const uint64_t generation = bus_.dma_generation();
  bool precise = bus_.dma_pages_since(dma_generation_seen_, written);
  uint64_t pages = 0;
  for (const Bus::DmaPages& d : written) pages += d.last - d.first + 1;
  precise = precise && pages <= kMostPages;
  if (!precise) {
    blocks_.clear();
    break_chains();
  } else {
    bool dropped = false;
    for (const Bus::DmaPages& d : written)
      for (uint64_t page = d.first; page <= d.last; ++page)
        if (blocks_.page_has_code(page << 12)) {
          blocks_.invalidate_page(page << 12);
          dropped = true;
        }
    if (dropped) break_chains();
  }
  dma_generation_seen_ = generation;
}

bool Hart::waiting() const { return waiting_ && ((pending_interrupts() | sstc_level()) & mie_) == 0; }

uint64_t Hart::timer_deadline() const {
  if (!(menvcfg_ & riscv::csr::menvcfg::kStce)) return ~uint64_t{0};
  uint64_t deadline = stimecmp_;
  if (henvcfg_ & riscv::csr::menvcfg::kStce) { // vstimecmp compares against time + htimedelta
    const uint64_t guest = vstimecmp_ >= htimedelta_ ? vstimecmp_ - htimedelta_ : 0; // 0: already due
    deadline = std::min(deadline, vstimecmp_ == ~uint64_t{0} ? vstimecmp_ : guest);
  }
  return deadline;
}

void Hart::retire(uint64_t count) {
  executed_ += count;
  if (!(mcountinhibit_ & riscv::csr::counteren::kIr)) instret_ += count;
  if (!(mcountinhibit_ & riscv::csr::counteren::kCy)) cycle_ += count;
}

uint64_t Hart::run(uint64_t budget) {
  reservations_.switch_to(id_);
  poll_timer();
  if (waiting_) {
    if ((pending_interrupts() & mie_) == 0) return 0;
    waiting_ = false;
  }
  breakpoint_hit_ = false;
  if (single_step_) [[unlikely]] {
    exit_requested_ = false;
    if (bus_.dma_generation() != dma_generation_seen_) drop_code_written_by_dma();
    return step_one();
  }
  jit_link_request_ = 0;
  uint64_t retired = 0;
  uint64_t steps = 0; // retired instructions plus fetch faults, so a faulting loop still ends
  next_timer_poll_ = kTimerPollInterval;
  Block* previous = nullptr; // the block just run, to follow or record its successor link
  uint64_t previous_epoch = 0;
  while (steps < budget) {
    if (exit_requested_) {
      exit_requested_ = false;
      break;
    }
    if (((mip_ | sstc_pending_ | pins_.sample()) & mie_) != 0 && take_pending_interrupt() && exit_requested_)
      continue; // a VMM exit: leave with the hart at the interrupt point
    if (bus_.dma_generation() != dma_generation_seen_) drop_code_written_by_dma();
    if (previous_epoch != global_chain_epoch_) previous = nullptr; // it may be garbage now
    blocks_.collect_garbage();
    Block* block = nullptr;
    const auto privilege = static_cast<uint8_t>(fetch_context_); // privilege and V
    if (previous != nullptr) {
      // `previous` is never a nursery block that moved: a block is the tenured copy once
      // translated, and nothing translates between its run and here. (Were it one, its links
      // would still be right: their tags carry the epoch.) Not reading `moved` keeps a dependent
      // miss off the path.
      const uint64_t local = BlockLink::tag_of(chain_epoch_, privilege);
      const uint64_t global = BlockLink::global_tag_of(global_chain_epoch_, privilege);
      for (const BlockLink& link : previous->links) {
        if (link.pc == pc_ && (link.tag == local || link.tag == global)) {
          block = link.block;
          prefetch_block(block);
          if (block->moved != nullptr) [[unlikely]]
            block = block->moved; // tenured since
          break;
        }
      }
    }
    if (block == nullptr) {
      block = fetch_block();
      if (block == nullptr) { // the fetch trapped
        ++steps;
        previous = nullptr;
        continue;
      }
      if (previous != nullptr && block != &scratch_block_ && previous_epoch == global_chain_epoch_) {
        BlockLink& link = previous->links[previous->next_link];
        previous->next_link ^= 1;
        const uint64_t tag = fetched_global_ ? BlockLink::global_tag_of(global_chain_epoch_, privilege)
                                             : BlockLink::tag_of(chain_epoch_, privilege);
        link = BlockLink{pc_, tag, block};
      }
    }
    if (!breakpoints_.empty()) [[unlikely]] {
      const BlockOp& last = block->ops.back();
      uint64_t at = 0;
      if (breakpoint_within(pc_, uint64_t{last.offset} + last.length, at)) {
        if (at == pc_) { // stop before it
          breakpoint_hit_ = true;
          break;
        }
        // One inside the block: run up to it an instruction at a time.
        const uint64_t done = step_one();
        retired += done;
        steps += done + (done == 0 ? 1 : 0);
        previous = nullptr;
        continue;
      }
    }
    block_pc_ = pc_;
    block_retired_ = block->count;
    const uint64_t epoch_before = global_chain_epoch_;
    Block* translated = nullptr;
    if (jit_ != nullptr && breakpoints_.empty() && block != &scratch_block_ &&
        (block->jit_code != nullptr || ++block->heat >= jit_hot_threshold_) &&
        (translated = jit_->translate(*block)) != nullptr) {
      block = translated; // the tenured copy (docs/jit.md)
      // Native code runs this block and any blocks chained after it (docs/jit.md). The exit that
      // brought us here may ask for a direct link to it; the lookup table learns where it is.
      if (jit_link_request_ != 0 && jit_link_epoch_ == translation_epoch_) // both blocks tenured
        jit_->link(*reinterpret_cast<Block*>(jit_link_request_ & ~uintptr_t{15}),
                   static_cast<unsigned>(jit_link_request_ & 1), *block);
      jit_link_request_ = 0;
      jit_->remember(pc_, fetch_context_, translation_epoch_, *block);
      run_translated(block, steps, budget, retired, steps);
    } else {
      jit_link_request_ = 0;
      const BlockOp* op = block->ops.data();
      do {
        op = op->handler(*this, op);
      } while (op != nullptr);
      retire(block_retired_);
      retired += block_retired_;
      steps += block_retired_ + (block_retired_ == 0 ? 1 : 0);
    }
    // A block that changed code or translation while running may itself be garbage now.
    previous = (block == &scratch_block_ || global_chain_epoch_ != epoch_before) ? nullptr : block;
    previous_epoch = global_chain_epoch_;
    if (steps >= next_timer_poll_) {
      poll_timer();
      next_timer_poll_ = steps + kTimerPollInterval;
    }
    if (waiting_) {
      if ((pending_interrupts() & mie_) == 0) break;
      waiting_ = false;
    }
  }
  blocks_.collect_garbage();
  return retired;
}

void Hart::lookup_epochs_wrapped() {
  if (jit_ != nullptr) jit_->clear_lookups();
}

namespace {
// NIMBUS_JIT_WINDOW=off leaves the host-mapped window out (for measuring what it brings).
bool window_disabled() {
  const char* v = std::getenv("NIMBUS_JIT_WINDOW");
  return v != nullptr && std::string_view(v) == "off";
}
} // namespace

void Hart::set_jit(bool on, uint32_t hot_threshold) {
  jit_hot_threshold_ = hot_threshold == 0 ? 1 : hot_threshold;
  if (on == (jit_ != nullptr)) return;
  // Native code belongs to blocks: start both tiers from empty caches.
  blocks_.clear();
  break_chains();
  // The window goes and comes with the JIT: no window tag may outlive the window it names.
  tlb_.flush_access(Access::Load);
  tlb_.flush_access(Access::Store);
  window_.reset();
  if (on && bus_.ram_aliasable() && !window_disabled()) {
    try {
      window_ = std::make_unique<HostWindow>(bus_.ram(), SoftTlb::kContexts);
    } catch (const std::bad_alloc&) {
      window_.reset(); // no address space for it: loads take the soft TLB's addend
    }
  }
  update_data_context(); // jit_window_base_ with the new window
  tlb_.site_pages().flat_.bias = reinterpret_cast<uintptr_t>(bus_.ram()) - bus_.ram_base();
  jit_window_budget_ = kWindowMapsPerEpoch;
  window_epoch_end_ = executed_ + kWindowEpoch;
  jit_ = on ? std::make_unique<jit::Translator>(*this) : nullptr;
  if (jit_) jit_->set_max_region_blocks(jit_region_limit_);
}

void Hart::set_jit_region_blocks(unsigned n) {
  jit_region_limit_ = n;
  if (jit_) jit_->set_max_region_blocks(n);
}
uint64_t Hart::jit_region_blocks() const { return jit_ ? jit_->region_blocks() : 0; }
uint64_t Hart::jit_if_conversions() const { return jit_ ? jit_->if_conversions() : 0; }
uint64_t Hart::jit_failed_units() const { return jit_ ? jit_->failed_units() : 0; }

uint64_t Hart::jit_translated_blocks() const { return jit_ ? jit_->translated_blocks() : 0; }
uint64_t Hart::jit_site_page_sites() const { return jit_ ? jit_->site_page_sites() : 0; }
uint64_t Hart::jit_flat_load_sites() const { return jit_ ? jit_->flat_load_sites() : 0; }
uint64_t Hart::jit_internal_return_sites() const { return jit_ ? jit_->internal_return_sites() : 0; }
uint64_t Hart::jit_narrow_loops() const { return jit_ ? jit_->narrow_loops() : 0; }
uint64_t Hart::jit_flat_store_sites() const { return jit_ ? jit_->flat_store_sites() : 0; }
uint64_t Hart::jit_linked_exits() const { return jit_ ? jit_->linked_exits() : 0; }

// Enters native code at `block`. On return `block` is the block native code ended in, with the
// hart exactly as the interpreter would leave it after that block.
void Hart::run_translated(Block*& block, uint64_t steps, uint64_t budget, uint64_t& retired_total,
                          uint64_t& steps_total) {
  jit_committed_ = 0;
  jit_block_ = block;
  // Chain until run()'s budget or the timer poll point, where native code polls the timer itself
  // as the dispatcher would (Runtime::chain_limit) and goes on when nothing is pending. At least
  // 1: the dispatcher enters only below both.
  jit_limit_ = std::min(budget, next_timer_poll_) - steps;
  jit_left_ = jit_limit_;
  jit_check_generation_ = dma_generation_seen_;
  jit_->enter(block->jit_code, steps, budget);
  jit_link_epoch_ = translation_epoch_;
  block = jit_block_;
  const uint64_t uncommitted = jit_retired() + block_retired_;
  retire(uncommitted);
  retired_total += jit_committed_ + uncommitted;
  steps_total += jit_committed_ + uncommitted + (block_retired_ == 0 ? 1 : 0);
}

bool Hart::fetch_address(uint64_t va, uint64_t& paddr) {
  TlbEntry& entry = tlb_.entry(fetch_context_, Access::Fetch, va);
  if (entry.maps(va)) {
    paddr = tlb_.details(entry).paddr_page | (va & 0xfff);
    return true;
  }
  if (const auto fault = translate(va, Access::Fetch, priv_, paddr, virt_)) {
    take_trap(static_cast<uint64_t>(*fault), va, false);
    return false;
  }
  if (!pmp_.allows(paddr, 2, Access::Fetch, priv_) || bus_.code_pointer(paddr, 2) == nullptr) {
    take_trap(static_cast<uint64_t>(Exception::InstructionAccessFault), va, false);
    return false;
  }
  install_tlb(entry, va, paddr, Access::Fetch, priv_);
  return true;
}

Block* Hart::fetch_block() {
  const uint64_t pc = pc_;
  uint64_t paddr;
  if (!fetch_address(pc, paddr)) return nullptr;
  // Only once the fetch is through: a fetch that faults leaves nothing behind to go stale, and
  // the page the kernel then maps for it is flushed by address (Linux's update_mmu_cache).
  // Global only through an entry that maps pc: a fetch the soft TLB did not keep (PMP not alike
  // over the whole page) leaves another page's entry at the index.
  const TlbEntry& fetched = tlb_.entry(fetch_context_, Access::Fetch, pc);
  fetched_global_ = fetched.maps(pc) && tlb_.details(fetched).global != 0;
  note_fetched_page(pc, fetched_global_);
  note_fetched_page(pc + 2, fetched_global_); // an instruction across the page's end
  if (Block* cached = blocks_.find(paddr)) {
    prefetch_block(cached);
    return cached;
  }
  const uint8_t* host = bus_.code_pointer(paddr, 2);
  if (host == nullptr) {
    take_trap(static_cast<uint64_t>(Exception::InstructionAccessFault), pc, false);
    return nullptr;
  }
  return build_block(paddr, host);
}

void Hart::finish_block(Block& block, uint16_t offset, uint16_t index) {
  BlockOp& end = *new (block.ops.append()) BlockOp{};
  end.handler = fall_through_handler();
  end.offset = offset;
  end.index = static_cast<uint8_t>(index);
}

// A block's one instruction (after any ops already in it) and, unless it ends the block, the
// fall-through after it.
void Hart::add_lone_instruction(Block& block, const riscv::DecodedInstruction& d) {
  new (block.ops.append()) BlockOp(make_op(d, 0, 0));
  if (!riscv::ends_block(d.op)) finish_block(block, d.length, 1);
  block.count = 1;
}

// The executable form of one decoded instruction, `index` instructions and `offset` bytes into
// its block.
BlockOp Hart::make_op(const riscv::DecodedInstruction& d, uint16_t index, uint16_t offset) {
  BlockOp op{};
  op.handler = handler_for(d.op);
  assert(d.imm == static_cast<int32_t>(d.imm));
  op.imm = static_cast<int32_t>(d.imm);
  op.bits = d.bits;
  op.rd = (d.rd == 0 && riscv::writes_integer_rd(d.op)) ? static_cast<uint8_t>(kDiscardRegister) : d.rd;
  op.rs1 = d.rs1;
  op.rs2 = d.rs2;
  assert(d.length == 2 || (op.rs3() == d.rs3 && op.rm() == d.rm)); // read back from the bits
  op.length = d.length;
  assert(index <= kMaxBlockInstructions);
  op.index = static_cast<uint8_t>(index);
  op.offset = offset;
  op.op = d.op;
  return op;
}

Block* Hart::build_block(uint64_t paddr, const uint8_t* host) {
  static_assert(kMaxBlockInstructions + 1 <= BlockCache::kMaxBlockOps);
  if (blocks_.full()) {
    // Start the nursery over rather than grow without bound; links into its dropped blocks die
    // with the epoch, and no block runs between two blocks, so it is reused at once. Translated
    // blocks (tenured) stay.
    blocks_.collect_garbage();
    if (blocks_.full()) blocks_.clear_nursery();
    break_nursery_links(); // a full clear waiting in collect_garbage() broke everything already
  }
  bus_.note_code_page(paddr); // before the bytes are read: DMA into this page must now tell us
  Block* const block = blocks_.start_block(paddr);
  const unsigned page_left = 4096 - static_cast<unsigned>(paddr & 0xfff);
  uint16_t offset = 0;
  uint16_t index = 0;
  for (;;) {
    if (page_left - offset < 2) {
      finish_block(*block, offset, index);
      break;
    }
    uint16_t low;
    std::memcpy(&low, host + offset, 2);
    uint32_t bits = low;
    if (riscv::instruction_length(low) == 4) {
      if (page_left - offset < 4) {
        if (index == 0) { // the instruction alone, its upper half checked at each run
          riscv::DecodedInstruction d;
          if (!decode_page_crossing(paddr, d)) return nullptr; // the started block is left unused
          // Op::Illegal: never translated inline, so native code calls the check's handler too.
          BlockOp check = make_op(d, 0, 0);
          check.handler = upper_half_check_handler();
          check.op = riscv::Op::Illegal;
          check.rd = check.rs1 = check.rs2 = 0;
          block->ops.push_back(check);
          add_lone_instruction(*block, d);
          index = 1;
          break;
        }
        finish_block(*block, offset, index);
        break;
      }
      std::memcpy(&bits, host + offset, 4);
    }
    const riscv::DecodedInstruction d = riscv::decode(bits);
    new (block->ops.append()) BlockOp(make_op(d, index, offset));
    offset = static_cast<uint16_t>(offset + d.length);
    ++index;
    if (riscv::ends_block(d.op)) break;
    if (index >= kMaxBlockInstructions) {
      finish_block(*block, offset, index);
      break;
    }
  }
  block->count = index;
  // Only called after a lookup miss, so the insert never replaces a block something links to.
  if (blocks_.insert(block)) {
    const uint64_t page = paddr & ~uint64_t{0xfff};
    tlb_.flush_physical_page(Access::Store, page);
    // A flat store range holding the page must not let a store skip dropping its code.
    if (TlbFlatRange& stores = tlb_.site_pages().flat_.store; stores.holds(page)) stores.forget();
  }
  return block;
}

// The hart's one uncached block, for a single instruction (reused: it is never linked to).
Block* Hart::scratch_block(uint64_t paddr) {
  scratch_block_ = Block{};
  scratch_block_.paddr = paddr;
  scratch_block_.ops = BlockOps(scratch_ops_, 2);
  return &scratch_block_;
}

// The 32-bit instruction at pc_ whose upper half lies on the next virtual page: that half is
// fetched through its own translation (the fetch TLB, as any fetch from that page: a page walk
// every time was a twentieth of gzip's time where such an instruction sat in a hot loop). False
// after taking the fetch's fault.
bool Hart::decode_page_crossing(uint64_t paddr_low, riscv::DecodedInstruction& d) {
  uint64_t paddr_high;
  if (!fetch_address(pc_ + 2, paddr_high)) return false;
  uint16_t low, high;
  std::memcpy(&low, bus_.code_pointer(paddr_low, 2), 2);
  std::memcpy(&high, bus_.code_pointer(paddr_high, 2), 2);
  d = riscv::decode(uint32_t{low} | uint32_t{high} << 16);
  return true;
}

// Such an instruction alone, uncached (single-stepping).
Block* Hart::build_page_crossing_block(uint64_t paddr_low) {
  riscv::DecodedInstruction d;
  if (!decode_page_crossing(paddr_low, d)) return nullptr;
  Block* const block = scratch_block(paddr_low);
  add_lone_instruction(*block, d);
  return block;
}

} // namespace nimbus::machine

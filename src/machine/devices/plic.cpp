#include "machine/devices/plic.hpp"

namespace nimbus::machine {

Plic::Plic(std::vector<InterruptPins*> hart_pins) : pins_(std::move(hart_pins)), contexts_(2 * pins_.size()) {
  update_outputs();
}

void Plic::reset() {
  std::lock_guard lock(mutex_);
  for (Context& c : contexts_) c = Context{};
  priority_.fill(0);
  claimed_.fill(0);
  pending_ = line_; // source 0 never has a line (set_irq ignores it)
  update_outputs();
}

bool Plic::pending(unsigned source) const {
  std::lock_guard lock(mutex_);
  return source < kSources && test(pending_, source);
}

void Plic::set_irq(unsigned source, bool level) {
  if (source == 0 || source >= kSources) return;
  std::lock_guard lock(mutex_);
  assign(line_, source, level);
  // As QEMU 7.2's sifive_plic: every assertion the device reports is a new request (devices
  // report one when their interrupt condition arises, so in effect the rising edge), lowering
  // the line withdraws a request not yet claimed. A request that arrives while the source is
  // claimed waits in the pending bit until the completion (claim skips claimed sources).
  assign(pending_, source, level);
  update_outputs();
}

bool Plic::read(uint64_t offset, unsigned size, uint64_t& value) {
  // All PLIC registers are 32 bits wide; a 64-bit access covers two of them.
  if (offset % size != 0 || (size != 4 && size != 8)) return false;
  std::lock_guard lock(mutex_);
  uint32_t lo = 0, hi = 0;
  if (!read_register(offset, lo)) return false;
  if (size == 8 && !read_register(offset + 4, hi)) return false;
  value = lo | (uint64_t{hi} << 32);
  update_outputs();
  return true;
}

bool Plic::write(uint64_t offset, unsigned size, uint64_t value) {
  if (offset % size != 0 || (size != 4 && size != 8)) return false;
  std::lock_guard lock(mutex_);
  bool ok = write_register(offset, static_cast<uint32_t>(value));
  if (ok && size == 8) ok = write_register(offset + 4, static_cast<uint32_t>(value >> 32));
  update_outputs();
  return ok;
}

bool Plic::read_register(uint64_t offset, uint32_t& value) {
  value = 0;
  if (offset < kPendingOffset) {
    const uint64_t source = offset / 4;
    if (source < kSources) value = priority_[source];
    return true;
  }
  if (offset < kEnableOffset) {
    const uint64_t word = (offset - kPendingOffset) / 4;
    if (word < kWords) value = pending_[word];
    return true;
  }
  if (offset < kContextOffset) {
    const uint64_t context = (offset - kEnableOffset) / kEnableStride;
    const uint64_t word = (offset - kEnableOffset) % kEnableStride / 4;
    if (context < contexts_.size() && word < kWords) value = contexts_[context].enable[word];
    return true;
  }
  const uint64_t context = (offset - kContextOffset) / kContextStride;
  const uint64_t reg = (offset - kContextOffset) % kContextStride;
  if (context >= contexts_.size()) return true;
  if (reg == 0) value = contexts_[context].threshold;
  if (reg == 4) value = claim(static_cast<unsigned>(context));
  return true;
}

bool Plic::write_register(uint64_t offset, uint32_t value) {
  if (offset < kPendingOffset) {
    const uint64_t source = offset / 4;
    if (source != 0 && source < kSources) priority_[source] = value & kMaxPriority;
    return true;
  }
  if (offset < kEnableOffset) return true; // pending bits are read-only
  if (offset < kContextOffset) {
    const uint64_t context = (offset - kEnableOffset) / kEnableStride;
    const uint64_t word = (offset - kEnableOffset) % kEnableStride / 4;
    if (context < contexts_.size() && word < kWords)
      contexts_[context].enable[word] = word == 0 ? value & ~uint32_t{1} : value; // source 0 does not exist
    return true;
  }
  const uint64_t context = (offset - kContextOffset) / kContextStride;
  const uint64_t reg = (offset - kContextOffset) % kContextStride;
  if (context >= contexts_.size()) return true;
  if (reg == 0) contexts_[context].threshold = value & kMaxPriority;
  if (reg == 4) complete(static_cast<unsigned>(context), value);
  return true;
}

unsigned Plic::best_source(unsigned context) const {
  const Context& ctx = contexts_[context];
  unsigned best = 0;
  uint32_t best_priority = ctx.threshold;
  // Visit only the enabled pending sources, in increasing id order so ties go to the lowest.
  for (unsigned word = 0; word < kWords; ++word) {
    for (uint32_t candidates = pending_[word] & ~claimed_[word] & ctx.enable[word]; candidates != 0;
         candidates &= candidates - 1) {
      const unsigned source = word * 32 + static_cast<unsigned>(__builtin_ctz(candidates));
      if (priority_[source] > best_priority) {
        best = source;
        best_priority = priority_[source];
      }
    }
  }
  return best;
}

uint32_t Plic::claim(unsigned context) {
  const unsigned source = best_source(context);
  if (source != 0) {
    assign(pending_, source, false);
    assign(claimed_, source, true);
  }
  return source;
}

void Plic::complete(unsigned context, uint32_t source) {
  // The spec ignores completions for sources not enabled for this context.
  if (source == 0 || source >= kSources) return;
  if (!(contexts_[context].enable[source / 32] >> (source % 32) & 1)) return;
  if (!test(claimed_, source)) return;
  // Completion does not look at the line: a source whose line stayed high is not pending again
  // until the device asserts it anew (QEMU 7.2; see docs/board.md for the PLIC spec's level
  // gateway, which would forward a new request here).
  assign(claimed_, source, false);
}

void Plic::update_outputs() {
  for (unsigned context = 0; context < contexts_.size(); ++context) {
    const bool level = best_source(context) != 0;
    pins_[context / 2]->set(context % 2 == 0 ? kMeipBit : kSeipBit, level);
  }
}

} // namespace nimbus::machine

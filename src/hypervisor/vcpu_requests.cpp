#include "hypervisor/vcpu_requests.hpp"

#include <thread>

namespace nimbus::hypervisor {

VcpuRequests::VcpuRequests(std::span<GuestCpu* const> vcpus, std::function<void(unsigned)> wake)
    : vcpus_(vcpus.begin(), vcpus.end()), slots_(std::make_unique<Slot[]>(vcpus.size())), wake_(std::move(wake)) {}

void VcpuRequests::send_ipi(unsigned target) {
  slots_[target].flags.fetch_or(kIpi, std::memory_order_seq_cst);
  wake_(target);
}

void VcpuRequests::fence(unsigned caller, std::span<const unsigned> targets, bool code) {
  // Post to every target first, then wait for them together.
  std::vector<std::pair<unsigned, uint64_t>> waits;
  for (const unsigned target : targets) {
    Slot& slot = slots_[target];
    if (code) slot.flags.fetch_or(kFenceCode, std::memory_order_seq_cst);
    waits.emplace_back(target, slot.fences_requested.fetch_add(1, std::memory_order_seq_cst) + 1);
  }
  for (const auto& [target, ticket] : waits) {
    const Slot& slot = slots_[target];
    // A target may itself be waiting for a fence from the caller: do the caller's own share
    // while waiting, or two vCPUs fencing each other would wait for ever.
    while (slot.fences_done.load(std::memory_order_seq_cst) < ticket && slot.in_guest.load(std::memory_order_seq_cst)) {
      perform(caller);
      std::this_thread::yield();
    }
  }
}

bool VcpuRequests::start(unsigned target, uint64_t pc, uint64_t opaque) {
  Slot& slot = slots_[target];
  uint8_t expected = kStopped;
  if (!slot.hsm.compare_exchange_strong(expected, kStartPending, std::memory_order_seq_cst)) return false;
  {
    std::lock_guard lock(slot.start_mutex);
    slot.start_pc = pc;
    slot.start_opaque = opaque;
  }
  slot.flags.fetch_or(kStart, std::memory_order_seq_cst);
  wake_(target);
  return true;
}

void VcpuRequests::stopped(unsigned hart) { slots_[hart].hsm.store(kStopped, std::memory_order_seq_cst); }

uint64_t VcpuRequests::status(unsigned target) const {
  switch (slots_[target].hsm.load(std::memory_order_seq_cst)) {
  case kStarted: return sbi::kHartStarted;
  case kStartPending: return sbi::kHartStartPending;
  default: return sbi::kHartStopped;
  }
}

void VcpuRequests::perform(unsigned index) {
  Slot& slot = slots_[index];
  GuestCpu& cpu = *vcpus_[index];
  // The fence count first: a kFenceCode posted with a counted request is then in `flags`.
  const uint64_t fences = slot.fences_requested.load(std::memory_order_seq_cst);
  const uint32_t flags = slot.flags.exchange(0, std::memory_order_seq_cst);
  if (flags & kStart) {
    uint64_t pc, opaque;
    {
      std::lock_guard lock(slot.start_mutex);
      pc = slot.start_pc;
      opaque = slot.start_opaque;
    }
    cpu.start(pc, opaque);
    slot.hsm.store(kStarted, std::memory_order_seq_cst);
  }
  if (fences != slot.fences_done.load(std::memory_order_relaxed) || (flags & kFenceCode)) {
    if (flags & kFenceCode)
      cpu.flush_guest_code();
    else
      cpu.flush_guest_tlb();
    remote_fences_.fetch_add(1, std::memory_order_relaxed);
    slot.fences_done.store(fences, std::memory_order_seq_cst);
  }
  if (flags & kIpi) cpu.raise_software_interrupt();
}

void VcpuRequests::refresh_status() {
  for (size_t i = 0; i < vcpus_.size(); ++i)
    slots_[i].hsm.store(vcpus_[i]->running() ? kStarted : kStopped, std::memory_order_seq_cst);
}

bool VcpuRequests::all_stopped() const {
  for (size_t i = 0; i < vcpus_.size(); ++i)
    if (slots_[i].hsm.load(std::memory_order_seq_cst) != kStopped) return false;
  return true;
}

} // namespace nimbus::hypervisor

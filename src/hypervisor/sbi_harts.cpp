// SBI extensions that act on harts: IPI, RFENCE and HSM.
#include <bit>

#include "hypervisor/sbi.hpp"

namespace nimbus::hypervisor {

std::optional<std::vector<unsigned>> Sbi::harts_in_mask(uint64_t mask, uint64_t base) const {
  std::vector<unsigned> harts;
  if (base == ~uint64_t{0}) { // every hart of the VM; the mask is ignored
    for (unsigned i = 0; i < vcpus_.size(); ++i) harts.push_back(i);
    return harts;
  }
  for (uint64_t bits = mask; bits != 0; bits &= bits - 1) {
    const auto bit = static_cast<uint64_t>(std::countr_zero(bits));
    // base + bit must name a vCPU; base near 2^64 must not wrap around to a small id.
    if (base >= vcpus_.size() || bit >= vcpus_.size() - base) return std::nullopt;
    harts.push_back(static_cast<unsigned>(base + bit));
  }
  return harts;
}

Sbi::Result Sbi::ipi(const Call& call) {
  if (call.fid != 0) return {sbi::kErrNotSupported, 0};
  const auto harts = harts_in_mask(call.a[0], call.a[1]);
  if (!harts) return {sbi::kErrInvalidParam, 0};
  for (const unsigned hart : *harts) {
    if (remote_ != nullptr && hart != call.hart)
      remote_->send_ipi(hart);
    else
      vcpus_[hart]->raise_software_interrupt();
  }
  return {};
}

Sbi::Result Sbi::rfence(const Call& call) {
  // 0 remote_fence_i, 1 remote_sfence_vma, 2 remote_sfence_vma_asid. The ranges and ASIDs may
  // be widened to everything; the HFENCE calls (3-6) need the H extension in the guest.
  if (call.fid > 2) return {sbi::kErrNotSupported, 0};
  const auto harts = harts_in_mask(call.a[0], call.a[1]);
  if (!harts) return {sbi::kErrInvalidParam, 0};
  std::vector<unsigned> others;
  for (const unsigned hart : *harts) {
    if (remote_ != nullptr && hart != call.hart) {
      others.push_back(hart);
    } else if (call.fid == 0) {
      vcpus_[hart]->flush_guest_code();
    } else {
      vcpus_[hart]->flush_guest_tlb();
    }
  }
  if (!others.empty()) remote_->fence(call.hart, others, call.fid == 0);
  return {};
}

Sbi::Result Sbi::hsm(const Call& call, Outcome& outcome) {
  switch (call.fid) {
  case 0: { // hart_start(hartid, start_addr, opaque)
    if (call.a[0] >= vcpus_.size()) return {sbi::kErrInvalidParam, 0};
    GuestCpu& target = *vcpus_[call.a[0]];
    if (remote_ != nullptr) {
      // Another vCPU's thread runs it: the start is a request it performs itself.
      if (call.a[0] == call.hart) return {sbi::kErrAlreadyAvailable, 0};
      if (!memory_.contains(call.a[1], 4)) return {sbi::kErrInvalidAddress, 0};
      if (!remote_->start(static_cast<unsigned>(call.a[0]), call.a[1], call.a[2])) return {sbi::kErrAlreadyAvailable, 0};
      return {};
    }
    if (target.running()) return {sbi::kErrAlreadyAvailable, 0};
    if (!memory_.contains(call.a[1], 4)) return {sbi::kErrInvalidAddress, 0};
    target.start(call.a[1], call.a[2]);
    return {};
  }
  case 1: // hart_stop(): does not return on success
    vcpus_[call.hart]->stop();
    if (remote_ != nullptr) remote_->stopped(call.hart);
    outcome = Outcome::hart_stopped;
    return {};
  case 2: // hart_get_status(hartid)
    if (call.a[0] >= vcpus_.size()) return {sbi::kErrInvalidParam, 0};
    if (remote_ != nullptr) return {sbi::kSuccess, remote_->status(static_cast<unsigned>(call.a[0]))};
    return {sbi::kSuccess, vcpus_[call.a[0]]->running() ? sbi::kHartStarted : sbi::kHartStopped};
  case 3: { // hart_suspend(type, resume_addr, opaque)
    const uint64_t type = call.a[0];
    // Retentive: returning at once is a legal (spurious) wake-up; the guest's idle loop WFIs.
    if (type == sbi::kSuspendRetentive) return {};
    if (type == sbi::kSuspendNonRetentive) {
      if (!memory_.contains(call.a[1], 4)) return {sbi::kErrInvalidAddress, 0};
      // Resumes at once at resume_addr, as if woken immediately: a0 = hart id, a1 = opaque.
      vcpus_[call.hart]->start(call.a[1], call.a[2]);
      outcome = Outcome::hart_stopped; // start() set the registers; do not touch them again
      return {};
    }
    const bool platform_specific = (type >= 0x10000000 && type <= 0x7fffffff) || (type >= 0x90000000 && type <= 0xffffffff);
    return {platform_specific ? sbi::kErrNotSupported : sbi::kErrInvalidParam, 0};
  }
  default: return {sbi::kErrNotSupported, 0};
  }
}

} // namespace nimbus::hypervisor

// SBI dispatch, and the small extensions: BASE, TIME and the legacy calls.
#include "hypervisor/sbi.hpp"

namespace nimbus::hypervisor {

Sbi::Sbi(std::span<GuestCpu* const> vcpus, GuestMemory& memory, machine::ConsoleBackend& console,
         std::function<void(const SystemResetRequest&)> on_reset)
    : vcpus_(vcpus.begin(), vcpus.end()), memory_(memory), console_(console), on_reset_(std::move(on_reset)) {}

Sbi::Outcome Sbi::handle(unsigned hart) {
  GuestCpu& cpu = *vcpus_.at(hart);
  Call call{hart, cpu.reg(17), cpu.reg(16), {}};
  for (unsigned i = 0; i < 6; ++i) call.a[i] = cpu.reg(10 + i);
  calls_.fetch_add(1, std::memory_order_relaxed);

  Outcome outcome = Outcome::resume;
  if (call.eid < sbi::kBase) {
    const int64_t value = legacy(call, outcome);
    if (outcome == Outcome::resume) {
      cpu.set_reg(10, static_cast<uint64_t>(value));
      cpu.advance_pc(4);
    }
    return outcome;
  }
  Result result;
  switch (call.eid) {
  case sbi::kBase: result = base(call); break;
  case sbi::kTime: result = time(call); break;
  case sbi::kIpi: result = ipi(call); break;
  case sbi::kRfence: result = rfence(call); break;
  case sbi::kHsm: result = hsm(call, outcome); break;
  case sbi::kSrst: result = srst(call, outcome); break;
  case sbi::kDbcn: result = dbcn(call); break;
  default: result.error = sbi::kErrNotSupported; break;
  }
  if (outcome == Outcome::resume) {
    cpu.set_reg(10, static_cast<uint64_t>(result.error));
    cpu.set_reg(11, result.value);
    cpu.advance_pc(4);
  }
  return outcome;
}

bool Sbi::probe(uint64_t eid) const {
  switch (eid) {
  case sbi::kLegacySetTimer:
  case sbi::kLegacyPutchar:
  case sbi::kLegacyGetchar:
  case sbi::kLegacyClearIpi:
  case sbi::kLegacyShutdown:
  case sbi::kBase:
  case sbi::kTime:
  case sbi::kIpi:
  case sbi::kRfence:
  case sbi::kHsm:
  case sbi::kSrst:
  case sbi::kDbcn: return true;
  default: return false;
  }
}

Sbi::Result Sbi::base(const Call& call) const {
  switch (call.fid) {
  case 0: return {sbi::kSuccess, sbi::kSpecVersion};
  case 1: return {sbi::kSuccess, sbi::kImplementationId};
  case 2: return {sbi::kSuccess, sbi::kImplementationVersion};
  case 3: return {sbi::kSuccess, probe(call.a[0]) ? 1u : 0u};
  case 4: // mvendorid, marchid, mimpid: not a real vendor's hart
  case 5:
  case 6: return {sbi::kSuccess, 0};
  default: return {sbi::kErrNotSupported, 0};
  }
}

Sbi::Result Sbi::time(const Call& call) {
  if (call.fid != 0) return {sbi::kErrNotSupported, 0};
  vcpus_[call.hart]->set_timer(call.a[0]);
  return {};
}

int64_t Sbi::legacy(const Call& call, Outcome& outcome) {
  switch (call.eid) {
  case sbi::kLegacySetTimer: vcpus_[call.hart]->set_timer(call.a[0]); return 0;
  case sbi::kLegacyPutchar: console_.write(static_cast<uint8_t>(call.a[0])); return 0;
  case sbi::kLegacyGetchar: {
    const auto byte = console_.read();
    return byte ? *byte : -1;
  }
  // The guest clears sip.SSIP itself (S-mode may); there is nothing pending elsewhere.
  case sbi::kLegacyClearIpi: return 0;
  case sbi::kLegacyShutdown:
    outcome = Outcome::system_reset;
    on_reset_(SystemResetRequest{});
    return 0;
  // send_ipi and the remote fences take a pointer to a hart mask in guest-virtual memory; every
  // kernel that knows SBI 0.2 uses the IPI and RFENCE extensions instead.
  default: return sbi::kErrNotSupported;
  }
}

} // namespace nimbus::hypervisor

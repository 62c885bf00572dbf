// SBI extensions that act on the whole VM: SRST (shutdown, reboot) and DBCN (debug console).
#include <array>

#include "hypervisor/sbi.hpp"

namespace nimbus::hypervisor {

Sbi::Result Sbi::srst(const Call& call, Outcome& outcome) {
  if (call.fid != 0) return {sbi::kErrNotSupported, 0};
  SystemResetRequest request;
  switch (call.a[0]) {
  case 0: request.kind = SystemResetRequest::Kind::shutdown; break;
  case 1: request.kind = SystemResetRequest::Kind::cold_reboot; break;
  case 2: request.kind = SystemResetRequest::Kind::warm_reboot; break;
  default: return {sbi::kErrInvalidParam, 0}; // reserved or vendor types we do not implement
  }
  if (call.a[1] > 1) return {sbi::kErrInvalidParam, 0}; // only "no reason" and "system failure"
  request.reason = static_cast<uint32_t>(call.a[1]);
  outcome = Outcome::system_reset;
  on_reset_(request);
  return {};
}

Sbi::Result Sbi::dbcn(const Call& call) {
  switch (call.fid) {
  case 0:   // console_write(num_bytes, base_lo, base_hi)
  case 1: { // console_read(num_bytes, base_lo, base_hi)
    const uint64_t requested = call.a[0], address = call.a[1];
    // Guest-physical addresses fit in 64 bits: a non-zero high half names no memory we have.
    if (call.a[2] != 0 || !memory_.contains(address, requested == 0 ? 1 : requested))
      return {sbi::kErrInvalidParam, 0};
    const uint64_t count = std::min(requested, sbi::kMaxConsoleTransfer);
    std::array<uint8_t, sbi::kMaxConsoleTransfer> buffer{};
    if (call.fid == 0) {
      if (memory_.read(address, buffer.data(), count) != GuestMemoryStatus::ok) return {sbi::kErrFailed, 0};
      for (uint64_t i = 0; i < count; ++i) console_.write(buffer[i]);
      return {sbi::kSuccess, count};
    }
    uint64_t got = 0;
    while (got < count) {
      const auto byte = console_.read();
      if (!byte) break;
      buffer[got++] = *byte;
    }
    if (got != 0 && memory_.write(address, buffer.data(), got) != GuestMemoryStatus::ok) return {sbi::kErrFailed, 0};
    if (got != 0 && on_guest_write_) on_guest_write_(address, got);
    return {sbi::kSuccess, got};
  }
  case 2: // console_write_byte(byte)
    console_.write(static_cast<uint8_t>(call.a[0]));
    return {};
  default: return {sbi::kErrNotSupported, 0};
  }
}

} // namespace nimbus::hypervisor

#pragma once
// The SBI the VMM implements for its guests (RISC-V SBI 2.0), as the firmware of every VM: the
// guest kernel's ECALLs from S-mode arrive here as CpuExit::sbi_call. Extensions: BASE, TIME,
// IPI, RFENCE, HSM, SRST, DBCN, and the legacy set_timer/console/shutdown calls.
//
// Arguments are guest-controlled and hostile until checked: hart masks are checked against the
// VM's vCPUs before anything is done, memory ranges against the VM's RAM (a guest can only name
// its own guest-physical memory), lengths are capped. Every problem is an SBI error code in a0,
// never an exception out of the VMM. Unknown extensions and functions get SBI_ERR_NOT_SUPPORTED.
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "hypervisor/guest_cpu.hpp"
#include "hypervisor/guest_memory.hpp"
#include "machine/console_backend.hpp"

namespace nimbus::hypervisor {

namespace sbi {
// Extension ids.
inline constexpr uint64_t kLegacySetTimer = 0x00, kLegacyPutchar = 0x01, kLegacyGetchar = 0x02,
                          kLegacyClearIpi = 0x03, kLegacySendIpi = 0x04, kLegacyShutdown = 0x08;
inline constexpr uint64_t kBase = 0x10, kTime = 0x54494D45, kIpi = 0x735049, kRfence = 0x52464E43,
                          kHsm = 0x48534D, kSrst = 0x53525354, kDbcn = 0x4442434E;
// Error codes (a0).
inline constexpr int64_t kSuccess = 0, kErrFailed = -1, kErrNotSupported = -2, kErrInvalidParam = -3,
                         kErrDenied = -4, kErrInvalidAddress = -5, kErrAlreadyAvailable = -6;
// BASE answers: spec 2.0; Nimbus's implementation id ("NIMB": not a registered id) and version 0.1.0.
inline constexpr uint64_t kSpecVersion = 2ull << 24;
inline constexpr uint64_t kImplementationId = 0x4E494D42;
inline constexpr uint64_t kImplementationVersion = 0x000100;
// HSM states.
inline constexpr uint64_t kHartStarted = 0, kHartStopped = 1, kHartStartPending = 2;
// HSM suspend types.
inline constexpr uint64_t kSuspendRetentive = 0x00000000, kSuspendNonRetentive = 0x80000000;
// The most bytes one DBCN call moves (the spec allows partial transfers; the count goes in a1).
inline constexpr uint64_t kMaxConsoleTransfer = 4096;
} // namespace sbi

// A guest's request to end the VM (SRST, legacy shutdown).
struct SystemResetRequest {
  enum class Kind { shutdown, cold_reboot, warm_reboot };
  Kind kind = Kind::shutdown;
  uint32_t reason = 0;   // 0: no reason, 1: system failure
  // The VM's exit status, as a power-off code: 0 for a clean shutdown, 1 for "system failure".
  int exit_code() const { return reason == 0 ? 0 : 1; }
};

// How calls that act on other vCPUs reach them when a VM's vCPUs run on their own host threads
// (vcpu_requests.hpp): as requests the target performs on its own thread. Without one, the Sbi
// acts on the other vCPUs directly (the VM's vCPUs interleaved on one thread).
class SbiRemoteHarts {
public:
  virtual void send_ipi(unsigned target) = 0;
  // Returns once every target running guest code has done the fence (the others do it before
  // they run again). code: FENCE.I as well.
  virtual void fence(unsigned caller, std::span<const unsigned> targets, bool code) = 0;
  // HSM hart_start of a stopped vCPU; false if it is started or starting already.
  virtual bool start(unsigned target, uint64_t pc, uint64_t opaque) = 0;
  // HSM hart_stop: `hart` (the caller) stopped itself.
  virtual void stopped(unsigned hart) = 0;
  virtual uint64_t status(unsigned target) const = 0;

protected:
  ~SbiRemoteHarts() = default;
};

class Sbi {
public:
  // What one call did to its caller.
  enum class Outcome {
    resume,         // a0/a1 set and pc past the ECALL: run the vCPU again
    hart_stopped,   // HSM hart_stop: the vCPU does not run until another hart starts it
    system_reset,   // SRST or legacy shutdown: the VM ends (on_reset was called)
  };

  // `vcpus[i]` is hart i of the VM. All references outlive the Sbi.
  Sbi(std::span<GuestCpu* const> vcpus, GuestMemory& memory, machine::ConsoleBackend& console,
      std::function<void(const SystemResetRequest&)> on_reset);

  // Handles the ECALL that vCPU `hart` stopped at (registers a0-a7 as the spec says).
  Outcome handle(unsigned hart);

  uint64_t calls() const { return calls_.load(std::memory_order_relaxed); }
  // From now on, calls that act on other vCPUs go through `remote` (nullptr: directly again).
  // Set while no vCPU runs.
  void set_remote_harts(SbiRemoteHarts* remote) { remote_ = remote; }
  // Told of every guest RAM write the SBI makes itself (DBCN console_read), so the VM's harts
  // drop decoded code those bytes may have held, as they do for device DMA.
  void set_guest_write_listener(std::function<void(uint64_t gpa, uint64_t len)> listener) {
    on_guest_write_ = std::move(listener);
  }

private:
  struct Result {
    int64_t error = sbi::kSuccess;
    uint64_t value = 0;
  };
  struct Call {
    unsigned hart;
    uint64_t eid, fid;
    uint64_t a[6];
  };
  Result base(const Call& call) const;
  Result time(const Call& call);
  Result ipi(const Call& call);
  Result rfence(const Call& call);
  Result hsm(const Call& call, Outcome& outcome);
  Result srst(const Call& call, Outcome& outcome);
  Result dbcn(const Call& call);
  // Legacy extensions return one value in a0.
  int64_t legacy(const Call& call, Outcome& outcome);

  // The harts a (hart_mask, hart_mask_base) pair names; nullopt if any of them does not exist.
  std::optional<std::vector<unsigned>> harts_in_mask(uint64_t mask, uint64_t base) const;
  bool probe(uint64_t eid) const;

  std::vector<GuestCpu*> vcpus_;
  GuestMemory& memory_;
  machine::ConsoleBackend& console_;
  std::function<void(const SystemResetRequest&)> on_reset_;
  std::function<void(uint64_t, uint64_t)> on_guest_write_;
  SbiRemoteHarts* remote_ = nullptr;
  std::atomic<uint64_t> calls_{0};   // vCPUs on several threads make calls at once
};

} // namespace nimbus::hypervisor

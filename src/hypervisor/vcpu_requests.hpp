#pragma once
// Requests between the vCPUs of one VM that run on their own host threads (Vm::run_vcpu_thread).
// A vCPU's hart state is touched only by the thread that runs it, so an SBI call that acts on
// another vCPU (IPI, RFENCE, HSM hart_start) posts a request here and wakes the target, which
// performs it on its own thread before it next runs guest code.
//
// "In the guest" is the window in which a vCPU's thread may run guest code or touch its hart.
// RFENCE waits until every target that is in the guest has done the fence; a target that is not
// will do it before it runs again: it marks itself in the guest and only then looks at its
// requests, while the caller posts and only then looks at whether the target is in the guest
// (both sequentially consistent: one of the two sees the other). The VM pauses its vCPUs (for
// snapshots, migration rounds) by the same window: it raises a flag and waits until no vCPU is
// in the guest; a vCPU that enters and sees the flag leaves at once.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "hypervisor/guest_cpu.hpp"
#include "hypervisor/sbi.hpp"

namespace nimbus::hypervisor {

class VcpuRequests final : public SbiRemoteHarts {
public:
  // `wake(i)` makes vCPU i's scheduler entry runnable (it may be waiting in WFI).
  VcpuRequests(std::span<GuestCpu* const> vcpus, std::function<void(unsigned)> wake);

  // SbiRemoteHarts: called on the caller's thread.
  void send_ipi(unsigned target) override;
  void fence(unsigned caller, std::span<const unsigned> targets, bool code) override;
  bool start(unsigned target, uint64_t pc, uint64_t opaque) override;
  void stopped(unsigned hart) override;
  uint64_t status(unsigned target) const override;

  // On vCPU `index`'s own thread.
  void enter(unsigned index) { slots_[index].in_guest.store(true, std::memory_order_seq_cst); }
  void leave(unsigned index) { slots_[index].in_guest.store(false, std::memory_order_seq_cst); }
  // Performs what other vCPUs asked of `index` (between enter and leave).
  void perform(unsigned index);

  bool in_guest(unsigned index) const { return slots_[index].in_guest.load(std::memory_order_seq_cst); }
  // Reads every vCPU's HSM state from the vCPUs themselves (only while none runs).
  void refresh_status();
  // No vCPU started or about to start: the guest stopped them all.
  bool all_stopped() const;

  // Fences done for other vCPUs (for tests and counters).
  uint64_t remote_fences() const { return remote_fences_.load(std::memory_order_relaxed); }

private:
  enum Hsm : uint8_t { kStarted, kStopped, kStartPending };
  static constexpr uint32_t kIpi = 1, kFenceCode = 2, kStart = 4;
  struct Slot {
    std::atomic<bool> in_guest{false};
    std::atomic<uint32_t> flags{0};
    std::atomic<uint64_t> fences_requested{0};
    std::atomic<uint64_t> fences_done{0};
    std::atomic<uint8_t> hsm{kStopped};
    std::mutex start_mutex;   // start_pc and start_opaque
    uint64_t start_pc = 0, start_opaque = 0;
  };

  std::vector<GuestCpu*> vcpus_;
  std::unique_ptr<Slot[]> slots_;
  std::function<void(unsigned)> wake_;
  std::atomic<uint64_t> remote_fences_{0};
};

} // namespace nimbus::hypervisor

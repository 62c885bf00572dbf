#pragma once
// How a Vm gets its vCPUs: one factory per virtualization mode, all with the same signature, so
// the VMM core never names a mode's class. Each mode provides its make_*_cpu and one case in
// make_guest_cpu (guest_cpu_factory.cpp).
#include <memory>
#include <stdexcept>

#include "hypervisor/guest_cpu.hpp"
#include "hypervisor/guest_memory.hpp"
#include "hypervisor/vm_config.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/hart_reservation_set.hpp"

namespace nimbus::hypervisor {

// State a mode keeps once per VM, shared by the VM's vCPUs (hw: the G-stage table and the
// machine bus; trap: shadow page tables). The first vCPU's factory call creates it in
// GuestCpuContext::mode_state, the others find it there; the Vm destroys it after the vCPUs.
class VmModeState {
public:
  virtual ~VmModeState() = default;
};

// Everything of its VM a vCPU may use. The references outlive the vCPU (the Vm owns them all).
struct GuestCpuContext {
  unsigned index = 0;                    // the vCPU's hart id inside its VM (0-based)
  machine::Bus& bus;                     // the VM's bus: RAM from `memory`, the VM's devices
  machine::Clock& clock;                 // the VM's time base
  machine::ReservationSet& reservations; // LR/SC reservations shared by the VM's harts
  GuestMemory& memory;                   // the VM's guest-physical RAM (machine_address for tables)
  FramePool& pool;                       // machine memory (for modes whose harts address it)
  std::unique_ptr<VmModeState>& mode_state;   // the VM's per-mode state (see VmModeState)
};

class UnsupportedModeError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// One vCPU of `mode`, stopped (HSM STOPPED) until start(). Throws UnsupportedModeError for a mode
// that is not available in this build.
std::unique_ptr<GuestCpu> make_guest_cpu(VirtMode mode, const GuestCpuContext& context);

// The per-mode factories.
std::unique_ptr<GuestCpu> make_emulated_cpu(const GuestCpuContext& context);   // emulated_cpu.cpp
std::unique_ptr<GuestCpu> make_trapped_cpu(const GuestCpuContext& context);    // trap_mode/trapped_cpu.cpp
std::unique_ptr<GuestCpu> make_hw_cpu(const GuestCpuContext& context);         // hw_cpu_factory.cpp

} // namespace nimbus::hypervisor

#pragma once
// Stand-in vCPUs for scheduler tests and experiments: they behave like a guest that computes,
// idles in WFI, or alternates, without a hart. The simulated ones only report time; the spinning
// one really burns host CPU for its budget (for ThreadedHost).
#include "hypervisor/vcpu_run.hpp"

namespace nimbus::hypervisor {

// Always has work: uses its whole budget.
VcpuRun simulated_busy_vcpu();
// Waits forever (WFI with no timer) from its first run on.
VcpuRun simulated_idle_vcpu();
// Computes for `busy`, then waits for `idle` (a timer wakes it), and again.
VcpuRun simulated_alternating_vcpu(Nanoseconds busy, Nanoseconds idle);
// Spins on the host CPU for its whole budget.
VcpuRun spinning_busy_vcpu();

} // namespace nimbus::hypervisor

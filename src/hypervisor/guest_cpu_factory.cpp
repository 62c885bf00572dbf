#include "hypervisor/guest_cpu_factory.hpp"

#include <fmt/format.h>

#include "hypervisor/trap_mode/trapped_cpu.hpp"

namespace nimbus::hypervisor {

std::unique_ptr<GuestCpu> make_guest_cpu(VirtMode mode, const GuestCpuContext& context) {
  switch (mode) {
  case VirtMode::emulate: return make_emulated_cpu(context);
  case VirtMode::trap: return make_trapped_cpu(context);
  case VirtMode::hw: return make_hw_cpu(context);
  }
  throw UnsupportedModeError(fmt::format("virtualization mode '{}' is not available in this build", to_string(mode)));
}

} // namespace nimbus::hypervisor

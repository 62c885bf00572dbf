#include "hypervisor/guest_cpu_factory.hpp"

#include <fmt/format.h>

namespace nimbus::hypervisor {

std::unique_ptr<GuestCpu> make_guest_cpu(VirtMode mode, const GuestCpuContext& context) {
  switch (mode) {
  case VirtMode::emulate: return make_emulated_cpu(context);
  case VirtMode::hw: return make_hw_cpu(context);
  case VirtMode::trap: break;
  }
  throw UnsupportedModeError(
      fmt::format("virtualization mode '{}' is not available in this build (only 'emulate' and 'hw' are)", to_string(mode)));
}

} // namespace nimbus::hypervisor

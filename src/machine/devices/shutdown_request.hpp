#pragma once
// What the guest asked the board to do with the machine (test finisher / syscon writes).
#include <cstdint>

namespace nimbus::machine {

struct ShutdownRequest {
  enum class Kind { kNone, kPowerOff, kReboot };
  Kind kind = Kind::kNone;
  uint32_t exit_code = 0; // for kPowerOff: 0 on pass, the guest's code on fail

  bool operator==(const ShutdownRequest&) const = default;
};

} // namespace nimbus::machine

#include "machine/devices/test_finisher.hpp"

namespace nimbus::machine {

bool TestFinisher::read(uint64_t, unsigned, uint64_t& value) {
  value = 0;
  return true;
}

bool TestFinisher::write(uint64_t offset, unsigned size, uint64_t value) {
  if (offset != 0 || size < 4) return true; // QEMU ignores anything but a 32-bit write at 0
  const uint32_t command = static_cast<uint32_t>(value) & 0xffff;
  const uint32_t code = static_cast<uint32_t>(value) >> 16;
  switch (command) {
  case kFail:
    code_ = code;
    kind_ = static_cast<uint32_t>(ShutdownRequest::Kind::kPowerOff);
    break;
  case kPass:
    code_ = 0;
    kind_ = static_cast<uint32_t>(ShutdownRequest::Kind::kPowerOff);
    break;
  case kReset:
    code_ = 0;
    kind_ = static_cast<uint32_t>(ShutdownRequest::Kind::kReboot);
    break;
  default: break; // unknown commands do nothing, as on QEMU
  }
  return true;
}

ShutdownRequest TestFinisher::request() const {
  ShutdownRequest r;
  r.kind = static_cast<ShutdownRequest::Kind>(kind_.load());
  r.exit_code = code_.load();
  return r;
}

void TestFinisher::clear() {
  kind_ = 0;
  code_ = 0;
}

} // namespace nimbus::machine

#include "machine/devices/test_finisher.hpp"

namespace nimbus::machine {

bool TestFinisher::read(uint64_t, unsigned, uint64_t& value) {
  value = 0;
  return true;
}

bool TestFinisher::write(uint64_t offset, unsigned size, uint64_t value) {
  // QEMU accepts 16- and 32-bit writes at 0; OpenSBI's sifive_test driver uses a 16-bit one.
  if (offset != 0 || size < 2) return true;
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

// Fuzz target: one VM's TOML configuration (hypervisor/vm_config.*), as `nimbus run --vm` reads it.
//
// Beyond "no crash": parse_vm_config either throws ConfigError whose message starts with the
// file name, or returns a configuration inside every documented limit (a valid name, 1..64
// vCPUs, whole 4 KiB pages of memory between 1 MiB and 1 TiB, weight 1..10000, cap and
// reservation at most 100 % per vCPU with the reservation under the cap, a kernel, `readonly`
// only with a disk, own firmware only in emulate mode). No other exception escapes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "hypervisor/vm_config.hpp"

using namespace nimbus::hypervisor;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  VmConfig c;
  try {
    c = parse_vm_config(text, "fuzz.toml");
  } catch (const ConfigError& e) {
    FUZZ_CHECK(std::string_view(e.what()).starts_with("fuzz.toml"));
    return 0;
  }
  FUZZ_CHECK(!c.name.empty() && c.name.size() <= kMaxVmNameLength && c.name[0] != '.' && c.name[0] != '-');
  for (const char ch : c.name)
    FUZZ_CHECK((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
               ch == '_' || ch == '.');
  FUZZ_CHECK(c.vcpus >= 1 && c.vcpus <= kMaxVcpus);
  FUZZ_CHECK(c.memory_bytes >= kMinVmMemory && c.memory_bytes <= kMaxVmMemory && c.memory_bytes % 4096 == 0);
  FUZZ_CHECK(c.weight >= 1 && c.weight <= kMaxWeight);
  FUZZ_CHECK(c.cap_percent <= 100 * c.vcpus && c.reservation_percent <= 100 * c.vcpus);
  FUZZ_CHECK(c.cap_percent == 0 || c.reservation_percent <= c.cap_percent);
  FUZZ_CHECK(!c.kernel.empty());
  FUZZ_CHECK(!c.disk_read_only || !c.disk.empty());
  FUZZ_CHECK(!c.bios.empty() && (c.bios == "vmm" || c.mode == VirtMode::emulate));
  return 0;
}

#pragma once
// One VM's configuration as written in its TOML file (`nimbus run --vm a.toml --vm b.toml`), and
// the checks that only make sense across all VMs of a host (unique names, reservations that fit).
// Every problem is reported as a ConfigError naming the file, the key and, where known, the line.
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "machine/devices/virtio_net.hpp"

namespace nimbus::hypervisor {

// How the VM's guest kernel runs (DESIGN.md, "three ways to run a guest").
enum class VirtMode { emulate, trap, hw };

std::string_view to_string(VirtMode mode);

// One network interface (`[[net]]` in the TOML file; docs/networking.md).
struct NicConfig {
  std::string network;                 // the virtual network it joins on this VMM's switch
  machine::MacAddress mac{};           // default: 52:54:00 and three bytes from the VM's name
};

struct VmConfig {
  std::string source;                  // the file it came from, for later error messages
  std::string name;                    // required; letters, digits, '-', '_', '.'
  uint32_t vcpus = 1;                  // 1 .. kMaxVcpus
  uint64_t memory_bytes = 0;           // required; whole 4 KiB pages
  VirtMode mode = VirtMode::emulate;
  // Firmware: "vmm" (default: the VMM is the firmware and answers SBI calls; the kernel starts
  // in S-mode), "none" (the kernel starts at 0x8000_0000 in M-mode, as QEMU -bios none),
  // "opensbi" (Debian's fw_dynamic runs inside the VM in M-mode and boots the kernel in S-mode)
  // or a firmware file. Anything but "vmm" needs mode = emulate.
  std::string bios = "vmm";
  std::string kernel;                  // required
  std::string initrd;                  // optional
  std::string append;                  // kernel command line, optional
  std::string disk;                    // optional
  bool disk_read_only = false;         // `readonly = true`: the guest cannot write the disk
  std::vector<NicConfig> nics;         // virtio-net interfaces, eth0 first
  bool balloon = false;                // `balloon = true`: virtio-balloon with free page reporting
  bool virtio_console = false;         // `virtio_console = true`: a virtio-console port (hvc)
  bool console_input_hvc = false;      // `console_input = "hvc"`: console input goes to it, not the UART
  uint32_t weight = 100;               // relative share, 1 .. kMaxWeight
  uint32_t cap_percent = 0;            // percent of one host hart, 0 = no cap
  uint32_t reservation_percent = 0;    // guaranteed percent of one host hart
  // The gdb stub (docs/gdb.md): `gdb = "tcp:127.0.0.1:1234"` serves the GDB remote protocol for
  // this VM's vCPUs (mode = emulate); `gdb_wait = true` holds them until gdb continues.
  std::string gdb;
  bool gdb_wait = false;
};

inline constexpr uint32_t kMaxVcpus = 64;
inline constexpr uint32_t kMaxWeight = 10000;
inline constexpr uint64_t kMinVmMemory = 1ull << 20;   // below this no kernel boots
inline constexpr uint64_t kMaxVmMemory = 1ull << 40;
inline constexpr size_t kMaxVmNameLength = 63;         // the name becomes a socket file name
inline constexpr size_t kMaxVmNics = 4;

// The MAC a VM's interface gets when its [[net]] table names none: 52:54:00 (QEMU's locally
// administered prefix) and three bytes of a hash of the VM's name and the interface's index.
machine::MacAddress default_mac(std::string_view vm_name, size_t index);

class ConfigError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// Parses one VM's TOML text; `source` names it in errors (usually the file path).
VmConfig parse_vm_config(std::string_view toml_text, std::string_view source);

// Reads and parses one file.
VmConfig load_vm_config(const std::filesystem::path& file);

// Cross-VM checks: no two VMs share a name, no two interfaces share a MAC on one network; reservations add up to at most what `host_harts`
// harts can give (100 % each).
void check_vm_set(const std::vector<VmConfig>& vms, uint32_t host_harts);

// load_vm_config for each file, then check_vm_set.
std::vector<VmConfig> load_vm_configs(const std::vector<std::filesystem::path>& files, uint32_t host_harts);

} // namespace nimbus::hypervisor

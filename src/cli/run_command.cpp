// `nimbus run`: boots one machine on the terminal, like `qemu-system-riscv64 -M virt -nographic`;
// with --vm or --virt, runs VMs under the VMM instead (the VMM is their firmware).
#include <cstdlib>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "cli/commands.hpp"
#include "cli/jail.hpp"
#include "cli/tls_stream.hpp"
#include "cli/sandbox.hpp"
#include "cli/terminal_console.hpp"
#include "hypervisor/migration.hpp"
#include "hypervisor/net_switch.hpp"
#include "hypervisor/net_tunnel.hpp"
#include "hypervisor/openssl_library.hpp"
#include "hypervisor/vm_config.hpp"
#include "hypervisor/vm_snapshot.hpp"
#include "hypervisor/vmm.hpp"
#include "machine/board.hpp"
#include "machine/gdb/stub.hpp"
#include "machine/gdb/transport.hpp"
#include "machine/hart.hpp"
#include "machine/machine.hpp"
#include "machine/size_parser.hpp"

namespace nimbus::cli {
namespace {

constexpr uint64_t kMinRam = 16ull << 20;
constexpr uint64_t kMaxRam = 16ull << 30;
constexpr unsigned kMaxHarts = 8;
// Exit codes beyond the guest's own power-off codes.
constexpr int kExitUsage = 2;
constexpr int kExitTimeout = 124;
constexpr int kExitInstructionLimit = 125;

struct RunOptions {
  std::string kernel, initrd, append, bios = "opensbi", mem = "256M", drive;
  unsigned smp = 1;
  bool deterministic = false;
  bool drive_read_only = false;
  bool virtio_legacy = false;
  bool balloon = false;
  bool virtio_console = false;
  std::string console_input = "uart";
  double timeout_seconds = 0;
  uint64_t max_instructions = 0;
  std::string jit; // "on" or "off"; default from NIMBUS_JIT, else on
  std::string hart_threads = "on"; // bare machine: each hart on its own host thread
  std::string gdb;  // the gdb stub's address (docs/gdb.md), e.g. tcp:127.0.0.1:1234
  bool wait_for_gdb = false;
  std::vector<std::string> loads;
  // Networking (docs/networking.md): interfaces of the bare machine or the --virt VM, and a
  // tunnel that extends this process's networks to other VMMs.
  std::vector<std::string> nets;   // NETWORK[,mac=MAC]
  std::string net_tunnel;          // udp:LOCAL_PORT,peer=HOST:PORT...
  std::vector<std::string> net_taps; // NETWORK=IFNAME
  // The VMM (--vm or --virt).
  std::vector<std::string> vm_files;
  std::string virt;          // single VM without TOML: its mode
  std::string name = "vm";   // single VM: its name
  std::string machine_mem;   // default: the sum of the VMs' memory
  unsigned host_harts = 0;   // default: the host's harts
  std::string state_dir, log_dir;
  bool console_stdout = false;
  bool marker_log = false;
  bool no_sandbox = false;
  // --jail (docs/security.md): namespaces, a new root of only what the VMM needs, another user.
  bool jail = false;
  std::string jail_user = "nobody";
  std::string jail_network = "none";
  std::string jail_memory_max;     // cgroup limits of a jailed VMM (jail_cgroup.hpp)
  uint32_t jail_cpu_max = 0;       // percent of one host core; 0: no quota
  uint64_t jail_pids_max = 0;      // 0: no cap
  // Snapshots (docs/migration.md).
  std::string restore;             // resume the VM snapshotted in this directory
  std::string snapshot_on_signal;  // SIGUSR1 writes a snapshot of the (single) VM here
  // Live migration (docs/migration.md): wait on tcp:HOST:PORT for a VM sent by nimbus migrate.
  std::string incoming;
  std::string incoming_disk;          // --incoming-disk: where a disk copied with the VM goes
  double incoming_wait_seconds = 0;   // 0: wait for the source as long as it takes
  TlsFiles incoming_tls;              // --tls-cert/--tls-key/--tls-ca: --incoming tls:HOST:PORT
};

const CLI::Validator kNotNegative(
    [](std::string& value) { return value.starts_with('-') ? std::string("must not be negative") : std::string(); },
    "NUMBER >= 0");

class UsageError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// --jit, or NIMBUS_JIT from the environment (so whole test suites can run with the interpreter:
// NIMBUS_JIT=off), else on.
bool jit_on(const RunOptions& o) {
  std::string value = o.jit;
  if (value.empty()) {
    const char* env = std::getenv("NIMBUS_JIT");
    value = env != nullptr && *env != '\0' ? env : "on";
  }
  if (value == "on") return true;
  if (value == "off") return false;
  throw UsageError(fmt::format("--jit '{}' (or NIMBUS_JIT) must be 'on' or 'off'", value));
}

// A test knob, not an option: NIMBUS_JIT_THRESHOLD=1 translates every block on its first run, so
// test suites exercise the JIT on code that runs only a few times. Unset: the tier's default.
std::optional<uint32_t> jit_threshold() {
  const char* threshold = std::getenv("NIMBUS_JIT_THRESHOLD");
  if (threshold == nullptr) return std::nullopt;
  char* end = nullptr;
  const unsigned long value = std::strtoul(threshold, &end, 10);
  if (end == threshold || *end != '\0' || value == 0 || value > 1000000)
    throw UsageError(fmt::format("NIMBUS_JIT_THRESHOLD '{}' must be a number from 1 to 1000000", threshold));
  return static_cast<uint32_t>(value);
}

void require_readable_file(const std::string& path, const char* what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw UsageError(fmt::format("{} '{}' does not exist", what, path));
  if (std::filesystem::is_directory(path, ec)) throw UsageError(fmt::format("{} '{}' is a directory", what, path));
  if (access(path.c_str(), R_OK) != 0) throw UsageError(fmt::format("{} '{}' is not readable", what, path));
}

machine::ExtraLoad parse_load(const std::string& spec) {
  const auto at = spec.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == spec.size())
    throw UsageError(fmt::format("--load '{}' must look like FILE@ADDRESS (e.g. Image@0x84000000)", spec));
  std::string_view addr(spec.c_str() + at + 1);
  int base = 10;
  if (addr.starts_with("0x") || addr.starts_with("0X")) {
    addr.remove_prefix(2);
    base = 16;
  }
  uint64_t value = 0;
  auto [p, ec] = std::from_chars(addr.data(), addr.data() + addr.size(), value, base);
  if (ec != std::errc() || p != addr.data() + addr.size() || addr.empty())
    throw UsageError(fmt::format("--load '{}': '{}' is not an address", spec, spec.substr(at + 1)));
  machine::ExtraLoad load{spec.substr(0, at), value};
  require_readable_file(load.path, "--load file");
  return load;
}

// --net NETWORK[,mac=MAC], one interface; `index` picks the default MAC.
hypervisor::NicConfig parse_net(const std::string& text, const std::string& vm_name, size_t index) {
  hypervisor::NicConfig nic;
  const size_t comma = text.find(',');
  nic.network = text.substr(0, comma);
  if (!hypervisor::valid_network_name(nic.network))
    throw UsageError(fmt::format("--net '{}': network name '{}' is not 1 to 32 letters, digits, '-', '_' or '.'; "
                                 "write it as NETWORK[,mac=52:54:00:12:34:56]",
                                 text, nic.network));
  nic.mac = hypervisor::default_mac(vm_name, index);
  if (comma != std::string::npos) {
    const std::string rest = text.substr(comma + 1);
    if (rest.rfind("mac=", 0) != 0 || !machine::parse_mac(rest.substr(4), nic.mac))
      throw UsageError(fmt::format("--net '{}': '{}' is not mac=XX:XX:XX:XX:XX:XX with a unicast address", text, rest));
  }
  return nic;
}

std::vector<hypervisor::NicConfig> parse_nets(const RunOptions& o, const std::string& vm_name) {
  std::vector<hypervisor::NicConfig> nics;
  if (o.nets.size() > hypervisor::kMaxVmNics)
    throw UsageError(fmt::format("--net: at most {} interfaces, got {}", hypervisor::kMaxVmNics, o.nets.size()));
  for (const std::string& text : o.nets) {
    nics.push_back(parse_net(text, vm_name, nics.size()));
    for (size_t i = 0; i + 1 < nics.size(); ++i)
      if (nics[i].network == nics.back().network)
        throw UsageError(fmt::format("--net: two interfaces on network '{}'", nics.back().network));
  }
  return nics;
}

std::optional<hypervisor::TunnelSpec> parse_net_tunnel(const RunOptions& o) {
  if (o.net_tunnel.empty()) return std::nullopt;
  try {
    return hypervisor::parse_tunnel_spec(o.net_tunnel);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("--net-tunnel: {}", e.what()));
  }
}

std::vector<hypervisor::TapSpec> parse_net_taps(const RunOptions& o) {
  std::vector<hypervisor::TapSpec> taps;
  for (const std::string& text : o.net_taps) {
    try {
      taps.push_back(hypervisor::parse_tap_spec(text));
    } catch (const std::invalid_argument& e) {
      throw UsageError(fmt::format("--net-tap: {}", e.what()));
    }
    for (size_t i = 0; i + 1 < taps.size(); ++i) {
      if (taps[i].network == taps.back().network)
        throw UsageError(fmt::format("--net-tap: network '{}' has two TAP devices (one per network)", taps[i].network));
      if (taps[i].interface == taps.back().interface)
        throw UsageError(fmt::format("--net-tap: device '{}' is named twice", taps[i].interface));
    }
  }
  return taps;
}

// --console-input: "hvc" sends console input to the virtio console instead of the UART.
bool console_input_hvc(const RunOptions& o) {
  if (o.console_input != "uart" && o.console_input != "hvc")
    throw UsageError(fmt::format("--console-input '{}' must be uart or hvc", o.console_input));
  if (o.console_input == "hvc" && !o.virtio_console)
    throw UsageError("--console-input hvc needs the virtio console: add --virtio-console");
  return o.console_input == "hvc";
}

machine::MachineConfig validate(const RunOptions& o) {
  machine::MachineConfig c;
  require_readable_file(o.kernel, "kernel");
  c.kernel = o.kernel;
  if (!o.initrd.empty()) {
    require_readable_file(o.initrd, "initrd");
    c.initrd = o.initrd;
  }
  c.append = o.append;
  if (o.bios != "opensbi" && o.bios != "none") require_readable_file(o.bios, "firmware (--bios)");
  c.bios = o.bios;
  const auto ram = machine::parse_size(o.mem);
  if (!ram) throw UsageError(fmt::format("--mem '{}' is not a size (use e.g. 256M or 1G)", o.mem));
  if (*ram < kMinRam || *ram > kMaxRam)
    throw UsageError(fmt::format("--mem {} is out of range: RAM must be between 16M and 16G", o.mem));
  if (*ram % 4096) throw UsageError(fmt::format("--mem {} is not a multiple of 4 KiB", o.mem));
  c.ram_size = *ram;
  if (o.smp < 1 || o.smp > kMaxHarts)
    throw UsageError(fmt::format("--smp {} is out of range: 1 to {} harts", o.smp, kMaxHarts));
  c.harts = o.smp;
  if (!o.drive.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(o.drive, ec))
      throw UsageError(fmt::format("drive '{}' is not a regular file (create one with: truncate -s 64M {})",
                                   o.drive, o.drive));
    c.drive = o.drive;
    c.drive_read_only = o.drive_read_only || access(o.drive.c_str(), W_OK) != 0;
  }
  for (const auto& l : o.loads) c.loads.push_back(parse_load(l));
  parse_nets(o, "machine"); // checked here; connected by run_machine
  parse_net_tunnel(o);
  parse_net_taps(o);
  if (o.timeout_seconds < 0) throw UsageError("--timeout must not be negative");
  c.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_seconds * 1000));
  c.max_instructions = o.max_instructions;
  c.deterministic = o.deterministic;
  c.virtio_legacy = o.virtio_legacy;
  c.balloon = o.balloon;
  c.virtio_console = o.virtio_console;
  c.console_input_hvc = console_input_hvc(o);
  c.jit = jit_on(o);
  if (const auto threshold = jit_threshold()) c.jit_threshold = *threshold;
  c.hart_threads = o.hart_threads == "on";
  return c;
}

// ---- the VMM: --vm FILE... or --virt MODE

void require_vm_files(const hypervisor::VmConfig& vm) {
  require_readable_file(vm.kernel, fmt::format("VM '{}': kernel", vm.name).c_str());
  if (!vm.initrd.empty()) require_readable_file(vm.initrd, fmt::format("VM '{}': initrd", vm.name).c_str());
  if (!vm.disk.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(vm.disk, ec))
      throw UsageError(fmt::format("VM '{}': disk '{}' is not a regular file", vm.name, vm.disk));
  }
}

hypervisor::VirtMode parse_mode(const std::string& mode) {
  if (mode == "emulate") return hypervisor::VirtMode::emulate;
  if (mode == "trap") return hypervisor::VirtMode::trap;
  if (mode == "hw") return hypervisor::VirtMode::hw;
  throw UsageError(fmt::format("--virt '{}' is not a mode (emulate, trap or hw)", mode));
}

struct VmmSetup {
  std::vector<hypervisor::VmConfig> vms;
  hypervisor::VmmOptions options;
  bool on_terminal = false;
};

VmmSetup validate_vmm(const RunOptions& o, std::shared_ptr<const hypervisor::SnapshotImage> restore,
                      const hypervisor::VmConfig* incoming = nullptr) {
  VmmSetup setup;
  if (!o.bios.empty() && o.bios != "opensbi") throw UsageError("--bios cannot be used with --vm or --virt: the VMM is the firmware");
  if (!o.loads.empty()) throw UsageError("--load cannot be used with --vm or --virt");
  if (o.virtio_legacy) throw UsageError("--virtio-legacy cannot be used with --vm or --virt");
  if (o.max_instructions != 0) throw UsageError("--max-instructions cannot be used with --vm or --virt");
  if (o.wait_for_gdb && o.gdb.empty()) throw UsageError("--wait-for-gdb needs --gdb tcp:HOST:PORT");
  if (!o.gdb.empty() && (incoming || restore))
    throw UsageError("--gdb cannot be used with --restore or --incoming (start the VM with --virt emulate --gdb ...)");
  if (!o.gdb.empty() && !o.vm_files.empty())
    throw UsageError("with --vm, give a VM its stub in its TOML file: gdb = \"tcp:127.0.0.1:1234\" (and gdb_wait = "
                     "true); --gdb is for the bare machine and --virt");
  setup.options.jit = jit_on(o); // every mode: the JIT runs the vCPUs' harts (docs/jit.md)
  if (const auto threshold = jit_threshold()) setup.options.jit_threshold = *threshold;
  const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  setup.options.host_harts = o.host_harts != 0 ? o.host_harts : hardware;
  if (setup.options.host_harts > 256) throw UsageError(fmt::format("--host-harts {} is out of range: 1 to 256", o.host_harts));
  if (incoming) {
    hypervisor::VmConfig vm = *incoming;
    if (!vm.disk.empty()) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(vm.disk, ec))
        throw UsageError(fmt::format("--incoming: the VM's disk '{}' is not a regular file here (disks must be on "
                                     "shared storage at the same path)",
                                     vm.disk));
    }
    setup.vms.push_back(vm);
    setup.on_terminal = !o.console_stdout;
  } else if (restore) {
    if (!o.vm_files.empty() || !o.virt.empty() || !o.kernel.empty() || !o.initrd.empty() || !o.drive.empty() ||
        !o.append.empty())
      throw UsageError("--restore takes the VM from its snapshot: do not combine it with --vm, --virt, --kernel, "
                       "--initrd, --append or --drive");
    if (!hypervisor::snapshot_supported(restore->config.mode))
      throw UsageError(fmt::format("--restore: the snapshot is of a {} mode VM; restoring is not supported in that "
                                   "mode",
                                   hypervisor::to_string(restore->config.mode)));
    hypervisor::VmConfig vm = restore->config;
    if (!vm.disk.empty()) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(vm.disk, ec))
        throw UsageError(fmt::format("--restore: the snapshot's disk '{}' is not a regular file", vm.disk));
    }
    setup.vms.push_back(vm);
    setup.on_terminal = !o.console_stdout;
  } else if (!o.vm_files.empty()) {
    if (!o.virt.empty() || !o.kernel.empty() || !o.initrd.empty() || !o.drive.empty() || !o.nets.empty() ||
        o.balloon || o.virtio_console || o.console_input != "uart")
      throw UsageError("--vm takes everything from its TOML files: do not combine it with --virt, --kernel, --initrd, "
                       "--drive, --net, --balloon, --virtio-console or --console-input (write [[net]] tables, "
                       "balloon = true, virtio_console = true, console_input = \"hvc\" in the TOML file)");
    std::vector<std::filesystem::path> files(o.vm_files.begin(), o.vm_files.end());
    try {
      setup.vms = hypervisor::load_vm_configs(files, setup.options.host_harts);
    } catch (const hypervisor::ConfigError& e) {
      throw UsageError(e.what());
    }
  } else {
    hypervisor::VmConfig vm;
    vm.source = "command line";
    vm.name = o.name;
    const bool name_ok = !o.name.empty() && o.name.size() <= hypervisor::kMaxVmNameLength && o.name[0] != '.' &&
                         o.name[0] != '-' && o.name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == std::string::npos;
    if (!name_ok) throw UsageError(fmt::format("--name '{}': use 1-63 of A-Z a-z 0-9 . _ -, not starting with '.' or '-'", o.name));
    vm.mode = parse_mode(o.virt);
    if (o.kernel.empty()) throw UsageError("--kernel is required");
    vm.kernel = o.kernel;
    vm.initrd = o.initrd;
    vm.append = o.append;
    vm.disk = o.drive;
    vm.disk_read_only = o.drive_read_only;
    vm.balloon = o.balloon;
    vm.virtio_console = o.virtio_console;
    vm.console_input_hvc = console_input_hvc(o);
    vm.nics = parse_nets(o, vm.name);
    const auto ram = machine::parse_size(o.mem);
    if (!ram || *ram < kMinRam || *ram > kMaxRam || *ram % 4096)
      throw UsageError(fmt::format("--mem '{}' must be a size from 16M to 16G in whole 4 KiB pages", o.mem));
    vm.memory_bytes = *ram;
    if (o.smp < 1 || o.smp > hypervisor::kMaxVcpus)
      throw UsageError(fmt::format("--smp {} is out of range: 1 to {} vCPUs", o.smp, hypervisor::kMaxVcpus));
    vm.vcpus = o.smp;
    vm.gdb = o.gdb;
    vm.gdb_wait = o.wait_for_gdb;
    if (!vm.gdb.empty() && vm.mode == hypervisor::VirtMode::trap)
      throw UsageError("--gdb needs --virt emulate or hw (in trap mode the hart runs the guest kernel in U-mode and "
                       "does not hold its privileged state)");
    setup.vms.push_back(vm);
    setup.on_terminal = !o.console_stdout;
  }
  if (!restore && !incoming)
    for (const auto& vm : setup.vms) require_vm_files(vm);
  if (!o.snapshot_on_signal.empty()) {
    if (setup.vms.size() != 1) throw UsageError("--snapshot-on-signal needs exactly one VM");
    if (!hypervisor::snapshot_supported(setup.vms[0].mode))
      throw UsageError(fmt::format("--snapshot-on-signal: snapshots are not supported in {} mode",
                                   hypervisor::to_string(setup.vms[0].mode)));
    std::error_code ec;
    std::filesystem::create_directories(o.snapshot_on_signal, ec);
    if (ec || !std::filesystem::is_directory(o.snapshot_on_signal))
      throw UsageError(fmt::format("--snapshot-on-signal: cannot create directory '{}': {}", o.snapshot_on_signal,
                                   ec ? ec.message() : "not a directory"));
    setup.options.snapshot_dir = o.snapshot_on_signal;
  }
  if (!o.machine_mem.empty()) {
    const auto bytes = machine::parse_size(o.machine_mem);
    if (!bytes || *bytes == 0) throw UsageError(fmt::format("--machine-mem '{}' is not a size (use e.g. 2G)", o.machine_mem));
    setup.options.machine_memory = *bytes;
  }
  if (o.timeout_seconds < 0) throw UsageError("--timeout must not be negative");
  setup.options.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_seconds * 1000));
  setup.options.deterministic = o.deterministic;
  setup.options.vcpu_threads = o.hart_threads == "on";
  setup.options.state_dir = o.state_dir.empty() ? hypervisor::default_state_dir() : std::filesystem::path(o.state_dir);
  setup.options.log_dir = o.log_dir.empty() ? setup.options.state_dir : std::filesystem::path(o.log_dir);
  setup.options.echo_stdout = o.console_stdout;
  setup.options.marker_log = o.marker_log;
  setup.options.tunnel = parse_net_tunnel(o);
  setup.options.taps = parse_net_taps(o);
  return setup;
}

// --incoming tcp:HOST:PORT: listens, accepts the first connection and reads its HELLO (the VM's
// configuration), all before the VMM and its sandbox exist (the sandbox forbids bind/listen).
// tls:HOST:PORT: the same after a TLS handshake that authenticates the source (tls_stream.hpp).
// `tls` keeps the TLS relay's context (it pauses around --jail's namespaces).
std::unique_ptr<hypervisor::migration::Incoming> accept_incoming(const RunOptions& o, std::unique_ptr<TlsContext>& tls) {
  StreamAddress address;
  try {
    address = parse_stream_address(o.incoming);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("--incoming: {}", e.what()));
  }
  if (const std::string wrong = check_tls_options(address, o.incoming_tls, "--incoming"); !wrong.empty())
    throw UsageError(wrong);
  if (address.tls) {
    try {
      tls = std::make_unique<TlsContext>(o.incoming_tls, TlsRole::server);
    } catch (const TlsError& e) {
      throw UsageError(e.what());
    }
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  if (const int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    throw UsageError(fmt::format("--incoming: cannot resolve '{}': {}", address.host, ::gai_strerror(rc)));
  int listener = -1;
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr && listener < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1) == 0) {
      listener = fd;
    } else {
      error = std::strerror(errno);
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  if (listener < 0) throw UsageError(fmt::format("--incoming: cannot listen on {}: {}", o.incoming, error));
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  uint16_t bound_port = address.port;
  if (::getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &bound_len) == 0)
    bound_port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                   : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  fmt::print(stderr, "nimbus run: waiting for an incoming migration on {}:{}:{}\n", address.tls ? "tls" : "tcp",
             address.host, bound_port);
  pollfd p{listener, POLLIN, 0};
  const int wait_ms = o.incoming_wait_seconds > 0 ? static_cast<int>(o.incoming_wait_seconds * 1000) : -1;
  int ready;
  while ((ready = ::poll(&p, 1, wait_ms)) < 0 && errno == EINTR) {
  }
  if (ready == 0) {
    ::close(listener);
    throw std::runtime_error(fmt::format("no source connected within {} s", o.incoming_wait_seconds));
  }
  const int connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  const int accept_error = errno;
  ::close(listener);   // one VM per --incoming
  if (connection < 0) throw std::runtime_error(fmt::format("accept failed: {}", std::strerror(accept_error)));
  const int one = 1;
  ::setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A source whose certificate does not verify is refused here, before a byte of the stream.
  const int stream = tls ? tls->connect_relay(connection, "", std::chrono::seconds(30)) : connection;
  if (tls) fmt::print(stderr, "nimbus run: the source's TLS certificate verified\n");
  auto incoming = std::make_unique<hypervisor::migration::Incoming>(stream);
  const auto& hello = incoming->hello(std::chrono::seconds(30));
  fmt::print(stderr, "nimbus run: incoming VM '{}' ({} vCPUs, {} MiB, {} mode{})\n", hello.config.name,
             hello.config.vcpus, hello.config.memory_bytes >> 20, hypervisor::to_string(hello.config.mode),
             hello.config.disk.empty() ? "" : ", disk " + hello.config.disk);
  if (!o.incoming_disk.empty()) {
    try {
      if (hello.config.disk.empty()) throw std::runtime_error("--incoming-disk: the incoming VM has no disk");
      const uint64_t bytes = incoming->expect_disk(std::filesystem::absolute(o.incoming_disk), std::chrono::seconds(30));
      fmt::print(stderr, "nimbus run: its disk ({} MiB) is copied to {}\n", bytes >> 20, o.incoming_disk);
    } catch (const std::exception& e) {
      incoming->refuse(e.what());
      throw;
    }
  }
  return incoming;
}

// Ctrl-C (or SIGTERM) on a VMM whose consoles are not on the terminal stops every VM cleanly:
// sockets removed, final stats written, exit status 130.
volatile std::sig_atomic_t g_stop_signal = 0;
void request_stop(int) { g_stop_signal = 1; }
// SIGUSR1 with --snapshot-on-signal: snapshot the VM and run on.
volatile std::sig_atomic_t g_snapshot_signal = 0;
void request_snapshot(int) { g_snapshot_signal = 1; }

// What every jail holds and checks, VMM or bare machine (docs/security.md): the user, the
// network, the cgroup limits, the two devices it opens, and what its network backends need.
JailSpec jail_spec_common(const RunOptions& o) {
  JailSpec spec;
  try {
    spec.user = parse_jail_user(o.jail_user);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("--jail-user '{}' {}", o.jail_user, e.what()));
  }
  if (o.jail_network != "none" && o.jail_network != "host")
    throw UsageError(fmt::format("--jail-network '{}': use none (an empty network namespace) or host", o.jail_network));
  spec.host_network = o.jail_network == "host";
  if (!o.jail_memory_max.empty()) {
    const auto bytes = machine::parse_size(o.jail_memory_max);
    if (!bytes || *bytes < (16u << 20))
      throw UsageError(fmt::format("--jail-memory-max '{}': give a size of at least 16M such as 512M or 2G (the "
                                   "guests' RAM plus the VMM's own)",
                                   o.jail_memory_max));
    spec.limits.memory_max = *bytes;
  }
  if (o.jail_cpu_max > 0) spec.limits.cpu_max_percent = o.jail_cpu_max;
  if (o.jail_pids_max > 0) spec.limits.pids_max = o.jail_pids_max;
  if (!o.net_tunnel.empty() && !spec.host_network)
    throw UsageError("--net-tunnel reaches its peers over the host's network: with --jail, add --jail-network host");
  if (!o.net_taps.empty() && !spec.host_network)
    throw UsageError("--net-tap joins a network to the host's own stack: with --jail, add --jail-network host");
  add_jail_path(spec, "/dev/null", JailAccess::device);
  add_jail_path(spec, "/dev/urandom", JailAccess::device);
  if (!o.net_taps.empty()) add_jail_path(spec, "/dev/net/tun", JailAccess::device);
  if (const auto tunnel = parse_net_tunnel(o)) add_jail_path(spec, tunnel->key_file, JailAccess::read_only);
  return spec;
}

// What a jailed VMM sees besides: each VM's boot files and disk, its firmware, the state, log
// and snapshot directories (given to the jail user) and a snapshot it restores from.
JailSpec jail_spec(const RunOptions& o, const VmmSetup& setup) {
  JailSpec spec = jail_spec_common(o);
  for (const auto& vm : setup.vms)
    if (!vm.gdb.empty() && !spec.host_network)
      throw UsageError(fmt::format("VM '{}': its gdb stub must be reachable from the host: with --jail, add "
                                   "--jail-network host",
                                   vm.name));
  for (const auto& vm : setup.vms) {
    add_jail_path(spec, vm.kernel, JailAccess::read_only);
    add_jail_path(spec, vm.initrd, JailAccess::read_only);
    add_jail_path(spec, vm.disk, vm.disk_read_only ? JailAccess::read_only : JailAccess::read_write);
    if (vm.bios == "opensbi") add_jail_path(spec, machine::Board::kDefaultOpenSbi, JailAccess::read_only);
    else if (vm.bios != "vmm" && vm.bios != "none") add_jail_path(spec, vm.bios, JailAccess::read_only);
  }
  add_jail_path(spec, setup.options.state_dir.string(), JailAccess::read_write, true);
  add_jail_path(spec, setup.options.log_dir.string(), JailAccess::read_write, true);
  add_jail_path(spec, setup.options.snapshot_dir.string(), JailAccess::read_write, true);
  add_jail_path(spec, o.restore, JailAccess::read_only);
  return spec;
}

// What a jailed bare machine sees besides: its kernel, initrd, firmware, --load files and drive
// (writable unless read-only). It has no state directory.
JailSpec jail_spec(const RunOptions& o, const machine::MachineConfig& config) {
  JailSpec spec = jail_spec_common(o);
  if (!o.gdb.empty() && !spec.host_network)
    throw UsageError("the gdb stub must be reachable from the host: with --jail, add --jail-network host");
  add_jail_path(spec, config.kernel, JailAccess::read_only);
  add_jail_path(spec, config.initrd, JailAccess::read_only);
  if (config.bios == "opensbi") add_jail_path(spec, machine::Board::kDefaultOpenSbi, JailAccess::read_only);
  else if (config.bios != "none") add_jail_path(spec, config.bios, JailAccess::read_only);
  for (const auto& load : config.loads) add_jail_path(spec, load.path, JailAccess::read_only);
  if (config.drive)
    add_jail_path(spec, *config.drive, config.drive_read_only ? JailAccess::read_only : JailAccess::read_write);
  return spec;
}

int run_vmm(const RunOptions& options) {
  const auto began = std::chrono::steady_clock::now();
  if (options.jail && ::geteuid() != 0) {
    fmt::print(stderr, "nimbus run: --jail needs root: it makes namespaces and then drops to --jail-user (without "
                       "--jail the VMM still runs under its seccomp filter)\n");
    return kExitUsage;
  }
  VmmSetup setup;
  std::shared_ptr<const hypervisor::SnapshotImage> restore;
  std::unique_ptr<TlsContext> incoming_tls;   // --incoming tls:...: its relay
  std::unique_ptr<hypervisor::migration::Incoming> incoming;
  if (!options.incoming_disk.empty() && options.incoming.empty()) {
    fmt::print(stderr, "nimbus run: --incoming-disk goes with --incoming (the disk of a VM that arrives)\n");
    return kExitUsage;
  }
  if (!options.incoming.empty()) {
    if (!options.restore.empty() || !options.vm_files.empty() || !options.virt.empty() || !options.kernel.empty() ||
        !options.initrd.empty() || !options.drive.empty() || !options.append.empty() || !options.snapshot_on_signal.empty()) {
      fmt::print(stderr, "nimbus run: --incoming takes the VM from the migration stream: do not combine it with "
                         "--restore, --vm, --virt, --kernel, --initrd, --append, --drive or --snapshot-on-signal\n");
      return kExitUsage;
    }
    try {
      incoming = accept_incoming(options, incoming_tls);
    } catch (const UsageError& e) {
      fmt::print(stderr, "nimbus run: {}\n", e.what());
      return kExitUsage;
    } catch (const std::exception& e) {   // a corrupt, hostile or silent source
      fmt::print(stderr, "nimbus run: --incoming: {}\n", e.what());
      return kExitUsage;
    }
  }
  try {
    if (!options.restore.empty()) restore = hypervisor::load_snapshot(options.restore);
    hypervisor::VmConfig incoming_config;
    if (incoming) incoming_config = incoming->hello(std::chrono::seconds(0)).config;
    if (incoming && !options.incoming_disk.empty())
      incoming_config.disk = std::filesystem::absolute(options.incoming_disk).string();   // the copy, created above
    setup = validate_vmm(options, restore, incoming ? &incoming_config : nullptr);
  } catch (const UsageError& e) {
    if (incoming) incoming->refuse(e.what());
    fmt::print(stderr, "nimbus run: {}\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {   // an unreadable, corrupt, truncated or newer snapshot
    fmt::print(stderr, "nimbus run: --restore: {}\n", e.what());
    return kExitUsage;
  }
  if (incoming) {
    auto* receiver = incoming.get();
    setup.options.incoming = [receiver](hypervisor::Vm& vm) {
      const auto report = receiver->receive(vm);
      fmt::print(stderr, "nimbus run: VM '{}' arrived: {} pages in {} rounds ({} MiB received{}); running\n", vm.name(),
                 report.pages, report.rounds, report.bytes >> 20,
                 report.disk_blocks ? fmt::format(", {} disk blocks written to its copy", report.disk_blocks) : "");
    };
    setup.options.incoming_refused = [receiver](const std::string& why) { receiver->refuse(why); };
  }
  setup.options.restore = restore;
  setup.options.restore_began = began;
  if (!options.snapshot_on_signal.empty()) {
    std::signal(SIGUSR1, request_snapshot);
    setup.options.snapshot_requested = [] {
      if (g_snapshot_signal == 0) return false;
      g_snapshot_signal = 0;
      return true;
    };
  }
  std::shared_ptr<JailSpec> jail;
  if (options.jail) {
    try {
      jail = std::make_shared<JailSpec>(jail_spec(options, setup));
      // One thread still (the TLS relay's waits): the VMM and its threads start inside.
      if (incoming_tls) incoming_tls->pause_relays();
      try {
        setup.options.host_pid = enter_jail(*jail);
      } catch (...) {
        if (incoming_tls) incoming_tls->resume_relays();   // the refusal below goes through it
        throw;
      }
      if (incoming_tls) incoming_tls->resume_relays();
    } catch (const std::exception& e) { // a bad --jail-user, or a step the kernel refused
      if (incoming) incoming->refuse(e.what());
      fmt::print(stderr, "nimbus run: {}\n", e.what());
      return kExitUsage;
    }
  }
  const auto drop = [jail] {
    if (jail) drop_jail_privileges(*jail);
  };
  if (!options.no_sandbox) setup.options.after_setup = [drop] { enter_sandbox(drop); };
  else if (jail) setup.options.after_setup = drop;
  std::unique_ptr<TerminalConsole> terminal;
  if (setup.on_terminal) {
    terminal = std::make_unique<TerminalConsole>(STDIN_FILENO, STDOUT_FILENO);
    setup.options.terminal = terminal.get();
    setup.options.log = [&terminal](const std::string& line) {
      terminal->flush();
      fmt::print(stderr, "nimbus run: {}\n", line);
    };
  } else {
    setup.options.log = [](const std::string& line) { fmt::print(stderr, "nimbus run: {}\n", line); };
    std::signal(SIGINT, request_stop);
    std::signal(SIGTERM, request_stop);
    setup.options.stop_requested = [] { return g_stop_signal != 0; };
  }
  try {
    hypervisor::Vmm vmm(setup.vms, setup.options);
    const hypervisor::VmmResult result = vmm.run();
    if (terminal) terminal->flush();
    if (result.timed_out) fmt::print(stderr, "nimbus run: stopped after the {} s timeout\n", options.timeout_seconds);
    if (result.interrupted) fmt::print(stderr, "nimbus run: interrupted\n");
    return result.exit_code();
  } catch (const std::exception& e) {
    if (terminal) terminal->flush();
    fmt::print(stderr, "nimbus run: {}\n", e.what());
    return kExitUsage;
  }
}

// --incoming tls:... and a tunnel key need OpenSSL, which the VMM loads only then
// (hypervisor/openssl_library.hpp). Loaded here, first: a jail's root holds no /usr/lib.
bool needs_openssl(const RunOptions& o) {
  if (o.incoming.rfind("tls:", 0) == 0) return true;
  try {
    const auto tunnel = parse_net_tunnel(o);
    return tunnel && !tunnel->key_file.empty();
  } catch (const std::exception&) {
    return false;  // a malformed --net-tunnel: reported where it is used
  }
}

int run_machine(const RunOptions& options) {
  if (needs_openssl(options)) {
    try {
      hypervisor::openssl();
    } catch (const std::exception& e) {
      fmt::print(stderr, "nimbus run: {}\n", e.what());
      return kExitUsage;
    }
  }
  if (!options.vm_files.empty() || !options.virt.empty() || !options.restore.empty() || !options.incoming.empty())
    return run_vmm(options);
  if (options.kernel.empty()) {
    fmt::print(stderr, "nimbus run: --kernel is required (or --vm FILE to run VMs under the VMM)\n");
    return kExitUsage;
  }
  if (options.jail && ::geteuid() != 0) {
    fmt::print(stderr, "nimbus run: --jail needs root: it makes namespaces and then drops to --jail-user (without "
                       "--jail the machine still runs under its seccomp filter)\n");
    return kExitUsage;
  }
  machine::MachineConfig config;
  std::optional<JailSpec> jail;
  try {
    config = validate(options);
    if (options.jail) jail = jail_spec(options, config);
  } catch (const UsageError& e) {
    fmt::print(stderr, "nimbus run: {}\n", e.what());
    return kExitUsage;
  }
  // As the VMM does: into the jail while this process has one thread and has opened nothing;
  // the machine opens its files inside as root, then drops to the jail user before the filter.
  if (jail) {
    try {
      enter_jail(*jail);
    } catch (const std::exception& e) { // a step the kernel refused
      fmt::print(stderr, "nimbus run: {}\n", e.what());
      return kExitUsage;
    }
  }
  // The bare machine's interfaces are ports of a switch of its own, which a tunnel extends to
  // other VMMs (the same switch and tunnel as the VMM's).
  hypervisor::VirtualSwitch network_switch;
  std::unique_ptr<hypervisor::UdpTunnel> tunnel;
  std::vector<std::unique_ptr<hypervisor::TapLink>> taps;
  std::vector<hypervisor::NicConfig> nics;
  try {
    nics = parse_nets(options, "machine");
    if (const auto spec = parse_net_tunnel(options)) tunnel = std::make_unique<hypervisor::UdpTunnel>(network_switch, *spec);
    for (const auto& spec : parse_net_taps(options))
      taps.push_back(std::make_unique<hypervisor::TapLink>(network_switch, spec));
  } catch (const std::exception& e) {
    fmt::print(stderr, "nimbus run: {}\n", e.what());
    return kExitUsage;
  }
  if (options.wait_for_gdb && options.gdb.empty()) {
    fmt::print(stderr, "nimbus run: --wait-for-gdb needs --gdb tcp:HOST:PORT\n");
    return kExitUsage;
  }
  std::unique_ptr<machine::gdb::TcpTransport> gdb_transport;
  if (!options.gdb.empty()) {
    try {
      gdb_transport = std::make_unique<machine::gdb::TcpTransport>(options.gdb);
    } catch (const std::exception& e) {
      fmt::print(stderr, "nimbus run: {}\n", e.what());
      return kExitUsage;
    }
    // Scripts that asked for port 0 read the port from this line.
    fmt::print(stderr, "nimbus run: gdb stub listening on port {}{}\n", gdb_transport->port(),
               options.wait_for_gdb ? " (the machine waits for gdb to continue)" : "");
  }
  TerminalConsole console(STDIN_FILENO, STDOUT_FILENO);
  bool sandboxed = options.no_sandbox;
  bool first_boot = true;
  bool rebooting = false;
  // --timeout and --max-instructions bound the whole run: a guest that reboots (each reboot is a
  // fresh machine with limits of its own) gets what is left of them, not a new allowance.
  const auto began = std::chrono::steady_clock::now();
  uint64_t instructions_before = 0; // retired by the machines before this reboot
  for (;;) {
    machine::RunResult result;
    if (options.timeout_seconds > 0) {
      const auto used = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began);
      const std::chrono::milliseconds whole(static_cast<int64_t>(options.timeout_seconds * 1000));
      if (used >= whole) {
        console.flush();
        fmt::print(stderr, "nimbus run: stopped after the {} s timeout ({} instructions, while rebooting)\n",
                   options.timeout_seconds, instructions_before);
        return kExitTimeout;
      }
      config.timeout = whole - used;
    }
    if (options.max_instructions > 0) {
      if (instructions_before >= options.max_instructions) {
        console.flush();
        fmt::print(stderr, "nimbus run: stopped at the instruction limit ({} instructions, while rebooting)\n",
                   instructions_before);
        return kExitInstructionLimit;
      }
      config.max_instructions = options.max_instructions - instructions_before;
    }
    try {
      if (jail && rebooting && config.drive && !config.drive_read_only) {
        // The board would quietly attach a drive it cannot write read-only: the guest that had a
        // writable disk before the reboot must not lose it without a word.
        const int fd = ::open(config.drive->c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0)
          throw std::runtime_error(fmt::format("{}: cannot open the drive for writing again after the reboot: {}",
                                               *config.drive, std::strerror(errno)));
        ::close(fd);
      }
      config.nics.clear();
      for (const auto& nic : nics)
        config.nics.push_back({nic.mac, network_switch.connect(nic.network, nic.mac, "the machine")});
      machine::Machine vm(config, console);
      std::unique_ptr<machine::gdb::Stub> stub;
      if (gdb_transport) {
        std::vector<machine::Hart*> harts;
        for (unsigned i = 0; i < vm.hart_count(); ++i) harts.push_back(&vm.hart(i));
        stub = std::make_unique<machine::gdb::Stub>(*gdb_transport, std::move(harts));
        vm.attach_debugger(*stub, options.wait_for_gdb && first_boot);
      }
      if (jail && first_boot) {
        // Devices open, RAM mapped: the jail user from here on, reboots included.
        const auto drop = [&jail] { drop_jail_privileges(*jail); };
        if (options.no_sandbox) drop();
        else enter_sandbox(drop);
        sandboxed = true;
      } else if (!sandboxed) {
        enter_sandbox(); // devices open, RAM mapped; stays on across reboots
        sandboxed = true;
      }
      first_boot = false;
      rebooting = false;
      result = vm.run();
    } catch (const std::exception& e) {
      console.flush();
      fmt::print(stderr, "nimbus run: {}\n", e.what());
      if (jail && rebooting)
        fmt::print(stderr, "nimbus run: (a jailed machine that reboots opens its files again as --jail-user '{}': "
                           "it must be able to read them and write the drive)\n",
                   options.jail_user);
      return kExitUsage;
    }
    switch (result.cause) {
    case machine::StopCause::PowerOff: return result.exit_code;
    case machine::StopCause::Reboot: // a fresh machine on the same drive, as a reset does
      rebooting = true;
      instructions_before += result.instructions;
      continue;
    case machine::StopCause::UserQuit: return 0;
    case machine::StopCause::Timeout:
      console.flush();
      fmt::print(stderr, "nimbus run: stopped after the {} s timeout ({} instructions)\n", options.timeout_seconds,
                 instructions_before + result.instructions);
      for (const auto& state : result.hart_states) fmt::print(stderr, "nimbus run:   {}\n", state);
      return kExitTimeout;
    case machine::StopCause::InstructionLimit:
      console.flush();
      fmt::print(stderr, "nimbus run: stopped at the instruction limit ({} instructions)\n",
                 instructions_before + result.instructions);
      for (const auto& state : result.hart_states) fmt::print(stderr, "nimbus run:   {}\n", state);
      return kExitInstructionLimit;
    }
  }
}

void register_run(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  auto* run = app.add_subcommand(
      "run", "Boot a RISC-V virt machine on this terminal (Ctrl-A x quits), or VMs under the VMM (--vm, --virt)");
  run->footer(
      "Bare machine: nimbus run --kernel Image --initrd initramfs.cpio --append 'console=ttyS0' --smp 2\n"
      "VMs under the VMM (the VMM is their firmware; no OpenSBI inside):\n"
      "  nimbus run --vm a.toml --vm b.toml [--machine-mem 2G] [--host-harts 2] [--state-dir D] [--log-dir D]\n"
      "    Each VM's console is logged to <log-dir>/<name>.log and served on <state-dir>/<name>.console\n"
      "    (attach with: nimbus console NAME); its counters are in <state-dir>/stats.json, rewritten every\n"
      "    second (print with: nimbus stats). The run ends when every VM stopped.\n"
      "  nimbus run --virt emulate --kernel Image --initrd initramfs.cpio --append 'console=ttyS0' [--smp N]\n"
      "    one VM under the VMM, its console on this terminal.\n"
      "Snapshots (every mode: emulate, trap, hw): nimbus snapshot NAME --to DIR (or --snapshot-on-signal DIR and\n"
      "  kill -USR1 <pid>) writes DIR/state and DIR/memory-*; nimbus run --restore DIR resumes the VM.\n"
      "Networks (docs/networking.md): --net blue gives the machine or the --virt VM an interface on network\n"
      "  'blue'; VMs of one VMM on one network reach each other ([[net]] network = \"blue\" in a TOML), and\n"
      "  --net-tunnel udp:4789,peer=HOST:4789 extends the networks to the VMM at HOST; --net-tap blue=nimbus0\n"
      "  joins network blue to this host through the TAP device nimbus0.\n"
      "Live migration (every mode): nimbus run --incoming tcp:HOST:PORT [--console-stdout] waits for a VM;\n"
      "  nimbus migrate NAME --to tcp:HOST:PORT sends it there while it runs (a local disk with it:\n"
      "  --incoming-disk PATH here, nimbus migrate --with-disk there).\n"
      "Exit status: the guest's power-off code (0 for a normal poweroff; with several VMs, the first VM's\n"
      "non-zero code, 1 for a VM that failed), 2 for bad options or images, 124 when --timeout expired,\n"
      "125 when --max-instructions was reached, 130 when a VMM with --vm was stopped by SIGINT/SIGTERM,\n"
      "159 when the sandbox stopped a forbidden system call (docs/security.md).");
  run->add_option("--kernel", options->kernel, "Kernel: a Linux Image, an ELF, or a raw binary");
  run->add_option("--initrd", options->initrd, "Initial ramdisk (cpio archive) for Linux");
  run->add_option("--append", options->append, "Kernel command line (the device tree's /chosen/bootargs)");
  run->add_option("--bios", options->bios,
                  "M-mode firmware: 'opensbi' (Debian's fw_dynamic), 'none' (run the kernel in M-mode from "
                  "0x80000000), or a path to a firmware image (bare machine only)")
      ->capture_default_str();
  run->add_option("--mem,-m", options->mem, "Guest RAM, e.g. 256M or 1G (16M to 16G)")->capture_default_str();
  run->add_option("--smp", options->smp, "Number of harts (1 to 8; with --virt, vCPUs: 1 to 64)")->capture_default_str();
  run->add_option("--drive", options->drive, "Raw disk image for the virtio block device");
  run->add_flag("--drive-read-only", options->drive_read_only, "Attach the drive read-only (bare machine and --virt; in a TOML: readonly = true)");
  run->add_flag("--virtio-legacy", options->virtio_legacy,
                "Legacy virtio-mmio transports (version 1, QEMU 7.2's default) instead of version 2 "
                "(bare machine only)");
  run->add_flag("--balloon", options->balloon,
                "A virtio-balloon with free page reporting: memory the guest frees goes back to the host; with "
                "--virt, `nimbus balloon NAME --target SIZE` asks it to shrink (bare machine and --virt; in a TOML: "
                "balloon = true)");
  run->add_flag("--virtio-console", options->virtio_console,
                "A virtio-console port (the guest's hvc1; hvc0 is the SBI console) writing to the same console as "
                "the UART (bare machine and --virt; in a TOML: virtio_console = true)");
  run->add_option("--console-input", options->console_input,
                  "Where console input goes: uart (ttyS0, the default) or hvc (the virtio console's port, "
                  "hvc1 in the guest; needs --virtio-console; in a TOML: console_input = \"hvc\")");
  run->add_option("--load", options->loads, "Load FILE@ADDRESS into guest memory before boot (repeatable; bare machine only)");
  run->add_flag("--deterministic", options->deterministic,
                "Derive time from retired instructions so that runs repeat exactly (per VM under the VMM)");
  run->add_option("--jit", options->jit,
                  "The JIT tier: on (the default) translates hot guest code to x86-64, off runs the interpreter "
                  "only (the reference tier); NIMBUS_JIT=on|off in the environment sets the default; the bare "
                  "machine and every --virt mode; see docs/jit.md")
      ->check(CLI::IsMember({"on", "off"}));
  run->add_option("--hart-threads", options->hart_threads,
                  "--smp 2 or more: on runs each hart (bare machine) or vCPU (every --virt mode) on its own host "
                  "thread, in parallel; off interleaves them on one thread (always off with --deterministic or "
                  "--gdb; docs/smp.md)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  run->add_option("--gdb", options->gdb,
                  "Serve the GDB remote protocol on ADDRESS (tcp:HOST:PORT, e.g. tcp:127.0.0.1:1234; port 0: any "
                  "free port, printed on stderr); connect with gdb-multiarch: target remote HOST:PORT (docs/gdb.md)");
  run->add_flag("--wait-for-gdb", options->wait_for_gdb,
                "With --gdb: start with every hart stopped until gdb connects and continues");
  run->add_option("--timeout", options->timeout_seconds, "Stop after this many seconds of host time (0: never)")
      ->check(kNotNegative);
  run->add_option("--max-instructions", options->max_instructions,
                  "Stop after this many instructions (0: never; bare machine only)")
      ->check(kNotNegative);
  run->add_option("--net", options->nets,
                  "A virtio-net interface on virtual network NETWORK: NETWORK[,mac=52:54:00:12:34:56] (repeatable, "
                  "eth0 first; bare machine and --virt; in a TOML: [[net]] network = \"NETWORK\"). Interfaces on "
                  "one network of one process reach each other; see docs/networking.md");
  run->add_option("--net-tunnel", options->net_tunnel,
                  "Extend this process's networks to other VMMs over UDP: udp:LOCAL_PORT,peer=HOST:PORT[,peer=...]"
                  "[,key=FILE] (frames travel VXLAN-encapsulated; only datagrams from the listed peers are accepted; "
                  "with key=FILE, a secret shared by the VMMs, every datagram carries an HMAC-SHA-256 tag and a "
                  "counter, and forged or replayed ones are dropped)");
  run->add_option("--net-tap", options->net_taps,
                  "Join a network to this host's own network stack through a TAP device: NETWORK=IFNAME "
                  "(repeatable, one per network; an existing device is used, a missing one is created and needs "
                  "CAP_NET_ADMIN; address it on the host with ip addr add ... dev IFNAME)");
  run->add_option("--vm", options->vm_files,
                  "Run the VM described by this TOML file under the VMM (repeatable; see docs/hypervisor.md)");
  run->add_option("--virt", options->virt,
                  "Run one VM under the VMM from --kernel/--initrd/--append/--mem/--smp/--drive, in this mode: "
                  "emulate, trap or hw");
  run->add_option("--name", options->name, "With --virt: the VM's name (for logs, console and stats)")
      ->capture_default_str();
  run->add_option("--machine-mem", options->machine_mem,
                  "VMM: machine memory shared by all VMs, handed out in 2 MiB frames on first touch "
                  "(default: the sum of the VMs' memory)");
  run->add_option("--host-harts", options->host_harts,
                  "VMM: host worker threads that run the VMs (default: the host's CPU count)");
  run->add_option("--state-dir", options->state_dir,
                  "VMM: directory for console sockets (<name>.console) and stats.json "
                  "(default: $XDG_RUNTIME_DIR/nimbus or /tmp/nimbus-UID)");
  run->add_option("--log-dir", options->log_dir, "VMM: directory for console logs <name>.log (default: the state directory)");
  run->add_flag("--console-stdout", options->console_stdout,
                "VMM: also print every VM's console on stdout, each line prefixed with 'NAME| ' (with --virt: "
                "instead of the terminal console)");
  run->add_flag("--marker-log", options->marker_log,
                "VMM: write every guest console line that starts with 'NIMBUS-' to "
                "<state-dir>/<name>.markers.jsonl with the VM's counters at that moment (exits per benchmark "
                "operation in nimbus bench)");
  run->add_option("--restore", options->restore,
                  "VMM: resume the VM snapshotted in this directory instead of booting one (any mode; "
                  "docs/migration.md). In emulate mode its memory file is mapped copy-on-write, pages load on "
                  "first touch; trap and hw copy it into frames");
  run->add_option("--snapshot-on-signal", options->snapshot_on_signal,
                  "VMM, one VM (any mode): on SIGUSR1 write a snapshot of the VM into this directory "
                  "(created if needed; the previous snapshot there is replaced atomically) and run on");
  run->add_option("--incoming", options->incoming,
                  "VMM: wait on tcp:HOST:PORT for one VM that `nimbus migrate NAME --to tcp:HOST:PORT` sends live "
                  "(any mode; its disk must be at the same path here; docs/migration.md). Port 0 picks a free "
                  "port, printed on stderr. tls:HOST:PORT: the same over TLS with mutual authentication "
                  "(--tls-cert, --tls-key, --tls-ca)");
  run->add_option("--tls-cert", options->incoming_tls.cert,
                  "With --incoming tls:HOST:PORT: this VMM's certificate (PEM), signed by the --tls-ca");
  run->add_option("--tls-key", options->incoming_tls.key, "With --incoming tls:HOST:PORT: the certificate's private key (PEM)");
  run->add_option("--tls-ca", options->incoming_tls.ca,
                  "With --incoming tls:HOST:PORT: the CA (PEM) the source's certificate must verify against (mutual "
                  "authentication; a source without such a certificate is refused)");
  run->add_option("--incoming-disk", options->incoming_disk,
                  "With --incoming, for a source that copies the VM's disk (nimbus migrate --with-disk): write the "
                  "copy to this new file (it must not exist, or be empty) and run the VM on it");
  run->add_option("--incoming-wait", options->incoming_wait_seconds,
                  "With --incoming: give up when no source connected within this many seconds (0: wait forever)")
      ->check(kNotNegative);
  run->add_flag("--no-sandbox", options->no_sandbox,
                "Do not install the seccomp filter that limits the running VMM to the system calls it needs "
                "(docs/security.md)");
  run->add_flag("--jail", options->jail,
                "Run the VMM or the bare machine confined (needs root; docs/security.md): pid 1 of its own PID "
                "namespace under a keeper process, its own mount, network, IPC and UTS namespaces, a root holding "
                "only its boot files, disks, state and log directories, then as --jail-user with no capabilities, "
                "under the seccomp filter; --jail-*-max add cgroup limits");
  run->add_option("--jail-user", options->jail_user,
                  "With --jail: the unprivileged user the VMM becomes after setup: NAME, NAME:GROUP, UID or UID:GID "
                  "(default nobody); it is given the state and log directories")
      ->type_name("USER");
  run->add_option("--jail-network", options->jail_network,
                  "With --jail: none (default: an empty network namespace) or host (keep the host's network)")
      ->type_name("none|host");
  run->add_option("--jail-memory-max", options->jail_memory_max,
                  "With --jail: the VMM's memory ceiling in a cgroup of its own (guest RAM included), e.g. 1G; "
                  "cgroup v2 or v1 as the host mounts them")
      ->type_name("SIZE");
  run->add_option("--jail-cpu-max", options->jail_cpu_max,
                  "With --jail: the VMM's CPU quota in percent of one host core (200: two cores), in its cgroup")
      ->type_name("PERCENT")
      ->check(CLI::Range(1u, 100000u));
  run->add_option("--jail-pids-max", options->jail_pids_max,
                  "With --jail: the most threads the VMM may have, in its cgroup")
      ->type_name("N")
      ->check(CLI::Range(uint64_t{8}, uint64_t{1} << 22));
  run->callback([options] { set_exit_code(run_machine(*options)); });
}

NIMBUS_REGISTER_COMMAND(register_run);

} // namespace
} // namespace nimbus::cli

// `nimbus run`: boots one machine on the terminal, like `qemu-system-riscv64 -M virt -nographic`.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "cli/commands.hpp"
#include "cli/terminal_console.hpp"
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
  double timeout_seconds = 0;
  uint64_t max_instructions = 0;
  std::vector<std::string> loads;
};

const CLI::Validator kNotNegative(
    [](std::string& value) { return value.starts_with('-') ? std::string("must not be negative") : std::string(); },
    "NUMBER >= 0");

class UsageError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

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
  if (o.timeout_seconds < 0) throw UsageError("--timeout must not be negative");
  c.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_seconds * 1000));
  c.max_instructions = o.max_instructions;
  c.deterministic = o.deterministic;
  return c;
}

int run_machine(const RunOptions& options) {
  machine::MachineConfig config;
  try {
    config = validate(options);
  } catch (const UsageError& e) {
    fmt::print(stderr, "nimbus run: {}\n", e.what());
    return kExitUsage;
  }
  TerminalConsole console(STDIN_FILENO, STDOUT_FILENO);
  for (;;) {
    machine::RunResult result;
    try {
      machine::Machine vm(config, console);
      result = vm.run();
    } catch (const std::exception& e) {
      console.flush();
      fmt::print(stderr, "nimbus run: {}\n", e.what());
      return kExitUsage;
    }
    switch (result.cause) {
    case machine::StopCause::PowerOff: return result.exit_code;
    case machine::StopCause::Reboot: continue; // a fresh machine on the same drive, as a reset does
    case machine::StopCause::UserQuit: return 0;
    case machine::StopCause::Timeout:
      console.flush();
      fmt::print(stderr, "nimbus run: stopped after the {} s timeout ({} instructions)\n", options.timeout_seconds,
                 result.instructions);
      for (const auto& state : result.hart_states) fmt::print(stderr, "nimbus run:   {}\n", state);
      return kExitTimeout;
    case machine::StopCause::InstructionLimit:
      console.flush();
      fmt::print(stderr, "nimbus run: stopped at the instruction limit ({} instructions)\n", result.instructions);
      for (const auto& state : result.hart_states) fmt::print(stderr, "nimbus run:   {}\n", state);
      return kExitInstructionLimit;
    }
  }
}

void register_run(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  auto* run = app.add_subcommand("run", "Boot a RISC-V virt machine on this terminal (Ctrl-A x quits)");
  run->footer(
      "Exit status: the guest's power-off code (0 for a normal poweroff), 2 for bad options or images,\n"
      "124 when --timeout expired, 125 when --max-instructions was reached.\n"
      "Example: nimbus run --kernel Image --initrd initramfs.cpio --append 'console=ttyS0' --smp 2");
  run->add_option("--kernel", options->kernel, "Kernel: a Linux Image, an ELF, or a raw binary")->required();
  run->add_option("--initrd", options->initrd, "Initial ramdisk (cpio archive) for Linux");
  run->add_option("--append", options->append, "Kernel command line (the device tree's /chosen/bootargs)");
  run->add_option("--bios", options->bios,
                  "M-mode firmware: 'opensbi' (Debian's fw_dynamic), 'none' (run the kernel in M-mode from "
                  "0x80000000), or a path to a firmware image")
      ->capture_default_str();
  run->add_option("--mem,-m", options->mem, "Guest RAM, e.g. 256M or 1G (16M to 16G)")->capture_default_str();
  run->add_option("--smp", options->smp, "Number of harts (1 to 8)")->capture_default_str();
  run->add_option("--drive", options->drive, "Raw disk image for the virtio block device");
  run->add_flag("--drive-read-only", options->drive_read_only, "Attach the drive read-only");
  run->add_option("--load", options->loads, "Load FILE@ADDRESS into guest memory before boot (repeatable)");
  run->add_flag("--deterministic", options->deterministic,
                "Derive time from retired instructions so that runs repeat exactly");
  run->add_option("--timeout", options->timeout_seconds, "Stop after this many seconds of host time (0: never)")
      ->check(kNotNegative);
  run->add_option("--max-instructions", options->max_instructions, "Stop after this many instructions (0: never)")
      ->check(kNotNegative);
  run->callback([options] { set_exit_code(run_machine(*options)); });
}

NIMBUS_REGISTER_COMMAND(register_run);

} // namespace
} // namespace nimbus::cli

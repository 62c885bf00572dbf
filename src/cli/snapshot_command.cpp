// `nimbus snapshot NAME --to DIR`: asks the VMM that runs VM NAME (through its control socket
// <state-dir>/<NAME>.control) to write a snapshot of the VM into DIR and keep it running.
// Resume it later with `nimbus run --restore DIR` (docs/migration.md).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "cli/jail.hpp"
#include "cli/vm_control_client.hpp"
#include "hypervisor/vmm.hpp"

namespace nimbus::cli {
namespace {

struct SnapshotOptions {
  std::string name;
  std::string to;
  std::string state_dir;
};

int run_snapshot(const SnapshotOptions& options) {
  const std::filesystem::path state_dir =
      options.state_dir.empty() ? hypervisor::default_state_dir() : std::filesystem::path(options.state_dir);
  std::error_code ec;
  std::filesystem::create_directories(options.to, ec);
  const std::filesystem::path dir = std::filesystem::absolute(options.to, ec);
  if (ec || !std::filesystem::is_directory(dir)) {
    fmt::print(stderr, "nimbus snapshot: cannot use directory '{}'{}\n", options.to, ec ? ": " + ec.message() : "");
    return 2;
  }
  const VmControlConnection control = connect_vm_control(state_dir, options.name);
  if (control.fd < 0) {
    fmt::print(stderr, "nimbus snapshot: {}\n", control.error);
    return control.exit_code;
  }
  const int fd = control.fd;
  if (const std::string wrong = prepare_directory_for_vmm(fd, dir, state_dir); !wrong.empty()) {
    fmt::print(stderr, "nimbus snapshot: '{}': {}\n", options.to, wrong);
    ::close(fd);
    return 2;
  }
  std::string error;
  const auto reply =
      send_control_request(fd, "snapshot " + dir.lexically_normal().string(), std::chrono::seconds(180), error);
  ::close(fd);
  if (!reply) {
    fmt::print(stderr, "nimbus snapshot: {}\n", error);
    return 1;
  }
  if (reply->starts_with("ok ")) {
    fmt::print("{}\n", reply->substr(3));
    return 0;
  }
  fmt::print(stderr, "nimbus snapshot: {}\n", control_reply_error(*reply));
  return 1;
}

void register_snapshot(CLI::App& app) {
  auto options = std::make_shared<SnapshotOptions>();
  auto* cmd = app.add_subcommand("snapshot", "Snapshot a running VM (any mode: emulate, trap, hw) into a directory; it keeps running");
  cmd->footer("Talks to the VMM (nimbus run --virt/--vm) through <state-dir>/<NAME>.control. The directory gets\n"
              "'state' and a sparse memory file (docs/migration.md); resume with: nimbus run --restore DIR.\n"
              "Exit status: 0 when the snapshot is written, 1 if it failed or no such VM runs, 2 for a bad DIR.");
  cmd->add_option("NAME", options->name, "The VM's name (from its TOML file, or --name)")->required();
  cmd->add_option("--to", options->to, "Directory for the snapshot (created if needed; a previous snapshot there is "
                                       "replaced atomically)")
      ->required();
  cmd->add_option("--state-dir", options->state_dir,
                  "The VMM's state directory (default: $XDG_RUNTIME_DIR/nimbus or /tmp/nimbus-UID)");
  cmd->callback([options] { set_exit_code(run_snapshot(*options)); });
}

NIMBUS_REGISTER_COMMAND(register_snapshot);

} // namespace
} // namespace nimbus::cli

// `nimbus balloon NAME [--target SIZE]`: asks the VMM that runs VM NAME (through its control
// socket <state-dir>/<NAME>.control, as `nimbus snapshot` does) to set the size of the VM's
// balloon, and prints the balloon's state: how much the guest gave back (free page reporting and
// inflated pages), its own memory statistics and the host memory its RAM holds now.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "cli/vm_control_client.hpp"
#include "hypervisor/balloon_report.hpp"
#include "hypervisor/vmm.hpp"
#include "machine/size_parser.hpp"

namespace nimbus::cli {
namespace {

struct BalloonOptions {
  std::string name;
  std::string target;
  std::string state_dir;
  bool json = false;
};

int run_balloon(const BalloonOptions& options) {
  std::string request = "balloon";
  if (!options.target.empty()) {
    const auto bytes = machine::parse_size(options.target);
    if (!bytes || *bytes % 4096 != 0) {
      fmt::print(stderr, "nimbus balloon: --target '{}' is not a size in whole 4 KiB pages (e.g. 64M, 0)\n",
                 options.target);
      return 2;
    }
    request += fmt::format(" target={}", *bytes);
  }
  const std::filesystem::path state_dir =
      options.state_dir.empty() ? hypervisor::default_state_dir() : std::filesystem::path(options.state_dir);
  const VmControlConnection control = connect_vm_control(state_dir, options.name);
  if (control.fd < 0) {
    fmt::print(stderr, "nimbus balloon: {}\n", control.error);
    return control.exit_code;
  }
  std::string error;
  const auto reply = send_control_request(control.fd, request, std::chrono::seconds(30), error);
  ::close(control.fd);
  if (!reply) {
    fmt::print(stderr, "nimbus balloon: {}\n", error);
    return 1;
  }
  if (!reply->starts_with("ok ")) {
    fmt::print(stderr, "nimbus balloon: {}\n", control_reply_error(*reply));
    return 1;
  }
  nlohmann::json state;
  try {
    state = nlohmann::json::parse(reply->substr(3));
  } catch (const std::exception& e) {
    fmt::print(stderr, "nimbus balloon: the VMM's reply is not JSON: {}\n", e.what());
    return 1;
  }
  if (options.json) {
    fmt::print("{}\n", state.dump(2));
    return 0;
  }
  fmt::print("{}: {}\n", options.name, hypervisor::balloon_summary(state));
  fmt::print("{}: host memory held by its RAM: {} MiB of {} MiB; {} MiB given back since it started\n", options.name,
             state.value("host_resident_bytes", uint64_t{0}) >> 20, state.value("memory_bytes", uint64_t{0}) >> 20,
             state.value("returned_bytes", uint64_t{0}) >> 20);
  if (!options.target.empty())
    fmt::print("{}: the guest was told; its balloon follows within seconds (nimbus balloon {} shows it)\n",
               options.name, options.name);
  return 0;
}

void register_balloon(CLI::App& app) {
  auto options = std::make_shared<BalloonOptions>();
  auto* cmd = app.add_subcommand("balloon", "Show or set the balloon of a running VM: memory its guest gives back");
  cmd->footer("Talks to the VMM (nimbus run --virt/--vm) through <state-dir>/<NAME>.control. The VM needs a balloon\n"
              "(balloon = true in its TOML file, or nimbus run --balloon). Free page reporting gives back what the\n"
              "guest frees by itself; --target makes the guest give back that much more (docs/board.md).\n"
              "Exit status: 0, 1 if the request failed or no such VM runs, 2 for a bad --target.");
  cmd->add_option("NAME", options->name, "The VM's name (from its TOML file, or --name)")->required();
  cmd->add_option("--target", options->target,
                  "Balloon size: the VM gives back this much of its RAM (e.g. 64M; 0 gives it all back to the guest)");
  cmd->add_flag("--json", options->json, "Print the balloon's state as JSON");
  cmd->add_option("--state-dir", options->state_dir,
                  "The VMM's state directory (default: $XDG_RUNTIME_DIR/nimbus or /tmp/nimbus-UID)");
  cmd->callback([options] { set_exit_code(run_balloon(*options)); });
}

NIMBUS_REGISTER_COMMAND(register_balloon);

} // namespace
} // namespace nimbus::cli

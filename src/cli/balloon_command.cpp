// `nimbus balloon NAME [--target SIZE]`: asks the VMM that runs VM NAME (through its control
// socket <state-dir>/<NAME>.control, as `nimbus snapshot` does) to set the size of the VM's
// balloon, and prints the balloon's state: how much the guest gave back (free page reporting and
// inflated pages), its own memory statistics and the host memory its RAM holds now.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "hypervisor/balloon_report.hpp"
#include "hypervisor/vm_control.hpp"
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
  const auto path = hypervisor::VmControl::path(state_dir, options.name);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string text = path.string();
  if (text.size() >= sizeof(address.sun_path)) {
    fmt::print(stderr, "nimbus balloon: {}: path too long\n", text);
    return 2;
  }
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    fmt::print(stderr, "nimbus balloon: no running VM '{}' ({}: {})\n", options.name, text, std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return 1;
  }
  request += "\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    fmt::print(stderr, "nimbus balloon: cannot send the request: {}\n", std::strerror(errno));
    ::close(fd);
    return 1;
  }
  std::string reply;
  char buffer[4096];
  for (;;) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 30'000) <= 0) break;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    reply.append(buffer, static_cast<size_t>(n));
    if (reply.find('\n') != std::string::npos) break;
  }
  ::close(fd);
  if (const auto nl = reply.find('\n'); nl != std::string::npos) reply.resize(nl);
  if (!reply.starts_with("ok ")) {
    fmt::print(stderr, "nimbus balloon: {}\n",
               reply.starts_with("error ") ? reply.substr(6) : reply.empty() ? "the VMM closed the connection" : reply);
    return 1;
  }
  nlohmann::json state;
  try {
    state = nlohmann::json::parse(reply.substr(3));
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

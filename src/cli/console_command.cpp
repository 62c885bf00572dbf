// `nimbus console NAME`: attaches this terminal to a running VM's console (the UNIX socket the
// VMM serves at <state-dir>/<NAME>.console). Raw terminal; Ctrl-A x detaches, the VM keeps running.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "cli/commands.hpp"
#include "cli/terminal_console.hpp"
#include "hypervisor/vmm.hpp"

namespace nimbus::cli {
namespace {

struct ConsoleOptions {
  std::string name;
  std::string state_dir;
};

int connect_console(const std::filesystem::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string text = path.string();
  if (text.size() >= sizeof(address.sun_path)) return -1;
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int run_console(const ConsoleOptions& options) {
  const std::filesystem::path state_dir =
      options.state_dir.empty() ? hypervisor::default_state_dir() : std::filesystem::path(options.state_dir);
  const auto path = hypervisor::Vmm::console_path(state_dir, options.name);
  const int fd = connect_console(path);
  if (fd < 0) {
    fmt::print(stderr, "nimbus console: no running VM '{}' ({}: {})\n", options.name, path.string(), std::strerror(errno));
    return 1;
  }
  int status = 0;
  {
    TerminalConsole terminal(STDIN_FILENO, STDOUT_FILENO);
    terminal.message(fmt::format("[nimbus console: attached to VM '{}'; Ctrl-A x detaches]", options.name));
    char buffer[4096];
    for (;;) {
      // Terminal to VM: whatever the user typed (Ctrl-A sequences are handled by the terminal).
      while (const auto byte = terminal.read()) {
        const char c = static_cast<char>(*byte);
        if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) break;
      }
      if (terminal.quit_requested()) {
        terminal.message(fmt::format("[nimbus console: detached from VM '{}']", options.name));
        break;
      }
      // VM to terminal; the socket closes when the VM stops.
      pollfd pfd{fd, POLLIN, 0};
      if (::poll(&pfd, 1, 10) > 0) {
        const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
        if (n <= 0) {
          terminal.flush();
          terminal.message(fmt::format("[nimbus console: VM '{}' stopped]", options.name));
          break;
        }
        for (ssize_t i = 0; i < n; ++i) terminal.write(static_cast<uint8_t>(buffer[i]));
        terminal.flush();
      }
    }
  }
  ::close(fd);
  return status;
}

void register_console(CLI::App& app) {
  auto options = std::make_shared<ConsoleOptions>();
  auto* console = app.add_subcommand("console", "Attach this terminal to a running VM's console (Ctrl-A x detaches)");
  console->footer("The VMM (nimbus run --vm ...) serves each VM's console on <state-dir>/<NAME>.console.\n"
                  "Exit status: 0 after detaching or when the VM stopped, 1 if no such VM is running.");
  console->add_option("NAME", options->name, "The VM's name (from its TOML file, or --name)")->required();
  console->add_option("--state-dir", options->state_dir,
                      "The VMM's state directory (default: $XDG_RUNTIME_DIR/nimbus or /tmp/nimbus-UID)");
  console->callback([options] { set_exit_code(run_console(*options)); });
}

NIMBUS_REGISTER_COMMAND(register_console);

} // namespace
} // namespace nimbus::cli

#pragma once
// Each subcommand registers itself from its own file with NIMBUS_REGISTER_COMMAND, adding a
// CLI11 subcommand whose callback runs the command and stores its exit code with set_exit_code.
#include <functional>
#include <vector>

namespace CLI {
class App;
}

namespace nimbus::cli {

using CommandRegistrar = std::function<void(CLI::App&)>;

std::vector<CommandRegistrar>& command_registry();
// Run after every command registered: for commands that add subcommands to another file's
// command (e.g. `nimbus host list` beside the agent's `nimbus host`).
std::vector<CommandRegistrar>& command_extension_registry();
void set_exit_code(int code);
int exit_code();

struct RegisterCommand {
  explicit RegisterCommand(CommandRegistrar r) { command_registry().push_back(std::move(r)); }
};

struct RegisterCommandExtension {
  explicit RegisterCommandExtension(CommandRegistrar r) { command_extension_registry().push_back(std::move(r)); }
};

} // namespace nimbus::cli

#define NIMBUS_CLI_CONCAT2(a, b) a##b
#define NIMBUS_CLI_CONCAT(a, b) NIMBUS_CLI_CONCAT2(a, b)
#define NIMBUS_REGISTER_COMMAND(fn) \
  static const ::nimbus::cli::RegisterCommand NIMBUS_CLI_CONCAT(nimbus_register_, __LINE__){fn}
#define NIMBUS_REGISTER_COMMAND_EXTENSION(fn) \
  static const ::nimbus::cli::RegisterCommandExtension NIMBUS_CLI_CONCAT(nimbus_register_ext_, __LINE__){fn}

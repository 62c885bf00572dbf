#include "cli/commands.hpp"

namespace nimbus::cli {

std::vector<CommandRegistrar>& command_registry() {
  static std::vector<CommandRegistrar> registry;
  return registry;
}

std::vector<CommandRegistrar>& command_extension_registry() {
  static std::vector<CommandRegistrar> registry;
  return registry;
}

namespace {
int g_exit_code = 0;
}

void set_exit_code(int code) { g_exit_code = code; }
int exit_code() { return g_exit_code; }

} // namespace nimbus::cli

// nimbus: one executable, one subcommand per file (see *_command.cpp). Built twice: as `nimbus`,
// every command, and as `nimbus-vmm` (NIMBUS_VMM_EXECUTABLE), the `run` command alone, which
// `nimbus run` becomes (vmm_exec.cpp).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "cli/commands.hpp"
#include "cli/vmm_exec.hpp"

int main(int argc, char** argv) {
#ifndef NIMBUS_VMM_EXECUTABLE
  nimbus::cli::exec_vmm_for_run(argc, argv);  // returns only when this process should run it itself
#endif
  CLI::App app{"Nimbus: a RISC-V machine, hypervisor and cloud in software", "nimbus"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "nimbus 0.1.0 (VMM build " + std::string(kVmmBuildStamp, 12) + ")");
  // One line per usage error, naming the problem and where to look, as the other errors do.
  app.failure_message([](const CLI::App* failed, const CLI::Error& e) {
    const auto subcommands = failed->get_subcommands();
    const std::string where = subcommands.empty() ? "nimbus" : "nimbus " + subcommands.front()->get_name();
    return "nimbus: " + std::string(e.what()) + " (see: " + where + " --help)\n";
  });
  for (const auto& reg : nimbus::cli::command_registry()) reg(app);
  for (const auto& reg : nimbus::cli::command_extension_registry()) reg(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 uses exit code 0 for --help; every real usage error is exit code 2.
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return nimbus::cli::exit_code();
}

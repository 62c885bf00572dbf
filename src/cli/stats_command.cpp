// `nimbus stats`: every VM's counters from a running (or finished) VMM, read from the stats file
// the VMM rewrites atomically once a second and when it exits (<state-dir>/stats.json).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli/commands.hpp"
#include "hypervisor/vm_counters_report.hpp"
#include "hypervisor/vmm.hpp"

namespace nimbus::cli {
namespace {

struct StatsOptions {
  bool json = false;
  std::string state_dir;
};

int run_stats(const StatsOptions& options) {
  const std::filesystem::path state_dir =
      options.state_dir.empty() ? hypervisor::default_state_dir() : std::filesystem::path(options.state_dir);
  const auto path = hypervisor::Vmm::stats_path(state_dir);
  std::ifstream in(path);
  if (!in) {
    fmt::print(stderr, "nimbus stats: no VMM statistics at {} (is `nimbus run --vm ...` running with this --state-dir?)\n",
               path.string());
    return 1;
  }
  nlohmann::json json;
  std::vector<hypervisor::NamedVmCounters> vms;
  try {
    json = nlohmann::json::parse(in);
    vms = hypervisor::counters_from_json(json);
  } catch (const std::exception& e) {
    fmt::print(stderr, "nimbus stats: {}: {}\n", path.string(), e.what());
    return 1;
  }
  const bool alive = json.contains("pid") && json["pid"].is_number_integer() &&
                     (::kill(json["pid"].get<int>(), 0) == 0 || errno == EPERM);
  if (options.json) {
    json["vmm_running"] = alive;
    fmt::print("{}\n", json.dump(2));
    return 0;
  }
  fmt::print("{}", hypervisor::format_counters_table(vms));
  fmt::print("\n");
  for (const auto& vm : json["vms"]) {
    std::string line = fmt::format("{}: {}", vm.value("name", "?"), vm.value("state", "?"));
    if (vm.contains("exit_code")) line += fmt::format(", exit code {}", vm["exit_code"].get<int>());
    if (vm.contains("reason") && !vm["reason"].get<std::string>().empty()) line += fmt::format(" ({})", vm["reason"].get<std::string>());
    if (vm.contains("resident_bytes")) line += fmt::format(", {} MiB resident", vm["resident_bytes"].get<uint64_t>() >> 20);
    fmt::print("{}\n", line);
  }
  if (!alive) fmt::print("(the VMM has exited: these are its final counters)\n");
  return 0;
}

void register_stats(CLI::App& app) {
  auto options = std::make_shared<StatsOptions>();
  auto* stats = app.add_subcommand("stats", "Print every VM's counters from the VMM (exits by reason, world switches...)");
  stats->footer("Reads <state-dir>/stats.json, which `nimbus run --vm ...` rewrites every second and when it exits.\n"
                "Exit status: 0, or 1 if there are no statistics in the state directory.");
  stats->add_flag("--json", options->json, "Print JSON (the stats file, plus vmm_running) instead of a table");
  stats->add_option("--state-dir", options->state_dir,
                    "The VMM's state directory (default: $XDG_RUNTIME_DIR/nimbus or /tmp/nimbus-UID)");
  stats->callback([options] { set_exit_code(run_stats(*options)); });
}

NIMBUS_REGISTER_COMMAND(register_stats);

} // namespace
} // namespace nimbus::cli

// `nimbus host list|drain|undrain`: the fleet as the controller sees it (admin token). These
// are subcommands of `nimbus host` (the agent itself, host_command.cpp), added after it.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "cli/cloud_client.hpp"
#include "cli/commands.hpp"

namespace nimbus::cli {
namespace {

using nlohmann::json;

struct HostAdminOptions {
  CloudTarget target;
  std::string host;
};

int host_list(const HostAdminOptions& o) {
  CloudClient c(o.target, "host list");
  if (!c.ok()) return 2;
  auto r = c.request("GET", "/v1/hosts");
  if (r.status != 200) return c.fail(r);
  if (o.target.json) {
    fmt::print("{}\n", r.body.dump(2));
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& h : r.body) {
    const auto& cap = h["capacity"];
    const auto& al = h["allocated"];
    std::string admin = h.value("draining", false) ? "draining" : h.value("cordoned", false) ? "cordoned" : "schedulable";
    rows.push_back({json_text(h["name"]), json_text(h["state"]), admin, json_text(h["vms"]),
                    fmt::format("{}/{}", json_text(al["vcpus"]), json_text(cap["vcpus"])),
                    fmt::format("{}/{}", json_text(al["memory_mib"]), json_text(cap["memory_mib"])),
                    fmt::format("{:.2f}", h.value("cpu_load", 0.0)), json_text(h.value("api", json()))});
  }
  print_table({"HOST", "STATE", "ADMIN", "VMS", "VCPUS", "MEMORY_MIB", "CPU_LOAD", "API"}, rows);
  return 0;
}

int host_drain(const HostAdminOptions& o, bool drain) {
  CloudClient c(o.target, drain ? "host drain" : "host undrain");
  if (!c.ok()) return 2;
  auto r = c.request("POST", "/v1/hosts/" + o.host + (drain ? "/drain" : "/undrain"), "{}");
  if (r.status != 200) return c.fail(r);
  if (o.target.json) fmt::print("{}\n", r.body.dump(2));
  else
    fmt::print("{}\n", drain ? fmt::format("host {} cordoned and draining: its VMs move live where they can, else by stop-and-restart (watch: nimbus host list, nimbus vm list)", o.host)
                             : fmt::format("host {} schedulable again", o.host));
  return 0;
}

// The agent's own callback runs after a subcommand's: end the process here so `host list`
// does not also start an agent.
void finish(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::exit(code);
}

void extend_host(CLI::App& app) {
  CLI::App* host = nullptr;
  try {
    host = app.get_subcommand("host");
  } catch (const CLI::OptionNotFound&) {
    host = app.add_subcommand("host", "Host agent and the fleet's hosts");
  }
  // The agent's --name is required only when no admin subcommand is given.
  if (auto* name = host->get_option_no_throw("--name"); name && name->get_required()) {
    name->required(false);
    host->parse_complete_callback([host, name] {
      if (host->get_subcommands().empty() && name->count() == 0) throw CLI::RequiredError("--name");
    });
  }
  auto list = std::make_shared<HostAdminOptions>();
  auto* l = host->add_subcommand("list", "List hosts: capacity, allocation, load, drain state (admin)");
  add_cloud_target_options(*l, list->target);
  l->callback([list] { finish(host_list(*list)); });
  for (bool drain : {true, false}) {
    auto o = std::make_shared<HostAdminOptions>();
    auto* d = host->add_subcommand(drain ? "drain" : "undrain",
                                   drain ? "Cordon a host and move its VMs away (admin)" : "Make a host schedulable again (admin)");
    d->add_option("host", o->host, "host name")->required();
    add_cloud_target_options(*d, o->target);
    d->callback([o, drain] { finish(host_drain(*o, drain)); });
  }
}

NIMBUS_REGISTER_COMMAND_EXTENSION(extend_host);

} // namespace
} // namespace nimbus::cli

// `nimbus flavor list|create`: the catalogue of VM sizes.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <memory>

#include "cli/cloud_client.hpp"
#include "cli/commands.hpp"

namespace nimbus::cli {
namespace {

using nlohmann::json;

struct FlavorOptions {
  CloudTarget target;
  std::string name;
  int64_t vcpus = 1, memory_mib = 64, disk_gib = 1;
};

int flavor_list(const FlavorOptions& o) {
  CloudClient c(o.target, "flavor list");
  if (!c.ok()) return 2;
  auto r = c.request("GET", "/v1/flavors");
  if (r.status != 200) return c.fail(r);
  if (o.target.json) {
    fmt::print("{}\n", r.body.dump(2));
    return 0;
  }
  json list = r.body;
  std::sort(list.begin(), list.end(), [](const json& a, const json& b) {
    return std::make_tuple(a.value("vcpus", 0), a.value("memory_mib", 0), a.value("name", "")) <
           std::make_tuple(b.value("vcpus", 0), b.value("memory_mib", 0), b.value("name", ""));
  });
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : list)
    rows.push_back({json_text(f["name"]), json_text(f["vcpus"]), json_text(f["memory_mib"]), json_text(f["disk_gib"])});
  print_table({"FLAVOR", "VCPUS", "MEMORY_MIB", "DISK_GIB"}, rows);
  return 0;
}

int flavor_create(const FlavorOptions& o) {
  CloudClient c(o.target, "flavor create");
  if (!c.ok()) return 2;
  auto r = c.request("POST", "/v1/flavors",
                     json{{"name", o.name}, {"vcpus", o.vcpus}, {"memory_mib", o.memory_mib}, {"disk_gib", o.disk_gib}}.dump());
  if (r.status != 201) return c.fail(r);
  if (o.target.json) fmt::print("{}\n", r.body.dump(2));
  else fmt::print("flavor {} created: {} vCPUs, {} MiB, {} GiB\n", o.name, o.vcpus, o.memory_mib, o.disk_gib);
  return 0;
}

void register_flavor(CLI::App& app) {
  auto* f = app.add_subcommand("flavor", "VM sizes: list, create (admin)");
  f->require_subcommand(1);
  {
    auto o = std::make_shared<FlavorOptions>();
    auto* cmd = f->add_subcommand("list", "List flavors");
    add_cloud_target_options(*cmd, o->target);
    cmd->callback([o] { set_exit_code(flavor_list(*o)); });
  }
  {
    auto o = std::make_shared<FlavorOptions>();
    auto* cmd = f->add_subcommand("create", "Add a flavor (admin)");
    cmd->add_option("name", o->name, "flavor name")->required();
    cmd->add_option("--vcpus", o->vcpus, "vCPUs")->capture_default_str();
    cmd->add_option("--memory-mib", o->memory_mib, "memory in MiB")->capture_default_str();
    cmd->add_option("--disk-gib", o->disk_gib, "disk in GiB")->capture_default_str();
    add_cloud_target_options(*cmd, o->target);
    cmd->callback([o] { set_exit_code(flavor_create(*o)); });
  }
}

NIMBUS_REGISTER_COMMAND(register_flavor);

} // namespace
} // namespace nimbus::cli

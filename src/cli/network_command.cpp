// `nimbus network create|list|show|delete`: a tenant's virtual networks (docs/cloud.md, "Tenant
// networks"). The controller picks each network's VNI and key; the key is never shown.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <memory>

#include "cli/cloud_client.hpp"
#include "cli/commands.hpp"

namespace nimbus::cli {
namespace {

using nlohmann::json;

struct NetworkOptions {
  CloudTarget target;
  std::string name, tenant;
};

std::string network_path(const NetworkOptions& o) {
  std::string p = "/v1/networks/" + o.name;
  if (!o.tenant.empty()) p += "?tenant=" + o.tenant;
  return p;
}

std::string vm_names(const json& n) {
  std::string out;
  if (n.contains("vms") && n["vms"].is_array())
    for (const auto& v : n["vms"]) out += (out.empty() ? "" : ",") + json_text(v);
  return out.empty() ? "-" : out;
}

int network_create(const NetworkOptions& o) {
  CloudClient c(o.target, "network create");
  if (!c.ok()) return 2;
  json body{{"name", o.name}};
  if (!o.tenant.empty()) body["tenant"] = o.tenant;
  auto r = c.request("POST", "/v1/networks", body.dump());
  if (r.status != 201) return c.fail(r);
  if (o.target.json) fmt::print("{}\n", r.body.dump(2));
  else fmt::print("network {} created for tenant {} (VNI {})\n", o.name, json_text(r.body["tenant"]), json_text(r.body["vni"]));
  return 0;
}

int network_list(const NetworkOptions& o) {
  CloudClient c(o.target, "network list");
  if (!c.ok()) return 2;
  auto r = c.request("GET", "/v1/networks" + (o.tenant.empty() ? std::string() : "?tenant=" + o.tenant));
  if (r.status != 200) return c.fail(r);
  if (o.target.json) {
    fmt::print("{}\n", r.body.dump(2));
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : r.body) rows.push_back({json_text(n["tenant"]), json_text(n["name"]), json_text(n["vni"]), vm_names(n)});
  print_table({"TENANT", "NETWORK", "VNI", "VMS"}, rows);
  return 0;
}

int network_show_or_delete(const NetworkOptions& o, bool remove) {
  CloudClient c(o.target, remove ? "network delete" : "network show");
  if (!c.ok()) return 2;
  auto r = c.request(remove ? "DELETE" : "GET", network_path(o));
  if (r.status != 200) return c.fail(r);
  if (o.target.json) fmt::print("{}\n", r.body.dump(2));
  else if (remove) fmt::print("network {} deleted\n", o.name);
  else
    for (const char* k : {"name", "tenant", "vni", "created"}) fmt::print("{:<10}{}\n", k, json_text(r.body.value(k, json())));
  if (!o.target.json && !remove) fmt::print("{:<10}{}\n", "vms", vm_names(r.body));
  return 0;
}

void register_network(CLI::App& app) {
  auto* n = app.add_subcommand("network", "A tenant's virtual networks: create, list, show, delete");
  n->require_subcommand(1);
  auto add = [&](const char* name, const char* help, bool needs_name, auto&& fn) {
    auto o = std::make_shared<NetworkOptions>();
    auto* cmd = n->add_subcommand(name, help);
    if (needs_name) cmd->add_option("name", o->name, "network name (1-63 of a-z 0-9 . _ -)")->required();
    cmd->add_option("--tenant", o->tenant, "the network's tenant (with the admin token; required for create, show, delete)");
    add_cloud_target_options(*cmd, o->target);
    cmd->callback([o, fn] { set_exit_code(fn(*o)); });
  };
  add("create", "Create a network (the controller picks its VNI and secret key)", true, network_create);
  add("list", "List networks (a tenant's own; admin all)", false, network_list);
  add("show", "Show a network and the VMs on it", true, [](const NetworkOptions& o) { return network_show_or_delete(o, false); });
  add("delete", "Delete a network no VM uses", true, [](const NetworkOptions& o) { return network_show_or_delete(o, true); });
}

NIMBUS_REGISTER_COMMAND(register_network);

} // namespace
} // namespace nimbus::cli

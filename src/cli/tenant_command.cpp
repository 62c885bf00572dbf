// `nimbus tenant create|list|quota|usage`: tenants, their quotas and usage (admin token; a
// tenant token sees only its own).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <memory>

#include "cli/cloud_client.hpp"
#include "cli/commands.hpp"

namespace nimbus::cli {
namespace {

using nlohmann::json;

struct TenantOptions {
  CloudTarget target;
  std::string name;
  int64_t vcpus = -1, memory_mib = -1, vms = -1, disk_gib = -1;
};

std::string used_of(const json& t, const char* k) {
  return fmt::format("{}/{}", json_text(t["usage"].value(k, json(0))), json_text(t["quota"].value(k, json(0))));
}

int tenant_create(const TenantOptions& o) {
  CloudClient c(o.target, "tenant create");
  if (!c.ok()) return 2;
  json quota{{"vcpus", o.vcpus < 0 ? 8 : o.vcpus}, {"memory_mib", o.memory_mib < 0 ? 2048 : o.memory_mib},
             {"vms", o.vms < 0 ? 10 : o.vms}, {"disk_gib", o.disk_gib < 0 ? 100 : o.disk_gib}};
  auto r = c.request("POST", "/v1/tenants", json{{"name", o.name}, {"quota", quota}}.dump());
  if (r.status != 201) return c.fail(r);
  if (o.target.json) {
    fmt::print("{}\n", r.body.dump(2));
    return 0;
  }
  fmt::print("tenant {} created; quota {} vCPUs, {} MiB, {} VMs, {} GiB\n", o.name, json_text(quota["vcpus"]),
             json_text(quota["memory_mib"]), json_text(quota["vms"]), json_text(quota["disk_gib"]));
  fmt::print("token: {}\n(shown only now; use it as --token or NIMBUS_TOKEN for this tenant)\n", json_text(r.body["token"]));
  return 0;
}

int tenant_list(const TenantOptions& o) {
  CloudClient c(o.target, "tenant list");
  if (!c.ok()) return 2;
  auto r = c.request("GET", "/v1/tenants");
  if (r.status != 200) return c.fail(r);
  if (o.target.json) {
    fmt::print("{}\n", r.body.dump(2));
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : r.body)
    rows.push_back({json_text(t["name"]), used_of(t, "vms"), used_of(t, "vcpus"), used_of(t, "memory_mib"), used_of(t, "disk_gib")});
  print_table({"TENANT", "VMS", "VCPUS", "MEMORY_MIB", "DISK_GIB"}, rows);
  return 0;
}

int tenant_quota(const TenantOptions& o) {
  CloudClient c(o.target, "tenant quota");
  if (!c.ok()) return 2;
  auto r = c.request("GET", "/v1/tenants/" + o.name);
  if (r.status != 200) return c.fail(r);
  if (o.vcpus >= 0 || o.memory_mib >= 0 || o.vms >= 0 || o.disk_gib >= 0) {
    json q = r.body["quota"];
    if (o.vcpus >= 0) q["vcpus"] = o.vcpus;
    if (o.memory_mib >= 0) q["memory_mib"] = o.memory_mib;
    if (o.vms >= 0) q["vms"] = o.vms;
    if (o.disk_gib >= 0) q["disk_gib"] = o.disk_gib;
    r = c.request("PUT", "/v1/tenants/" + o.name + "/quota", q.dump());
    if (r.status != 200) return c.fail(r);
  }
  if (o.target.json) {
    fmt::print("{}\n", r.body.dump(2));
    return 0;
  }
  print_table({"TENANT", "VMS", "VCPUS", "MEMORY_MIB", "DISK_GIB"},
              {{json_text(r.body["name"]), used_of(r.body, "vms"), used_of(r.body, "vcpus"), used_of(r.body, "memory_mib"),
                used_of(r.body, "disk_gib")}});
  return 0;
}

int tenant_usage(const TenantOptions& o) {
  CloudClient c(o.target, "tenant usage");
  if (!c.ok()) return 2;
  auto r = c.request("GET", o.name.empty() ? "/v1/usage" : "/v1/tenants/" + o.name + "/usage");
  if (r.status != 200) return c.fail(r);
  if (o.target.json) {
    fmt::print("{}\n", r.body.dump(2));
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  auto row = [&](const std::string& name, const json& t) {
    rows.push_back({name, used_of(t, "vms"), used_of(t, "vcpus"), used_of(t, "memory_mib"), used_of(t, "disk_gib")});
  };
  if (r.body.contains("tenant")) row(json_text(r.body["tenant"]), r.body);
  else
    for (const auto& [name, t] : r.body.items()) row(name, t);
  print_table({"TENANT", "VMS", "VCPUS", "MEMORY_MIB", "DISK_GIB"}, rows);
  return 0;
}

void register_tenant(CLI::App& app) {
  auto* t = app.add_subcommand("tenant", "Cloud tenants: create (shows the token once), list, quota, usage");
  t->require_subcommand(1);
  auto quota_options = [](CLI::App& cmd, TenantOptions& o) {
    cmd.add_option("--vcpus", o.vcpus, "vCPU quota");
    cmd.add_option("--memory-mib", o.memory_mib, "memory quota in MiB");
    cmd.add_option("--vms", o.vms, "VM count quota");
    cmd.add_option("--disk-gib", o.disk_gib, "disk quota in GiB");
  };
  {
    auto o = std::make_shared<TenantOptions>();
    auto* cmd = t->add_subcommand("create", "Create a tenant (default quota 8 vCPUs, 2048 MiB, 10 VMs, 100 GiB)");
    cmd->add_option("name", o->name, "tenant name")->required();
    quota_options(*cmd, *o);
    add_cloud_target_options(*cmd, o->target);
    cmd->callback([o] { set_exit_code(tenant_create(*o)); });
  }
  {
    auto o = std::make_shared<TenantOptions>();
    auto* cmd = t->add_subcommand("list", "List tenants with usage/quota");
    add_cloud_target_options(*cmd, o->target);
    cmd->callback([o] { set_exit_code(tenant_list(*o)); });
  }
  {
    auto o = std::make_shared<TenantOptions>();
    auto* cmd = t->add_subcommand("quota", "Show a tenant's quota, or set it with --vcpus/--memory-mib/--vms/--disk-gib");
    cmd->add_option("name", o->name, "tenant name")->required();
    quota_options(*cmd, *o);
    add_cloud_target_options(*cmd, o->target);
    cmd->callback([o] { set_exit_code(tenant_quota(*o)); });
  }
  {
    auto o = std::make_shared<TenantOptions>();
    auto* cmd = t->add_subcommand("usage", "Usage against quota (a tenant token: its own; admin: all or NAME)");
    cmd->add_option("name", o->name, "tenant name");
    add_cloud_target_options(*cmd, o->target);
    cmd->callback([o] { set_exit_code(tenant_usage(*o)); });
  }
}

NIMBUS_REGISTER_COMMAND(register_tenant);

} // namespace
} // namespace nimbus::cli

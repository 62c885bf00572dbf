// `nimbus vm create|list|show|delete|start|stop|reboot|migrate|console`: the cloud's VMs through
// the controller's REST API (like `openstack server ...`).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "cli/cloud_client.hpp"
#include "cli/commands.hpp"
#include "cli/terminal_console.hpp"

namespace nimbus::cli {
namespace {

using nlohmann::json;

struct VmOptions {
  CloudTarget target;
  std::string name, flavor, image, tenant, anti_affinity, affinity, host;
  std::vector<std::string> networks;
  bool wait = false;
  bool log = false;  // console: print what it printed so far and exit
};

std::string vm_path(const VmOptions& o, const std::string& suffix = "") {
  std::string p = "/v1/vms/" + o.name + suffix;
  if (!o.tenant.empty()) p += "?tenant=" + o.tenant;
  return p;
}

void print_vm(const json& vm) {
  for (const char* k : {"name", "id", "tenant", "state", "desired", "host", "flavor", "image", "mode", "vcpus", "memory_mib",
                        "disk_gib", "generation", "anti_affinity", "affinity", "created"})
    if (vm.contains(k)) fmt::print("{:<14}{}\n", k, json_text(vm[k]));
  if (vm.contains("nics") && vm["nics"].is_array())
    for (std::size_t i = 0; i < vm["nics"].size(); ++i)
      fmt::print("{:<14}{} on network {} (VNI {})\n", fmt::format("eth{}", i), json_text(vm["nics"][i].value("mac", json())),
                 json_text(vm["nics"][i].value("network", json())), json_text(vm["nics"][i].value("vni", json())));
  // Booted more than once by its host's agent (a reboot, or a restart after self-fencing).
  const json* o = vm.contains("observed") && vm["observed"].is_object() ? &vm["observed"] : nullptr;
  if (o != nullptr && o->contains("starts") && (*o)["starts"].is_number_integer() && (*o)["starts"].get<int64_t>() > 1) {
    fmt::print("{:<14}{} on {}, the run before ended {}\n", "starts", json_text((*o)["starts"]),
               json_text(o->value("host", json())), json_text(o->value("previous_end", json("(not said)"))));
  }
  if (vm.contains("migration") && vm["migration"].is_object()) {
    const json& m = vm["migration"];
    fmt::print("{:<14}live to {} since {} ({}){}\n", "migration", json_text(m.value("to", json())), json_text(m.value("started", json())),
               json_text(m.value("why", json())), m.value("address", "").empty() ? ", destination getting ready" : ", sending");
  }
}

int vm_create(const VmOptions& o) {
  CloudClient c(o.target, "vm create");
  if (!c.ok()) return 2;
  json body{{"name", o.name}, {"flavor", o.flavor}, {"image", o.image}};
  if (!o.tenant.empty()) body["tenant"] = o.tenant;
  if (!o.anti_affinity.empty()) body["anti_affinity"] = o.anti_affinity;
  if (!o.affinity.empty()) body["affinity"] = o.affinity;
  if (!o.networks.empty()) body["networks"] = o.networks;
  auto r = c.request("POST", "/v1/vms", body.dump());
  if (r.status != 201) return c.fail(r);
  json vm = r.body;
  if (o.wait) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (vm.value("state", "") != "running" && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      auto s = c.request("GET", "/v1/vms/" + vm.value("id", o.name));
      if (s.status == 200) vm = s.body;
    }
  }
  if (o.target.json) fmt::print("{}\n", vm.dump(2));
  else print_vm(vm);
  return 0;
}

int vm_list(const VmOptions& o) {
  CloudClient c(o.target, "vm list");
  if (!c.ok()) return 2;
  auto r = c.request("GET", o.tenant.empty() ? "/v1/vms" : "/v1/vms?tenant=" + o.tenant);
  if (r.status != 200) return c.fail(r);
  if (o.target.json) {
    fmt::print("{}\n", r.body.dump(2));
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& vm : r.body)
    rows.push_back({json_text(vm["tenant"]), json_text(vm["name"]), json_text(vm["id"]), json_text(vm["state"]), json_text(vm["host"]),
                    json_text(vm["flavor"]), json_text(vm["image"]), json_text(vm["generation"])});
  print_table({"TENANT", "NAME", "ID", "STATE", "HOST", "FLAVOR", "IMAGE", "GEN"}, rows);
  return 0;
}

int vm_simple(const VmOptions& o, const std::string& verb) {
  CloudClient c(o.target, "vm " + verb);
  if (!c.ok()) return 2;
  ApiResponse r;
  if (verb == "show") r = c.request("GET", vm_path(o));
  else if (verb == "delete") r = c.request("DELETE", vm_path(o));
  else if (verb == "migrate") r = c.request("POST", vm_path(o, "/migrate"), o.host.empty() ? "{}" : json{{"host", o.host}}.dump());
  else r = c.request("POST", vm_path(o, "/" + verb), "{}");
  if (r.status != 200) return c.fail(r);
  if (o.target.json) fmt::print("{}\n", r.body.dump(2));
  else if (verb == "show") print_vm(r.body);
  else if (verb == "migrate" && r.body.value("state", "") == "migrating")
    fmt::print("migrate {}: moving live from {} to {} (nimbus vm show {} says when it runs there; a failure leaves it on "
               "{} and is an event)\n",
               json_text(r.body["name"]), json_text(r.body["host"]), json_text(r.body["migration"]["to"]), json_text(r.body["name"]),
               json_text(r.body["host"]));
  else fmt::print("{} {}: {} on {}\n", verb, json_text(r.body["name"]), json_text(r.body["state"]), json_text(r.body["host"]));
  return 0;
}

// The console through the controller's proxy to the host agent: GET .../console streams the log
// so far and then live output (chunked) until the VM stops; keystrokes go in with POST
// .../console. Raw terminal; Ctrl-A x detaches (the VM keeps running).
int vm_console(const VmOptions& o) {
  CloudClient c(o.target, "vm console");
  if (!c.ok()) return 2;
  auto first = c.request("GET", vm_path(o));
  if (first.status != 200) return c.fail(first);
  const std::string id = first.body.value("id", o.name);
  const std::string path = "/v1/vms/" + id + "/console";
  if (o.log) {  // like `openstack console log show`: no terminal, no input, no following
    auto log = c.request("GET", path + "?follow=0");
    if (log.status != 200) return c.fail(log);
    std::fwrite(log.raw.data(), 1, log.raw.size(), stdout);
    return 0;
  }
  auto ended = std::make_shared<std::atomic<int>>(0);  // 0 running, else the HTTP status (or -1)
  {
    TerminalConsole terminal(STDIN_FILENO, STDOUT_FILENO);
    terminal.message(fmt::format("[nimbus vm console: attached to '{}' on {}; Ctrl-A x detaches]", o.name, json_text(first.body["host"])));
    std::thread([&c, path, ended] {
      const int status = c.stream(path + "?follow=1", [](const char* data, size_t n) {
        std::size_t off = 0;
        while (off < n) {
          const ssize_t w = ::write(STDOUT_FILENO, data + off, n - off);
          if (w <= 0) return false;
          off += static_cast<std::size_t>(w);
        }
        return true;
      });
      ended->store(status == 200 ? 200 : (status == 0 ? -1 : status));
    }).detach();
    while (ended->load() == 0) {
      std::string input;
      while (const auto byte = terminal.read()) input.push_back(static_cast<char>(*byte));
      if (terminal.quit_requested()) break;
      if (!input.empty()) {
        auto r = c.request("POST", path, input, "application/octet-stream");
        if (r.status != 200) terminal.message(fmt::format("[nimbus vm console: input refused (HTTP {})]", r.status));
      }
      terminal.wait_for_input(std::chrono::milliseconds(50));
    }
    const int status = ended->load();
    if (status == 0) terminal.message("[nimbus vm console: detached; the VM keeps running]");
    else if (status == 200) terminal.message("[nimbus vm console: the VM stopped]");
    else terminal.message(fmt::format("[nimbus vm console: the console is not available (HTTP {}); nimbus vm show {}]", status, o.name));
    if (status != 0 && status != 200) {
      std::fflush(stdout);
      ::_exit(1);
    }
  }
  std::fflush(stdout);
  ::_exit(0);  // the streaming thread may still be blocked in its request
}

void register_vm(CLI::App& app) {
  auto* vm = app.add_subcommand("vm", "The cloud's VMs (through the controller): create, list, show, delete, ...");
  vm->require_subcommand(1);
  auto add = [&](const char* name, const char* help, bool needs_name, auto&& fn, auto&& extra) {
    auto o = std::make_shared<VmOptions>();
    auto* cmd = vm->add_subcommand(name, help);
    if (needs_name) cmd->add_option("name", o->name, "VM name (or id)")->required();
    cmd->add_option("--tenant", o->tenant, "tenant of the VM (with the admin token)");
    add_cloud_target_options(*cmd, o->target);
    extra(*cmd, *o);
    cmd->callback([o, fn] { set_exit_code(fn(*o)); });
  };
  auto none = [](CLI::App&, VmOptions&) {};
  add("create", "Create a VM (placement picks the host)", true, vm_create, [](CLI::App& cmd, VmOptions& o) {
    cmd.add_option("--flavor", o.flavor, "flavor (nimbus flavor list)")->required();
    cmd.add_option("--image", o.image, "image (nimbus image list)")->required();
    cmd.add_option("--anti-affinity", o.anti_affinity, "anti-affinity group: no two members share a host");
    cmd.add_option("--affinity", o.affinity, "affinity group: members share a host");
    cmd.add_option("--network", o.networks,
                   "a NIC on this tenant network (nimbus network create); repeat for more NICs, eth0 first (at most 4)");
    cmd.add_flag("--wait", o.wait, "wait (up to 60 s) until it runs");
  });
  add("list", "List VMs", false, vm_list, none);
  add("show", "Show a VM", true, [](const VmOptions& o) { return vm_simple(o, "show"); }, none);
  add("delete", "Delete a VM", true, [](const VmOptions& o) { return vm_simple(o, "delete"); }, none);
  add("start", "Start a stopped VM", true, [](const VmOptions& o) { return vm_simple(o, "start"); }, none);
  add("stop", "Stop a VM (keeps its place and disk)", true, [](const VmOptions& o) { return vm_simple(o, "stop"); }, none);
  add("reboot", "Restart a VM", true, [](const VmOptions& o) { return vm_simple(o, "reboot"); }, none);
  add("migrate", "Move a VM to another host (admin; live migration when it runs and its mode allows, else stop-and-restart)", true,
      [](const VmOptions& o) { return vm_simple(o, "migrate"); },
      [](CLI::App& cmd, VmOptions& o) { cmd.add_option("--to,--host", o.host, "target host (default: placement chooses)"); });
  add("console", "Attach to a VM's console (Ctrl-A x detaches)", true, vm_console, [](CLI::App& cmd, VmOptions& o) {
    cmd.add_flag("--log", o.log, "print what the console has printed so far and exit (for scripts)");
  });
}

NIMBUS_REGISTER_COMMAND(register_vm);

} // namespace
} // namespace nimbus::cli

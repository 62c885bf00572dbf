// `nimbus host`: the host agent, a long-lived service for one machine (src/cloud/host/). It
// registers the host in etcd, runs the VMs assigned to it (one `nimbus run --vm` VMM process
// each) and serves its REST API on a UNIX socket and optionally TCP. SIGTERM/SIGINT stop it
// cleanly (VMs stopped, lease revoked, exit 0).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/jail_cgroup.hpp"
#include "cloud/host/agent_api.hpp"
#include "cloud/host/host_agent.hpp"
#include "machine/size_parser.hpp"

namespace nimbus::cli {
namespace {

struct HostCommandOptions {
  std::string name;
  std::string etcd;
  std::string etcd_prefix = "/nimbus/";
  std::string etcd_ca, etcd_cert, etcd_key;
  int64_t harts = 0;
  std::string memory;
  int64_t disk_gib = 0;
  std::string rack;
  std::string dir;
  std::string disks_dir;
  std::string socket;
  std::string listen;
  std::string advertise;
  std::string tls_cert, tls_key, tls_ca;
  int64_t lease_ttl = 5;
  std::string token_file;
  std::string vmm_jail_user;
  std::string vmm_jail_uids;   // FIRST-LAST
  bool simulate = false;
  int simulate_hosts = 0;
  double stop_grace = 5;
  uint16_t net_port = 0;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

int run_host(const HostCommandOptions& o) {
  namespace fs = std::filesystem;
  cloud::host::HostAgentOptions a;
  if (o.simulate_hosts > 1) {
    for (int i = 0; i < o.simulate_hosts; ++i) a.hosts.push_back(fmt::format("{}-{:04}", o.name, i));
  } else {
    a.hosts = {o.name};
  }
  a.simulate = o.simulate || o.simulate_hosts > 1;
  a.rack = o.rack;
  a.harts = o.harts > 0 ? o.harts : static_cast<int64_t>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  if (!o.memory.empty()) {
    auto bytes = machine::parse_size(o.memory);
    if (!bytes || *bytes < (16ull << 20)) {
      fmt::print(stderr, "nimbus host: --memory: want a size such as 4G or 512M (at least 16M), got '{}'\n", o.memory);
      return 2;
    }
    a.memory_mib = static_cast<int64_t>(*bytes >> 20);
  } else {
    a.memory_mib = static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE) >> 20;
  }
  a.disk_gib = o.disk_gib;
  if (!o.vmm_jail_user.empty() && ::geteuid() != 0) {
    fmt::print(stderr, "nimbus host: --vmm-jail-user needs root (the VMMs make namespaces and then drop to that user)\n");
    return 2;
  }
  a.vmm_jail_user = o.vmm_jail_user;
  if (!o.vmm_jail_uids.empty()) {
    unsigned long first = 0, last = 0;
    char tail = 0;
    if (std::sscanf(o.vmm_jail_uids.c_str(), "%lu-%lu%c", &first, &last, &tail) != 2 || first == 0 || last < first ||
        last > 0xfffffffeul) {
      fmt::print(stderr, "nimbus host: --vmm-jail-uids: want FIRST-LAST with 0 < FIRST <= LAST, such as "
                         "200000-200999 (uids no account uses), got '{}'\n", o.vmm_jail_uids);
      return 2;
    }
    if (::geteuid() != 0) {
      fmt::print(stderr, "nimbus host: --vmm-jail-uids needs root (the VMMs make namespaces and then drop to a uid of "
                         "the range)\n");
      return 2;
    }
    a.vmm_jail_uid_first = static_cast<uint32_t>(first);
    a.vmm_jail_uid_count = static_cast<uint32_t>(last - first + 1);
  }
  if (a.jailed() && !a.simulate) {
    // Limits only where this host has the controller: a VMM asked for one it lacks would not start.
    a.vmm_limit_memory = cgroup_controller_mounted("memory");
    a.vmm_limit_cpu = cgroup_controller_mounted("cpu");
    a.vmm_limit_pids = cgroup_controller_mounted("pids");
    fmt::print(stderr, "nimbus host: VMMs run jailed{}{}{}{}\n",
               a.vmm_jail_uid_count ? fmt::format(", each as its own uid from {}", o.vmm_jail_uids) : "",
               a.vmm_limit_memory ? ", memory capped" : "", a.vmm_limit_cpu ? ", CPU capped" : "",
               a.vmm_limit_pids ? ", threads capped" : "");
  }
  if (!o.dir.empty()) {
    a.dir = o.dir;
  } else {
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    a.dir = xdg && *xdg ? fmt::format("{}/nimbus-host-{}", xdg, o.name) : fmt::format("/tmp/nimbus-host-{}-{}", ::getuid(), o.name);
  }
  a.disks_dir = o.disks_dir;
  while (a.disks_dir.size() > 1 && a.disks_dir.back() == '/') a.disks_dir.pop_back();
  a.etcd_endpoints = split_commas(o.etcd);
  a.etcd_prefix = o.etcd_prefix;
  a.etcd_ca = o.etcd_ca;
  a.etcd_cert = o.etcd_cert;
  a.etcd_key = o.etcd_key;
  a.lease_ttl = o.lease_ttl;
  a.net_port = o.net_port;
  a.stop_grace = std::chrono::milliseconds(static_cast<int64_t>(o.stop_grace * 1000));

  cloud::host::AgentApiOptions api;
  api.socket_path = o.socket.empty() ? (fs::path(a.dir) / "agent.sock").string() : o.socket;
  api.listen = o.listen;
  api.tls_cert = o.tls_cert;
  api.tls_key = o.tls_key;
  if (!o.tls_ca.empty()) {
    if (o.tls_cert.empty() || o.tls_key.empty()) {
      fmt::print(stderr, "nimbus host: --tls-ca goes with --tls-cert and --tls-key (this host's certificate for live moves)\n");
      return 2;
    }
    a.migration_tls_cert = fs::absolute(o.tls_cert).string();   // VMMs and nimbus migrate run in other directories
    a.migration_tls_key = fs::absolute(o.tls_key).string();
    a.migration_tls_ca = fs::absolute(o.tls_ca).string();
  }
  if (!o.token_file.empty()) {
    std::ifstream in(o.token_file);
    if (!in) {
      fmt::print(stderr, "nimbus host: --token-file {}: cannot read it\n", o.token_file);
      return 2;
    }
    std::getline(in, api.token);
    while (!api.token.empty() && std::isspace(static_cast<unsigned char>(api.token.back()))) api.token.pop_back();
    if (api.token.empty()) {
      fmt::print(stderr, "nimbus host: --token-file {}: empty\n", o.token_file);
      return 2;
    }
  }

  // Signals go to this thread's sigwait; every other thread (and, until exec, the VMMs) has them
  // blocked. The VMM child unblocks them before exec.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<cloud::host::HostAgent> agent;
  std::unique_ptr<cloud::host::AgentApi> server;
  try {
    fs::create_directories(a.dir);
    agent = std::make_unique<cloud::host::HostAgent>(a);
    server = std::make_unique<cloud::host::AgentApi>(*agent, api);
    server->start();  // binds first, so the advertised address is known before registration
    std::string advertised = o.advertise;
    if (advertised.empty() && !server->tcp_url().empty()) advertised = server->tcp_url();
    agent->set_api_address(advertised);
    agent->start();
  } catch (const std::exception& e) {
    fmt::print(stderr, "nimbus host: {}\n", e.what());
    return 2;
  }
  fmt::print("nimbus host {}: {} host(s), {} harts, {} MiB, {} GiB disk each{}\n", o.name, a.hosts.size(), a.harts,
             a.memory_mib, a.disk_gib, a.simulate ? " (simulated VMs)" : "");
  fmt::print("API socket: {}\n", api.socket_path);
  if (!server->tcp_url().empty()) fmt::print("API listening on {}\n", server->tcp_url());
  fmt::print("state dir: {}\n", a.dir);
  if (a.etcd_endpoints.empty()) fmt::print("no --etcd: not registering (API only)\n");
  else if (a.disk_gib <= 0)
    fmt::print(stderr, "nimbus host {}: warning: --disk-gib 0: the controller places no VM with a disk here (give the GiB "
                       "of VM disks this host may hold, e.g. --disk-gib 100)\n", o.name);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  fmt::print(stderr, "nimbus host: {}: stopping VMs{}\n", strsignal(sig), a.etcd_endpoints.empty() ? "" : ", revoking the lease");
  server->stop();
  agent->shutdown();
  fmt::print(stderr, "nimbus host: stopped\n");
  return 0;
}

void register_host(CLI::App& app) {
  auto o = std::make_shared<HostCommandOptions>();
  auto* cmd = app.add_subcommand("host", "Run the host agent: register this machine in etcd and run the VMs assigned to it");
  cmd->footer(
      "The agent registers hosts/<name> under a lease (--lease-ttl), renews it every TTL/3, and runs each VM\n"
      "assigned under assign/<name>/ as its own `nimbus run --vm` process. If no renewal succeeds within TTL-1 s\n"
      "it kills every VM (self-fencing) and registers anew once etcd answers. REST API: docs/api/host-agent.yaml.\n"
      "SIGTERM/SIGINT: VMs stopped (SIGTERM, then SIGKILL), lease revoked, exit 0. Exit 2: bad options.");
  cmd->add_option("--name", o->name, "Host name (with --simulate-hosts: the prefix of NAME-0000...)")->required();
  cmd->add_option("--etcd", o->etcd, "etcd endpoints, comma-separated (http://H:P or https://H:P); none: API only");
  cmd->add_option("--etcd-prefix", o->etcd_prefix, "Key prefix in etcd")->capture_default_str();
  cmd->add_option("--etcd-ca", o->etcd_ca, "CA bundle to verify etcd's TLS certificate");
  cmd->add_option("--etcd-cert", o->etcd_cert, "Client certificate for etcd");
  cmd->add_option("--etcd-key", o->etcd_key, "Client key for etcd");
  cmd->add_option("--harts", o->harts, "vCPU capacity (default: the machine's CPUs)")->check(CLI::Range(1, 4096));
  cmd->add_option("--memory", o->memory, "Memory capacity, e.g. 8G (default: the machine's RAM)");
  cmd->add_option("--disk-gib", o->disk_gib, "Disk capacity in GiB")->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--rack", o->rack, "Rack (failure domain) of this host");
  cmd->add_option("--dir", o->dir, "State directory: VM TOMLs, VMM state dirs, logs (default: $XDG_RUNTIME_DIR/nimbus-host-NAME)");
  cmd->add_option("--disks-dir", o->disks_dir, "The shared disk directory: VM disks must lie under it");
  cmd->add_option("--socket", o->socket, "UNIX socket of the API (default: DIR/agent.sock)");
  cmd->add_option("--listen", o->listen, "TCP API address HOST:PORT (port 0: pick one; the bound address is printed)");
  cmd->add_option("--advertise", o->advertise, "API URL published in etcd, e.g. https://h7.example:9443 (default: the --listen URL)");
  cmd->add_option("--tls-cert", o->tls_cert, "Certificate for HTTPS on --listen");
  cmd->add_option("--tls-key", o->tls_key, "Private key for HTTPS on --listen");
  cmd->add_option("--tls-ca", o->tls_ca,
                  "The cloud's CA (PEM): live moves in and out go over TLS, both hosts authenticated with "
                  "--tls-cert/--tls-key against it (the certificate must allow client and server use and name this "
                  "host's --listen address); without it they go in the clear");
  cmd->add_option("--lease-ttl", o->lease_ttl, "etcd lease TTL in seconds (fencing after TTL-1 s without renewal)")
      ->capture_default_str()->check(CLI::Range(2, 3600));
  cmd->add_option("--token-file", o->token_file, "File holding the bearer token the TCP API requires");
  cmd->add_option("--vmm-jail-user", o->vmm_jail_user,
                  "Run every VMM jailed (nimbus run --jail) as this unprivileged user, e.g. nobody; needs root "
                  "(docs/security.md)")
      ->type_name("USER");
  cmd->add_option("--vmm-jail-uids", o->vmm_jail_uids,
                  "Run every VMM jailed as a user of its own: uid and gid N from this range, FIRST-LAST (e.g. "
                  "200000-200999: numbers no account uses), never two live VMMs with one; needs root. Jailed VMMs "
                  "also get cgroup limits (memory, CPU, threads) from their VM's size where the host has the "
                  "controllers (docs/security.md)")
      ->type_name("FIRST-LAST");
  cmd->add_flag("--simulate", o->simulate, "Fake VMs: same protocol, no processes, synthetic CPU load");
  cmd->add_option("--simulate-hosts", o->simulate_hosts, "Play N simulated hosts NAME-0000... (one lease, one watch)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--net-port", o->net_port,
                  "UDP port other hosts send this host's tenant networks to (0: any free port; published in etcd)")
      ->capture_default_str();
  cmd->add_option("--stop-grace", o->stop_grace, "Seconds between SIGTERM and SIGKILL when stopping a VM")->capture_default_str();
  cmd->callback([o] { set_exit_code(run_host(*o)); });
}

NIMBUS_REGISTER_COMMAND(register_host);

} // namespace
} // namespace nimbus::cli

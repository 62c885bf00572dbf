// `nimbus controller`: one replica of the cloud controller (REST API + placement + reconciler);
// several may run against one etcd, one of them leads. See docs/cloud.md "Controller".
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/commands.hpp"
#include "cloud/controller/agent_client.hpp"
#include "cloud/controller/api_server.hpp"
#include "cloud/controller/controller.hpp"

namespace nimbus::cli {
namespace {

namespace ctl = cloud::controller;

struct ControllerCliOptions {
  std::vector<std::string> etcd{"http://127.0.0.1:2379"};
  std::string etcd_ca, etcd_cert, etcd_key;
  std::string prefix = "/nimbus/";
  std::string listen = "127.0.0.1:8080";
  std::string tls_cert, tls_key;
  std::string admin_token_file, agent_token_file;
  std::string agent_ca;
  std::string disks_dir;
  std::string url_file;
  std::string web_dir;
  std::string id;
  std::string policy = "best-fit";
  double grace = 2.0;
  double consolidate_interval = 10.0;
  double cpu_overcommit = 4.0;
  double memory_overcommit = 1.0;
  std::size_t moves_per_round = 5;
  std::size_t moves_per_host = 2;
  int64_t leader_ttl = 5;
  std::size_t max_batch = 24;
  std::size_t max_batches_in_flight = 1;
  std::size_t etcd_max_txn_ops = 128;
};

bool read_token(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) out.pop_back();
  return !out.empty();
}

int run_controller(const ControllerCliOptions& o) {
  ctl::ControllerOptions co;
  co.etcd_endpoints = o.etcd;
  co.etcd_ca = o.etcd_ca;
  co.etcd_cert = o.etcd_cert;
  co.etcd_key = o.etcd_key;
  if (co.etcd_cert.empty() != co.etcd_key.empty()) {
    fmt::print(stderr, "nimbus controller: give both --etcd-cert and --etcd-key, or neither\n");
    return 2;
  }
  co.etcd_prefix = o.prefix;
  co.id = o.id;
  co.disks_dir = o.disks_dir;
  co.grace = std::chrono::milliseconds(static_cast<int64_t>(o.grace * 1000));
  co.consolidate_interval = std::chrono::milliseconds(static_cast<int64_t>(o.consolidate_interval * 1000));
  co.leader_ttl_seconds = o.leader_ttl;
  co.max_batch = o.max_batch;
  co.max_batches_in_flight = o.max_batches_in_flight;
  co.etcd_max_txn_ops = o.etcd_max_txn_ops;
  co.fleet.cpu_overcommit = o.cpu_overcommit;
  co.fleet.memory_overcommit = o.memory_overcommit;
  co.consolidation.moves_per_round = o.moves_per_round;
  co.consolidation.moves_per_host = o.moves_per_host;
  if (!cloud::placement::online::parse_policy(o.policy, co.fleet.policy)) {
    fmt::print(stderr, "nimbus controller: unknown --policy '{}': use best-fit, worst-fit, dot-product or hybrid\n", o.policy);
    return 2;
  }
  if (!o.admin_token_file.empty() && !read_token(o.admin_token_file, co.admin_token)) {
    fmt::print(stderr, "nimbus controller: cannot read the admin token from {}\n", o.admin_token_file);
    return 2;
  }
  if (!o.agent_token_file.empty() && !read_token(o.agent_token_file, co.agent_token)) {
    fmt::print(stderr, "nimbus controller: cannot read the agent token from {}\n", o.agent_token_file);
    return 2;
  }
  if (!o.agent_ca.empty()) {
    try {
      ctl::check_agent_ca(o.agent_ca);
    } catch (const std::exception& e) {
      fmt::print(stderr, "nimbus controller: {}\n", e.what());
      return 2;
    }
    co.agent_ca = o.agent_ca;
  }
  ctl::ApiServerOptions so;
  if (!ctl::parse_listen(o.listen, so.host, so.port)) {
    fmt::print(stderr, "nimbus controller: --listen wants HOST:PORT (e.g. 127.0.0.1:8080), not '{}'\n", o.listen);
    return 2;
  }
  so.tls_cert = o.tls_cert;
  so.tls_key = o.tls_key;
  so.web_dir = o.web_dir;
  if (so.tls_cert.empty() != so.tls_key.empty()) {
    fmt::print(stderr, "nimbus controller: give both --tls-cert and --tls-key, or neither\n");
    return 2;
  }

  // Signals go to a thread of their own; every other thread inherits the blocked mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A client that resets its connection while a TLS answer is written makes OpenSSL's write(2)
  // raise SIGPIPE, whose default action would end the controller: EPIPE is enough.
  ::signal(SIGPIPE, SIG_IGN);

  try {
    ctl::Controller controller(co);
    ctl::ApiServer server(controller, so);
    const int port = server.bind();
    const std::string url = fmt::format("{}://{}:{}", server.tls() ? "https" : "http", so.host, port);
    controller.set_api_url(url);
    controller.start();
    server.start();
    if (!o.url_file.empty()) {
      const std::string tmp = o.url_file + ".tmp";
      std::ofstream(tmp) << url << "\n";
      std::rename(tmp.c_str(), o.url_file.c_str());
    }
    fmt::print(stderr, "nimbus controller: {} listening on {}\n", controller.options().id, url);
    int sig = 0;
    sigwait(&set, &sig);
    fmt::print(stderr, "nimbus controller: signal {}, stopping\n", sig);
    server.stop();
    controller.stop();
    return 0;
  } catch (const cloud::etcd::EtcdError& e) {
    // Not every etcd error means etcd is down: a bad endpoint URL, a missing gRPC module.
    if (e.unavailable())
      fmt::print(stderr, "nimbus controller: etcd unreachable at {}: {} (is etcd running? see --etcd)\n", o.etcd.front(), e.what());
    else
      fmt::print(stderr, "nimbus controller: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "nimbus controller: {}\n", e.what());
    return 1;
  }
}

void register_controller(CLI::App& app) {
  auto opts = std::make_shared<ControllerCliOptions>();
  auto* cmd = app.add_subcommand("controller", "Run a cloud controller replica (REST API, placement, failover)");
  cmd->add_option("--etcd", opts->etcd, "etcd endpoint URLs, comma-separated or repeated (every member of the cluster)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--etcd-ca", opts->etcd_ca, "CA bundle to verify etcd's TLS certificate (https:// endpoints)");
  cmd->add_option("--etcd-cert", opts->etcd_cert, "client certificate (PEM) for etcd (an etcd with --client-cert-auth)");
  cmd->add_option("--etcd-key", opts->etcd_key, "client key (PEM) for etcd");
  cmd->add_option("--etcd-prefix", opts->prefix, "key prefix in etcd")->capture_default_str();
  cmd->add_option("--listen", opts->listen, "HOST:PORT of the REST API (port 0: any free port)")->capture_default_str();
  cmd->add_option("--tls-cert", opts->tls_cert, "TLS certificate (PEM) for HTTPS");
  cmd->add_option("--tls-key", opts->tls_key, "TLS private key (PEM) for HTTPS");
  cmd->add_option("--admin-token-file", opts->admin_token_file, "file holding the admin bearer token");
  cmd->add_option("--agent-token-file", opts->agent_token_file, "file holding the token the host agents accept");
  cmd->add_option("--agent-ca", opts->agent_ca,
                  "CA certificate (PEM) that signed the host agents' HTTPS certificates (agents started with --tls-cert): "
                  "the console proxy verifies them against it (default: the system's roots; nimbus cloud up passes "
                  "DIR/pki/ca.crt)");
  cmd->add_option("--disks-dir", opts->disks_dir, "shared directory holding the VMs' disks");
  cmd->add_option("--web-dir", opts->web_dir, "web directory of the dashboard at /ui/ (default: web/ by the executable, else the source tree's)");
  cmd->add_option("--url-file", opts->url_file, "write the API URL here once listening");
  cmd->add_option("--id", opts->id, "this replica's name (default: hostname-pid)");
  cmd->add_option("--policy", opts->policy, "placement policy: best-fit, worst-fit, dot-product, hybrid")->capture_default_str();
  cmd->add_option("--grace", opts->grace, "seconds after a host's lease expired before its VMs are re-placed")->capture_default_str();
  cmd->add_option("--consolidate-interval", opts->consolidate_interval, "seconds between consolidation rounds (0: off)")
      ->capture_default_str();
  cmd->add_option("--cpu-overcommit", opts->cpu_overcommit, "vCPUs placed per host CPU")->capture_default_str();
  cmd->add_option("--memory-overcommit", opts->memory_overcommit, "memory overcommit factor")->capture_default_str();
  cmd->add_option("--moves-per-round", opts->moves_per_round, "most VM moves per consolidation/drain round")->capture_default_str();
  cmd->add_option("--moves-per-host", opts->moves_per_host, "most VM moves out of one host per round")->capture_default_str();
  cmd->add_option("--leader-ttl", opts->leader_ttl, "seconds of the leader lease")->capture_default_str();
  cmd->add_option("--max-batch", opts->max_batch, "most creates (or evacuation moves) committed in one etcd transaction")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1000u));
  cmd->add_option("--max-batches-in-flight", opts->max_batches_in_flight,
                  "create transactions committing at once (the next batch is decided on the tentative state of those "
                  "in flight, guarded by value); 1: one at a time")
      ->capture_default_str()
      ->check(CLI::Range(1u, 16u));
  cmd->add_option("--etcd-max-txn-ops", opts->etcd_max_txn_ops, "etcd's --max-txn-ops (bounds a batch's transaction)")
      ->capture_default_str()
      ->check(CLI::Range(16u, 100000u));
  cmd->callback([opts] { set_exit_code(run_controller(*opts)); });
}

NIMBUS_REGISTER_COMMAND(register_controller);

} // namespace
} // namespace nimbus::cli

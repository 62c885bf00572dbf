#pragma once
// The host agent (`nimbus host`): one per machine. It registers the host in etcd under a lease,
// keeps the lease alive (and fences itself, killing every VM, when it cannot), watches
// `assign/<host>/` and runs what is assigned there, one VMM process per VM, and publishes what
// it observes (`hoststatus/<host>`, `vmstatus/<vm-id>`). The REST API (agent_api.hpp) calls the
// public methods below. With `simulate`, VMs are fakes with a synthetic CPU load (no processes);
// with `hosts.size() > 1`, one agent plays several simulated hosts sharing one lease and one watch.
//
// Threads: the supervisor (every process operation: fork/exec, reaping, signals, stats sampling,
// reconcile), the lease keeper (keepalive, registration), the fencing watchdog, the publisher
// (etcd status writes), and the etcd watch. Public methods may be called from any thread.
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloud/etcd/etcd_client.hpp"
#include "cloud/host/host_network.hpp"
#include "cloud/host/reconcile.hpp"
#include "cloud/host/vm_spec.hpp"

namespace nimbus::cloud::host {

// An API request the agent refuses: HTTP status and message.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct HostAgentOptions {
  std::vector<std::string> hosts;  // the host names this agent plays (one, unless simulating many)
  std::string rack;
  int64_t harts = 1;               // capacity per host
  int64_t memory_mib = 1024;
  int64_t disk_gib = 0;
  std::string dir;                 // VM TOMLs, VMM state dirs, logs
  std::string disks_dir;           // when set, every VM disk must lie under it
  std::string api;                 // the API address advertised in hosts/<host> ("http://H:P"), may be empty

  // etcd; no endpoints: no etcd (API-only agent, for tests and local use)
  std::vector<std::string> etcd_endpoints;
  std::string etcd_prefix = "/nimbus/";
  std::string etcd_ca, etcd_cert, etcd_key;
  // Live moves over TLS (docs/migration.md, "TLS"): all three set: this host's certificate and
  // key (nimbus host --tls-cert/--tls-key) and the cloud's CA (--tls-ca). Then incoming VMMs
  // wait on tls:HOST:0 and this host sends VMs only to tls: destinations.
  std::string migration_tls_cert, migration_tls_key, migration_tls_ca;
  bool migration_tls() const { return !migration_tls_cert.empty() && !migration_tls_key.empty() && !migration_tls_ca.empty(); }
  int64_t lease_ttl = 5;                                   // seconds
  std::chrono::milliseconds status_interval{2000};         // hoststatus period

  bool simulate = false;
  std::string nimbus_executable;   // the VMM binary; empty: this process's own (/proc/self/exe)
  // Non-empty: every VMM runs jailed as this user (`nimbus run --jail --jail-user USER`, needs
  // root; docs/security.md). Snapshots are then written inside the VM's state directory, the only
  // one its VMM sees, and moved to where they were asked for.
  std::string vmm_jail_user;
  // When vmm_jail_uid_count > 0, every VMM is jailed as a user of its own: uid and gid N from
  // [vmm_jail_uid_first, + count), never two live VMMs with one, so VMMs cannot reach each
  // other's files or processes even as the same kind of user (docs/security.md).
  uint32_t vmm_jail_uid_first = 0, vmm_jail_uid_count = 0;
  bool jailed() const { return !vmm_jail_user.empty() || vmm_jail_uid_count > 0; }
  // cgroup limits for jailed VMMs, for the controllers this host has (the CLI checks): memory
  // (the VM's RAM + kVmmMemoryHeadroomMib), CPU (its harts + a quarter core), threads.
  bool vmm_limit_memory = false, vmm_limit_cpu = false, vmm_limit_pids = false;
  std::chrono::milliseconds stop_grace{5000};              // SIGTERM, then SIGKILL
  // Tenant networks (host_network.hpp): the UDP port other hosts send this host's networks to
  // (0: any free port; it is published with each NIC in etcd, net/ports/...).
  uint16_t net_port = 0;
};

// The arguments of `nimbus migrate` for a move to `to` (tcp: or tls:) from an agent with
// `options`: the TLS files for tls:. Throws std::runtime_error when this agent cannot send there
// (tls: without certificates; tcp: when this agent has TLS configured: it never sends a VM in
// the clear).
std::vector<std::string> migrate_transport_args(const HostAgentOptions& options, const std::string& to);

class HostAgent {
 public:
  explicit HostAgent(HostAgentOptions options);
  ~HostAgent();  // shutdown()
  HostAgent(const HostAgent&) = delete;
  HostAgent& operator=(const HostAgent&) = delete;

  // Creates the directories and starts the threads (registration happens in the background: the
  // agent keeps trying until etcd answers).
  void start();
  // Stops every VM cleanly (SIGTERM, then SIGKILL after stop_grace), revokes the lease, joins.
  void shutdown();

  // --- the REST API's operations (ApiError on refusal) ---
  nlohmann::json host_info(const std::string& host = {}) const;   // GET /v1/host
  nlohmann::json hosts() const;                                      // GET /v1/hosts
  nlohmann::json list_vms() const;                                   // GET /v1/vms
  nlohmann::json get_vm(const std::string& id) const;                // GET /v1/vms/{id}
  // PUT /v1/vms/{id}: returns {created, vm}; the same spec again is not a conflict.
  std::pair<bool, nlohmann::json> put_vm(const std::string& host, const VmSpec& spec);
  void vm_action(const std::string& id, const std::string& action);  // start | stop | reboot
  void delete_vm(const std::string& id);
  nlohmann::json vm_stats(const std::string& id) const;
  void set_load(const std::string& id, double load);                 // simulate only
  // POST /v1/vms/{id}/snapshot: `nimbus snapshot` against the VM's VMM into `to` (an absolute
  // directory; empty: <dir>/snapshots/<id>-<time>). Returns {path, report}.
  nlohmann::json snapshot_vm(const std::string& id, const std::string& to);
  // POST /v1/vms/{id}/migrate: `nimbus migrate` of an API-created VM to a VMM waiting at `to`
  // (tcp:HOST:PORT, e.g. another agent's VM PUT with "incoming": true). Blocks until it ends;
  // returns the VMM's report, or ApiError 502 with the reason (the VM then runs on here).
  nlohmann::json migrate_vm(const std::string& id, const std::string& to, int64_t max_downtime_ms);
  std::string metrics() const;                                       // Prometheus text
  // The tenant networks' switch (nullptr in simulate mode).
  const HostNetwork* network() const { return net_.get(); }

  // Console: the log file and the VMM's console socket (ApiError 404 for unknown VMs; 409 in
  // simulate mode, which has no consoles).
  std::string console_log(const std::string& id) const;
  std::string console_socket(const std::string& id) const;
  bool vm_active(const std::string& id) const;

  // For tests and the CLI.
  bool registered() const { return registered_.load(); }
  bool fenced() const;
  const HostAgentOptions& options() const { return options_; }
  void set_api_address(const std::string& api);

 private:
  struct Vm {
    VmSpec spec;
    std::string host;
    bool from_etcd = false;
    VmState state = VmState::Starting;
    pid_t pid = 0;          // VMM (and its process group); 0: none
    bool spawn_wanted = false;
    bool spawning = false;  // the supervisor is forking it (outside the lock)
    bool killed_by_fence = false;
    bool stop_requested = false;   // Stopping because we asked (SIGTERM)
    bool remove_after_stop = false;
    bool restart_after_stop = false;
    VmSpec restart_spec;
    int exit_code = 0;
    std::string reason;
    std::chrono::steady_clock::time_point stop_deadline;
    std::chrono::steady_clock::time_point sampled_at;
    double cpu_seconds = 0;
    double cpu_load = 0;
    double load_override = -1;  // simulate: set through the API
    std::string started;        // wall time of the last start (ISO 8601)
    int64_t starts = 0;         // fresh boots of its VMM by this agent (live arrivals are not)
    std::string previous_end;   // how the run before the last start ended ("fenced: ...")
    // Live moves (docs/cloud.md "Moves").
    bool incoming = false;          // this copy is a VMM waiting for the VM (not adopted yet)
    std::string incoming_address;   // where it listens, once its log said so
    std::uintmax_t log_offset = 0;  // vmm.log's size when this copy started (older lines are stale)
    std::string sent_to;            // the address this copy is being (or was) sent to
    bool sending = false;           // `nimbus migrate` for it is running
    bool migrated = false;          // ... and succeeded: the VMM's exit is the VM leaving
  };
  // How one `nimbus migrate` or `nimbus snapshot` run ended.
  struct ToolResult {
    bool ok = false;
    std::string output;  // the report (its last line), or the error
  };
  ToolResult run_tool(const std::vector<std::string>& args, const std::string& log_file) const;
  void send_vm(const std::string& id, const std::string& address);  // a thread per live move out
  void find_incoming_addresses();                                    // lock held
  std::string listen_host() const;

  std::string dir_for(const std::string& id) const;
  nlohmann::json vm_json(const Vm& vm) const;
  const Vm& find(const std::string& id) const;  // lock held; ApiError 404
  void set_state(Vm& vm, VmState s, const std::string& reason = {});  // lock held
  // Tenant networks: publishes a running VM's NICs (net/ports/...) and withdraws them (and the
  // VMM's attachment to the switch) when it stops. Lock held.
  void network_state_changed(Vm& vm);
  void publish_nics(const Vm& vm, bool present);  // lock held
  void on_net_events(const std::vector<etcd::WatchEvent>& events);
  void request_start(Vm& vm);                                        // lock held
  void request_stop(Vm& vm);                                         // lock held
  // API VMs only (the controller places etcd VMs): ApiError 409 when the active VMs of `host`
  // plus `spec` exceed its vCPUs or memory.
  void check_fits(const std::string& host, const VmSpec& spec) const;  // lock held

  // supervisor
  void supervise();
  void watchdog();
  void spawn(const std::string& id, const VmSpec& spec);
  void reap_and_time_out();
  void sample_stats();
  void apply_reconcile();
  double simulated_load(const Vm& vm) const;

  // etcd
  void keep_lease();
  bool register_hosts();
  // Ranges the assignments, replaces the assigned set, watches from the next revision; with a
  // new lease (registration) also marks the agent registered. Returns (count, revision).
  std::pair<size_t, int64_t> list_and_watch(int64_t new_lease);
  void fence(const std::string& why);
  size_t fence_locked();  // mutex_ held; returns how many VMs were killed
  void publish();
  void on_watch_events(const std::vector<etcd::WatchEvent>& events);
  void apply_assign(const std::string& key, const std::string* value);  // lock held
  nlohmann::json host_record(const std::string& host) const;
  nlohmann::json host_status(const std::string& host) const;         // lock held
  // Every played host's status in one pass over the VMs (host_status per host is O(hosts x VMs)
  // for an agent playing many simulated hosts). Lock held.
  std::map<std::string, nlohmann::json> host_statuses() const;
  template <typename F>
  auto timed(F&& f) -> decltype(f());

  HostAgentOptions options_;
  std::string exe_;
  std::set<std::string> host_set_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;       // supervisor
  std::condition_variable publish_cv_; // publisher
  std::condition_variable stop_cv_;    // watchdog
  std::map<std::string, Vm> vms_;
  std::map<std::string, VmSpec> assigned_;  // from etcd: id -> spec (host in spec_hosts_)
  std::map<std::string, std::string> assigned_host_;
  bool reconcile_dirty_ = false;
  // Keys published under the lease besides vmstatus: incoming/<id> and migration/<id>.
  std::map<std::string, std::string> extra_puts_;
  std::set<std::string> extra_dels_;
  // Live moves out, one thread each; finished ones are joined when the next starts, the rest at
  // shutdown.
  struct Sender {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Sender> senders_;
  std::set<std::string> status_dirty_;      // vmstatus to publish
  std::set<std::string> status_gone_;       // vmstatus to delete
  // Publisher thread only: the lease each vmstatus key was last written with by this agent, so
  // a batch can compare "still ours" (or "absent" for a key not written under this lease).
  std::map<std::string, int64_t> published_lease_;
  bool fenced_ = false;
  bool stopping_ = false;
  bool shut_down_ = false;
  bool started_ = false;
  std::string started_wall_;

  std::unique_ptr<etcd::Client> etcd_;
  std::unique_ptr<etcd::Client> keepalive_client_;
  std::unique_ptr<etcd::Watch> watch_;
  std::unique_ptr<etcd::Watch> net_watch_;   // net/ (keys and ports of tenant networks)
  std::unique_ptr<HostNetwork> net_;
  std::mutex watch_mutex_;
  std::atomic<int64_t> lease_{0};
  std::atomic<bool> registered_{false};
  std::atomic<bool> relist_{false};
  // steady-clock send time of the last keepalive that succeeded (ns since the clock's epoch);
  // the supervisor fences when it is older than TTL - 1 s.
  std::atomic<int64_t> last_ok_send_ns_{0};

  // --vmm-jail-uids: the uid each live VMM holds, by VM id; a VM keeps its uid across restarts
  // until its VMM is reaped.
  uint32_t take_jail_uid(const std::string& id);
  void release_jail_uid(const std::string& id);
  std::mutex jail_uid_mutex_;
  std::map<std::string, uint32_t> jail_uids_;

  // metrics
  mutable std::mutex metrics_mutex_;
  std::map<std::string, uint64_t> exits_;   // by kind: powered_off, failed, stopped, fenced
  uint64_t lease_renew_failures_ = 0;
  uint64_t fences_ = 0;
  uint64_t registrations_ = 0;
  std::vector<double> latency_buckets_{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  std::vector<uint64_t> latency_counts_ = std::vector<uint64_t>(11, 0);
  double latency_sum_ = 0;
  uint64_t latency_count_ = 0;
  uint64_t etcd_errors_ = 0;

  std::thread supervisor_, lease_thread_, publisher_, watchdog_;
};

} // namespace nimbus::cloud::host

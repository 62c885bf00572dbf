#pragma once
// The cloud controller: desired state in etcd, placement through the OnlineEngine over a cache
// fed by one etcd watch, every decision one guarded transaction, leader election for the
// background work (host loss, drain, consolidation). The REST API (api_server.hpp) calls the
// operations here; each returns JSON or throws ApiError.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloud/controller/fleet.hpp"
#include "cloud/controller/live_move.hpp"
#include "cloud/controller/logic.hpp"
#include "cloud/controller/metrics.hpp"
#include "cloud/controller/model.hpp"
#include "cloud/etcd/etcd_client.hpp"

namespace nimbus::cloud::controller {

struct ControllerOptions {
  std::vector<std::string> etcd_endpoints{"http://127.0.0.1:2379"};
  std::string etcd_ca, etcd_cert, etcd_key;  // TLS to https:// endpoints: CA bundle, client certificate and key
  std::string etcd_prefix = "/nimbus/";
  std::string id;            // this replica's name (default: hostname-pid)
  std::string api_url;       // how clients reach this replica (for the leader record)
  std::string admin_token;   // the admin bearer token (from --admin-token-file)
  std::string agent_token;   // sent to agents when proxying consoles
  std::string agent_ca;      // CA (PEM) verifying agents' https:// APIs (empty: the system's roots)
  std::string disks_dir;     // the shared directory holding the VMs' disks
  std::chrono::milliseconds grace{2000};          // after a host's lease expired, before re-placing
  int64_t leader_ttl_seconds = 5;
  std::chrono::milliseconds reconcile_interval{500};
  std::chrono::milliseconds consolidate_interval{10000};  // 0: no consolidation
  bool live_moves = true;                  // false: every move is stop-and-restart
  double live_ready_timeout_seconds = 60;  // the destination's incoming VMM must listen within it
  int64_t event_retention_seconds = 86400;
  int max_retries = 30;
  std::size_t max_batch = 24;          // creates (or evacuation moves) per group-commit transaction
  std::size_t etcd_max_txn_ops = 128;  // etcd's --max-txn-ops: no batch's transaction exceeds it
  // Create batches committing at once: the next batch is decided on the tentative state of those
  // in flight (their allocs and usages guarded by value, see KeyAfter). 1: one at a time.
  std::size_t max_batches_in_flight = 1;
  // Tests only: called on the committing thread just before a create batch's transaction is sent
  // (its sequence number from 1, and whether it was decided while another batch was in flight).
  std::function<void(uint64_t seq, bool chained)> before_create_commit;
  FleetOptions fleet;
  ConsolidationPolicy consolidation;
};

// Who called: the admin, or one tenant.
struct Caller {
  bool admin = false;
  std::string tenant;
};

class Controller {
 public:
  explicit Controller(ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Loads the store, seeds flavors, starts the watch, the leader election and the reconciler.
  // Throws etcd::EtcdError when etcd cannot be reached.
  void start();
  void stop();
  bool is_leader() const { return leader_.load(); }
  const ControllerOptions& options() const { return options_; }
  // How clients reach this replica (once the API is bound; before start()).
  void set_api_url(std::string url) { options_.api_url = std::move(url); }
  Metrics& metrics() { return metrics_; }

  // nullopt: the token is unknown.
  std::optional<Caller> authenticate(const std::string& bearer) const;

  // The API's operations. Results are JSON; failures throw ApiError (or etcd::EtcdError).
  nlohmann::json create_tenant(const Caller& c, const std::string& body);
  nlohmann::json list_tenants(const Caller& c);
  nlohmann::json show_tenant(const Caller& c, const std::string& tenant);
  nlohmann::json set_quota(const Caller& c, const std::string& tenant, const std::string& body);
  nlohmann::json usage(const Caller& c, const std::string& tenant);  // "" : the caller's, or all for admin
  nlohmann::json list_flavors(const Caller& c);
  nlohmann::json create_flavor(const Caller& c, const std::string& body);
  nlohmann::json list_images(const Caller& c);
  nlohmann::json create_image(const Caller& c, const std::string& body);
  // Tenant networks (docs/cloud.md, "Tenant networks"); `tenant_hint` as for VMs.
  nlohmann::json create_network(const Caller& c, const std::string& body);
  nlohmann::json list_networks(const Caller& c, const std::string& tenant_filter);
  nlohmann::json show_network(const Caller& c, const std::string& name, const std::string& tenant_hint);
  nlohmann::json delete_network(const Caller& c, const std::string& name, const std::string& tenant_hint);
  nlohmann::json create_vm(const Caller& c, const std::string& body);
  nlohmann::json list_vms(const Caller& c, const std::string& tenant_filter);
  nlohmann::json show_vm(const Caller& c, const std::string& ref, const std::string& tenant_hint);
  nlohmann::json delete_vm(const Caller& c, const std::string& ref, const std::string& tenant_hint);
  nlohmann::json vm_action(const Caller& c, const std::string& ref, const std::string& tenant_hint,
                           const std::string& action, const std::string& body);
  nlohmann::json list_hosts(const Caller& c);
  nlohmann::json drain_host(const Caller& c, const std::string& host, bool drain);
  nlohmann::json list_events(const Caller& c, std::size_t limit);
  std::string metrics_text();

  // For the console proxy: the agent endpoint and VM id of a VM the caller may reach.
  struct ConsoleTarget {
    std::string api;
    std::string vm_id;
    std::string host;
  };
  ConsoleTarget console_target(const Caller& c, const std::string& ref, const std::string& tenant_hint);

  // Background work, public so tests can drive a round directly.
  void reconcile_once();
  ConsolidationResult consolidate_once();

 private:
  template <typename T>
  struct Versioned {
    T value{};
    int64_t revision = 0;
  };
  struct LostHost {
    HostInfo info;
    std::chrono::steady_clock::time_point since;
    bool announced = false;
    std::set<std::string> stranded;  // VMs already reported as finding no room
  };

  // Cache fed by the watch (and by our own committed transactions).
  void load_all();
  void apply(const etcd::KeyValue& kv, bool deleted);
  void apply_plan_locally(const TxnPlan& plan, int64_t revision);
  // A guarded transaction that failed: counted, and the keys its failure branch read are applied
  // to the cache, so the retry decides on what etcd holds now.
  void absorb_conflict(const etcd::TxnResult& failed);
  void watch_loop();
  void leader_loop();
  void reconcile_loop();
  void seed();

  Caller require_admin(const Caller& c) const;
  void require_tenant_access(const Caller& c, const std::string& tenant) const;
  // Finds a VM the caller may see; 404 otherwise. Locked cache access.
  Versioned<VmRecord> find_vm(const Caller& c, const std::string& ref, const std::string& tenant_hint) const;
  nlohmann::json vm_json(const VmRecord& rec) const;  // with observed state; cache lock held
  std::string derived_state(const VmRecord& rec) const;  // cache lock held

  // Snapshots of the fleet for placement (cache lock held).
  void fleet_hosts(std::vector<FleetHost>& hosts) const;
  void fleet_snapshot(std::vector<FleetHost>& hosts, std::vector<FleetVm>& vms, bool include_stopped = true) const;
  FleetVm fleet_vm(const VmRecord& r, const std::string& host) const;
  // The placement cache: one FleetModel kept in step with the etcd cache. Changes to hosts,
  // cordons or a reload rebuild it; a changed alloc or VM record only re-syncs that host, so a
  // decision costs the engine's bounded search, not a pass over the fleet. Cache lock held.
  FleetModel& placement_model();
  void resync_model_host(const std::string& host);
  // Moves one VM by stop-and-restart in one txn; false on conflict or when it no longer fits.
  bool move_vm(const std::string& vm_id, const std::string& to, bool require_old_host_absent, const std::string& why,
               const std::string& how = "moved by stop-and-restart");
  // Moves a VM the best way it can: live (start_live_move) when it runs and its mode is not
  // known to refuse live migration, else stop-and-restart (move_vm), naming why in the event.
  // True when the move started (live) or was done (restart).
  bool move_vm_auto(const std::string& vm_id, const std::string& to, const std::string& why);
  // Why a VM cannot move live now ("" : it can). Cache lock held.
  std::string live_refusal(const VmRecord& rec) const;
  bool live_suspect(const std::string& host) const;          // cache lock held
  bool settling_after_live_move(const VmRecord& rec);        // cache lock held
  bool start_live_move(const std::string& vm_id, const std::string& to, const std::string& why);
  // One step for every VM in state `migrating` (live_move.hpp); leader only.
  void advance_live_moves();
  void report_restarts();
  bool apply_live_step(const std::string& vm_id, const LiveDecision& d);
  // Live moves in flight by host (as source or destination). Cache lock held.
  std::map<std::string, std::size_t> moves_in_flight() const;
  etcd::TxnResult txn(const TxnPlan& plan, const std::vector<etcd::Op>& failure = {});
  // Moves a batch of (VM id, lost host) to hosts the placement cache picks, in one transaction
  // (move_vms_txn). False on a conflict (the cache is refreshed; call again).
  bool evacuate_batch(const std::vector<std::pair<std::string, std::string>>& items);
  // Group commit of creates: requests queue up; the request thread that finds no batch being
  // decided (and room in the pipeline) decides the queued creates one after another on the
  // placement cache and commits them in one transaction (create_vms_txn), then hands each its
  // answer.
  struct PendingCreate {
    VmRecord rec;
    Image image;
    Flavor flavor;
    std::chrono::steady_clock::time_point started;
    bool dequeued = false;          // its wait in the queue is measured (placement_queue)
    int attempts = 0;               // transactions of its batches refused so far
    std::atomic<bool> done{false};  // set last, after result or error
    nlohmann::json result;
    std::exception_ptr error;
  };
  // Deletes are group-committed the same way (delete_vms_txn), on a queue of their own.
  struct PendingDelete {
    std::string id;  // the VM, as find_vm resolved it for the caller
    std::chrono::steady_clock::time_point started;
    std::atomic<bool> done{false};
    nlohmann::json result;
    std::exception_ptr error;
  };
  // Queues `pending` and returns once it is done: the calling thread either waits for the batch
  // committing it, or, when no batch of this queue is running, commits what is queued itself.
  template <typename P>
  void group_commit(std::deque<std::shared_ptr<P>>& queue, bool& running, const std::shared_ptr<P>& pending,
                    std::vector<etcd::Op> (Controller::*commit)(std::vector<std::shared_ptr<P>>&));
  std::vector<etcd::Op> commit_deletes(std::vector<std::shared_ptr<PendingDelete>>& batch);
  // Creates are pipelined (create_pipelined): up to max_batches_in_flight batches commit at once.
  // A batch is decided on the placement cache plus the tentative state of the batches in flight
  // (in_flight_*_ below); its transaction compares what they put by value, so if one of them
  // fails, every batch decided on top of it fails too and is decided again (never overcommits).
  struct CreateBatch {
    uint64_t seq = 0;
    bool chained = false;  // decided on a batch still in flight
    std::vector<std::shared_ptr<PendingCreate>> in_txn, deferred;
    // Refusals (quota, no capacity) decided on tentative state: the batches in flight, or the
    // creates placed before them in this batch. Answered only once that state has committed (this
    // batch and every one of `after`); otherwise decided again, like the creates of a refused batch.
    struct Refusal {
      std::shared_ptr<PendingCreate> pending;
      std::string result;
      std::exception_ptr error;
    };
    std::vector<Refusal> provisional;
    std::vector<BatchedCreate> creates;
    TxnPlan plan;
    std::vector<etcd::Op> failure;
    std::vector<std::string> hosts, tenants, names;  // what it registered in in_flight_*_
    std::vector<uint64_t> after;  // the batches in flight when it was decided
  };
  // A chained batch refused while those under it were still in flight may just have reached etcd
  // first: true once every one of `b.after` has ended and committed (send it again, unchanged).
  bool predecessors_committed(const CreateBatch& b);
  void create_pipelined(const std::shared_ptr<PendingCreate>& pending);
  // Decides `batch` (answering refusals at once); returns the batch to commit (creates empty:
  // nothing to commit). Placement lock taken inside.
  CreateBatch decide_creates(std::vector<std::shared_ptr<PendingCreate>>& batch, uint64_t seq);
  // Sends the batch's transaction, applies or absorbs the outcome, releases its in-flight state;
  // true when it committed. Appends the 'created' events to record to `events`.
  bool commit_create_batch(CreateBatch& b, std::vector<etcd::Op>& events);
  void release_in_flight(const CreateBatch& b);  // cache lock held
  // Answers the batch's provisional refusals when what they were decided on committed (the batch
  // itself, `committed`, and every batch of b.after, waited for with `lock` released), else queues
  // them to be decided again. `lock` holds batch_mu_.
  void settle_refusals(CreateBatch& b, bool committed, std::unique_lock<std::mutex>& lock);
  // Answers a create: its latency and result counted, then done.
  void finish_create(PendingCreate& p, const std::string& result, std::exception_ptr error, nlohmann::json answer = {});
  void put_events(const std::vector<etcd::Op>& events);  // one transaction; a failure is logged
  etcd::Op event_op(const std::string& tenant, const std::string& vm, const std::string& host, const std::string& kind,
                    const std::string& message);
  void event(const std::string& tenant, const std::string& vm, const std::string& host, const std::string& kind,
             const std::string& message);
  int64_t event_lease();
  void log(const std::string& text) const;

  ControllerOptions options_;
  Keys keys_;
  std::unique_ptr<etcd::Client> client_;
  Metrics metrics_;

  mutable std::mutex mu_;  // guards the cache below
  std::condition_variable changed_;
  std::map<std::string, Versioned<HostInfo>> hosts_;
  std::map<std::string, HostInfo> last_host_info_;
  std::map<std::string, LostHost> lost_;
  std::map<std::string, HostStatusRecord> hoststatus_;
  std::map<std::string, Versioned<HostAdmin>> hostadmin_;
  std::map<std::string, Versioned<Alloc>> alloc_;
  std::map<std::string, Versioned<Tenant>> tenants_;
  std::map<std::string, std::string> token_index_;  // sha256 -> tenant
  std::map<std::string, Versioned<Usage>> usage_;
  std::map<std::string, Flavor> flavors_;
  std::map<std::string, Image> images_;
  std::map<std::string, Versioned<VmRecord>> vms_;      // by id
  std::map<std::string, std::string> vm_index_;         // tenant/name -> id
  std::map<std::string, NetworkRecord> networks_;       // tenant/name -> network
  std::map<std::string, VmObserved> vmstatus_;
  std::vector<std::pair<std::string, VmObserved>> restarts_seen_;  // by the watch, for report_restarts()
  std::map<std::string, IncomingRecord> incoming_;      // incoming/<id>: destination VMMs listening
  std::map<std::string, MigrationResult> migration_results_;  // migration/<id>: how sending ended
  std::set<std::string> live_unsupported_modes_;        // modes whose VMM refused live migration
  std::map<std::string, int> live_failures_;            // VM id -> failed live moves in a row
  // Destinations of a live move that just failed get no new moves for a while (a dead agent's
  // host stays registered until its lease expires).
  std::map<std::string, std::chrono::steady_clock::time_point> live_suspect_until_;
  // VMs that just moved live: they run on the destination, but until its agent says so they
  // look "scheduled", and a drain or consolidation must not take that for "not running" and
  // restart them (see settling_after_live_move).
  std::map<std::string, std::chrono::steady_clock::time_point> moved_live_at_;
  std::string admin_sha_from_store_;
  std::unique_ptr<FleetModel> model_;      // see placement_model()
  bool model_stale_ = true;
  std::set<std::string> model_dirty_;      // hosts whose alloc or VM records changed
  // What the create batches in flight put (the latest one's value) and how many put it. A host
  // in flight is not re-synced in the placement model (its tentative seats stay), and a rebuild
  // seats its in-flight alloc; decisions start from these values, compared by value.
  template <typename T>
  struct InFlight {
    T value;
    std::string dumped;  // exactly as the transaction puts it
    int batches = 0;
  };
  std::map<std::string, InFlight<Alloc>> in_flight_allocs_;  // by host
  std::map<std::string, InFlight<Usage>> in_flight_usages_;  // by tenant
  std::map<std::string, int> in_flight_names_;               // tenant/name of creates in flight
  bool leader_key_present_ = true;
  int64_t watch_revision_ = 0;
  int64_t cache_revision_ = 0;  // the newest etcd revision any state in the cache comes from

  std::mutex placement_mu_;  // one decision at a time per replica (others race through etcd)
  std::mutex batch_mu_;      // the queue of creates waiting for a group commit
  std::condition_variable batch_cv_;
  std::deque<std::shared_ptr<PendingCreate>> batch_queue_;
  bool batch_running_ = false;               // a create batch is being decided
  std::size_t create_batches_in_flight_ = 0;  // under batch_mu_, as the fields below
  bool create_drain_ = false;                 // a batch failed: no new decision until none is in flight
  uint64_t create_batches_finished_ = 0;
  std::optional<uint64_t> create_stalled_at_;  // a decision deferred everything: wait for a batch to finish
  uint64_t create_batch_seq_ = 0;
  std::set<uint64_t> create_seqs_in_flight_;
  std::map<uint64_t, bool> create_outcomes_;  // recent batches: committed or not
  std::deque<std::shared_ptr<PendingDelete>> delete_queue_;  // under batch_mu_
  bool delete_running_ = false;
  std::mutex event_mu_;
  int64_t event_lease_ = 0;
  std::chrono::steady_clock::time_point event_lease_until_{};
  std::atomic<uint64_t> event_counter_{0};

  std::atomic<bool> leader_{false};
  std::atomic<bool> stopping_{false};
  bool engaged_ = false;  // consolidation hysteresis
  std::chrono::steady_clock::time_point last_consolidation_{};
  std::string admin_sha_;
  std::unique_ptr<etcd::Watch> watch_;
  std::thread watch_thread_, leader_thread_, reconcile_thread_;
};

} // namespace nimbus::cloud::controller

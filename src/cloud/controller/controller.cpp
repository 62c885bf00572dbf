#include "cloud/controller/controller.hpp"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <random>

#include <fmt/format.h>

namespace nimbus::cloud::controller {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Pseudo-VMs standing for allocated resources whose VM records this replica has not seen yet.
const std::string kResidualPrefix = "~residual~";
// The room a live move's destination holds for the VM until the switch-over.
const std::string kIncomingPrefix = "~incoming~";

std::string default_id() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return fmt::format("{}-{}", host, ::getpid());
}

// Wraps an etcd call: times it and turns a transport failure into the API's 503.
template <typename F>
auto timed(Metrics& m, F&& f) -> decltype(f()) {
  ScopedTimer t(m.etcd_latency);
  return f();
}

void backoff(int attempt) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  const int ceiling = std::min(50, 2 + attempt * 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(1, ceiling)(rng)));
}

} // namespace

Controller::Controller(ControllerOptions options) : options_(std::move(options)) {
  keys_.prefix = options_.etcd_prefix;
  if (keys_.prefix.empty() || keys_.prefix.back() != '/') keys_.prefix += '/';
  if (options_.id.empty()) options_.id = default_id();
  if (!options_.admin_token.empty()) admin_sha_ = sha256_hex(options_.admin_token);
  etcd::ClientOptions co;
  co.endpoints = options_.etcd_endpoints;
  co.ca_file = options_.etcd_ca;
  co.cert_file = options_.etcd_cert;
  co.key_file = options_.etcd_key;
  client_ = std::make_unique<etcd::Client>(co);
}

Controller::~Controller() { stop(); }

void Controller::log(const std::string& text) const {
  std::fprintf(stderr, "%s controller %s: %s\n", now_rfc3339().c_str(), options_.id.c_str(), text.c_str());
  std::fflush(stderr);
}

void Controller::start() {
  load_all();
  seed();
  watch_thread_ = std::thread([this] { watch_loop(); });
  leader_thread_ = std::thread([this] { leader_loop(); });
  reconcile_thread_ = std::thread([this] { reconcile_loop(); });
  log(fmt::format("started (etcd {}, prefix {})", options_.etcd_endpoints.front(), keys_.prefix));
}

void Controller::stop() {
  if (stopping_.exchange(true)) return;
  changed_.notify_all();
  if (leader_thread_.joinable()) leader_thread_.join();
  if (reconcile_thread_.joinable()) reconcile_thread_.join();
  if (watch_thread_.joinable()) watch_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (watch_) watch_->stop();
  }
  watch_.reset();
}

// ---------------------------------------------------------------------------------------------
// Cache

void Controller::load_all() {
  // The prefix is read outside the cache's lock. A commit this replica applied meanwhile
  // (apply_plan_locally), a watch event or a conflict's reads may be newer than that read, and
  // rebuilding the cache from it would wipe them (a watch event is not delivered again): read
  // again until the read is at least as new as the cache.
  etcd::RangeResult range;
  std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
  for (int attempt = 0;; ++attempt) {
    range = timed(metrics_, [&] { return client_->get_prefix(keys_.prefix); });
    lock.lock();
    if (range.revision >= cache_revision_) break;
    lock.unlock();
    if (attempt == 100) throw etcd::EtcdError("the cache kept moving past the reads of the whole prefix", false);
  }
  hosts_.clear();
  hoststatus_.clear();
  hostadmin_.clear();
  alloc_.clear();
  tenants_.clear();
  token_index_.clear();
  usage_.clear();
  flavors_.clear();
  images_.clear();
  vms_.clear();
  vm_index_.clear();
  networks_.clear();
  vmstatus_.clear();
  leader_key_present_ = false;
  model_stale_ = true;
  model_dirty_.clear();
  for (const auto& kv : range.kvs) apply(kv, false);
  watch_revision_ = range.revision;
  cache_revision_ = range.revision;
}

void Controller::apply(const etcd::KeyValue& kv, bool deleted) {
  const std::string& key = kv.key;
  std::string name;
  auto stale = [&](int64_t cached) { return kv.mod_revision != 0 && cached > kv.mod_revision; };
  // The watch's echo of a transaction this replica already applied (apply_plan_locally): same
  // key, same revision, so the same value; parsing it again would also re-sync its host in the
  // placement cache for nothing.
  auto seen = [&](int64_t cached) { return !deleted && kv.mod_revision != 0 && cached == kv.mod_revision; };
  if (!(name = Keys::tail(key, keys_.hosts())).empty()) {
    model_stale_ = true;
    auto it = hosts_.find(name);
    if (deleted) {
      if (it != hosts_.end() && !stale(it->second.revision)) {
        last_host_info_[name] = it->second.value;
        hosts_.erase(it);
        lost_[name] = LostHost{last_host_info_[name], Clock::now(), false};
        log(fmt::format("host {} lost (its lease expired or it left)", name));
      }
    } else if (it == hosts_.end() || !stale(it->second.revision)) {
      HostInfo h;
      const bool parsed = parse_record(kv.value, h);
      if (h.name.empty()) h.name = name;
      if (it == hosts_.end())
        log(fmt::format("host {} registered ({} vCPUs, {} MiB, {} GiB disk){}", name, h.capacity.vcpus, h.capacity.memory_mib,
                        h.capacity.disk_gib,
                        !parsed                      ? ": its record is not a host record; it takes no VMs"
                        : !takes_new_vms(h.capacity) ? ": no capacity in some resource; it takes no VMs"
                                                     : ""));
      hosts_[name] = {h, kv.mod_revision};
      last_host_info_[name] = h;
      lost_.erase(name);
    }
  } else if (!(name = Keys::tail(key, keys_.hoststatus())).empty()) {
    if (deleted) hoststatus_.erase(name);
    else parse_record(kv.value, hoststatus_[name]);
  } else if (!(name = Keys::tail(key, keys_.hostadmin())).empty()) {
    model_stale_ = true;
    auto& v = hostadmin_[name];
    if (stale(v.revision)) return;
    if (deleted) hostadmin_.erase(name);
    else {
      parse_record(kv.value, v.value);
      v.revision = kv.mod_revision;
    }
  } else if (!(name = Keys::tail(key, keys_.allocs())).empty()) {
    auto& v = alloc_[name];
    if (stale(v.revision) || seen(v.revision)) return;
    model_dirty_.insert(name);
    if (deleted) alloc_.erase(name);
    else {
      parse_record(kv.value, v.value);
      v.revision = kv.mod_revision;
    }
  } else if (!(name = Keys::tail(key, keys_.tenants())).empty()) {
    auto& v = tenants_[name];
    if (stale(v.revision)) return;
    for (auto it = token_index_.begin(); it != token_index_.end();)
      it = it->second == name ? token_index_.erase(it) : std::next(it);
    if (deleted) tenants_.erase(name);
    else {
      parse_record(kv.value, v.value);
      v.revision = kv.mod_revision;
      if (!v.value.token_sha256.empty()) token_index_[v.value.token_sha256] = name;
    }
  } else if (!(name = Keys::tail(key, keys_.prefix + "usage/")).empty()) {
    auto& v = usage_[name];
    if (stale(v.revision) || seen(v.revision)) return;
    if (deleted) usage_.erase(name);
    else {
      parse_record(kv.value, v.value);
      v.revision = kv.mod_revision;
    }
  } else if (!(name = Keys::tail(key, keys_.flavors())).empty()) {
    if (deleted) flavors_.erase(name);
    else {
      Flavor f;
      parse_record(kv.value, f);
      f.name = name;
      flavors_[name] = f;
    }
  } else if (!(name = Keys::tail(key, keys_.images())).empty()) {
    if (deleted) images_.erase(name);
    else {
      Image im;
      parse_record(kv.value, im);
      im.name = name;
      images_[name] = im;
    }
  } else if (!(name = Keys::tail(key, keys_.vms())).empty()) {
    // name is "<tenant>/<vm>"
    auto idx = vm_index_.find(name);
    if (deleted) {
      if (idx != vm_index_.end()) {
        auto it = vms_.find(idx->second);
        if (it != vms_.end() && !stale(it->second.revision)) {
          model_dirty_.insert(it->second.value.host);
          vms_.erase(it);
          vm_index_.erase(idx);
        }
      }
    } else {
      if (idx != vm_index_.end()) {
        auto it = vms_.find(idx->second);
        if (it != vms_.end() && seen(it->second.revision)) return;
      }
      VmRecord rec;
      if (!parse_record(kv.value, rec) || rec.id.empty()) return;
      auto it = vms_.find(rec.id);
      if (it != vms_.end() && stale(it->second.revision)) return;
      if (it != vms_.end()) model_dirty_.insert(it->second.value.host);
      model_dirty_.insert(rec.host);
      vms_[rec.id] = {rec, kv.mod_revision};
      vm_index_[name] = rec.id;
    }
  } else if (!(name = Keys::tail(key, keys_.networks())).empty()) {
    // name is "<tenant>/<network>"
    if (deleted) networks_.erase(name);
    else {
      NetworkRecord n;
      if (parse_record(kv.value, n) && n.vni > 0) networks_[name] = n;
    }
  } else if (!(name = Keys::tail(key, keys_.vmstatuses())).empty()) {
    if (deleted) vmstatus_.erase(name);
    else parse_record(kv.value, vmstatus_[name]);
  } else if (!(name = Keys::tail(key, keys_.incomings())).empty()) {
    if (deleted) incoming_.erase(name);
    else parse_record(kv.value, incoming_[name]);
    changed_.notify_all();
  } else if (!(name = Keys::tail(key, keys_.migrations())).empty()) {
    if (deleted) migration_results_.erase(name);
    else parse_record(kv.value, migration_results_[name]);
    changed_.notify_all();
  } else if (key == keys_.leader()) {
    leader_key_present_ = !deleted;
  } else if (key == keys_.admin()) {
    if (deleted) admin_sha_from_store_.clear();
    else {
      try {
        admin_sha_from_store_ = json::parse(kv.value).value("token_sha256", "");
      } catch (const std::exception&) {
        admin_sha_from_store_.clear();
      }
    }
  }
}

void Controller::absorb_conflict(const etcd::TxnResult& failed) {
  ++metrics_.conflicts;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& range : failed.ranges)
    for (const auto& kv : range.kvs) apply(kv, false);
  cache_revision_ = std::max(cache_revision_, failed.revision);
}

void Controller::apply_plan_locally(const TxnPlan& plan, int64_t revision) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& op : plan.ops) {
    etcd::KeyValue kv;
    kv.key = op.key;
    kv.value = op.value;
    kv.mod_revision = revision;
    if (op.kind == etcd::Op::Kind::Put) apply(kv, false);
    else if (op.kind == etcd::Op::Kind::Delete) apply(kv, true);
  }
  cache_revision_ = std::max(cache_revision_, revision);
  changed_.notify_all();
}

void Controller::watch_loop() {
  while (!stopping_) {
    std::atomic<bool> broken{false};
    int64_t from;
    {
      std::lock_guard<std::mutex> lock(mu_);
      from = watch_revision_ + 1;
    }
    try {
      auto w = client_->watch_prefix(
          keys_.prefix, from,
          [this](const std::vector<etcd::WatchEvent>& events, int64_t revision) {
            // The agents' status records (most of what the watch brings while VMs come and go)
            // are parsed before taking the cache lock, which API requests and decisions wait for.
            struct Status {
              std::string host, vm;
              HostStatusRecord host_status;
              VmObserved vm_status;
            };
            std::vector<std::optional<Status>> parsed(events.size());
            for (std::size_t i = 0; i < events.size(); ++i) {
              const auto& e = events[i];
              if (e.type == etcd::EventType::Delete) continue;
              std::string name;
              if (!(name = Keys::tail(e.kv.key, keys_.hoststatus())).empty()) {
                parsed[i].emplace();
                parsed[i]->host = name;
                parse_record(e.kv.value, parsed[i]->host_status);
              } else if (!(name = Keys::tail(e.kv.key, keys_.vmstatuses())).empty()) {
                parsed[i].emplace();
                parsed[i]->vm = name;
                parse_record(e.kv.value, parsed[i]->vm_status);
              }
            }
            std::lock_guard<std::mutex> lock(mu_);
            for (std::size_t i = 0; i < events.size(); ++i) {
              if (!parsed[i]) apply(events[i].kv, events[i].type == etcd::EventType::Delete);
              else if (!parsed[i]->host.empty()) hoststatus_[parsed[i]->host] = std::move(parsed[i]->host_status);
              else {
                VmObserved& seen = vmstatus_[parsed[i]->vm];
                if (leader_ && restarted_in_place(seen, parsed[i]->vm_status))  // the leader reports it
                  restarts_seen_.push_back({parsed[i]->vm, parsed[i]->vm_status});
                seen = std::move(parsed[i]->vm_status);
              }
            }
            watch_revision_ = std::max(watch_revision_, revision);
            cache_revision_ = std::max(cache_revision_, revision);
            changed_.notify_all();
          },
          [this, &broken](const std::string& error) {
            log("watch broke: " + error + "; reloading");
            broken = true;
            changed_.notify_all();
          });
      {
        std::lock_guard<std::mutex> lock(mu_);
        watch_ = std::move(w);
      }
      while (!stopping_ && !broken) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::unique_ptr<etcd::Watch> old;
      {
        std::lock_guard<std::mutex> lock(mu_);
        old = std::move(watch_);
      }
      if (old) old->stop();
      if (stopping_) return;
      load_all();
    } catch (const etcd::EtcdError& e) {
      log(std::string("watch: ") + e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      try {
        load_all();
      } catch (const std::exception&) {
      }
    } catch (const std::exception& e) {
      // Not etcd's: log it and reload rather than let it end the process (and the API with it).
      log(std::string("watch: ") + e.what() + "; reloading");
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
}

void Controller::seed() {
  bool empty;
  {
    std::lock_guard<std::mutex> lock(mu_);
    empty = flavors_.empty();
  }
  if (empty) {
    for (const auto& f : default_flavors()) {
      TxnPlan plan;
      plan.compares.push_back(etcd::Compare::absent(keys_.flavor(f.name)));
      plan.ops.push_back(etcd::Op::put(keys_.flavor(f.name), dump_record(f)));
      auto r = txn(plan);
      if (r.succeeded) apply_plan_locally(plan, r.revision);
    }
  }
  if (!admin_sha_.empty()) {
    TxnPlan plan;
    plan.compares.push_back(etcd::Compare::absent(keys_.admin()));
    plan.ops.push_back(etcd::Op::put(keys_.admin(), json{{"token_sha256", admin_sha_}}.dump()));
    txn(plan);
  }
}

etcd::TxnResult Controller::txn(const TxnPlan& plan, const std::vector<etcd::Op>& failure) {
  return timed(metrics_, [&] { return client_->txn(plan.compares, plan.ops, failure); });
}

// ---------------------------------------------------------------------------------------------
// Leader election and background work

void Controller::leader_loop() {
  int64_t lease = 0;
  auto last_renew = Clock::now();
  while (!stopping_) {
    try {
      if (!leader_) {
        if (lease == 0) lease = timed(metrics_, [&] { return client_->lease_grant(options_.leader_ttl_seconds); });
        TxnPlan plan;
        plan.compares.push_back(etcd::Compare::absent(keys_.leader()));
        plan.ops.push_back(etcd::Op::put(keys_.leader(), dump_record(LeaderRecord{options_.id, options_.api_url}), lease));
        if (txn(plan).succeeded) {
          leader_ = true;
          last_renew = Clock::now();
          {
            // Hosts already gone when we take over start their grace period now.
            std::lock_guard<std::mutex> lock(mu_);
            for (const auto& [host, a] : alloc_)
              if (!hosts_.count(host) && !lost_.count(host) && !a.value.vms.empty())
                lost_[host] = LostHost{last_host_info_[host], Clock::now(), false};
          }
          log("became the leader");
        } else {
          // Keep our lease alive while we wait; take over when the leader key goes away.
          if (timed(metrics_, [&] { return client_->lease_keepalive(lease); }) <= 0) lease = 0;
          std::unique_lock<std::mutex> lock(mu_);
          changed_.wait_for(lock, std::chrono::milliseconds(1000), [&] { return stopping_.load() || !leader_key_present_; });
        }
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(options_.leader_ttl_seconds * 1000 / 4));
        const int64_t ttl = timed(metrics_, [&] { return client_->lease_keepalive(lease); });
        if (ttl <= 0) {
          log("lost the leadership (lease gone)");
          leader_ = false;
          lease = 0;
        } else {
          last_renew = Clock::now();
        }
      }
    } catch (const etcd::EtcdError& e) {
      if (leader_ && Clock::now() - last_renew > std::chrono::seconds(options_.leader_ttl_seconds)) {
        log(std::string("stepping down: cannot renew the leader lease: ") + e.what());
        leader_ = false;
        lease = 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    } catch (const std::exception& e) {
      // Anything else (an answer we cannot use) must not end the process: it would take the API
      // down with it. Try again; the lease decides whether we still lead.
      log(std::string("leader loop: ") + e.what() + "; retrying");
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  }
  if (leader_ && lease != 0) {
    try {
      client_->lease_revoke(lease);
    } catch (const etcd::EtcdError&) {
    }
  }
  leader_ = false;
}

void Controller::reconcile_loop() {
  auto last_trim = Clock::now();
  while (!stopping_) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait_for(lock, options_.reconcile_interval, [&] { return stopping_.load(); });
    }
    if (stopping_) break;
    if (Clock::now() - last_trim >= std::chrono::seconds(10)) {
      // Listing 20,000 VMs builds tens of MiB of JSON on whichever of the 64 API threads serves
      // it; glibc keeps such memory in per-thread arenas (RSS grew from 50 to 700 MiB in the
      // scale run). Hand free pages back now and then.
      last_trim = Clock::now();
      ::malloc_trim(0);
    }
    if (!leader_) continue;
    try {
      reconcile_once();
      if (options_.consolidate_interval.count() > 0 && Clock::now() - last_consolidation_ >= options_.consolidate_interval) {
        last_consolidation_ = Clock::now();
        consolidate_once();
      }
    } catch (const etcd::EtcdError& e) {
      log(std::string("reconcile: etcd: ") + e.what());
    } catch (const std::exception& e) {
      log(std::string("reconcile: ") + e.what());
    }
  }
}

void Controller::fleet_hosts(std::vector<FleetHost>& hosts) const {
  std::set<std::string> names;
  for (const auto& [n, h] : hosts_) names.insert(n);
  for (const auto& [n, a] : alloc_)
    if (!a.value.vms.empty()) names.insert(n);
  for (const auto& n : names) {
    FleetHost fh;
    fh.name = n;
    auto h = hosts_.find(n);
    if (h != hosts_.end()) {
      fh.capacity = h->second.value.capacity;
    } else {
      auto last = last_host_info_.find(n);
      if (last != last_host_info_.end()) fh.capacity = last->second.capacity;
      fh.schedulable = false;
    }
    auto a = alloc_.find(n);
    if (a != alloc_.end()) {
      // Never smaller than what is committed there (capacity may be unknown for a lost host).
      const Resources used = a->second.value.resources();
      fh.capacity.vcpus = std::max(fh.capacity.vcpus, used.vcpus);
      fh.capacity.memory_mib = std::max(fh.capacity.memory_mib, used.memory_mib);
      fh.capacity.disk_gib = std::max(fh.capacity.disk_gib, used.disk_gib);
    }
    auto adm = hostadmin_.find(n);
    if (adm != hostadmin_.end() && (adm->second.value.cordoned || adm->second.value.draining)) fh.schedulable = false;
    auto st = hoststatus_.find(n);
    if (st != hoststatus_.end()) fh.cpu_load = st->second.cpu_load;
    hosts.push_back(fh);
  }
}

FleetVm Controller::fleet_vm(const VmRecord& r, const std::string& host) const {
  FleetVm fv{r.id, r.tenant, host, r.resources(), r.affinity, r.anti_affinity, 0.0};
  auto st = hoststatus_.find(host);
  if (st != hoststatus_.end()) {
    auto o = st->second.vms.find(r.id);
    if (o != st->second.vms.end()) fv.cpu_load = o->second.cpu_load;
  }
  auto vs = vmstatus_.find(r.id);
  if (fv.cpu_load == 0 && vs != vmstatus_.end()) fv.cpu_load = vs->second.cpu_load;
  return fv;
}

void Controller::fleet_snapshot(std::vector<FleetHost>& hosts, std::vector<FleetVm>& vms, bool include_stopped) const {
  fleet_hosts(hosts);
  // The allocs are the truth of what each host holds (they are what the transactions guard); a
  // VM record may reach this replica's cache later than the alloc naming it, so what the alloc
  // holds beyond the records known here is seated as one residual pseudo-VM.
  // A host a create batch in flight puts holds what that batch puts (the VMs it adds are not
  // records yet: they count in its residual).
  std::map<std::string, const Alloc*> allocs;
  for (const auto& [host, a] : alloc_) allocs[host] = &a.value;
  for (const auto& [host, f] : in_flight_allocs_) allocs[host] = &f.value;
  for (const auto& [host, alloc] : allocs) {
    const Alloc& a = *alloc;
    Resources known;
    for (const auto& id : a.vms) {
      auto v = vms_.find(id);
      if (v == vms_.end()) continue;
      const VmRecord& r = v->second.value;
      if (!include_stopped && r.state == vm_state::kStopped) continue;
      known += r.resources();
      if (r.host != host) {  // a live move's destination: the VM's room is held there until switch-over
        vms.push_back(FleetVm{kIncomingPrefix + id, "", host, r.resources(), "", "", 0.0});
        continue;
      }
      vms.push_back(fleet_vm(r, host));
    }
    Resources residual = a.resources() - known;
    residual.vcpus = std::max<int64_t>(0, residual.vcpus);
    residual.memory_mib = std::max<int64_t>(0, residual.memory_mib);
    residual.disk_gib = std::max<int64_t>(0, residual.disk_gib);
    if (!(residual == Resources{})) vms.push_back(FleetVm{kResidualPrefix + host, "", host, residual, "", "", 0.0});
  }
}

FleetModel& Controller::placement_model() {
  if (model_ && !model_stale_) {
    const std::set<std::string> dirty = std::move(model_dirty_);
    model_dirty_.clear();
    for (const auto& host : dirty) {
      // A host a create batch in flight puts keeps its tentative seats until the batch ends.
      if (in_flight_allocs_.count(host)) {
        model_dirty_.insert(host);
        continue;
      }
      resync_model_host(host);
      if (model_stale_) break;
    }
  }
  if (!model_ || model_stale_) {
    std::vector<FleetHost> hosts;
    std::vector<FleetVm> vms;
    fleet_snapshot(hosts, vms);
    model_ = std::make_unique<FleetModel>(hosts, vms, options_.fleet);
    model_stale_ = false;
    model_dirty_.clear();
    for (const auto& [host, f] : in_flight_allocs_) model_dirty_.insert(host);  // re-synced once they land
    ++metrics_.model_rebuilds;
  }
  return *model_;
}

void Controller::resync_model_host(const std::string& host) {
  FleetModel& m = *model_;
  auto a = alloc_.find(host);
  const bool holds = a != alloc_.end() && !a->second.value.vms.empty();
  if (!m.host_id(host)) {
    // A host the model does not know (its alloc was empty at the last rebuild, or it is new).
    if (holds || hosts_.count(host)) model_stale_ = true;
    return;
  }
  std::set<std::string> want;
  Resources known;
  if (a != alloc_.end()) {
    for (const auto& id : a->second.value.vms) {
      auto v = vms_.find(id);
      if (v == vms_.end()) continue;
      want.insert(v->second.value.host == host ? id : kIncomingPrefix + id);
      known += v->second.value.resources();
    }
  }
  for (const auto& id : m.vms_on(host))
    if (!want.count(id)) m.release(id);  // gone, moved away, or the residual (re-seated below)
  for (const auto& id : want) {
    const auto at = m.host_of(id);
    if (at && *at == host) continue;
    if (at) m.release(id);
    const bool reservation = id.rfind(kIncomingPrefix, 0) == 0;
    const FleetVm fv = reservation ? FleetVm{id, "", host, vms_.at(id.substr(kIncomingPrefix.size())).value.resources(), "", "", 0.0}
                                   : fleet_vm(vms_.at(id).value, host);
    if (!m.seat(fv)) {
      model_stale_ = true;  // does not fit the capacity the model knows: rebuild from scratch
      return;
    }
  }
  if (a != alloc_.end()) {
    Resources residual = a->second.value.resources() - known;
    residual.vcpus = std::max<int64_t>(0, residual.vcpus);
    residual.memory_mib = std::max<int64_t>(0, residual.memory_mib);
    residual.disk_gib = std::max<int64_t>(0, residual.disk_gib);
    if (!(residual == Resources{}) && !m.seat(FleetVm{kResidualPrefix + host, "", host, residual, "", "", 0.0})) model_stale_ = true;
  }
}

bool Controller::move_vm(const std::string& vm_id, const std::string& to, bool require_old_host_absent,
                         const std::string& why, const std::string& how) {
  std::lock_guard<std::mutex> place_lock(placement_mu_);
  MoveTxnInput in;
  in.to = to;
  Image image;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto v = vms_.find(vm_id);
    if (v == vms_.end()) return false;
    in.before = v->second.value;
    in.record_revision = v->second.revision;
    if (in.before.host == to) return false;
    if (in.before.state == vm_state::kMigrating) return false;  // a live move is in flight
    auto fa = alloc_.find(in.before.host);
    if (fa != alloc_.end()) {
      in.from_alloc_after = fa->second.value;
      in.from_alloc_revision = fa->second.revision;
    }
    in.from_alloc_after.remove(vm_id, in.before.resources());
    auto ta = alloc_.find(to);
    if (ta != alloc_.end()) {
      in.to_alloc_after = ta->second.value;
      in.to_alloc_revision = ta->second.revision;
    }
    in.to_alloc_after.add(vm_id, in.before.resources());
    auto im = images_.find(in.before.image);
    if (im != images_.end()) image = im->second;
  }
  // The target must still hold it under its usable capacity (the cache may have moved on).
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!in.to_alloc_after.resources().fits_in(placement_model().usable(to))) return false;
  }
  const bool stopped = in.before.state == vm_state::kStopped;
  in.new_state = stopped ? vm_state::kStopped : vm_state::kScheduled;
  in.require_old_host_absent = require_old_host_absent;
  in.assign = make_assign(in.before, image, options_.disks_dir);
  VmRecord after;
  TxnPlan plan = move_vm_txn(keys_, in, after);
  if (stopped) {
    // A stopped VM moves on paper only: no assignment on the target.
    plan.ops.erase(std::remove_if(plan.ops.begin(), plan.ops.end(),
                                  [&](const etcd::Op& op) { return op.kind == etcd::Op::Kind::Put && op.key == keys_.assign(to, vm_id); }),
                   plan.ops.end());
  }
  const auto r = txn(plan, {etcd::Op::get(keys_.alloc(in.before.host)), etcd::Op::get(keys_.alloc(to)),
                            etcd::Op::get(keys_.vm(in.before.tenant, in.before.name))});
  if (!r.succeeded) {
    ++metrics_.conflicts;
    log(fmt::format("move of {} to {} conflicted (read record {}, alloc {} {}, alloc {} {}); retrying", vm_id, to,
                    in.record_revision, in.before.host, in.from_alloc_revision, to, in.to_alloc_revision));
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& range : r.ranges)
      for (const auto& kv : range.kvs) apply(kv, false);
    return false;
  }
  apply_plan_locally(plan, r.revision);
  ++metrics_.moves;
  event(in.before.tenant, in.before.name, to, "moved",
        fmt::format("{} from {} to {} (generation {}): {}{}", why, in.before.host, to, after.generation,
                    stopped ? "stopped VM, moved on paper" : "", stopped ? "" : how));
  log(fmt::format("moved {}/{} ({}) {} -> {}: {}", in.before.tenant, in.before.name, vm_id, in.before.host, to, why));
  return true;
}

void Controller::reconcile_once() {
  report_restarts();
  // 0. Live moves in flight: one step each (live_move.hpp).
  advance_live_moves();
  // 1. Lost hosts past their grace period: re-place their VMs elsewhere.
  std::vector<std::pair<std::string, std::vector<std::string>>> evacuate;  // host -> VM ids
  std::vector<std::string> draining;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = Clock::now();
    for (auto& [host, lost] : lost_) {
      if (hosts_.count(host)) continue;
      if (now - lost.since < options_.grace) continue;
      auto a = alloc_.find(host);
      if (a == alloc_.end() || a->second.value.vms.empty()) continue;
      std::vector<std::string> ids;
      for (const auto& id : a->second.value.vms)
        if (vms_.count(id)) ids.push_back(id);
      if (!lost.announced) {
        log(fmt::format("host {} lost for {} ms: re-placing its {} VMs", host,
                        std::chrono::duration_cast<std::chrono::milliseconds>(now - lost.since).count(), ids.size()));
        lost.announced = true;
      }
      evacuate.push_back({host, ids});
    }
    for (const auto& [host, adm] : hostadmin_)
      if (adm.value.draining && alloc_.count(host) && !alloc_[host].value.vms.empty()) draining.push_back(host);
  }
  // In batches of moves, each batch one transaction guarded like a single move.
  std::vector<std::pair<std::string, std::string>> todo;
  for (const auto& [host, ids] : evacuate)
    for (const auto& id : ids) todo.push_back({id, host});
  const std::size_t per_batch = std::max<std::size_t>(1, options_.max_batch);
  int failures = 0;
  for (std::size_t i = 0; i < todo.size() && !stopping_;) {
    const std::vector<std::pair<std::string, std::string>> chunk(todo.begin() + i, todo.begin() + std::min(todo.size(), i + per_batch));
    if (evacuate_batch(chunk)) {
      i += chunk.size();
      failures = 0;
    } else {
      if (++failures >= options_.max_retries) break;  // next round
      backoff(failures);
    }
  }
  // 2. Draining hosts: move their VMs, within the per-round and per-host budgets.
  std::size_t round = 0;
  for (const auto& host : draining) {
    std::vector<std::string> ids;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ids = alloc_[host].value.vms;
    }
    std::size_t from_host = 0;
    for (const auto& id : ids) {
      if (round >= options_.consolidation.moves_per_round || from_host >= options_.consolidation.moves_per_host) break;
      std::optional<std::string> to;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto v = vms_.find(id);
        if (v == vms_.end() || v->second.value.host != host || v->second.value.state == vm_state::kMigrating) continue;
        // Live moves still in flight count against both hosts' budgets.
        const auto flying = moves_in_flight();
        auto in_flight = [&](const std::string& h) { auto f = flying.find(h); return f == flying.end() ? 0 : f->second; };
        from_host = std::max(from_host, in_flight(host));
        if (from_host >= options_.consolidation.moves_per_host) break;
        to = placement_model().find_target(id, true);
        if (to && in_flight(*to) >= options_.consolidation.moves_per_host) to.reset();
      }
      if (to && move_vm_auto(id, *to, "drain of " + host)) {
        ++round;
        ++from_host;
      }
    }
  }
}

bool Controller::evacuate_batch(const std::vector<std::pair<std::string, std::string>>& items) {
  std::unique_lock<std::mutex> place_lock(placement_mu_);
  std::vector<BatchedMove> moves;
  std::map<std::string, KeyAfter<Alloc>> allocs;
  std::set<std::string> absent;
  std::size_t ops = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    FleetModel& m = placement_model();
    auto alloc_after = [&](const std::string& host) -> KeyAfter<Alloc>& {
      auto [a, fresh] = allocs.try_emplace(host);
      if (fresh) {
        auto cached = alloc_.find(host);
        if (cached != alloc_.end()) a->second = {cached->second.value, cached->second.revision};
      }
      return a->second;
    };
    for (const auto& [id, lost] : items) {
      if (hosts_.count(lost)) continue;  // it came back in time: it keeps its VMs
      auto v = vms_.find(id);
      if (v == vms_.end() || v->second.value.host != lost) continue;
      if (v->second.value.state == vm_state::kMigrating) continue;  // advance_live_moves() restarts it
      if (ops + 6 > options_.etcd_max_txn_ops - 8) break;  // the rest in the next batch
      const VmRecord& rec = v->second.value;
      auto to = m.find_target(id, true);
      if (to) {
        try {
          m.move(id, *to);  // tentative: the batch's later moves see it
        } catch (const placement::online::PlacementError&) {
          to.reset();
        }
      }
      if (!to) {
        auto l = lost_.find(lost);
        if (l != lost_.end() && l->second.stranded.insert(id).second)
          log(fmt::format("no host has room for {} from lost host {}; retrying every round", rec.name, lost));
        continue;
      }
      const std::size_t before = allocs.size();
      alloc_after(lost).value.remove(id, rec.resources());
      alloc_after(*to).value.add(id, rec.resources());
      ops += 3 + (allocs.size() - before);
      Image image;
      auto im = images_.find(rec.image);
      if (im != images_.end()) image = im->second;
      const bool stopped = rec.state == vm_state::kStopped;
      moves.push_back({rec, v->second.revision, *to, make_assign(rec, image, options_.disks_dir),
                       stopped ? vm_state::kStopped : vm_state::kScheduled});
      absent.insert(lost);
    }
    for (const auto& [host, a] : allocs) model_dirty_.insert(host);
  }
  if (moves.empty()) return true;
  std::vector<VmRecord> afters;
  const TxnPlan plan = move_vms_txn(keys_, moves, allocs, absent, afters);
  std::vector<etcd::Op> failure;
  for (const auto& mv : moves) failure.push_back(etcd::Op::get(keys_.vm(mv.before.tenant, mv.before.name)));
  for (const auto& [host, a] : allocs) failure.push_back(etcd::Op::get(keys_.alloc(host)));
  const auto r = txn(plan, failure);
  if (!r.succeeded) {
    ++metrics_.conflicts;
    log(fmt::format("evacuation of {} VMs conflicted (a record or alloc changed, or a lost host is back); retrying", moves.size()));
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& range : r.ranges)
      for (const auto& kv : range.kvs) apply(kv, false);
    return false;
  }
  apply_plan_locally(plan, r.revision);
  place_lock.unlock();
  metrics_.moves += moves.size();
  std::vector<etcd::Op> events;
  try {
    for (std::size_t i = 0; i < moves.size(); ++i) {
      const auto& mv = moves[i];
      const bool stopped = mv.new_state == vm_state::kStopped;
      events.push_back(event_op(mv.before.tenant, mv.before.name, mv.to, "moved",
                                fmt::format("host {} lost from {} to {} (generation {}): {}restarted from its disk (the source is gone)",
                                            mv.before.host, mv.before.host, mv.to, afters[i].generation, stopped ? "stopped VM, " : "")));
      log(fmt::format("moved {}/{} ({}) {} -> {}: host {} lost", mv.before.tenant, mv.before.name, mv.before.id, mv.before.host, mv.to,
                      mv.before.host));
    }
    timed(metrics_, [&] { return client_->txn({}, events, {}); });
  } catch (const etcd::EtcdError& err) {
    std::lock_guard<std::mutex> lock(event_mu_);
    event_lease_ = 0;
    log(std::string("events not recorded: ") + err.what());
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Live moves (live_move.hpp; docs/cloud.md "Moves")

std::map<std::string, std::size_t> Controller::moves_in_flight() const {
  std::map<std::string, std::size_t> out;
  for (const auto& [id, v] : vms_)
    if (v.value.state == vm_state::kMigrating) {
      ++out[v.value.host];
      ++out[v.value.migration.to];
    }
  return out;
}

std::string Controller::live_refusal(const VmRecord& rec) const {
  if (!options_.live_moves) return "live moves are off (--no-live-moves)";
  if (rec.state == vm_state::kStopped) return "the VM is stopped";
  auto h = hosts_.find(rec.host);
  if (h == hosts_.end()) return "its host is not up";
  if (h->second.value.simulated) return "a simulated host runs no VMM to migrate";
  const std::string mode = rec.mode.empty() ? "emulate" : rec.mode;
  if (live_unsupported_modes_.count(mode))
    return fmt::format("the VMM cannot live-migrate {} mode VMs (it said so on an earlier try)", mode);
  if (auto f = live_failures_.find(rec.id); f != live_failures_.end() && f->second >= 3)
    return fmt::format("its last {} live moves failed", f->second);
  if (derived_state(rec) != vm_state::kRunning) return "it is not running (" + derived_state(rec) + ")";
  return "";
}

bool Controller::live_suspect(const std::string& host) const {
  auto s = live_suspect_until_.find(host);
  return s != live_suspect_until_.end() && Clock::now() < s->second;
}

// A VM that moved live a moment ago runs on its new host, but looks "scheduled" until that
// host's agent reports it (its status, refreshed every few seconds). Within this window that is
// not taken for "not running": moving it again waits instead of restarting a running guest.
constexpr auto kSettleAfterLiveMove = std::chrono::seconds(30);

bool Controller::settling_after_live_move(const VmRecord& rec) {
  auto m = moved_live_at_.find(rec.id);
  if (m == moved_live_at_.end()) return false;
  if (Clock::now() - m->second > kSettleAfterLiveMove || derived_state(rec) == vm_state::kRunning) {
    moved_live_at_.erase(m);  // reported (or never will be: then it is what it looks like)
    return false;
  }
  return rec.state == vm_state::kScheduled;
}

bool Controller::move_vm_auto(const std::string& vm_id, const std::string& to, const std::string& why) {
  std::string refusal;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (live_suspect(to)) return false;  // a live move to it just failed: not now
    auto v = vms_.find(vm_id);
    if (v == vms_.end() || v->second.value.state == vm_state::kMigrating) return false;
    if (settling_after_live_move(v->second.value)) return false;  // the next round moves it live
    refusal = live_refusal(v->second.value);
  }
  if (refusal.empty()) return start_live_move(vm_id, to, why);
  return move_vm(vm_id, to, false, why, "moved by stop-and-restart (not live: " + refusal + ")");
}

bool Controller::start_live_move(const std::string& vm_id, const std::string& to, const std::string& why) {
  std::lock_guard<std::mutex> place_lock(placement_mu_);
  VmRecord rec;
  int64_t rec_revision = 0;
  Alloc to_after;
  int64_t to_revision = 0;
  Image image;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto v = vms_.find(vm_id);
    if (v == vms_.end()) return false;
    rec = v->second.value;
    rec_revision = v->second.revision;
    if (rec.host == to || rec.state == vm_state::kMigrating) return false;
    auto ta = alloc_.find(to);
    if (ta != alloc_.end()) {
      to_after = ta->second.value;
      to_revision = ta->second.revision;
    }
    to_after.add(vm_id, rec.resources());
    if (!to_after.resources().fits_in(placement_model().usable(to))) return false;
    auto im = images_.find(rec.image);
    if (im != images_.end()) image = im->second;
  }
  VmRecord after;
  const TxnPlan plan = start_live_move_txn(keys_, rec, rec_revision, to, to_after, to_revision,
                                           make_assign(rec, image, options_.disks_dir), why, now_rfc3339(), after);
  const auto r = txn(plan, {etcd::Op::get(keys_.alloc(to)), etcd::Op::get(keys_.vm(rec.tenant, rec.name))});
  if (!r.succeeded) {
    absorb_conflict(r);
    return false;
  }
  apply_plan_locally(plan, r.revision);
  event(rec.tenant, rec.name, to, "migrating", fmt::format("{}: live move from {} to {} started", why, rec.host, to));
  log(fmt::format("live move of {}/{} ({}) {} -> {} started: {}", rec.tenant, rec.name, vm_id, rec.host, to, why));
  return true;
}

// Restarts the agents made on their own (restarted_in_place), as events of the VM's owner: the
// guest booted again, which nothing else in the record shows (its generation did not change).
void Controller::report_restarts() {
  std::vector<std::pair<std::string, VmObserved>> seen;
  std::vector<VmRecord> recs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seen.swap(restarts_seen_);
    for (const auto& [id, obs] : seen) {
      auto v = vms_.find(id);
      recs.push_back(v == vms_.end() ? VmRecord{} : v->second.value);
    }
  }
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const auto& [id, obs] = seen[i];
    if (recs[i].id.empty()) continue;  // deleted since
    metrics_.vm_restarts.fetch_add(1, std::memory_order_relaxed);
    const std::string ended = obs.previous_end.empty() ? std::string("(not said)") : obs.previous_end;
    event(recs[i].tenant, recs[i].name, obs.host, "restarted",
          fmt::format("{} booted again on {} (start {} there, generation {}); the run before ended {}", recs[i].name,
                      obs.host, obs.starts, obs.generation, ended));
    log(fmt::format("{}/{} ({}) restarted by {}'s agent: the run before ended {}", recs[i].tenant, recs[i].name, id,
                    obs.host, ended));
  }
}

void Controller::advance_live_moves() {
  std::vector<std::pair<std::string, LiveDecision>> steps;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = Clock::now();
    for (const auto& [id, v] : vms_) {
      const VmRecord& rec = v.value;
      if (rec.state != vm_state::kMigrating) continue;
      LiveMoveView view;
      view.rec = rec;
      if (!hosts_.count(rec.host)) {
        auto l = lost_.find(rec.host);
        view.source_lost = l == lost_.end() || now - l->second.since >= options_.grace;
      }
      view.destination_up = hosts_.count(rec.migration.to) > 0;
      auto hs = hoststatus_.find(rec.host);
      if (hs != hoststatus_.end()) {
        auto o = hs->second.vms.find(id);
        // Periodic: it may be older than the move (decide_live_move judges the state).
        if (o != hs->second.vms.end() && o->second.generation == rec.generation) view.source_state = o->second.state;
      }
      auto in = incoming_.find(id);
      if (in != incoming_.end()) view.incoming = &in->second;
      auto res = migration_results_.find(id);
      if (res != migration_results_.end()) view.result = &res->second;
      // Time since the move started, from the record (another replica may have started it).
      std::tm tm{};
      double since = 0;
      if (strptime(rec.migration.started.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) {
        const auto started = std::chrono::system_clock::from_time_t(timegm(&tm));
        since = std::chrono::duration<double>(std::chrono::system_clock::now() - started).count();
      }
      view.seconds_since_start = since;
      view.ready_timeout_seconds = options_.live_ready_timeout_seconds;
      const LiveDecision d = decide_live_move(view);
      if (d.step != LiveStep::Wait) steps.emplace_back(id, d);
    }
  }
  for (const auto& [id, d] : steps) {
    if (stopping_) return;
    apply_live_step(id, d);
  }
}

bool Controller::apply_live_step(const std::string& vm_id, const LiveDecision& d) {
  std::unique_lock<std::mutex> place_lock(placement_mu_);
  VmRecord rec;
  int64_t rec_revision = 0;
  Image image;
  Alloc alloc_after;
  int64_t alloc_revision = 0;
  MigrationResult result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto v = vms_.find(vm_id);
    if (v == vms_.end() || v->second.value.state != vm_state::kMigrating) return false;
    rec = v->second.value;
    rec_revision = v->second.revision;
    auto im = images_.find(rec.image);
    if (im != images_.end()) image = im->second;
    // finish: the source's alloc loses the VM; abort: the destination's.
    const std::string& host = d.step == LiveStep::Finish ? rec.host : rec.migration.to;
    auto a = alloc_.find(host);
    if (a != alloc_.end()) {
      alloc_after = a->second.value;
      alloc_revision = a->second.revision;
    }
    alloc_after.remove(vm_id, rec.resources());
    auto res = migration_results_.find(vm_id);
    if (res != migration_results_.end()) result = res->second;
  }
  const AssignSpec assign = make_assign(rec, image, options_.disks_dir);
  VmRecord after;
  TxnPlan plan;
  std::vector<etcd::Op> failure = {etcd::Op::get(keys_.vm(rec.tenant, rec.name))};
  switch (d.step) {
    case LiveStep::Wait: return false;
    case LiveStep::Deliver:
      plan = deliver_live_move_txn(keys_, rec, rec_revision, d.address, assign, after);
      break;
    case LiveStep::Finish:
      plan = finish_live_move_txn(keys_, rec, rec_revision, alloc_after, alloc_revision, assign, after);
      failure.push_back(etcd::Op::get(keys_.alloc(rec.host)));
      break;
    case LiveStep::Abort:
      plan = abort_live_move_txn(keys_, rec, rec_revision, alloc_after, alloc_revision, assign, after);
      failure.push_back(etcd::Op::get(keys_.alloc(rec.migration.to)));
      break;
    case LiveStep::RestartOnDestination: {
      // The destination's alloc holds the VM already; the source's loses it. A new generation:
      // the destination's agent stops its incoming VMM, then boots the VM from its disk.
      MoveTxnInput in;
      in.before = rec;
      in.before.migration = {};
      in.before.state = vm_state::kScheduled;
      in.record_revision = rec_revision;
      in.to = rec.migration.to;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto fa = alloc_.find(rec.host);
        if (fa != alloc_.end()) {
          in.from_alloc_after = fa->second.value;
          in.from_alloc_revision = fa->second.revision;
        }
        auto ta = alloc_.find(in.to);
        if (ta != alloc_.end()) {
          in.to_alloc_after = ta->second.value;
          in.to_alloc_revision = ta->second.revision;
        }
      }
      in.from_alloc_after.remove(vm_id, rec.resources());
      if (std::find(in.to_alloc_after.vms.begin(), in.to_alloc_after.vms.end(), vm_id) == in.to_alloc_after.vms.end())
        in.to_alloc_after.add(vm_id, rec.resources());
      in.require_old_host_absent = true;
      in.assign = assign;
      plan = move_vm_txn(keys_, in, after);
      plan.ops.push_back(etcd::Op::del(keys_.incoming(vm_id)));
      plan.ops.push_back(etcd::Op::del(keys_.migration(vm_id)));
      failure.push_back(etcd::Op::get(keys_.alloc(rec.host)));
      failure.push_back(etcd::Op::get(keys_.alloc(in.to)));
      break;
    }
  }
  if (d.step == LiveStep::Finish) {
    // Noted before the commit: the watch may apply the moved record (and a drain act on it)
    // before txn() returns here. Harmless if it fails: a migrating VM is not moved anyway.
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(moved_live_at_, [](const auto& m) { return Clock::now() - m.second > kSettleAfterLiveMove; });
    moved_live_at_[vm_id] = Clock::now();
  }
  const auto r = txn(plan, failure);
  if (!r.succeeded) {
    if (d.step == LiveStep::Finish) {
      std::lock_guard<std::mutex> lock(mu_);
      moved_live_at_.erase(vm_id);
    }
    absorb_conflict(r);
    return false;
  }
  apply_plan_locally(plan, r.revision);
  const std::string mode = rec.mode.empty() ? "emulate" : rec.mode;
  switch (d.step) {
    case LiveStep::Wait: break;
    case LiveStep::Deliver:
      log(fmt::format("live move of {} {} -> {}: the destination listens on {}; the source sends", rec.name, rec.host,
                      rec.migration.to, d.address));
      break;
    case LiveStep::Finish: {
      ++metrics_.live_moves;
      {
        std::lock_guard<std::mutex> lock(mu_);
        live_failures_.erase(vm_id);
      }
      event(rec.tenant, rec.name, after.host, "moved",
            fmt::format("{} from {} to {} (generation {}): moved live (downtime {:.1f} ms, total {:.0f} ms, {} rounds)",
                        rec.migration.why, rec.host, after.host, rec.generation, result.downtime_ms, result.total_ms,
                        result.rounds));
      log(fmt::format("moved {}/{} ({}) {} -> {} live: {}; downtime {:.1f} ms", rec.tenant, rec.name, vm_id, rec.host,
                      after.host, rec.migration.why, result.downtime_ms));
      break;
    }
    case LiveStep::Abort: {
      ++metrics_.live_failures;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (d.unsupported) live_unsupported_modes_.insert(mode);
        else ++live_failures_[vm_id];
        if (!d.unsupported) live_suspect_until_[rec.migration.to] = Clock::now() + std::chrono::seconds(10);
      }
      event(rec.tenant, rec.name, rec.host, "migration_failed",
            fmt::format("{}: live move from {} to {} failed before the switch-over: {}; the VM runs on {}", rec.migration.why,
                        rec.host, rec.migration.to, d.reason, rec.host));
      log(fmt::format("live move of {}/{} ({}) {} -> {} aborted: {}", rec.tenant, rec.name, vm_id, rec.host, rec.migration.to,
                      d.reason));
      if (d.unsupported) {
        // The VMM cannot live-migrate this mode: the move the caller wanted happens by stop-and-restart.
        place_lock.unlock();
        move_vm(vm_id, rec.migration.to, false, rec.migration.why,
                fmt::format("moved by stop-and-restart (not live: the VMM cannot live-migrate {} mode VMs)", mode));
      }
      break;
    }
    case LiveStep::RestartOnDestination:
      ++metrics_.moves;
      event(rec.tenant, rec.name, after.host, "moved",
            fmt::format("{} from {} to {} (generation {}): {}; restarted from its disk on the destination", rec.migration.why,
                        rec.host, after.host, after.generation, d.reason));
      log(fmt::format("live move of {} {} -> {}: {}; restarting it there", rec.name, rec.host, after.host, d.reason));
      break;
  }
  return true;
}

ConsolidationResult Controller::consolidate_once() {
  std::vector<FleetHost> hosts;
  std::vector<FleetVm> vms;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fleet_snapshot(hosts, vms);
  }
  FleetModel fleet(hosts, vms, options_.fleet);
  auto result = choose_consolidation(fleet, hosts, vms, options_.consolidation, engaged_);
  engaged_ = result.engaged;
  std::size_t done = 0;
  for (const auto& m : result.moves)
    if (move_vm_auto(m.vm, m.to, m.why == "relieve" ? "relieve hot host " + m.from : "consolidation")) ++done;
  if (!result.moves.empty() || result.engaged)
    log(fmt::format("consolidation: {} active hosts, lower bound {}, {} of {} planned moves done{}", result.active_hosts,
                    result.lower_bound, done, result.moves.size(), result.engaged ? " (engaged)" : ""));
  return result;
}

// ---------------------------------------------------------------------------------------------
// Events

int64_t Controller::event_lease() {
  std::lock_guard<std::mutex> lock(event_mu_);
  const auto now = Clock::now();
  if (event_lease_ == 0 || now >= event_lease_until_) {
    event_lease_ = timed(metrics_, [&] { return client_->lease_grant(options_.event_retention_seconds); });
    // Each lease takes events for a tenth of the retention: events live 90-100 % of it.
    event_lease_until_ = now + std::chrono::seconds(std::max<int64_t>(1, options_.event_retention_seconds / 10));
  }
  return event_lease_;
}

etcd::Op Controller::event_op(const std::string& tenant, const std::string& vm, const std::string& host, const std::string& kind,
                              const std::string& message) {
  Event e{now_rfc3339(), tenant, vm, host, kind, message};
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string key = keys_.events() + fmt::format("{:020}-{}-{}", ns, options_.id, event_counter_++);
  return etcd::Op::put(key, dump_record(e), event_lease());
}

void Controller::event(const std::string& tenant, const std::string& vm, const std::string& host, const std::string& kind,
                       const std::string& message) {
  try {
    const etcd::Op op = event_op(tenant, vm, host, kind, message);
    timed(metrics_, [&] { return client_->put(op.key, op.value, op.lease); });
  } catch (const etcd::EtcdError& err) {
    {
      std::lock_guard<std::mutex> lock(event_mu_);
      event_lease_ = 0;
    }
    log(std::string("event not recorded: ") + err.what());
  }
}

// ---------------------------------------------------------------------------------------------
// Authentication

std::optional<Caller> Controller::authenticate(const std::string& bearer) const {
  if (bearer.empty()) return std::nullopt;
  const std::string sha = sha256_hex(bearer);
  std::lock_guard<std::mutex> lock(mu_);
  if ((!admin_sha_.empty() && sha == admin_sha_) || (!admin_sha_from_store_.empty() && sha == admin_sha_from_store_))
    return Caller{true, ""};
  auto it = token_index_.find(sha);
  if (it != token_index_.end()) return Caller{false, it->second};
  return std::nullopt;
}

Caller Controller::require_admin(const Caller& c) const {
  if (!c.admin) throw ApiError(403, "forbidden", "this needs the admin token");
  return c;
}

void Controller::require_tenant_access(const Caller& c, const std::string& tenant) const {
  if (!c.admin && c.tenant != tenant)
    throw ApiError(403, "forbidden", fmt::format("a token of tenant '{}' cannot see tenant '{}'", c.tenant, tenant));
}

// ---------------------------------------------------------------------------------------------
// Tenants, flavors, images

json Controller::create_tenant(const Caller& c, const std::string& body) {
  require_admin(c);
  const auto req = parse_create_tenant(body);
  const std::string token = random_hex(32);
  Tenant t{req.name, req.quota, sha256_hex(token), now_rfc3339()};
  TxnPlan plan;
  plan.compares.push_back(etcd::Compare::absent(keys_.tenant(t.name)));
  plan.ops.push_back(etcd::Op::put(keys_.tenant(t.name), dump_record(t)));
  plan.ops.push_back(etcd::Op::put(keys_.usage(t.name), dump_record(Usage{})));
  const auto r = txn(plan);
  if (!r.succeeded) throw ApiError(409, "exists", fmt::format("tenant '{}' exists already; pick another name", t.name));
  apply_plan_locally(plan, r.revision);
  event(t.name, "", "", "tenant_created", fmt::format("tenant {} created", t.name));
  return json{{"name", t.name}, {"quota", t.quota}, {"token", token},
              {"note", "the token is shown only now; etcd keeps only its SHA-256"}};
}

json Controller::list_tenants(const Caller& c) {
  json out = json::array();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, t] : tenants_) {
    if (!c.admin && c.tenant != name) continue;
    auto u = usage_.find(name);
    out.push_back(json{{"name", name}, {"quota", t.value.quota}, {"usage", u == usage_.end() ? Usage{} : u->second.value},
                       {"created", t.value.created}});
  }
  return out;
}

json Controller::show_tenant(const Caller& c, const std::string& tenant) {
  require_tenant_access(c, tenant);
  std::lock_guard<std::mutex> lock(mu_);
  auto t = tenants_.find(tenant);
  if (t == tenants_.end()) throw ApiError(404, "not_found", fmt::format("no tenant '{}' (nimbus tenant list)", tenant));
  auto u = usage_.find(tenant);
  return json{{"name", tenant}, {"quota", t->second.value.quota}, {"usage", u == usage_.end() ? Usage{} : u->second.value},
              {"created", t->second.value.created}};
}

json Controller::set_quota(const Caller& c, const std::string& tenant, const std::string& body) {
  require_admin(c);
  const Quota q = parse_quota(body);
  for (int attempt = 0; attempt < options_.max_retries; ++attempt) {
    Versioned<Tenant> t;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = tenants_.find(tenant);
      if (it == tenants_.end()) throw ApiError(404, "not_found", fmt::format("no tenant '{}' (nimbus tenant list)", tenant));
      t = it->second;
    }
    t.value.quota = q;
    TxnPlan plan;
    plan.compares.push_back(etcd::Compare::mod_revision_is(keys_.tenant(tenant), t.revision));
    plan.ops.push_back(etcd::Op::put(keys_.tenant(tenant), dump_record(t.value)));
    const auto r = txn(plan, {etcd::Op::get(keys_.tenant(tenant))});
    if (r.succeeded) {
      apply_plan_locally(plan, r.revision);
      return show_tenant(c, tenant);
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& range : r.ranges)
      for (const auto& kv : range.kvs) apply(kv, false);
  }
  throw ApiError(503, "contention", "too many concurrent changes; retry");
}

json Controller::usage(const Caller& c, const std::string& tenant) {
  if (tenant.empty() && c.admin) {
    json out = json::object();
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, t] : tenants_) {
      auto u = usage_.find(name);
      out[name] = json{{"quota", t.value.quota}, {"usage", u == usage_.end() ? Usage{} : u->second.value}};
    }
    return out;
  }
  const std::string who = tenant.empty() ? c.tenant : tenant;
  const json t = show_tenant(c, who);
  return json{{"tenant", who}, {"quota", t["quota"]}, {"usage", t["usage"]}};
}

json Controller::list_flavors(const Caller&) {
  json out = json::array();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, f] : flavors_) out.push_back(f);
  return out;
}

json Controller::create_flavor(const Caller& c, const std::string& body) {
  require_admin(c);
  const Flavor f = parse_flavor(body);
  TxnPlan plan;
  plan.compares.push_back(etcd::Compare::absent(keys_.flavor(f.name)));
  plan.ops.push_back(etcd::Op::put(keys_.flavor(f.name), dump_record(f)));
  const auto r = txn(plan);
  if (!r.succeeded) throw ApiError(409, "exists", fmt::format("flavor '{}' exists already", f.name));
  apply_plan_locally(plan, r.revision);
  return f;
}

json Controller::list_images(const Caller&) {
  json out = json::array();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, im] : images_) out.push_back(im);
  return out;
}

json Controller::create_image(const Caller& c, const std::string& body) {
  require_admin(c);
  const Image im = parse_image(body);
  TxnPlan plan;
  plan.compares.push_back(etcd::Compare::absent(keys_.image(im.name)));
  plan.ops.push_back(etcd::Op::put(keys_.image(im.name), dump_record(im)));
  const auto r = txn(plan);
  if (!r.succeeded) throw ApiError(409, "exists", fmt::format("image '{}' exists already", im.name));
  apply_plan_locally(plan, r.revision);
  return im;
}

// ---------------------------------------------------------------------------------------------
// VMs

std::string Controller::derived_state(const VmRecord& rec) const {
  auto o = vmstatus_.find(rec.id);
  const VmObserved* obs = o == vmstatus_.end() ? nullptr : &o->second;
  // vmstatus/<id> may still be the old host's (or missing) right after a move: the host's own
  // hoststatus, refreshed every few seconds, says what runs there.
  VmObserved from_host;
  if (!obs || obs->host != rec.host || obs->generation != rec.generation) {
    auto hs = hoststatus_.find(rec.host);
    if (hs != hoststatus_.end()) {
      auto v = hs->second.vms.find(rec.id);
      if (v != hs->second.vms.end() && v->second.generation == rec.generation) {
        from_host.host = rec.host;
        from_host.generation = rec.generation;
        from_host.state = v->second.state;
        obs = &from_host;
      }
    }
  }
  if (rec.state == vm_state::kStopped) return obs && obs->state == "running" ? vm_state::kStopping : vm_state::kStopped;
  if (rec.state == vm_state::kFailed) return vm_state::kFailed;
  if (rec.state == vm_state::kMigrating) return vm_state::kMigrating;
  if (rec.state == vm_state::kScheduled || rec.state == vm_state::kMigrating || rec.state == vm_state::kRunning) {
    if (obs && obs->generation == rec.generation && obs->host == rec.host) {
      if (obs->state == "running") return vm_state::kRunning;
      if (obs->state == "failed") return vm_state::kFailed;
      if (obs->state == "stopped" || obs->state == "powered off") return vm_state::kStopped;
    }
    return rec.state == vm_state::kRunning ? vm_state::kScheduled : rec.state;
  }
  return rec.state;
}

json Controller::vm_json(const VmRecord& rec) const {
  json j = rec;
  j["desired"] = rec.state;
  j["state"] = derived_state(rec);
  auto o = vmstatus_.find(rec.id);
  if (o != vmstatus_.end()) {
    j["observed"] = json{{"host", o->second.host}, {"generation", o->second.generation}, {"state", o->second.state},
                         {"cpu_load", o->second.cpu_load}, {"started", o->second.started}, {"starts", o->second.starts}};
    if (!o->second.previous_end.empty()) j["observed"]["previous_end"] = o->second.previous_end;
  }
  return j;
}

Controller::Versioned<VmRecord> Controller::find_vm(const Caller& c, const std::string& ref, const std::string& tenant_hint) const {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string tenant = c.admin ? tenant_hint : c.tenant;
  auto not_found = [&] {
    return ApiError(404, "not_found",
                    tenant.empty() ? fmt::format("no VM '{}' (nimbus vm list)", ref)
                                   : fmt::format("no VM '{}' in tenant '{}' (nimbus vm list)", ref, tenant));
  };
  if (!tenant.empty()) {
    auto idx = vm_index_.find(tenant + "/" + ref);
    if (idx != vm_index_.end()) return vms_.at(idx->second);
  }
  auto byid = vms_.find(ref);
  if (byid != vms_.end() && (tenant.empty() || byid->second.value.tenant == tenant)) return byid->second;
  if (c.admin && tenant.empty()) {
    std::vector<const Versioned<VmRecord>*> matches;
    for (const auto& [id, v] : vms_)
      if (v.value.name == ref) matches.push_back(&v);
    if (matches.size() == 1) return *matches.front();
    if (matches.size() > 1)
      throw ApiError(409, "ambiguous", fmt::format("several tenants have a VM '{}': add ?tenant=NAME or use its id", ref));
  }
  throw not_found();
}

template <typename P>
void Controller::group_commit(std::deque<std::shared_ptr<P>>& queue, bool& running, const std::shared_ptr<P>& pending,
                              std::vector<etcd::Op> (Controller::*commit)(std::vector<std::shared_ptr<P>>&)) {
  std::unique_lock<std::mutex> lock(batch_mu_);
  queue.push_back(pending);
  while (!pending->done) {
    if (running) {
      batch_cv_.wait(lock);
      continue;
    }
    // Nobody is committing: this thread commits what is queued (its own request included).
    running = true;
    std::vector<std::shared_ptr<P>> batch;
    while (!queue.empty() && batch.size() < std::max<std::size_t>(1, options_.max_batch)) {
      batch.push_back(std::move(queue.front()));
      queue.pop_front();
    }
    lock.unlock();
    std::vector<etcd::Op> events;
    try {
      events = (this->*commit)(batch);
    } catch (...) {
      for (auto& p : batch)
        if (!p->done) {
          p->error = std::current_exception();
          p->done = true;
        }
    }
    lock.lock();
    // Requests deferred by the batch (a name or VM twice in it) go back to the head of the queue.
    for (auto it = batch.rbegin(); it != batch.rend(); ++it)
      if (!(*it)->done) queue.push_front(*it);
    running = false;
    batch_cv_.notify_all();
    if (!events.empty()) {
      lock.unlock();
      put_events(events);
      lock.lock();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tenant networks

namespace {
json network_json(const NetworkRecord& n, const std::vector<std::string>& vms) {
  return json{{"tenant", n.tenant}, {"name", n.name}, {"vni", n.vni}, {"created", n.created}, {"vms", vms}};
}
} // namespace

json Controller::create_network(const Caller& c, const std::string& body) {
  const auto req = parse_create_network(body, c.admin ? "" : c.tenant);
  NetworkRecord n{req.tenant, req.name, 0, now_rfc3339()};
  for (int attempt = 0; attempt < 8; ++attempt) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!tenants_.count(req.tenant)) throw ApiError(404, "unknown_tenant", fmt::format("no tenant '{}' (nimbus tenant list)", req.tenant));
      if (networks_.count(req.tenant + "/" + req.name))
        throw ApiError(409, "name_taken", fmt::format("tenant '{}' already has a network named '{}'", req.tenant, req.name));
      std::set<int64_t> used;
      for (const auto& [k, v] : networks_) used.insert(v.vni);
      do {
        n.vni = static_cast<int64_t>(std::stoul(random_hex(3), nullptr, 16));
      } while (n.vni == 0 || used.count(n.vni));
    }
    // The VNI is taken by creating its key: two networks racing for one VNI cannot both win.
    TxnPlan plan;
    plan.compares.push_back(etcd::Compare::absent(keys_.network(n.tenant, n.name)));
    plan.compares.push_back(etcd::Compare::absent(keys_.netkey(n.vni)));
    plan.ops.push_back(etcd::Op::put(keys_.network(n.tenant, n.name), dump_record(n)));
    plan.ops.push_back(etcd::Op::put(keys_.netkey(n.vni), random_hex(32)));
    const auto r = txn(plan, {etcd::Op::get(keys_.network(n.tenant, n.name))});
    if (r.succeeded) {
      apply_plan_locally(plan, r.revision);
      event(n.tenant, "", "", "network_created", fmt::format("network {} created (VNI {})", n.name, n.vni));
      return network_json(n, {});
    }
    if (!r.ranges.empty() && !r.ranges.front().kvs.empty())
      throw ApiError(409, "name_taken", fmt::format("tenant '{}' already has a network named '{}'", req.tenant, req.name));
  }
  throw ApiError(503, "contention", "could not reserve a network id; retry");
}

json Controller::list_networks(const Caller& c, const std::string& tenant_filter) {
  json out = json::array();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, n] : networks_) {
    if (!c.admin && n.tenant != c.tenant) continue;
    if (!tenant_filter.empty() && n.tenant != tenant_filter) continue;
    std::vector<std::string> vms;
    for (const auto& [id, v] : vms_)
      if (v.value.tenant == n.tenant)
        for (const auto& nic : v.value.nics)
          if (nic.network == n.name) vms.push_back(v.value.name);
    out.push_back(network_json(n, vms));
  }
  return out;
}

json Controller::show_network(const Caller& c, const std::string& name, const std::string& tenant_hint) {
  const std::string tenant = c.admin ? tenant_hint : c.tenant;
  if (tenant.empty())
    throw ApiError(400, "missing_tenant", fmt::format("say whose network '{}' this is: add ?tenant=NAME", name));
  json all = list_networks(c, tenant);
  for (auto& n : all)
    if (n["name"] == name) return n;
  throw ApiError(404, "not_found", fmt::format("no network '{}' in tenant '{}' (nimbus network list)", name, tenant));
}

json Controller::delete_network(const Caller& c, const std::string& name, const std::string& tenant_hint) {
  const json n = show_network(c, name, tenant_hint);
  if (!n["vms"].empty())
    throw ApiError(409, "in_use", fmt::format("network '{}' still has NICs of VMs {}: delete them first", name, n["vms"].dump()));
  const std::string tenant = n["tenant"];
  const int64_t vni = n["vni"];
  TxnPlan plan;
  plan.ops.push_back(etcd::Op::del(keys_.network(tenant, name)));
  plan.ops.push_back(etcd::Op::del(keys_.netkey(vni)));
  const auto r = txn(plan);
  apply_plan_locally(plan, r.revision);
  event(tenant, "", "", "network_deleted", fmt::format("network {} deleted (VNI {})", name, vni));
  return json{{"deleted", name}, {"tenant", tenant}};
}

json Controller::create_vm(const Caller& c, const std::string& body) {
  const auto started = Clock::now();
  const CreateVmRequest req = parse_create_vm(body, c.admin ? "" : c.tenant);
  Flavor flavor;
  Image image;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!tenants_.count(req.tenant)) throw ApiError(404, "unknown_tenant", fmt::format("no tenant '{}' (nimbus tenant list)", req.tenant));
    flavor = find_flavor(flavors_, req.flavor);
    image = find_image(images_, req.image);
  }
  VmRecord rec;
  rec.id = random_hex(8);
  {
    // NICs: each named network of the tenant, a MAC from the id (unique as ids are).
    std::lock_guard<std::mutex> lock(mu_);
    // A VM with NICs gets an id whose first 4 bytes (its MACs') no other VM's id starts with.
    auto taken = [&](const std::string& id) {
      if (vms_.count(id)) return true;
      if (req.networks.empty()) return false;
      auto it = vms_.lower_bound(id.substr(0, 8));
      return it != vms_.end() && it->first.compare(0, 8, id, 0, 8) == 0;
    };
    while (taken(rec.id)) rec.id = random_hex(8);
    for (std::size_t i = 0; i < req.networks.size(); ++i) {
      auto it = networks_.find(req.tenant + "/" + req.networks[i]);
      if (it == networks_.end())
        throw ApiError(404, "unknown_network",
                       fmt::format("tenant '{}' has no network '{}' (nimbus network create {})", req.tenant, req.networks[i], req.networks[i]),
                       json{{"field", "networks"}});
      rec.nics.push_back(VmNic{req.networks[i], it->second.vni, nic_mac(rec.id, i)});
    }
  }
  rec.tenant = req.tenant;
  rec.name = req.name;
  rec.flavor = flavor.name;
  rec.image = image.name;
  rec.mode = image.mode;
  rec.state = vm_state::kScheduled;
  rec.generation = 1;
  rec.anti_affinity = req.anti_affinity;
  rec.affinity = req.affinity;
  rec.created = now_rfc3339();
  rec.vcpus = flavor.vcpus;
  rec.memory_mib = flavor.memory_mib;
  rec.disk_gib = flavor.disk_gib;

  auto pending = std::make_shared<PendingCreate>();
  pending->rec = std::move(rec);
  pending->image = std::move(image);
  pending->flavor = std::move(flavor);
  pending->started = started;
  create_pipelined(pending);
  if (pending->error) std::rethrow_exception(pending->error);
  return pending->result;
}

void Controller::finish_create(PendingCreate& p, const std::string& result, std::exception_ptr error, json answer) {
  metrics_.placement_latency.observe(std::chrono::duration<double>(Clock::now() - p.started).count());
  metrics_.count_decision(result);
  p.error = std::move(error);
  p.result = std::move(answer);
  p.done = true;
}

void Controller::create_pipelined(const std::shared_ptr<PendingCreate>& pending) {
  const std::size_t depth = std::max<std::size_t>(1, options_.max_batches_in_flight);
  std::unique_lock<std::mutex> lock(batch_mu_);
  batch_queue_.push_back(pending);
  while (!pending->done) {
    const bool stalled = create_stalled_at_ && *create_stalled_at_ == create_batches_finished_ && create_batches_in_flight_ > 0;
    if (batch_running_ || batch_queue_.empty() || create_batches_in_flight_ >= depth ||
        (create_drain_ && create_batches_in_flight_ > 0) || stalled) {
      batch_cv_.wait(lock);
      continue;
    }
    // Nobody is deciding and the pipeline has room: this thread decides what is queued (its own
    // request included, unless a batch in flight holds it) and commits it.
    batch_running_ = true;
    create_drain_ = false;  // nothing is in flight if it was set
    create_stalled_at_.reset();
    const uint64_t seq = ++create_batch_seq_;
    const std::vector<uint64_t> after(create_seqs_in_flight_.begin(), create_seqs_in_flight_.end());
    std::vector<std::shared_ptr<PendingCreate>> batch;
    while (!batch_queue_.empty() && batch.size() < std::max<std::size_t>(1, options_.max_batch)) {
      batch.push_back(std::move(batch_queue_.front()));
      batch_queue_.pop_front();
    }
    lock.unlock();
    CreateBatch b;
    try {
      b = decide_creates(batch, seq);
      b.after = after;
    } catch (...) {
      b = CreateBatch{};
      for (auto& p : batch)
        if (!p->done) {
          p->error = std::current_exception();
          p->done = true;
        }
    }
    lock.lock();
    batch_running_ = false;
    // Requests deferred by the decision (a name twice, or in a batch in flight; no room left in
    // the transaction) go back to the head of the queue.
    for (auto it = b.deferred.rbegin(); it != b.deferred.rend(); ++it) batch_queue_.push_front(*it);
    if (b.creates.empty()) {
      // Everything deferred while batches are in flight: decide again once one of them ends.
      if (!b.deferred.empty() && create_batches_in_flight_ > 0) create_stalled_at_ = create_batches_finished_;
      batch_cv_.notify_all();
      settle_refusals(b, true, lock);  // decided on the batches in flight only: they stand if those commit
      continue;
    }
    ++create_batches_in_flight_;
    create_seqs_in_flight_.insert(b.seq);
    batch_cv_.notify_all();  // the next batch may be decided while this one commits
    lock.unlock();
    std::vector<etcd::Op> events;
    const bool committed = commit_create_batch(b, events);
    lock.lock();
    --create_batches_in_flight_;
    ++create_batches_finished_;
    create_seqs_in_flight_.erase(b.seq);
    create_outcomes_[b.seq] = committed;
    while (!create_outcomes_.empty() && create_outcomes_.begin()->first + 256 < b.seq) create_outcomes_.erase(create_outcomes_.begin());
    // Waited for here, out of the pipeline: this batch no longer counts as in flight.
    settle_refusals(b, committed, lock);
    if (!committed) {
      // Batches decided on this one's tentative state will be refused too: no new decision until
      // they have all ended and the placement cache is back on what etcd holds.
      create_drain_ = true;
      for (auto it = b.in_txn.rbegin(); it != b.in_txn.rend(); ++it)
        if (!(*it)->done) batch_queue_.push_front(*it);
    }
    batch_cv_.notify_all();
    if (!events.empty()) {
      lock.unlock();
      put_events(events);
      lock.lock();
    }
  }
}

Controller::CreateBatch Controller::decide_creates(std::vector<std::shared_ptr<PendingCreate>>& batch, uint64_t seq) {
  CreateBatch b;
  b.seq = seq;
  const auto batch_start = Clock::now();
  for (auto& p : batch)
    if (!p->dequeued) {
      p->dequeued = true;
      metrics_.placement_queue.observe(std::chrono::duration<double>(batch_start - p->started).count());
    }
  std::lock_guard<std::mutex> place_lock(placement_mu_);
  std::map<std::string, KeyAfter<Alloc>> allocs;
  std::map<std::string, KeyAfter<Usage>> usages;
  std::size_t ops = 0;
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> names;
  // A refusal decided on tentative state is answered once that state has committed (see
  // CreateBatch::provisional); one decided on etcd's state alone at once.
  auto refuse = [&](const std::shared_ptr<PendingCreate>& pp, const char* result, std::exception_ptr error, bool tentative) {
    if (tentative) b.provisional.push_back({pp, result, std::move(error)});
    else finish_create(*pp, result, std::move(error));
  };
  for (auto& pp : batch) {
    PendingCreate& p = *pp;
    if (p.done) continue;
    VmRecord& rec = p.rec;
    const std::string name_key = rec.tenant + "/" + rec.name;
    if (vm_index_.count(name_key)) {
      finish_create(p, "name_taken",
                    std::make_exception_ptr(ApiError(409, "name_taken",
                                                     fmt::format("tenant '{}' already has a VM named '{}'; pick another name or delete it first",
                                                                 rec.tenant, rec.name))));
      continue;
    }
    // A name twice in one batch or in a batch in flight, or no room left in the transaction:
    // the next batch. (each create adds at most 4 ops: record, assignment, and maybe a new alloc
    // and usage)
    if (names.count(name_key) || in_flight_names_.count(name_key) || ops + 4 > options_.etcd_max_txn_ops - 8) {
      b.deferred.push_back(pp);
      continue;
    }
    auto t = tenants_.find(rec.tenant);
    if (t == tenants_.end()) {
      finish_create(p, "unknown_tenant",
                    std::make_exception_ptr(ApiError(404, "unknown_tenant", fmt::format("no tenant '{}' (nimbus tenant list)", rec.tenant))));
      continue;
    }
    // Each alloc and usage starts from what the batches in flight put, if any (compared by
    // value), else from the cache (compared by revision).
    auto [u, u_new] = usages.try_emplace(rec.tenant);
    if (u_new) {
      if (auto f = in_flight_usages_.find(rec.tenant); f != in_flight_usages_.end())
        u->second = {f->second.value, 0, f->second.dumped};
      else if (auto cached = usage_.find(rec.tenant); cached != usage_.end())
        u->second = {cached->second.value, cached->second.revision, std::nullopt};
    }
    if (auto err = check_quota(rec.tenant, t->second.value.quota, u->second.value, rec.resources())) {
      if (u_new) usages.erase(u);
      // Final only if etcd's usage alone (the cache) already refuses it; a refusal that needs
      // the usage of a batch in flight or of this batch's earlier creates waits for them.
      Usage confirmed;
      if (auto cached = usage_.find(rec.tenant); cached != usage_.end()) confirmed = cached->second.value;
      refuse(pp, "quota_exceeded", std::make_exception_ptr(*err),
             !check_quota(rec.tenant, t->second.value.quota, confirmed, rec.resources()).has_value());
      continue;
    }
    std::optional<std::string> host;
    std::string reason;
    {
      // The model keeps the tentative placement (later creates, and later batches while this
      // one is in flight, see it); the host is re-synced from the etcd cache once no batch in
      // flight puts it, whether they committed or not.
      ScopedTimer decide(metrics_.placement_decision);
      host = placement_model().place(FleetVm{rec.id, rec.tenant, "", rec.resources(), rec.affinity, rec.anti_affinity, 0.0},
                                     &reason);
    }
    if (!host) {
      if (u_new) usages.erase(u);
      const Flavor& flavor = p.flavor;
      // The model holds tentative seats while a batch is in flight or this one placed a create.
      const bool tentative = !in_flight_allocs_.empty() || !allocs.empty();
      refuse(pp, "no_capacity",
                    std::make_exception_ptr(ApiError(
                        503, "no_capacity",
                        fmt::format("no host has room for flavor {} ({} vCPUs, {} MiB, {} GiB){}: {}; try a smaller flavor, "
                                    "delete VMs or add hosts",
                                    flavor.name, flavor.vcpus, flavor.memory_mib, flavor.disk_gib,
                                    rec.anti_affinity.empty() && rec.affinity.empty() ? "" : " with its (anti-)affinity group", reason),
                        json{{"reason", reason}})),
             tentative);
      continue;
    }
    auto [a, a_new] = allocs.try_emplace(*host);
    if (a_new) {
      if (auto f = in_flight_allocs_.find(*host); f != in_flight_allocs_.end())
        a->second = {f->second.value, 0, f->second.dumped};
      else if (auto cached = alloc_.find(*host); cached != alloc_.end())
        a->second = {cached->second.value, cached->second.revision, std::nullopt};
    }
    ops += 2 + (a_new ? 1 : 0) + (u_new ? 1 : 0);
    rec.host = *host;
    a->second.value.add(rec.id, rec.resources());
    u->second.value = usage_after(u->second.value, rec.resources(), +1);
    names.insert(name_key);
    b.creates.push_back({rec, make_assign(rec, p.image, options_.disks_dir)});
    b.in_txn.push_back(pp);
  }
  // Only now: a dirty host is re-synced at the next placement_model(), which would drop the
  // tentative placements the later creates of this batch must see (and while this batch is in
  // flight, placement_model() leaves its hosts alone).
  for (const auto& [host, a] : allocs) model_dirty_.insert(host);
  if (b.creates.empty()) return b;
  b.plan = create_vms_txn(keys_, b.creates, allocs, usages);
  for (const auto& c : b.creates) b.failure.push_back(etcd::Op::get(keys_.vm(c.rec.tenant, c.rec.name)));
  for (const auto& [host, a] : allocs) b.failure.push_back(etcd::Op::get(keys_.alloc(host)));
  for (const auto& [tenant, u] : usages) b.failure.push_back(etcd::Op::get(keys_.usage(tenant)));
  // In flight from here: the next batch starts from exactly the values this one puts.
  std::map<std::string, const std::string*> puts;
  for (const auto& op : b.plan.ops)
    if (op.kind == etcd::Op::Kind::Put) puts[op.key] = &op.value;
  for (const auto& [host, a] : allocs) {
    b.chained = b.chained || a.in_flight_value.has_value();
    auto& f = in_flight_allocs_[host];
    f.value = a.value;
    f.dumped = *puts.at(keys_.alloc(host));
    ++f.batches;
    b.hosts.push_back(host);
  }
  for (const auto& [tenant, u] : usages) {
    b.chained = b.chained || u.in_flight_value.has_value();
    auto& f = in_flight_usages_[tenant];
    f.value = u.value;
    f.dumped = *puts.at(keys_.usage(tenant));
    ++f.batches;
    b.tenants.push_back(tenant);
  }
  for (const auto& c : b.creates) {
    b.names.push_back(c.rec.tenant + "/" + c.rec.name);
    ++in_flight_names_[b.names.back()];
  }
  return b;
}

void Controller::release_in_flight(const CreateBatch& b) {
  for (const auto& host : b.hosts) {
    auto f = in_flight_allocs_.find(host);
    if (f != in_flight_allocs_.end() && --f->second.batches <= 0) in_flight_allocs_.erase(f);
    model_dirty_.insert(host);  // re-synced from the cache once no batch in flight puts it
  }
  for (const auto& tenant : b.tenants) {
    auto f = in_flight_usages_.find(tenant);
    if (f != in_flight_usages_.end() && --f->second.batches <= 0) in_flight_usages_.erase(f);
  }
  for (const auto& name : b.names) {
    auto f = in_flight_names_.find(name);
    if (f != in_flight_names_.end() && --f->second <= 0) in_flight_names_.erase(f);
  }
}

void Controller::settle_refusals(CreateBatch& b, bool committed, std::unique_lock<std::mutex>& lock) {
  if (b.provisional.empty()) return;
  bool hold = committed;
  if (hold && !b.after.empty()) {
    lock.unlock();  // predecessors_committed waits on batch_mu_ itself
    hold = predecessors_committed(b);
    lock.lock();
  }
  for (auto it = b.provisional.rbegin(); it != b.provisional.rend(); ++it) {
    PendingCreate& p = *it->pending;
    if (p.done) continue;
    if (hold) finish_create(p, it->result, it->error);
    else if (++p.attempts >= options_.max_retries)
      finish_create(p, "contention", std::make_exception_ptr(ApiError(503, "contention", "too many concurrent placements; retry")));
    else batch_queue_.push_front(it->pending);
  }
  b.provisional.clear();
  batch_cv_.notify_all();
}

bool Controller::commit_create_batch(CreateBatch& b, std::vector<etcd::Op>& events) {
  ++metrics_.create_batches;
  if (b.chained) ++metrics_.create_batches_chained;
  etcd::TxnResult r;
  // Sends the transaction; false when etcd is unavailable or the outcome unknown: each create of
  // the batch gets the error (the batches decided on this one compare its values, so they commit
  // only if it did).
  auto send = [&] {
    try {
      const auto commit_start = Clock::now();
      r = txn(b.plan, b.failure);
      metrics_.placement_commit.observe(std::chrono::duration<double>(Clock::now() - commit_start).count(), b.creates.size());
      return true;
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      release_in_flight(b);
      for (auto& p : b.in_txn) {
        p->error = std::current_exception();
        p->done = true;
      }
      return false;
    }
  };
  if (options_.before_create_commit) options_.before_create_commit(b.seq, b.chained);
  if (!send()) return false;
  // Refused: a chained batch whose predecessors were still in flight may have reached etcd before
  // them; once they have all committed, what it was decided on holds, so it goes again as is.
  if (!r.succeeded && b.chained && !b.after.empty() && predecessors_committed(b)) {
    ++metrics_.create_batches_resent;
    if (!send()) return false;
  }
  if (r.succeeded) {
    apply_plan_locally(b.plan, r.revision);
    try {
      for (const auto& c : b.creates)
        events.push_back(event_op(c.rec.tenant, c.rec.name, c.rec.host, "created",
                                  fmt::format("created {} ({}) on {} with flavor {}, image {}", c.rec.name, c.rec.id, c.rec.host,
                                              c.rec.flavor, c.rec.image)));
    } catch (const etcd::EtcdError& err) {
      std::lock_guard<std::mutex> lock(event_mu_);
      event_lease_ = 0;
      log(std::string("events not recorded (no event lease): ") + err.what());
    }
    std::lock_guard<std::mutex> lock(mu_);
    release_in_flight(b);
    for (std::size_t i = 0; i < b.creates.size(); ++i) finish_create(*b.in_txn[i], "placed", nullptr, vm_json(b.creates[i].rec));
    return true;
  }
  // Names now present answer 409 when decided again, the rest is decided again on the cache
  // refreshed from the failure's reads.
  ++metrics_.create_batches_refused;
  absorb_conflict(r);
  int attempts = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    release_in_flight(b);
    for (auto& p : b.in_txn) {
      attempts = std::max(attempts, ++p->attempts);
      if (p->attempts >= options_.max_retries)
        finish_create(*p, "contention", std::make_exception_ptr(ApiError(503, "contention", "too many concurrent placements; retry")));
    }
  }
  // A batch decided on its own (not on one in flight) met another replica's write: back off.
  // A chained one was refused because the batch under it was.
  if (!b.chained) backoff(attempts);
  return false;
}

bool Controller::predecessors_committed(const CreateBatch& b) {
  std::unique_lock<std::mutex> lock(batch_mu_);
  batch_cv_.wait(lock, [&] {
    for (const auto seq : b.after)
      if (create_seqs_in_flight_.count(seq)) return false;
    return true;
  });
  for (const auto seq : b.after) {
    auto o = create_outcomes_.find(seq);
    if (o == create_outcomes_.end() || !o->second) return false;
  }
  return true;
}

void Controller::put_events(const std::vector<etcd::Op>& events) {
  try {
    timed(metrics_, [&] { return client_->txn({}, events, {}); });
  } catch (const etcd::EtcdError& err) {
    {
      std::lock_guard<std::mutex> event_lock(event_mu_);
      event_lease_ = 0;
    }
    log(std::string("events not recorded: ") + err.what());
  }
}

json Controller::list_vms(const Caller& c, const std::string& tenant_filter) {
  json out = json::array();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, id] : vm_index_) {
    const VmRecord& r = vms_.at(id).value;
    if (!c.admin && r.tenant != c.tenant) continue;
    if (!tenant_filter.empty() && r.tenant != tenant_filter) continue;
    out.push_back(vm_json(r));
  }
  return out;
}

json Controller::show_vm(const Caller& c, const std::string& ref, const std::string& tenant_hint) {
  const auto v = find_vm(c, ref, tenant_hint);
  std::lock_guard<std::mutex> lock(mu_);
  return vm_json(v.value);
}

json Controller::delete_vm(const Caller& c, const std::string& ref, const std::string& tenant_hint) {
  auto pending = std::make_shared<PendingDelete>();
  pending->started = Clock::now();
  pending->id = find_vm(c, ref, tenant_hint).value.id;
  group_commit(delete_queue_, delete_running_, pending, &Controller::commit_deletes);
  if (pending->error) std::rethrow_exception(pending->error);
  return pending->result;
}

std::vector<etcd::Op> Controller::commit_deletes(std::vector<std::shared_ptr<PendingDelete>>& batch) {
  std::vector<etcd::Op> events;
  auto finish = [&](PendingDelete& p, std::exception_ptr error, json answer = {}) {
    metrics_.delete_latency.observe(std::chrono::duration<double>(Clock::now() - p.started).count());
    p.error = std::move(error);
    p.result = std::move(answer);
    p.done = true;
  };
  int attempt = 0;
  while (true) {
    std::unique_lock<std::mutex> place_lock(placement_mu_);
    std::vector<BatchedDelete> deletes;
    std::vector<PendingDelete*> in_txn;
    std::map<std::string, KeyAfter<Alloc>> allocs;
    std::map<std::string, KeyAfter<Usage>> usages;
    std::size_t ops = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::set<std::string> ids;
      for (auto& pp : batch) {
        PendingDelete& p = *pp;
        if (p.done) continue;
        auto it = vms_.find(p.id);
        if (it == vms_.end()) {  // deleted meanwhile (by another request, or a second time in this batch)
          finish(p, std::make_exception_ptr(ApiError(404, "not_found", fmt::format("no VM '{}' (it was just deleted)", p.id))));
          continue;
        }
        // The same VM twice in one batch, or no room left in the transaction: the next round.
        if (ids.count(p.id) || ops + 4 > options_.etcd_max_txn_ops - 8) continue;
        const VmRecord& rec = it->second.value;
        if (rec.state == vm_state::kMigrating) {
          finish(p, std::make_exception_ptr(ApiError(409, "migrating", fmt::format(
                        "VM '{}' is moving live to '{}': delete it once the move ends (seconds; nimbus vm show)", rec.name,
                        rec.migration.to))));
          continue;
        }
        auto [u, u_new] = usages.try_emplace(rec.tenant);
        if (u_new) {
          auto cached = usage_.find(rec.tenant);
          if (cached != usage_.end()) u->second = {cached->second.value, cached->second.revision};
        }
        u->second.value = usage_after(u->second.value, rec.resources(), -1);
        bool a_new = false;
        if (!rec.host.empty()) {
          auto [a, inserted] = allocs.try_emplace(rec.host);
          a_new = inserted;
          if (a_new) {
            auto cached = alloc_.find(rec.host);
            if (cached != alloc_.end()) a->second = {cached->second.value, cached->second.revision};
          }
          a->second.value.remove(rec.id, rec.resources());
        }
        ops += 2 + (a_new ? 1 : 0) + (u_new ? 1 : 0);
        ids.insert(p.id);
        deletes.push_back({rec, it->second.revision});
        in_txn.push_back(&p);
      }
    }
    if (deletes.empty()) return events;
    const TxnPlan plan = delete_vms_txn(keys_, deletes, allocs, usages);
    std::vector<etcd::Op> failure;
    for (const auto& d : deletes) failure.push_back(etcd::Op::get(keys_.vm(d.rec.tenant, d.rec.name)));
    for (const auto& [host, a] : allocs) failure.push_back(etcd::Op::get(keys_.alloc(host)));
    for (const auto& [tenant, u] : usages) failure.push_back(etcd::Op::get(keys_.usage(tenant)));
    const auto r = txn(plan, failure);
    if (r.succeeded) {
      apply_plan_locally(plan, r.revision);
      place_lock.unlock();
      try {
        for (const auto& d : deletes)
          events.push_back(event_op(d.rec.tenant, d.rec.name, d.rec.host, "deleted",
                                    fmt::format("deleted {} ({}) from {}", d.rec.name, d.rec.id, d.rec.host)));
      } catch (const etcd::EtcdError& err) {
        std::lock_guard<std::mutex> lock(event_mu_);
        event_lease_ = 0;
        log(std::string("events not recorded (no event lease): ") + err.what());
      }
      for (std::size_t i = 0; i < deletes.size(); ++i) {
        json j = deletes[i].rec;
        j["state"] = vm_state::kDeleted;
        finish(*in_txn[i], nullptr, std::move(j));
      }
      continue;  // deletes deferred within this batch, if any
    }
    ++metrics_.conflicts;
    {
      // What changed: the keys that exist now are applied, and a record that is gone (deleted
      // by another replica; its Get comes first, in the order of `deletes`) leaves the cache now
      // rather than when the watch brings its deletion, so the retry answers 404 at once.
      std::lock_guard<std::mutex> lock(mu_);
      for (std::size_t i = 0; i < r.ranges.size(); ++i) {
        for (const auto& kv : r.ranges[i].kvs) apply(kv, false);
        if (i < deletes.size() && r.ranges[i].kvs.empty() && r.revision > 0) {
          etcd::KeyValue gone;
          gone.key = keys_.vm(deletes[i].rec.tenant, deletes[i].rec.name);
          gone.mod_revision = r.revision;
          apply(gone, true);
        }
      }
    }
    place_lock.unlock();
    if (++attempt >= options_.max_retries) {
      for (auto* p : in_txn) finish(*p, std::make_exception_ptr(ApiError(503, "contention", "too many concurrent changes; retry")));
      return events;
    }
    backoff(attempt);
  }
}

json Controller::vm_action(const Caller& c, const std::string& ref, const std::string& tenant_hint, const std::string& action,
                           const std::string& body) {
  if (action == "migrate") {
    require_admin(c);
    const auto v = find_vm(c, ref, tenant_hint);
    if (v.value.state == vm_state::kMigrating)
      throw ApiError(409, "migrating", fmt::format("VM '{}' is already moving live to '{}'; wait for it (nimbus vm show)",
                                                   v.value.name, v.value.migration.to));
    std::string to;
    if (!body.empty()) {
      const json j = parse_body(body, R"({"host": "host-2"} or {} to let placement choose)");
      if (j.contains("host") && j["host"].is_string()) to = j["host"].get<std::string>();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto cur = vms_.find(v.value.id); cur != vms_.end() && settling_after_live_move(cur->second.value))
        throw ApiError(409, "settling", fmt::format("VM '{}' has just moved live to '{}', which has not reported it running "
                                                    "yet; retry in a few seconds", v.value.name, cur->second.value.host));
      if (!to.empty() && live_suspect(to))
        throw ApiError(409, "recent_failure", fmt::format("a live move to '{}' failed in the last 10 s; retry later or "
                                                          "choose another host", to));
    }
    for (int attempt = 0; attempt < options_.max_retries; ++attempt) {
      std::string target = to;
      {
        std::vector<FleetHost> hosts;
        std::vector<FleetVm> vms;
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (!to.empty() && !hosts_.count(to)) throw ApiError(404, "unknown_host", fmt::format("no live host '{}' (nimbus host list)", to));
          fleet_snapshot(hosts, vms);
        }
        FleetModel fleet(hosts, vms, options_.fleet);
        if (target.empty()) {
          auto t = fleet.find_target(v.value.id, true);
          if (!t) throw ApiError(409, "no_capacity", "no other host has room for this VM");
          target = *t;
        } else {
          try {
            fleet.move(v.value.id, target);
          } catch (const placement::online::PlacementError& e) {
            throw ApiError(409, "no_capacity", fmt::format("host '{}' cannot take this VM: {}", target, e.what()));
          }
        }
      }
      if (target == v.value.host) throw ApiError(409, "same_host", fmt::format("the VM already runs on '{}'", target));
      if (move_vm_auto(v.value.id, target, "migrate requested")) return show_vm(c, v.value.id, v.value.tenant);
      backoff(attempt);
    }
    throw ApiError(503, "contention", "too many concurrent changes; retry");
  }
  if (action != "start" && action != "stop" && action != "reboot")
    throw ApiError(404, "unknown_action", fmt::format("unknown action '{}': use start, stop, reboot or migrate", action));
  for (int attempt = 0; attempt < options_.max_retries; ++attempt) {
    const auto v = find_vm(c, ref, tenant_hint);
    VmRecord rec = v.value;
    if (rec.state == vm_state::kMigrating)
      throw ApiError(409, "migrating", fmt::format("VM '{}' is moving live to '{}': {} it once the move ends (seconds; "
                                                   "nimbus vm show)", rec.name, rec.migration.to, action));
    Image image;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto im = images_.find(rec.image);
      if (im != images_.end()) image = im->second;
    }
    TxnPlan plan;
    plan.compares.push_back(etcd::Compare::mod_revision_is(keys_.vm(rec.tenant, rec.name), v.revision));
    if (action == "stop") {
      if (rec.state == vm_state::kStopped) {
        std::lock_guard<std::mutex> lock(mu_);
        return vm_json(rec);
      }
      rec.state = vm_state::kStopped;
      plan.ops.push_back(etcd::Op::del(keys_.assign(rec.host, rec.id)));
    } else {
      if (action == "start" && rec.state != vm_state::kStopped && rec.state != vm_state::kFailed) {
        std::lock_guard<std::mutex> lock(mu_);
        return vm_json(rec);
      }
      rec.state = vm_state::kScheduled;
      rec.generation += 1;
      plan.ops.push_back(etcd::Op::put(keys_.assign(rec.host, rec.id), dump_record(make_assign(rec, image, options_.disks_dir))));
    }
    plan.ops.push_back(etcd::Op::put(keys_.vm(rec.tenant, rec.name), dump_record(rec)));
    const auto r = txn(plan);
    if (r.succeeded) {
      apply_plan_locally(plan, r.revision);
      event(rec.tenant, rec.name, rec.host, action, fmt::format("{} {} (generation {})", action, rec.name, rec.generation));
      std::lock_guard<std::mutex> lock(mu_);
      return vm_json(rec);
    }
    backoff(attempt);
    try {
      load_all();
    } catch (const etcd::EtcdError&) {
    }
  }
  throw ApiError(503, "contention", "too many concurrent changes; retry");
}

Controller::ConsoleTarget Controller::console_target(const Caller& c, const std::string& ref, const std::string& tenant_hint) {
  const auto v = find_vm(c, ref, tenant_hint);
  std::lock_guard<std::mutex> lock(mu_);
  auto h = hosts_.find(v.value.host);
  if (h == hosts_.end())
    throw ApiError(503, "host_unreachable", fmt::format("the VM's host '{}' is not up; retry once it moved", v.value.host));
  if (v.value.state == vm_state::kStopped) throw ApiError(409, "stopped", "the VM is stopped: nimbus vm start first");
  return {h->second.value.api, v.value.id, v.value.host};
}

// ---------------------------------------------------------------------------------------------
// Hosts, events, metrics

json Controller::list_hosts(const Caller& c) {
  require_admin(c);
  json out = json::array();
  std::vector<FleetHost> hosts;
  std::lock_guard<std::mutex> lock(mu_);
  fleet_hosts(hosts);
  for (const auto& fh : hosts) {
    json j;
    j["name"] = fh.name;
    auto h = hosts_.find(fh.name);
    j["state"] = h != hosts_.end() ? "up" : "lost";
    if (h != hosts_.end()) j["api"] = h->second.value.api;
    j["capacity"] = fh.capacity;
    auto a = alloc_.find(fh.name);
    const Alloc alloc = a == alloc_.end() ? Alloc{} : a->second.value;
    j["allocated"] = alloc.resources();
    j["vms"] = alloc.vms.size();
    auto adm = hostadmin_.find(fh.name);
    const HostAdmin admin = adm == hostadmin_.end() ? HostAdmin{} : adm->second.value;
    j["cordoned"] = admin.cordoned;
    j["draining"] = admin.draining;
    j["cpu_load"] = fh.cpu_load;
    out.push_back(j);
  }
  return out;
}

json Controller::drain_host(const Caller& c, const std::string& host, bool drain) {
  require_admin(c);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!hosts_.count(host) && !alloc_.count(host) && !hostadmin_.count(host))
      throw ApiError(404, "unknown_host", fmt::format("no host '{}' (nimbus host list)", host));
  }
  HostAdmin admin{drain, drain};
  TxnPlan plan;
  plan.ops.push_back(etcd::Op::put(keys_.hostadmin(host), dump_record(admin)));
  etcd::TxnResult r;
  for (int attempt = 1;; ++attempt) {
    try {
      r = txn(plan);
      break;
    } catch (const etcd::EtcdError& e) {
      // One unconditional put: sending it again is right whether or not the unanswered one
      // committed, so an etcd that stalls for a moment costs the caller a wait, not a 503.
      if (!e.unavailable() || attempt >= 3 || stopping_) throw;
      log(fmt::format("{} {}: etcd did not answer ({}); sending it again", drain ? "drain" : "undrain", host, e.what()));
    }
  }
  apply_plan_locally(plan, r.revision);
  event("", "", host, drain ? "drain" : "undrain",
        drain ? fmt::format("host {} cordoned and draining: its VMs move live where they can, else by stop-and-restart", host)
              : fmt::format("host {} schedulable again", host));
  return json{{"host", host}, {"cordoned", drain}, {"draining", drain}};
}

json Controller::list_events(const Caller& c, std::size_t limit) {
  const auto range = timed(metrics_, [&] { return client_->get_prefix(keys_.events()); });
  json out = json::array();
  for (auto it = range.kvs.rbegin(); it != range.kvs.rend() && out.size() < limit; ++it) {
    Event e;
    if (!parse_record(it->value, e)) continue;
    if (!c.admin && e.tenant != c.tenant) continue;
    out.push_back(e);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string Controller::metrics_text() {
  std::string out;
  std::map<std::string, uint64_t> by_state;
  std::size_t hosts_up = 0, hosts_lost = 0;
  std::size_t active = 0, bound = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, v] : vms_) ++by_state[derived_state(v.value)];
    hosts_up = hosts_.size();
    for (const auto& [h, l] : lost_)
      if (!hosts_.count(h)) ++hosts_lost;
    const FleetModel& fleet = placement_model();
    active = fleet.active_hosts();
    bound = fleet.lower_bound();
  }
  out += "# HELP nimbus_vms VMs by lifecycle state\n# TYPE nimbus_vms gauge\n";
  for (const char* s : {vm_state::kPending, vm_state::kScheduled, vm_state::kRunning, vm_state::kStopping, vm_state::kStopped,
                        vm_state::kMigrating, vm_state::kFailed})
    out += fmt::format("nimbus_vms{{state=\"{}\"}} {}\n", s, by_state[s]);
  out += fmt::format("# HELP nimbus_hosts Hosts by presence\n# TYPE nimbus_hosts gauge\nnimbus_hosts{{state=\"up\"}} {}\n"
                     "nimbus_hosts{{state=\"lost\"}} {}\n",
                     hosts_up, hosts_lost);
  out += fmt::format("# HELP nimbus_active_hosts Hosts holding at least one VM\n# TYPE nimbus_active_hosts gauge\n"
                     "nimbus_active_hosts {}\n# HELP nimbus_hosts_lower_bound Fewest hosts any placement needs\n"
                     "# TYPE nimbus_hosts_lower_bound gauge\nnimbus_hosts_lower_bound {}\n",
                     active, bound);
  out += "# HELP nimbus_placement_decisions_total Placement decisions by result\n# TYPE nimbus_placement_decisions_total counter\n";
  {
    std::lock_guard<std::mutex> lock(metrics_.mu);
    for (const auto& [k, v] : metrics_.decisions) out += fmt::format("nimbus_placement_decisions_total{{result=\"{}\"}} {}\n", k, v);
  }
  out += fmt::format("# HELP nimbus_txn_conflicts_total Transactions refused by their compares (then retried)\n"
                     "# TYPE nimbus_txn_conflicts_total counter\nnimbus_txn_conflicts_total {}\n",
                     metrics_.conflicts.load());
  out += fmt::format("# HELP nimbus_moves_total VMs moved to another host, by kind: live migration, or stop-and-restart "
                     "(drain, consolidation, migrate when live is not possible, and host loss)\n# TYPE nimbus_moves_total counter\n"
                     "nimbus_moves_total{{kind=\"live\"}} {}\nnimbus_moves_total{{kind=\"restart\"}} {}\n",
                     metrics_.live_moves.load(), metrics_.moves.load());
  out += fmt::format("# HELP nimbus_live_move_failures_total Live moves aborted before the switch-over (the VM ran on "
                     "on its source)\n# TYPE nimbus_live_move_failures_total counter\nnimbus_live_move_failures_total {}\n",
                     metrics_.live_failures.load());
  out += fmt::format("# HELP nimbus_vm_restarts_total VMs booted again by their host's agent without a new generation "
                     "(self-fencing, a guest started again after it ended)\n# TYPE nimbus_vm_restarts_total counter\n"
                     "nimbus_vm_restarts_total {}\n",
                     metrics_.vm_restarts.load());
  out += fmt::format("# HELP nimbus_controller_leader 1 when this replica leads\n# TYPE nimbus_controller_leader gauge\n"
                     "nimbus_controller_leader {}\n",
                     leader_ ? 1 : 0);
  out += metrics_.placement_latency.text("nimbus_placement_latency_seconds", "Create request to committed decision");
  out += metrics_.placement_decision.text("nimbus_placement_decision_seconds", "Choosing the host in the placement cache");
  out += metrics_.placement_queue.text("nimbus_placement_queue_seconds",
                                       "Create request to the start of its batch (waiting for the batch ahead to commit)");
  out += metrics_.placement_commit.text("nimbus_placement_commit_seconds",
                                        "The etcd transaction committing a create's batch (one observation per create)");
  out += metrics_.delete_latency.text("nimbus_delete_latency_seconds", "Delete request to committed deletion");
  out += metrics_.etcd_latency.text("nimbus_etcd_request_seconds", "Latency of the controller's etcd requests");
  out += fmt::format("# HELP nimbus_placement_cache_rebuilds_total Full rebuilds of the placement cache\n"
                     "# TYPE nimbus_placement_cache_rebuilds_total counter\nnimbus_placement_cache_rebuilds_total {}\n",
                     metrics_.model_rebuilds.load());
  out += fmt::format("# HELP nimbus_create_batches_total Create transactions sent (group commit)\n"
                     "# TYPE nimbus_create_batches_total counter\nnimbus_create_batches_total {}\n"
                     "# HELP nimbus_create_batches_chained_total Create transactions decided while another was in flight\n"
                     "# TYPE nimbus_create_batches_chained_total counter\nnimbus_create_batches_chained_total {}\n"
                     "# HELP nimbus_create_batches_refused_total Create transactions refused by their compares (decided again)\n"
                     "# TYPE nimbus_create_batches_refused_total counter\nnimbus_create_batches_refused_total {}\n"
                     "# HELP nimbus_create_batches_resent_total Chained create transactions that reached etcd before the one under them, sent again\n"
                     "# TYPE nimbus_create_batches_resent_total counter\nnimbus_create_batches_resent_total {}\n",
                     metrics_.create_batches.load(), metrics_.create_batches_chained.load(),
                     metrics_.create_batches_refused.load(), metrics_.create_batches_resent.load());
  return out;
}

} // namespace nimbus::cloud::controller

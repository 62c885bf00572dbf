#include "cloud/host/host_agent.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cloud/host/vmm_process.hpp"
#include "hypervisor/vm_control.hpp"

namespace nimbus::cloud::host {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// A jailed VMM's memory ceiling above its guest's RAM (the JIT's code cache, device buffers,
// the page cache of its disk writes, which the kernel reclaims at the limit), and its threads.
constexpr int64_t kVmmMemoryHeadroomMib = 256;
constexpr int kVmmMaxThreads = 256;

std::string now_iso() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms);
}

void log_line(const std::string& text) { fmt::print(stderr, "[{}] nimbus host: {}\n", now_iso(), text); }

// A deterministic synthetic load in [0.05, 0.95] per vCPU from the VM id (FNV-1a).
double hash_load(const std::string& id) {
  uint64_t h = 1469598103934665603ull;
  for (char c : id) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return 0.05 + 0.9 * static_cast<double>(h % 10000) / 10000.0;
}

} // namespace

std::vector<std::string> migrate_transport_args(const HostAgentOptions& options, const std::string& to) {
  if (to.starts_with("tls:")) {
    if (!options.migration_tls())
      throw std::runtime_error(fmt::format("the destination {} takes live moves over TLS only; start this host agent with "
                                           "--tls-cert, --tls-key and --tls-ca (the cloud's CA)",
                                           to));
    return {"--tls-cert", options.migration_tls_cert, "--tls-key", options.migration_tls_key, "--tls-ca",
            options.migration_tls_ca};
  }
  if (options.migration_tls())
    throw std::runtime_error(fmt::format("this host agent sends VMs over TLS only (--tls-ca is set) and the destination "
                                         "{} waits in the clear; give its host agent --tls-cert, --tls-key and --tls-ca",
                                         to));
  return {};
}

HostAgent::HostAgent(HostAgentOptions options) : options_(std::move(options)) {
  if (options_.hosts.empty()) throw std::invalid_argument("host agent: no host name");
  for (const auto& h : options_.hosts) {
    if (!valid_vm_id(h)) throw std::invalid_argument("host agent: invalid host name '" + h + "' (1-63 of A-Z a-z 0-9 . _ -)");
    host_set_.insert(h);
  }
  if (options_.etcd_prefix.empty() || options_.etcd_prefix.back() != '/') options_.etcd_prefix += '/';
  if (options_.lease_ttl < 2) throw std::invalid_argument("host agent: --lease-ttl must be at least 2 s");
}

HostAgent::~HostAgent() {
  try {
    shutdown();
  } catch (...) {
  }
}

void HostAgent::set_api_address(const std::string& api) {
  std::lock_guard lock(mutex_);
  options_.api = api;
}

void HostAgent::start() {
  if (started_) return;
  started_ = true;
  started_wall_ = now_iso();
  if (options_.dir.empty()) throw std::invalid_argument("host agent: no state directory (--dir)");
  fs::create_directories(fs::path(options_.dir) / "vms");
  if (!options_.simulate) {
    exe_ = options_.nimbus_executable;
    if (exe_.empty()) {
      std::error_code ec;
      exe_ = fs::read_symlink("/proc/self/exe", ec).string();
      if (ec) exe_ = "/proc/self/exe";
    }
    net_ = std::make_unique<HostNetwork>("0.0.0.0", options_.net_port);
    net_->set_self(options_.hosts.front());
  }
  if (!options_.etcd_endpoints.empty()) {
    etcd::ClientOptions o;
    o.endpoints = options_.etcd_endpoints;
    o.ca_file = options_.etcd_ca;
    o.cert_file = options_.etcd_cert;
    o.key_file = options_.etcd_key;
    o.request_timeout = 2000ms;
    o.watch_retry_budget = 0ms;  // the lease keeper re-registers (and re-watches) anyway
    o.watch_idle_reconnect = 30000ms;
    etcd_ = std::make_unique<etcd::Client>(o);
    // Keepalives must fail fast: the fencing deadline is TTL - 1 s after the last good one.
    o.request_timeout = std::chrono::milliseconds(std::clamp<int64_t>(options_.lease_ttl * 1000 / 4, 300, 2000));
    keepalive_client_ = std::make_unique<etcd::Client>(o);
  }
  supervisor_ = std::thread([this] { supervise(); });
  if (etcd_) {
    lease_thread_ = std::thread([this] { keep_lease(); });
    watchdog_ = std::thread([this] { watchdog(); });
    publisher_ = std::thread([this] { publish(); });
  }
}

void HostAgent::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (!started_ || shut_down_) return;
    shut_down_ = true;
  }
  {
    std::lock_guard lock(watch_mutex_);
    if (watch_) watch_->stop();
    watch_.reset();
    if (net_watch_) net_watch_->stop();
    net_watch_.reset();
  }
  // Stop every VM: SIGTERM now, SIGKILL at the deadline (the supervisor does both and reaps).
  size_t active = 0;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, vm] : vms_) {
      if (is_active(vm.state)) {
        request_stop(vm);
        ++active;
      }
    }
    wake_.notify_all();
  }
  if (active) log_line(fmt::format("stopping {} VM(s)", active));
  const auto deadline = Clock::now() + options_.stop_grace + 2s;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      bool any = false;
      for (auto& [id, vm] : vms_) any = any || is_active(vm.state);
      if (!any || Clock::now() > deadline) break;
    }
    std::this_thread::sleep_for(20ms);
  }
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
    publish_cv_.notify_all();
  }
  stop_cv_.notify_all();
  std::vector<Sender> senders;
  {
    std::lock_guard lock(mutex_);
    senders = std::move(senders_);
  }
  for (auto& t : senders)
    if (t.thread.joinable()) t.thread.join();  // their `nimbus migrate` ends with the VMM it talked to
  if (supervisor_.joinable()) supervisor_.join();
  if (watchdog_.joinable()) watchdog_.join();
  if (lease_thread_.joinable()) lease_thread_.join();
  if (publisher_.joinable()) publisher_.join();
  {
    std::lock_guard lock(watch_mutex_);  // a registration racing with shutdown may have made one
    if (watch_) watch_->stop();
    watch_.reset();
    if (net_watch_) net_watch_->stop();
    net_watch_.reset();
  }
  // Whatever is left (a VMM that ignored SIGKILL's reaping window) dies with its group.
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, vm] : vms_)
      if (vm.pid > 0) signal_group(vm.pid, SIGKILL);
  }
  if (etcd_ && lease_ != 0) {
    try {
      etcd_->lease_revoke(lease_);
      log_line("lease revoked");
    } catch (const std::exception& e) {
      log_line(std::string("could not revoke the lease (it expires by itself): ") + e.what());
    }
    lease_ = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// VM table helpers (lock held)

std::string HostAgent::dir_for(const std::string& id) const { return (fs::path(options_.dir) / "vms" / id).string(); }

const HostAgent::Vm& HostAgent::find(const std::string& id) const {
  auto it = vms_.find(id);
  if (it == vms_.end()) throw ApiError(404, "no VM '" + id + "' on this host");
  return it->second;
}

void HostAgent::set_state(Vm& vm, VmState s, const std::string& reason) {
  if (vm.state == s && reason.empty()) return;
  vm.state = s;
  if (!reason.empty() || s == VmState::Running || s == VmState::Starting) vm.reason = reason;
  if (vm.from_etcd) status_dirty_.insert(vm.spec.id);
  network_state_changed(vm);
  publish_cv_.notify_all();
}

void HostAgent::network_state_changed(Vm& vm) {
  if (!net_ || vm.spec.nics.empty()) return;
  if (vm.state == VmState::Running && !vm.incoming) {
    publish_nics(vm, true);
  } else if (!is_active(vm.state) && vm.pid == 0) {
    publish_nics(vm, false);
    net_->detach(vm.spec.id);
  }
}

void HostAgent::publish_nics(const Vm& vm, bool present) {
  if (!etcd_) return;
  const std::string address = fmt::format("{}:{}", listen_host(), net_->host_side_port());
  for (const NetNic& nic : vm.spec.nics) {
    const std::string key =
        fmt::format("{}net/ports/{}/{}/{}", options_.etcd_prefix, nic.vni, machine::format_mac(nic.mac), vm.host);
    if (present) {
      extra_dels_.erase(key);
      extra_puts_[key] = json{{"vm", vm.spec.id}, {"address", address}}.dump();
    } else {
      extra_puts_.erase(key);
      extra_dels_.insert(key);
    }
  }
}

void HostAgent::on_net_events(const std::vector<etcd::WatchEvent>& events) {
  const std::string base = options_.etcd_prefix;
  for (const auto& e : events) {
    const std::string rel = e.kv.key.substr(base.size());
    const bool deleted = e.type == etcd::EventType::Delete;
    if (!apply_net_key(*net_, rel, deleted ? nullptr : &e.kv.value)) log_line("ignoring malformed network key " + e.kv.key);
  }
}

void HostAgent::request_start(Vm& vm) {
  vm.spawn_wanted = true;
  vm.incoming = false;
  vm.incoming_address.clear();
  vm.sent_to.clear();
  vm.migrated = false;
  vm.killed_by_fence = false;
  vm.stop_requested = false;
  vm.exit_code = 0;
  vm.cpu_load = 0;
  vm.cpu_seconds = 0;
  vm.sampled_at = {};
  vm.started = now_iso();
  // Said with the count, so a restart the controller did not ask for (self-fencing, a guest
  // that powered off and was started again) is visible to it and to the VM's owner.
  if (vm.starts > 0) vm.previous_end = std::string(to_string(vm.state)) + (vm.reason.empty() ? "" : ": " + vm.reason);
  ++vm.starts;
  set_state(vm, VmState::Starting);
  wake_.notify_all();
}

void HostAgent::request_stop(Vm& vm) {
  vm.spawn_wanted = false;
  if (vm.state == VmState::Starting && vm.pid == 0 && !vm.spawning) {
    set_state(vm, VmState::Stopped);
    return;
  }
  if (!is_active(vm.state)) return;
  vm.stop_requested = true;
  if (vm.state != VmState::Stopping) {
    vm.stop_deadline = Clock::now() + options_.stop_grace;
    if (vm.pid > 0) signal_group(vm.pid, SIGTERM);
    set_state(vm, VmState::Stopping);
  }
  wake_.notify_all();
}

double HostAgent::simulated_load(const Vm& vm) const {
  if (vm.load_override >= 0) return vm.load_override;
  return hash_load(vm.spec.id) * static_cast<double>(vm.spec.vcpus);
}

json HostAgent::vm_json(const Vm& vm) const {
  json j = {{"id", vm.spec.id},
            {"host", vm.host},
            {"state", to_string(vm.state)},
            {"generation", vm.spec.generation},
            {"source", vm.from_etcd ? "etcd" : "api"},
            {"pid", vm.pid},
            {"cpu_load", std::round(vm.cpu_load * 1000) / 1000},
            {"cpu_seconds", vm.cpu_seconds},
            {"started", vm.started},
            {"starts", vm.starts},
            {"spec", vm_spec_to_json(vm.spec)}};
  if (!vm.previous_end.empty()) j["previous_end"] = vm.previous_end;
  if (vm.state == VmState::PoweredOff || vm.state == VmState::Failed) j["exit_code"] = vm.exit_code;
  if (!vm.reason.empty()) j["reason"] = vm.reason;
  if (!options_.simulate) j["console"] = "/v1/vms/" + vm.spec.id + "/console";
  if (vm.incoming) j["incoming_address"] = vm.incoming_address;
  if (!vm.sent_to.empty()) j["migrating_to"] = vm.sent_to;
  return j;
}

// ---------------------------------------------------------------------------------------------
// API operations

json HostAgent::host_info(const std::string& host_name) const {
  const std::string host = host_name.empty() ? options_.hosts.front() : host_name;
  if (!host_set_.count(host)) throw ApiError(404, "this agent does not play host '" + host + "'");
  std::lock_guard lock(mutex_);
  json status = host_status(host);
  json vms = json::array();
  for (const auto& [id, vm] : vms_)
    if (vm.host == host) vms.push_back(vm_json(vm));
  return json{{"name", host},
              {"rack", options_.rack},
              {"api", options_.api},
              {"capacity", {{"vcpus", options_.harts}, {"memory_mib", options_.memory_mib}, {"disk_gib", options_.disk_gib}}},
              {"used", status["used"]},
              {"cpu_load", status["cpu_load"]},
              {"simulate", options_.simulate},
              {"etcd", !options_.etcd_endpoints.empty()},
              {"registered", registered_.load()},
              {"fenced", fenced_},
              {"lease", std::to_string(lease_.load())},
              {"started", started_wall_},
              {"vms", vms}};
}

json HostAgent::hosts() const {
  json out = json::array();
  for (const auto& h : options_.hosts) out.push_back(h);
  return out;
}

json HostAgent::list_vms() const {
  std::lock_guard lock(mutex_);
  json out = json::array();
  for (const auto& [id, vm] : vms_) out.push_back(vm_json(vm));
  return out;
}

json HostAgent::get_vm(const std::string& id) const {
  std::lock_guard lock(mutex_);
  return vm_json(find(id));
}

std::pair<bool, json> HostAgent::put_vm(const std::string& host_name, const VmSpec& spec) {
  const std::string host = host_name.empty() ? options_.hosts.front() : host_name;
  if (!host_set_.count(host)) throw ApiError(404, "this agent does not play host '" + host + "'");
  if (!options_.disks_dir.empty() && !spec.disk.empty() &&
      spec.disk.rfind(options_.disks_dir + "/", 0) != 0)
    throw ApiError(400, "field 'disk': \"" + spec.disk + "\" is not under the shared disk directory " + options_.disks_dir);
  std::lock_guard lock(mutex_);
  if (shut_down_) throw ApiError(503, "the agent is shutting down");
  if (auto it = vms_.find(spec.id); it != vms_.end()) {
    if (it->second.spec == spec && it->second.host == host) return {false, vm_json(it->second)};
    throw ApiError(409, "VM '" + spec.id + "' already exists with another spec (" +
                            std::string(it->second.from_etcd ? "assigned by the controller" : "created through the API") +
                            "); DELETE it first");
  }
  if (spec.state == "running") check_fits(host, spec);
  Vm& vm = vms_[spec.id];
  vm.spec = spec;
  vm.host = host;
  vm.from_etcd = false;
  vm.state = VmState::Stopped;
  if (spec.state == "running") request_start(vm);
  return {true, vm_json(vm)};
}

void HostAgent::check_fits(const std::string& host, const VmSpec& spec) const {
  int64_t vcpus = 0, memory = 0;
  for (const auto& [id, vm] : vms_)
    if (vm.host == host && is_active(vm.state) && id != spec.id) {
      vcpus += vm.spec.vcpus;
      memory += vm.spec.memory_mib;
    }
  if (vcpus + spec.vcpus > options_.harts || memory + spec.memory_mib > options_.memory_mib)
    throw ApiError(409, fmt::format("VM '{}' ({} vCPUs, {} MiB) does not fit on host {}: {} of {} vCPUs and {} of {} MiB "
                                    "are in use", spec.id, spec.vcpus, spec.memory_mib, host, vcpus, options_.harts, memory,
                                    options_.memory_mib));
}

void HostAgent::vm_action(const std::string& id, const std::string& action) {
  std::lock_guard lock(mutex_);
  if (shut_down_) throw ApiError(503, "the agent is shutting down");
  auto it = vms_.find(id);
  if (it == vms_.end()) throw ApiError(404, "no VM '" + id + "' on this host");
  Vm& vm = it->second;
  if (fenced_) throw ApiError(409, "the host is fenced (no etcd lease): VMs cannot start until it registers again");
  if (action == "start") {
    if (is_active(vm.state)) throw ApiError(409, "VM '" + id + "' is already " + to_string(vm.state));
    if (!vm.from_etcd) check_fits(vm.host, vm.spec);
    request_start(vm);
  } else if (action == "stop") {
    if (!is_active(vm.state)) throw ApiError(409, "VM '" + id + "' is not running (" + std::string(to_string(vm.state)) + ")");
    request_stop(vm);
  } else if (action == "reboot") {
    // The VMM ends a VM on reboot; the agent restarts it with a fresh VMM.
    if (is_active(vm.state)) {
      vm.restart_after_stop = true;
      vm.restart_spec = vm.spec;
      request_stop(vm);
    } else {
      request_start(vm);
    }
  } else {
    throw ApiError(400, "field 'action': must be start, stop or reboot, got \"" + action + "\"");
  }
}

void HostAgent::delete_vm(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = vms_.find(id);
  if (it == vms_.end()) throw ApiError(404, "no VM '" + id + "' on this host");
  Vm& vm = it->second;
  if (vm.from_etcd && assigned_.count(id))
    throw ApiError(409, "VM '" + id + "' is assigned to this host by the controller; delete it through the controller");
  if (is_active(vm.state)) {
    vm.remove_after_stop = true;
    request_stop(vm);
  } else {
    vms_.erase(it);
  }
}

json HostAgent::vm_stats(const std::string& id) const {
  std::string stats_file;
  json j;
  {
    std::lock_guard lock(mutex_);
    const Vm& vm = find(id);
    j = {{"id", id},
         {"state", to_string(vm.state)},
         {"cpu_load", vm.cpu_load},
         {"cpu_seconds", vm.cpu_seconds},
         {"pid", vm.pid},
         {"starts", vm.starts}};
    if (options_.simulate) return j;
    stats_file = (fs::path(dir_for(id)) / "stats.json").string();
  }
  std::ifstream in(stats_file);
  if (in) {
    try {
      j["vmm"] = json::parse(in);
    } catch (const std::exception&) {
    }
  }
  return j;
}

void HostAgent::set_load(const std::string& id, double load) {
  if (!options_.simulate) throw ApiError(409, "the load of a VM can only be set with --simulate");
  if (!(load >= 0) || load > 1000) throw ApiError(400, "field 'load': must be a number >= 0 (host harts' worth)");
  std::lock_guard lock(mutex_);
  auto it = vms_.find(id);
  if (it == vms_.end()) throw ApiError(404, "no VM '" + id + "' on this host");
  it->second.load_override = load;
  if (it->second.state == VmState::Running) it->second.cpu_load = load;
  publish_cv_.notify_all();
}

std::string HostAgent::console_log(const std::string& id) const {
  std::lock_guard lock(mutex_);
  find(id);
  if (options_.simulate) throw ApiError(409, "simulated VMs have no console");
  return (fs::path(dir_for(id)) / (id + ".log")).string();
}

std::string HostAgent::console_socket(const std::string& id) const {
  std::lock_guard lock(mutex_);
  find(id);
  if (options_.simulate) throw ApiError(409, "simulated VMs have no console");
  return (fs::path(dir_for(id)) / (id + ".console")).string();
}

bool HostAgent::vm_active(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = vms_.find(id);
  return it != vms_.end() && is_active(it->second.state);
}

// ---------------------------------------------------------------------------------------------
// Snapshots and live moves

std::string HostAgent::listen_host() const {
  // The host part of the advertised API address ("http://H:P"): what other hosts reach us at.
  std::string api = options_.api;
  if (auto p = api.find("://"); p != std::string::npos) api = api.substr(p + 3);
  if (auto c = api.rfind(':'); c != std::string::npos) api = api.substr(0, c);
  if (api.empty() || api == "0.0.0.0" || api == "[::]") return "127.0.0.1";
  return api;
}

HostAgent::ToolResult HostAgent::run_tool(const std::vector<std::string>& args, const std::string& log_file) const {
  ToolResult r;
  {
    std::ofstream truncate(log_file, std::ios::trunc);
  }
  VmmCommand cmd;
  cmd.executable = exe_;
  cmd.args = args;
  cmd.log_file = log_file;
  pid_t pid = 0;
  try {
    pid = spawn_vmm(cmd);  // its own group, killed if this thread (the agent) dies
  } catch (const std::exception& e) {
    r.output = e.what();
    return r;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::ifstream in(log_file);
  std::string last, all;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) {
      last = line;
      all += line + "\n";
    }
  r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  r.output = r.ok ? last : (last.empty() ? fmt::format("`nimbus {}` ended with status {}", args.front(), status) : last);
  // "nimbus migrate: ..." / "nimbus snapshot: ...": the tool's name is ours to say.
  for (const std::string prefix : {"nimbus migrate: ", "nimbus snapshot: "})
    if (r.output.rfind(prefix, 0) == 0) r.output = r.output.substr(prefix.size());
  return r;
}

namespace {
// Whether a VMM accepts connections on its control socket (it is up and serving).
bool control_socket_answers(const std::filesystem::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string text = path.string();
  if (text.size() >= sizeof address.sun_path) return true; // let nimbus migrate report it
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}
} // namespace

void HostAgent::send_vm(const std::string& id, const std::string& address) {
  json report;
  ToolResult r;
  std::string dir;
  {
    std::lock_guard lock(mutex_);
    dir = dir_for(id);
  }
  if (options_.simulate) {
    r.ok = true;
    report = {{"rounds", 0}, {"downtime_ms", 0.0}, {"total_ms", 0.0}, {"simulated", true}};
  } else {
    // A VMM the agent (re)started just now may not listen on its control socket yet (seen: a
    // move asked for right after a fenced VM came back failed with "connection refused").
    const auto control = hypervisor::VmControl::path(dir, id);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!control_socket_answers(control) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::vector<std::string> args = {"migrate", id, "--to", address, "--state-dir", dir, "--json"};
    try {
      const auto transport = migrate_transport_args(options_, address);
      args.insert(args.end(), transport.begin(), transport.end());
      r = run_tool(args, (fs::path(dir) / "migrate.log").string());
    } catch (const std::runtime_error& e) {
      r.ok = false;
      r.output = e.what();
    }
    if (r.ok) {
      try {
        report = json::parse(r.output);
      } catch (const std::exception&) {
        report = json::object();
      }
    }
  }
  std::lock_guard lock(mutex_);
  auto it = vms_.find(id);
  if (it == vms_.end()) return;
  Vm& vm = it->second;
  vm.sending = false;
  vm.migrated = r.ok;
  if (r.ok && options_.simulate) {
    vm.cpu_load = 0;
    set_state(vm, VmState::Migrated, "migrated live to " + address);
  }
  if (!r.ok && vm.state == VmState::Migrated)  // its VMM ended, but the hand-off was not confirmed
    set_state(vm, VmState::Failed, "live migration hand-off not confirmed: " + r.output);
  json result = {{"host", vm.host}, {"to", address}, {"generation", vm.spec.generation}, {"ok", r.ok},
                 {"error", r.ok ? "" : r.output}};
  for (const char* k : {"downtime_ms", "total_ms", "rounds"})
    if (report.contains(k)) result[k] = report[k];
  // The tool's output is not ours to trust as UTF-8: replace bad bytes rather than throw.
  if (vm.from_etcd)
    extra_puts_[options_.etcd_prefix + "migration/" + id] = result.dump(-1, ' ', false, json::error_handler_t::replace);
  publish_cv_.notify_all();
  log_line(r.ok ? fmt::format("VM {}: migrated live to {}: {}", id, address,
                                        report.dump(-1, ' ', false, json::error_handler_t::replace))
                : fmt::format("VM {}: live migration to {} failed, it runs on here: {}", id, address, r.output));
}

void HostAgent::find_incoming_addresses() {
  if (options_.simulate) return;
  for (auto& [id, vm] : vms_) {
    if (!vm.incoming || vm.pid <= 0) continue;
    if (!vm.incoming_address.empty()) {
      // An API VM has no controller to switch it over: it is adopted once its VMM runs it.
      if (!vm.from_etcd && vm.state == VmState::Incoming) {
        auto stats = read_vmm_stats((fs::path(dir_for(id)) / "stats.json").string());
        if (stats && stats->state == "running") {
          vm.incoming = false;
          log_line(fmt::format("VM {}: arrived by live migration: it runs here now", id));
          set_state(vm, VmState::Running);
        }
      }
      continue;
    }
    std::ifstream in(fs::path(dir_for(id)) / "vmm.log");
    if (!in) continue;
    in.seekg(static_cast<std::streamoff>(vm.log_offset));
    const std::string marker = "waiting for an incoming migration on ";
    for (std::string line; std::getline(in, line);) {
      const auto at = line.find(marker);
      if (at == std::string::npos) continue;
      vm.incoming_address = line.substr(at + marker.size());
      while (!vm.incoming_address.empty() && std::isspace(static_cast<unsigned char>(vm.incoming_address.back())))
        vm.incoming_address.pop_back();
      log_line(fmt::format("VM {}: incoming VMM listens on {}", id, vm.incoming_address));
      if (vm.from_etcd)
        extra_puts_[options_.etcd_prefix + "incoming/" + id] =
            json{{"host", vm.host}, {"generation", vm.spec.generation}, {"address", vm.incoming_address}}.dump();
      publish_cv_.notify_all();
      break;
    }
  }
}

json HostAgent::snapshot_vm(const std::string& id, const std::string& to) {
  std::string dir, path;
  {
    std::lock_guard lock(mutex_);
    const Vm& vm = find(id);
    if (options_.simulate) throw ApiError(409, "simulated VMs have no state to snapshot");
    if (vm.state != VmState::Running || vm.pid <= 0)
      throw ApiError(409, fmt::format("VM '{}' is {}: only a running VM can be snapshotted", id, to_string(vm.state)));
    dir = dir_for(id);
    if (to.empty()) {
      std::string stamp = now_iso();
      for (char& c : stamp)
        if (c == ':') c = '-';
      path = (fs::path(options_.dir) / "snapshots" / (id + "-" + stamp)).string();
    } else {
      path = to;
    }
  }
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  // A jailed VMM sees only its state directory: it writes there, and the snapshot moves after.
  const std::string written =
      !options_.jailed() ? path : (fs::path(dir) / ("snapshot-" + fs::path(path).filename().string())).string();
  const ToolResult r = run_tool({"snapshot", id, "--to", written, "--state-dir", dir}, (fs::path(dir) / "snapshot.log").string());
  if (r.ok && written != path) {
    fs::rename(written, path, ec);
    if (ec) { // another file system: copy, then drop the original
      ec.clear();
      fs::copy(written, path, fs::copy_options::recursive, ec);
      if (ec)
        throw ApiError(500, fmt::format("snapshot of VM '{}' written to {} but not moved to {}: {}", id, written, path,
                                        ec.message()));
      fs::remove_all(written, ec);
    }
  }
  if (!r.ok)
    throw ApiError(r.output.find("not supported") != std::string::npos ? 409 : 500,
                   fmt::format("snapshot of VM '{}' failed: {}", id, r.output));
  log_line(fmt::format("VM {}: snapshot written to {}", id, path));
  return json{{"id", id}, {"path", path}, {"report", r.output}, {"restore", "nimbus run --restore " + path}};
}

json HostAgent::migrate_vm(const std::string& id, const std::string& to, int64_t max_downtime_ms) {
  std::string dir;
  {
    std::lock_guard lock(mutex_);
    auto it = vms_.find(id);
    if (it == vms_.end()) throw ApiError(404, "no VM '" + id + "' on this host");
    Vm& vm = it->second;
    if (vm.from_etcd)
      throw ApiError(409, fmt::format("VM '{}' is assigned by the controller: move it with `nimbus vm migrate` "
                                      "(the controller drives both agents through etcd)", id));
    if (options_.simulate) throw ApiError(409, "simulated VMs cannot be migrated through the API");
    if (vm.sending) throw ApiError(409, fmt::format("VM '{}' is already being migrated to {}", id, vm.sent_to));
    if (vm.state != VmState::Running || vm.pid <= 0)
      throw ApiError(409, fmt::format("VM '{}' is {}: only a running VM can be migrated", id, to_string(vm.state)));
    vm.sending = true;
    vm.sent_to = to;
    dir = dir_for(id);
  }
  std::vector<std::string> args = {"migrate", id, "--to", to, "--state-dir", dir, "--json", "--max-downtime",
                                   std::to_string(max_downtime_ms)};
  ToolResult r;
  try {
    const auto transport = migrate_transport_args(options_, to);
    args.insert(args.end(), transport.begin(), transport.end());
    r = run_tool(args, (fs::path(dir) / "migrate.log").string());
  } catch (const std::runtime_error& e) {
    r.ok = false;
    r.output = e.what();
  }
  {
    std::lock_guard lock(mutex_);
    auto it = vms_.find(id);
    if (it != vms_.end()) {
      it->second.sending = false;
      it->second.migrated = r.ok;
      if (!r.ok && it->second.state == VmState::Migrated)
        set_state(it->second, VmState::Failed, "live migration hand-off not confirmed: " + r.output);
    }
  }
  if (!r.ok) throw ApiError(502, fmt::format("live migration of VM '{}' to {} failed: {}", id, to, r.output));
  log_line(fmt::format("VM {}: migrated live to {} (API)", id, to));
  try {
    return json{{"id", id}, {"to", to}, {"report", json::parse(r.output)}};
  } catch (const std::exception&) {
    return json{{"id", id}, {"to", to}, {"report", r.output}};
  }
}

bool HostAgent::fenced() const {
  std::lock_guard lock(mutex_);
  return fenced_;
}

std::string HostAgent::metrics() const {
  std::string out;
  std::map<std::string, int> by_state;
  for (VmState s : {VmState::Starting, VmState::Running, VmState::Stopping, VmState::Stopped, VmState::PoweredOff,
                    VmState::Failed, VmState::Fenced, VmState::Incoming, VmState::Migrated})
    by_state[to_string(s)] = 0;
  std::vector<std::pair<std::string, double>> cpu;
  bool fenced = false;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, vm] : vms_) {
      by_state[to_string(vm.state)]++;
      cpu.emplace_back(id, vm.cpu_seconds);
    }
    fenced = fenced_;
  }
  out += "# HELP nimbus_host_vms VMs on this agent by state.\n# TYPE nimbus_host_vms gauge\n";
  for (const auto& [s, n] : by_state) out += fmt::format("nimbus_host_vms{{state=\"{}\"}} {}\n", s, n);
  out += "# HELP nimbus_host_vm_cpu_seconds Host CPU time each VM got (from its VMM).\n# TYPE nimbus_host_vm_cpu_seconds counter\n";
  for (const auto& [id, s] : cpu) out += fmt::format("nimbus_host_vm_cpu_seconds{{vm=\"{}\"}} {}\n", id, s);
  if (net_) {
    const auto n = net_->stats();
    out += "# HELP nimbus_host_net_frames_total Tenant network frames through the host switch, by what happened.\n"
           "# TYPE nimbus_host_net_frames_total counter\n";
    for (const auto& [k, v] : std::initializer_list<std::pair<const char*, uint64_t>>{
             {"from_vmms", n.from_vmms}, {"to_vmms", n.to_vmms}, {"to_hosts", n.to_hosts}, {"from_hosts", n.from_hosts},
             {"spoofed", n.spoofed}, {"unauthenticated", n.unauthenticated}, {"replayed", n.replayed},
             {"strangers", n.strangers}, {"host_spoofed", n.host_spoofed}, {"unknown", n.unknown},
             {"malformed", n.malformed}, {"send_errors", n.send_errors}})
      out += fmt::format("nimbus_host_net_frames_total{{kind=\"{}\"}} {}\n", k, v);
  }
  std::lock_guard lock(metrics_mutex_);
  out += "# HELP nimbus_host_vm_exits_total VMM exits by kind.\n# TYPE nimbus_host_vm_exits_total counter\n";
  for (const char* k : {"powered_off", "failed", "stopped", "fenced", "migrated"}) {
    auto it = exits_.find(k);
    out += fmt::format("nimbus_host_vm_exits_total{{kind=\"{}\"}} {}\n", k, it == exits_.end() ? 0 : it->second);
  }
  out += "# HELP nimbus_host_lease_renew_failures_total Lease keepalives that failed.\n# TYPE nimbus_host_lease_renew_failures_total counter\n";
  out += fmt::format("nimbus_host_lease_renew_failures_total {}\n", lease_renew_failures_);
  out += "# HELP nimbus_host_fences_total Times the agent fenced itself (killed every VM).\n# TYPE nimbus_host_fences_total counter\n";
  out += fmt::format("nimbus_host_fences_total {}\n", fences_);
  out += "# HELP nimbus_host_registrations_total Registrations in etcd (new lease each).\n# TYPE nimbus_host_registrations_total counter\n";
  out += fmt::format("nimbus_host_registrations_total {}\n", registrations_);
  out += fmt::format("# HELP nimbus_host_fenced 1 while the agent is fenced.\n# TYPE nimbus_host_fenced gauge\nnimbus_host_fenced {}\n", fenced ? 1 : 0);
  out += "# HELP nimbus_host_etcd_errors_total etcd requests that failed.\n# TYPE nimbus_host_etcd_errors_total counter\n";
  out += fmt::format("nimbus_host_etcd_errors_total {}\n", etcd_errors_);
  out += "# HELP nimbus_host_etcd_request_seconds Latency of the agent's etcd requests.\n# TYPE nimbus_host_etcd_request_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < latency_buckets_.size(); ++i) {
    cumulative += latency_counts_[i];
    out += fmt::format("nimbus_host_etcd_request_seconds_bucket{{le=\"{}\"}} {}\n", latency_buckets_[i], cumulative);
  }
  cumulative += latency_counts_.back();
  out += fmt::format("nimbus_host_etcd_request_seconds_bucket{{le=\"+Inf\"}} {}\n", cumulative);
  out += fmt::format("nimbus_host_etcd_request_seconds_sum {}\n", latency_sum_);
  out += fmt::format("nimbus_host_etcd_request_seconds_count {}\n", latency_count_);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Supervisor: all process work happens on this one thread (PR_SET_PDEATHSIG is tied to the
// thread that forked, so VMMs must be forked by a thread that lives as long as the agent).

// The fencing watchdog: a thread of its own, so neither a keepalive blocked in its request nor
// the supervisor busy copying a disk template can delay it.
void HostAgent::watchdog() {
  const auto fence_after = std::chrono::seconds(options_.lease_ttl) - 1s;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (registered_ && !fenced_ && !shut_down_) {
      const auto last_ok = Clock::time_point(std::chrono::nanoseconds(last_ok_send_ns_.load()));
      const auto since = Clock::now() - last_ok;
      if (since >= fence_after) {
        const size_t killed = fence_locked();
        lock.unlock();
        log_line(fmt::format("FENCING: no lease keepalive succeeded within {} ms of the last good one's send time "
                             "(TTL {} s - 1 s); killed {} VM(s) (SIGKILL to each VMM's process group). Will register "
                             "again with a new lease once etcd answers.",
                             std::chrono::duration_cast<std::chrono::milliseconds>(since).count(), options_.lease_ttl, killed));
        lock.lock();
        continue;
      }
    }
    stop_cv_.wait_for(lock, 50ms);
  }
}

void HostAgent::supervise() {
  auto last_sample = Clock::now();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // 1. Spawns wanted.
    std::vector<std::pair<std::string, VmSpec>> to_spawn;
    for (auto& [id, vm] : vms_) {
      if (!vm.spawn_wanted) continue;
      vm.spawn_wanted = false;
      if (fenced_ || (shut_down_)) {
        set_state(vm, fenced_ ? VmState::Fenced : VmState::Stopped);
        continue;
      }
      if (options_.simulate) {
        if (vm.spec.incoming) {
          // A simulated VM arrives at once; the address is only a placeholder.
          vm.incoming = true;
          vm.incoming_address = "tcp:127.0.0.1:9";
          extra_puts_[options_.etcd_prefix + "incoming/" + id] =
              json{{"host", vm.host}, {"generation", vm.spec.generation}, {"address", vm.incoming_address}}.dump();
          set_state(vm, VmState::Incoming);
          continue;
        }
        vm.cpu_load = simulated_load(vm);
        set_state(vm, VmState::Running);
      } else {
        vm.spawning = true;
        to_spawn.emplace_back(id, vm.spec);
      }
    }
    if (!to_spawn.empty()) {
      lock.unlock();
      for (const auto& [id, spec] : to_spawn) spawn(id, spec);
      lock.lock();
    }
    // 2. Exits and stop deadlines; simulated stops complete at once.
    reap_and_time_out();
    find_incoming_addresses();
    // 3. Reconcile with the assignments.
    if (reconcile_dirty_ && !fenced_ && !shut_down_) {
      reconcile_dirty_ = false;
      apply_reconcile();
      continue;  // spawn what it asked for right away
    }
    // 4. CPU load from the VMMs' stats, once a second.
    if (Clock::now() - last_sample >= 1s) {
      last_sample = Clock::now();
      lock.unlock();
      sample_stats();
      lock.lock();
    }
    wake_.wait_for(lock, 100ms);
  }
}

uint32_t HostAgent::take_jail_uid(const std::string& id) {
  std::lock_guard lock(jail_uid_mutex_);
  if (const auto it = jail_uids_.find(id); it != jail_uids_.end()) return it->second;
  std::set<uint32_t> used;
  for (const auto& [vm, uid] : jail_uids_) used.insert(uid);
  for (uint32_t i = 0; i < options_.vmm_jail_uid_count; ++i) {
    const uint32_t uid = options_.vmm_jail_uid_first + i;
    if (!used.count(uid)) {
      jail_uids_[id] = uid;
      return uid;
    }
  }
  throw std::runtime_error(fmt::format("every uid of --vmm-jail-uids ({} of them) is held by a running VMM: widen the "
                                       "range",
                                       options_.vmm_jail_uid_count));
}

void HostAgent::release_jail_uid(const std::string& id) {
  std::lock_guard lock(jail_uid_mutex_);
  jail_uids_.erase(id);
}

void HostAgent::spawn(const std::string& id, const VmSpec& spec) {
  const fs::path dir = dir_for(id);
  std::string error;
  pid_t pid = 0;
  std::uintmax_t log_offset = 0;
  try {
    fs::create_directories(dir);
    // A previous run's stats would report a stale state; its console log is kept (appended).
    std::error_code ec;
    fs::remove(dir / "stats.json", ec);
    if (!spec.disk.empty() && !spec.incoming && !fs::exists(spec.disk)) {
      if (spec.disk_template.empty())
        throw std::runtime_error("disk " + spec.disk + " does not exist and the spec names no disk_template");
      log_line(fmt::format("VM {}: copying disk template {} to {}", id, spec.disk_template, spec.disk));
      sparse_copy(spec.disk_template, spec.disk);
    }
    const fs::path toml = dir / (id + ".toml");
    {
      std::ofstream out(toml);
      out << vm_toml(spec);
      if (!out) throw std::runtime_error("cannot write " + toml.string());
    }
    VmmCommand cmd;
    cmd.executable = exe_;
    const int64_t harts = std::max<int64_t>(1, std::min(spec.vcpus, options_.harts));
    if (spec.incoming) {
      // A live move in: the VMM takes the VM (configuration, memory, state) from the stream;
      // port 0 picks a free port, which it prints and find_incoming_addresses() reads.
      // --console-stdout: the console goes to <id>.log and the console socket as with --vm (a
      // single incoming VM would otherwise take the terminal); its echo lands in vmm.log.
      // With the cloud's certificates the stream goes over TLS, both hosts authenticated.
      cmd.args = {"run", "--incoming", (options_.migration_tls() ? "tls:" : "tcp:") + listen_host() + ":0", "--state-dir",
                  dir.string(), "--host-harts", std::to_string(harts), "--console-stdout"};
      if (options_.migration_tls())
        cmd.args.insert(cmd.args.end(), {"--tls-cert", options_.migration_tls_cert, "--tls-key", options_.migration_tls_key,
                                         "--tls-ca", options_.migration_tls_ca});
    } else {
      cmd.args = {"run", "--vm", toml.string(), "--state-dir", dir.string(), "--host-harts", std::to_string(harts)};
    }
    if (options_.jailed()) {
      std::string user = options_.vmm_jail_user;
      if (options_.vmm_jail_uid_count > 0) {
        const uint32_t uid = take_jail_uid(id);
        user = fmt::format("{}:{}", uid, uid);
      }
      cmd.args.insert(cmd.args.end(), {"--jail", "--jail-user", user});
      if (options_.vmm_limit_memory)
        cmd.args.insert(cmd.args.end(), {"--jail-memory-max", fmt::format("{}M", spec.memory_mib + kVmmMemoryHeadroomMib)});
      if (options_.vmm_limit_cpu) cmd.args.insert(cmd.args.end(), {"--jail-cpu-max", std::to_string(harts * 100 + 25)});
      if (options_.vmm_limit_pids) cmd.args.insert(cmd.args.end(), {"--jail-pids-max", std::to_string(kVmmMaxThreads)});
    }
    if (!spec.nics.empty()) {
      // Tenant networks: the VMM's tunnel has one peer, this agent's switch on loopback, and a
      // key of its own (host_network.hpp). The key file is in the VM's state dir, mode 0600.
      if (!net_) throw std::runtime_error("the VM has NICs and this agent has no network switch");
      const auto attachment = net_->attach(id, spec.nics);
      const fs::path key_file = dir / "net.key";
      fs::remove(key_file, ec);
      const int fd = ::open(key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0) throw std::runtime_error("cannot write " + key_file.string() + ": " + std::strerror(errno));
      const bool written = ::write(fd, attachment.key.data(), attachment.key.size()) == static_cast<ssize_t>(attachment.key.size());
      ::close(fd);
      if (!written) throw std::runtime_error("cannot write " + key_file.string());
      cmd.args.insert(cmd.args.end(), {"--net-tunnel", fmt::format("udp:{},peer=127.0.0.1:{},key={}", attachment.vmm_port,
                                                                  net_->vmm_side_port(), key_file.string())});
      if (options_.jailed()) cmd.args.insert(cmd.args.end(), {"--jail-network", "host"});
    }
    cmd.log_file = (dir / "vmm.log").string();
    std::error_code size_ec;
    const auto size = fs::file_size(cmd.log_file, size_ec);
    log_offset = size_ec ? 0 : size;
    pid = spawn_vmm(cmd);
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::lock_guard lock(mutex_);
  auto it = vms_.find(id);
  if (it == vms_.end()) {
    if (pid > 0) signal_group(pid, SIGKILL);
    release_jail_uid(id);
    return;
  }
  Vm& vm = it->second;
  vm.spawning = false;
  if (!error.empty()) {
    release_jail_uid(id);
    log_line(fmt::format("VM {}: could not start: {}", id, error));
    vm.exit_code = -1;
    set_state(vm, VmState::Failed, "could not start: " + error);
    std::lock_guard m(metrics_mutex_);
    exits_["failed"]++;
    return;
  }
  vm.pid = pid;
  if (fenced_ || vm.killed_by_fence) {  // fenced while we were forking: this copy must not run
    signal_group(pid, SIGKILL);
    vm.killed_by_fence = true;
    return;
  }
  if (vm.state != VmState::Starting) {  // stopped while starting
    vm.stop_requested = true;
    vm.stop_deadline = Clock::now() + options_.stop_grace;
    signal_group(pid, SIGTERM);
    if (vm.state != VmState::Stopping) set_state(vm, VmState::Stopping);
    return;
  }
  vm.log_offset = log_offset;
  if (spec.incoming) {
    vm.incoming = true;
    log_line(fmt::format("VM {}: incoming VMM started, pid {}: waiting for the VM to arrive", id, pid));
    set_state(vm, VmState::Incoming);
    return;
  }
  log_line(fmt::format("VM {}: VMM started, pid {}", id, pid));
  set_state(vm, VmState::Running);
  reconcile_dirty_ = true;  // a live move out may have waited for it to run
}

void HostAgent::reap_and_time_out() {
  const auto now = Clock::now();
  std::vector<std::string> erase;
  for (auto& [id, vm] : vms_) {
    if (options_.simulate) {
      if (vm.state == VmState::Stopping) {
        vm.cpu_load = 0;
        set_state(vm, VmState::Stopped);
        std::lock_guard m(metrics_mutex_);
        exits_["stopped"]++;
      }
    } else if (vm.pid > 0) {
      auto exit = try_reap(vm.pid);
      if (!exit) {
        if (vm.state == VmState::Stopping && now > vm.stop_deadline) {
          log_line(fmt::format("VM {}: VMM {} did not stop within {} ms of SIGTERM: SIGKILL", id, vm.pid,
                               options_.stop_grace.count()));
          signal_group(vm.pid, SIGKILL);
          vm.stop_deadline = now + 24h;
        }
        continue;
      }
      signal_group(vm.pid, SIGKILL);  // anything the VMM left in its group
      vm.pid = 0;
      release_jail_uid(id);
      vm.cpu_load = 0;
      const std::string how = exit->signaled ? fmt::format("killed by signal {}", exit->code)
                                             : fmt::format("exit code {}", exit->code);
      std::string kind;
      const VmState ended =
          exit_state(exit->signaled, exit->code, vm.killed_by_fence, vm.sending || vm.migrated, vm.stop_requested);
      if (ended == VmState::Migrated) {
        // The VMM ends with 0 once its VM left (docs/migration.md): the VM runs at sent_to now.
        set_state(vm, VmState::Migrated, "migrated live to " + vm.sent_to);
        kind = "migrated";
      } else if (ended == VmState::Fenced) {
        set_state(vm, VmState::Fenced, "killed by self-fencing (no etcd lease renewal)");
        kind = "fenced";
      } else if (ended == VmState::Stopped) {
        set_state(vm, VmState::Stopped);
        kind = "stopped";
      } else if (ended == VmState::PoweredOff) {
        vm.exit_code = 0;
        set_state(vm, VmState::PoweredOff, "the guest powered off");
        kind = "powered_off";
      } else {
        vm.exit_code = exit->signaled ? 128 + exit->code : exit->code;
        std::string detail;
        std::ifstream log(fs::path(dir_for(id)) / "vmm.log");
        for (std::string line; std::getline(log, line);)
          if (!line.empty()) detail = line;  // the VMM's last word
        set_state(vm, VmState::Failed, "VMM " + how + (detail.empty() ? "" : ": " + detail));
        kind = "failed";
      }
      log_line(fmt::format("VM {}: VMM exited ({}): {}", id, how, to_string(vm.state)));
      {
        std::lock_guard m(metrics_mutex_);
        exits_[kind]++;
      }
    } else if (vm.state == VmState::Stopping && !vm.spawning) {
      set_state(vm, VmState::Stopped);
    }
    if (!is_active(vm.state) && !vm.spawning) {
      if (vm.remove_after_stop) {
        erase.push_back(id);
      } else if (vm.restart_after_stop && !fenced_ && !shut_down_) {
        vm.restart_after_stop = false;
        vm.spec = vm.restart_spec;
        request_start(vm);
      }
    }
  }
  for (const auto& id : erase) {
    if (vms_[id].from_etcd) {
      status_gone_.insert(id);
      for (const char* dir : {"incoming/", "migration/"}) {
        extra_puts_.erase(options_.etcd_prefix + dir + id);
        extra_dels_.insert(options_.etcd_prefix + dir + id);
      }
    }
    status_dirty_.erase(id);
    vms_.erase(id);
    log_line(fmt::format("VM {}: removed", id));
  }
}

void HostAgent::sample_stats() {
  std::vector<std::pair<std::string, std::string>> files;
  {
    std::lock_guard lock(mutex_);
    if (options_.simulate) {
      for (auto& [id, vm] : vms_)
        if (vm.state == VmState::Running) {
          vm.cpu_load = simulated_load(vm);
          vm.cpu_seconds += vm.cpu_load;  // one second per sample
        }
      return;
    }
    for (const auto& [id, vm] : vms_)
      if (vm.state == VmState::Running) files.emplace_back(id, (fs::path(dir_for(id)) / "stats.json").string());
  }
  for (const auto& [id, file] : files) {
    auto stats = read_vmm_stats(file);
    if (!stats) continue;
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    auto it = vms_.find(id);
    if (it == vms_.end() || it->second.state != VmState::Running) continue;
    Vm& vm = it->second;
    if (vm.sampled_at != Clock::time_point{}) {
      const double dt = std::chrono::duration<double>(now - vm.sampled_at).count();
      if (dt > 0.2) vm.cpu_load = std::max(0.0, (stats->cpu_seconds - vm.cpu_seconds) / dt);
    }
    vm.cpu_seconds = stats->cpu_seconds;
    vm.sampled_at = now;
  }
}

void HostAgent::apply_reconcile() {
  std::map<std::string, Assigned> assigned;
  for (const auto& [id, spec] : assigned_) assigned[id] = Assigned{spec.generation, spec.incoming, spec.migrate_to};
  std::map<std::string, Present> present;
  for (const auto& [id, vm] : vms_) {
    // A VM whose next generation is already waiting to start counts as that generation.
    const int64_t gen = vm.restart_after_stop ? vm.restart_spec.generation : vm.spec.generation;
    VmState st = vm.state;
    if (vm.remove_after_stop) continue;  // on its way out; a new assignment starts it afresh below
    present[id] = Present{gen, st, vm.from_etcd, vm.incoming, vm.sent_to};
  }
  for (const auto& action : reconcile(assigned, present)) {
    const std::string& id = action.id;
    switch (action.kind) {
      case ReconcileAction::Kind::Remove: {
        Vm& vm = vms_[id];
        log_line(fmt::format("VM {}: no longer assigned here: stopping and removing it", id));
        vm.remove_after_stop = true;
        vm.restart_after_stop = false;
        if (is_active(vm.state)) request_stop(vm);
        break;
      }
      case ReconcileAction::Kind::Restart: {
        Vm& vm = vms_[id];
        log_line(fmt::format("VM {}: generation {} -> {}: restarting it", id, vm.spec.generation, assigned_[id].generation));
        vm.from_etcd = true;
        vm.host = assigned_host_[id];
        if (is_active(vm.state)) {
          vm.restart_after_stop = true;
          vm.restart_spec = assigned_[id];
          request_stop(vm);
        } else {
          vm.spec = assigned_[id];
          request_start(vm);
        }
        break;
      }
      case ReconcileAction::Kind::Adopt: {
        // The controller switched the live move over: this copy is the VM now.
        Vm& vm = vms_[id];
        vm.incoming = false;
        vm.spec = assigned_[id];
        extra_puts_.erase(options_.etcd_prefix + "incoming/" + id);
        extra_dels_.insert(options_.etcd_prefix + "incoming/" + id);
        if (vm.state == VmState::Incoming) {
          if (options_.simulate) vm.cpu_load = simulated_load(vm);
          set_state(vm, VmState::Running);
        } else {
          status_dirty_.insert(id);
        }
        log_line(fmt::format("VM {}: live move switched over: it runs here now ({})", id, to_string(vm.state)));
        break;
      }
      case ReconcileAction::Kind::Send: {
        Vm& vm = vms_[id];
        vm.sent_to = assigned_[id].migrate_to;
        vm.sending = true;
        log_line(fmt::format("VM {}: live move out to {}", id, vm.sent_to));
        for (auto it = senders_.begin(); it != senders_.end();) {
          if (!it->done->load()) {
            ++it;
            continue;
          }
          it->thread.join();  // it has returned from send_vm (and released the lock)
          it = senders_.erase(it);
        }
        auto done = std::make_shared<std::atomic<bool>>(false);
        senders_.push_back(Sender{std::thread([this, id, to = vm.sent_to, done] {
                                    send_vm(id, to);
                                    *done = true;
                                  }),
                                  done});
        break;
      }
      case ReconcileAction::Kind::Start: {
        auto it = vms_.find(id);
        if (it != vms_.end() && it->second.remove_after_stop) {
          // Still stopping the old copy: start the new one when it is gone.
          it->second.remove_after_stop = false;
          it->second.restart_after_stop = true;
          it->second.restart_spec = assigned_[id];
          it->second.from_etcd = true;
          break;
        }
        Vm& vm = vms_[id];
        vm.spec = assigned_[id];
        vm.host = assigned_host_[id];
        vm.from_etcd = true;
        log_line(fmt::format("VM {}: assigned (generation {}): starting it", id, vm.spec.generation));
        request_start(vm);
        break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// etcd: registration, lease, fencing

template <typename F>
auto HostAgent::timed(F&& f) -> decltype(f()) {
  const auto t0 = Clock::now();
  auto record = [&](bool failed) {
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::lock_guard lock(metrics_mutex_);
    size_t i = 0;
    while (i < latency_buckets_.size() && s > latency_buckets_[i]) ++i;
    latency_counts_[i]++;
    latency_sum_ += s;
    latency_count_++;
    if (failed) etcd_errors_++;
  };
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      record(false);
    } else {
      auto r = f();
      record(false);
      return r;
    }
  } catch (...) {
    record(true);
    throw;
  }
}

json HostAgent::host_record(const std::string& host) const {
  return json{{"name", host},
              {"api", options_.api},
              {"capacity", {{"vcpus", options_.harts}, {"memory_mib", options_.memory_mib}, {"disk_gib", options_.disk_gib}}},
              {"rack", options_.rack},
              {"started", started_wall_},
              {"simulated", options_.simulate}};
}

namespace {
struct StatusSum {
  int64_t vcpus = 0, memory = 0, disk = 0;
  double load = 0;
  json vms = json::object();
};
} // namespace

std::map<std::string, json> HostAgent::host_statuses() const {
  std::map<std::string, StatusSum> sums;
  for (const auto& h : options_.hosts) sums[h];
  for (const auto& [id, vm] : vms_) {
    auto& s = sums[vm.host];
    if (is_active(vm.state)) {
      s.vcpus += vm.spec.vcpus;
      s.memory += vm.spec.memory_mib;
      s.disk += vm.spec.disk_gib;
      s.load += vm.cpu_load;
    }
    s.vms[id] = {{"state", to_string(vm.state)}, {"cpu_load", std::round(vm.cpu_load * 1000) / 1000}, {"pid", vm.pid},
                 {"generation", vm.spec.generation}};
  }
  const std::string now = now_iso();
  std::map<std::string, json> out;
  for (auto& [host, s] : sums)
    out[host] = json{{"used", {{"vcpus", s.vcpus}, {"memory_mib", s.memory}, {"disk_gib", s.disk}}},
                     {"cpu_load", std::round(s.load * 1000) / 1000},
                     {"vms", std::move(s.vms)},
                     {"fenced", fenced_},
                     {"updated", now}};
  return out;
}

json HostAgent::host_status(const std::string& host) const {
  auto all = host_statuses();
  return std::move(all[host]);
}

size_t HostAgent::fence_locked() {
  if (fenced_) return 0;
  fenced_ = true;
  registered_ = false;
  size_t killed = 0;
  for (auto& [id, vm] : vms_) {
    vm.spawn_wanted = false;
    vm.restart_after_stop = false;
    if (!is_active(vm.state)) continue;
    ++killed;
    if (vm.pid > 0) {
      signal_group(vm.pid, SIGKILL);
      vm.killed_by_fence = true;
    } else if (vm.spawning) {
      vm.killed_by_fence = true;  // spawn() kills it when the fork returns
    } else {
      vm.cpu_load = 0;
      set_state(vm, VmState::Fenced, "killed by self-fencing (no etcd lease renewal)");
      std::lock_guard m(metrics_mutex_);
      exits_["fenced"]++;
    }
  }
  {
    std::lock_guard m(metrics_mutex_);
    fences_++;
  }
  wake_.notify_all();
  publish_cv_.notify_all();
  return killed;
}

void HostAgent::fence(const std::string& why) {
  size_t killed = 0;
  {
    std::lock_guard lock(mutex_);
    if (fenced_) return;
    killed = fence_locked();
  }
  log_line(fmt::format("FENCING: {}; killed {} VM(s) (SIGKILL to each VMM's process group). Will register again "
                       "with a new lease once etcd answers.", why, killed));
}

std::pair<size_t, int64_t> HostAgent::list_and_watch(int64_t new_lease) {
  const std::string& p = options_.etcd_prefix;
  {
    std::lock_guard lock(watch_mutex_);
    if (watch_) watch_->stop();
    watch_.reset();
    if (net_watch_) net_watch_->stop();
    net_watch_.reset();
  }
  // The longest prefix all our hosts' assignment keys share: exactly assign/<host>/ for one host;
  // for simulated hosts named <name>-0000... it leaves out the other agents' keys, so etcd sends
  // each agent only (about) its own assignments, as it would to one agent per machine.
  // apply_assign() still ignores keys of hosts that are not ours.
  std::string assign_prefix = p + "assign/" + options_.hosts.front() + "/";
  for (const auto& h : options_.hosts) {
    const std::string k = p + "assign/" + h + "/";
    std::size_t n = 0;
    while (n < assign_prefix.size() && n < k.size() && assign_prefix[n] == k[n]) ++n;
    assign_prefix.resize(n);
  }
  const auto range = timed([&] { return etcd_->get_prefix(assign_prefix); });
  {
    std::lock_guard lock(mutex_);
    assigned_.clear();
    assigned_host_.clear();
    for (const auto& kv : range.kvs) apply_assign(kv.key, &kv.value);
    if (new_lease != 0) {
      lease_ = new_lease;
      fenced_ = false;
      registered_ = true;
      // Everything we run is (re)published under the new lease.
      for (const auto& [id, vm] : vms_) {
        if (vm.from_etcd) status_dirty_.insert(id);
        if (net_ && !vm.spec.nics.empty() && vm.state == VmState::Running && !vm.incoming) publish_nics(vm, true);
      }
    }
    reconcile_dirty_ = true;
    wake_.notify_all();
    publish_cv_.notify_all();
  }
  auto watch = etcd_->watch_prefix(
      assign_prefix, range.revision + 1, [this](const std::vector<etcd::WatchEvent>& evs, int64_t) { on_watch_events(evs); },
      [this](const std::string& error) {
        log_line("watch ended: " + error + "; listing the assignments again");
        relist_ = true;
      });
  {
    std::lock_guard lock(watch_mutex_);
    watch_ = std::move(watch);
  }
  if (net_) {
    // Tenant networks: every network's key and where each NIC runs, then changes.
    const auto net_range = timed([&] { return etcd_->get_prefix(p + "net/"); });
    net_->clear_directory();
    on_net_events([&] {
      std::vector<etcd::WatchEvent> evs;
      for (const auto& kv : net_range.kvs) evs.push_back(etcd::WatchEvent{etcd::EventType::Put, kv});
      return evs;
    }());
    auto nw = etcd_->watch_prefix(
        p + "net/", net_range.revision + 1, [this](const std::vector<etcd::WatchEvent>& evs, int64_t) { on_net_events(evs); },
        [this](const std::string& error) {
          log_line("network watch ended: " + error + "; listing again");
          relist_ = true;
        });
    std::lock_guard lock(watch_mutex_);
    net_watch_ = std::move(nw);
  }
  return {range.kvs.size(), range.revision};
}

bool HostAgent::register_hosts() {
  const std::string& p = options_.etcd_prefix;
  {
    std::lock_guard lock(watch_mutex_);
    if (watch_) watch_->stop();
    watch_.reset();
    if (net_watch_) net_watch_->stop();
    net_watch_.reset();
  }
  const int64_t old_lease = lease_;
  int64_t lease = 0;
  try {
    lease = timed([&] { return etcd_->lease_grant(options_.lease_ttl); });
    // 1. Presence first (with the new lease)...
    std::vector<etcd::Op> ops;
    auto flush = [&] {
      if (ops.empty()) return;
      timed([&] { return etcd_->txn({}, ops); });
      ops.clear();
    };
    for (const auto& h : options_.hosts) {
      ops.push_back(etcd::Op::put(p + "hosts/" + h, host_record(h).dump(), lease));
      if (ops.size() >= 100) flush();
    }
    flush();
    // 2. and 3.: what is assigned as of one revision, then changes after it.
    const auto [count, revision] = list_and_watch(lease);
    {
      std::lock_guard m(metrics_mutex_);
      registrations_++;
    }
    log_line(fmt::format("registered {} host(s) ({}{}) with lease {} (TTL {} s); {} VM(s) assigned at revision {}",
                         options_.hosts.size(), options_.hosts.front(), options_.hosts.size() > 1 ? ", ..." : "", lease,
                         options_.lease_ttl, count, revision));
  } catch (const std::exception& e) {
    log_line(std::string("registration failed (will retry): ") + e.what());
    if (lease != 0 && lease_ != lease) {
      try {
        etcd_->lease_revoke(lease);
      } catch (...) {
      }
    }
    return false;
  }
  if (old_lease != 0 && old_lease != lease) {
    try {
      etcd_->lease_revoke(old_lease);
    } catch (...) {
    }
  }
  return true;
}

void HostAgent::apply_assign(const std::string& key, const std::string* value) {
  const std::string base = options_.etcd_prefix + "assign/";
  if (key.rfind(base, 0) != 0) return;
  const std::string rest = key.substr(base.size());
  const auto slash = rest.find('/');
  if (slash == std::string::npos) return;
  const std::string host = rest.substr(0, slash);
  const std::string id = rest.substr(slash + 1);
  if (!host_set_.count(host)) return;
  if (!value) {
    assigned_.erase(id);
    assigned_host_.erase(id);
    reconcile_dirty_ = true;
    return;
  }
  try {
    VmSpec spec = parse_vm_spec_text(*value, id);
    assigned_[id] = spec;
    assigned_host_[id] = host;
  } catch (const SpecError& e) {
    log_line(fmt::format("assignment {} refused: {}", key, e.what()));
    assigned_.erase(id);
    assigned_host_.erase(id);
    if (valid_vm_id(id) && !vms_.count(id)) {
      Vm& vm = vms_[id];
      vm.spec.id = id;
      vm.host = host;
      vm.from_etcd = true;
      vm.state = VmState::Failed;
      vm.reason = std::string("invalid assignment: ") + e.what();
      status_dirty_.insert(id);
      // Keep it visible while the assignment exists: mark it assigned with its own generation.
      assigned_[id] = vm.spec;
      assigned_host_[id] = host;
    }
  }
  reconcile_dirty_ = true;
}

void HostAgent::on_watch_events(const std::vector<etcd::WatchEvent>& events) {
  std::lock_guard lock(mutex_);
  for (const auto& ev : events) apply_assign(ev.kv.key, ev.type == etcd::EventType::Put ? &ev.kv.value : nullptr);
  wake_.notify_all();
}

void HostAgent::keep_lease() {
  const auto period = std::chrono::milliseconds(options_.lease_ttl * 1000 / 3);
  Clock::time_point next_keepalive{};
  auto sleep_until = [&](Clock::time_point t) {
    std::unique_lock lock(mutex_);
    publish_cv_.wait_until(lock, t, [&] { return stopping_ || shut_down_; });
    return !(stopping_ || shut_down_);
  };
  auto mark_ok = [&](Clock::time_point sent) { last_ok_send_ns_ = sent.time_since_epoch().count(); };
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || shut_down_) return;
    }
    if (!registered_) {
      const auto sent = Clock::now();
      mark_ok(sent);  // before registered_ turns true, so the watchdog never sees a stale time
      if (register_hosts()) {
        next_keepalive = sent + period;
      } else if (!sleep_until(Clock::now() + 500ms)) {
        return;
      }
      continue;
    }
    if (relist_.exchange(false)) {
      // The watch broke for good (e.g. compacted): list again and watch from there, keeping the
      // lease (and its keepalives and the fencing watchdog) as they are.
      try {
        const auto [count, revision] = list_and_watch(0);
        log_line(fmt::format("listed the assignments again: {} at revision {}", count, revision));
      } catch (const std::exception& e) {
        log_line(std::string("listing the assignments failed (will retry): ") + e.what());
        relist_ = true;
      }
    }
    if (Clock::now() >= next_keepalive) {
      const auto sent = Clock::now();
      try {
        const int64_t left = timed([&] { return keepalive_client_->lease_keepalive(lease_); });
        if (left <= 0) {
          {
            std::lock_guard m(metrics_mutex_);
            lease_renew_failures_++;
          }
          fence("the lease " + std::to_string(lease_.load()) + " is gone from etcd (expired)");
          continue;  // registered_ is false now: register anew
        }
        mark_ok(sent);
      } catch (const etcd::EtcdError& e) {
        {
          std::lock_guard m(metrics_mutex_);
          lease_renew_failures_++;
        }
        log_line(std::string("lease keepalive failed: ") + e.what());
      }
      next_keepalive = sent + period;
      if (Clock::now() >= next_keepalive) next_keepalive = Clock::now() + 200ms;
    }
    if (!sleep_until(next_keepalive)) return;
  }
}

void HostAgent::publish() {
  const std::string& p = options_.etcd_prefix;
  // Many simulated hosts: publish their status less often (one etcd serves them all).
  const auto interval = std::max(options_.status_interval,
                                 std::chrono::milliseconds(static_cast<int64_t>(options_.hosts.size()) * 20));
  auto next_status = Clock::now();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    publish_cv_.wait_until(lock, std::min(next_status, Clock::now() + 1s),
                           [&] {
                             return stopping_ || (registered_ && (!status_dirty_.empty() || !status_gone_.empty() ||
                                                                  !extra_puts_.empty() || !extra_dels_.empty()));
                           });
    if (stopping_) break;
    if (!registered_ || fenced_) continue;
    const int64_t lease = lease_;
    // Collect under the lock, write without it.
    std::vector<std::pair<std::string, std::string>> vm_puts;
    for (const auto& id : status_dirty_) {
      auto it = vms_.find(id);
      if (it == vms_.end()) continue;
      const Vm& vm = it->second;
      json s = {{"host", vm.host},
                {"generation", vm.spec.generation},
                {"state", to_string(vm.state)},
                {"pid", vm.pid},
                {"cpu_load", std::round(vm.cpu_load * 1000) / 1000},
                {"started", vm.started},
                {"starts", vm.starts},
                {"updated", now_iso()}};
      if (!vm.previous_end.empty()) s["previous_end"] = vm.previous_end;
      if (!options_.simulate) s["console"] = "/v1/vms/" + id + "/console";
      if (!vm.reason.empty()) s["reason"] = vm.reason;
      if (vm.state == VmState::PoweredOff || vm.state == VmState::Failed) s["exit_code"] = vm.exit_code;
      vm_puts.emplace_back(p + "vmstatus/" + id, s.dump());
    }
    std::vector<std::string> vm_dels;
    for (const auto& id : status_gone_) vm_dels.push_back(p + "vmstatus/" + id);
    std::set<std::string> dirty = std::move(status_dirty_), gone = std::move(status_gone_);
    status_dirty_.clear();
    status_gone_.clear();
    std::map<std::string, std::string> extra_puts = std::move(extra_puts_);
    std::set<std::string> extra_dels = std::move(extra_dels_);
    extra_puts_.clear();
    extra_dels_.clear();
    std::vector<std::pair<std::string, std::string>> host_puts;
    const bool status_due = Clock::now() >= next_status;
    if (status_due) {
      auto statuses = host_statuses();
      for (const auto& h : options_.hosts) host_puts.emplace_back(p + "hoststatus/" + h, statuses[h].dump());
      next_status = Clock::now() + interval;
    }
    lock.unlock();
    bool failed = false;
    try {
      // vmstatus: only overwrite our own (same lease) or a missing key, so a host that has not
      // yet seen a VM move away never hides the new host's status.
      // Batches of up to 50 keys, each compared "bound to our lease" when we wrote it under this
      // lease, else "absent"; a batch that fails (some key is another host's) goes key by key.
      auto ours = [&](const std::string& key) {
        auto it = published_lease_.find(key);
        return it != published_lease_.end() && it->second == lease;
      };
      auto lease_is_ours = [&](const std::string& key) {
        return etcd::Compare{key, etcd::Compare::Target::Lease, etcd::Compare::Result::Equal, lease, {}};
      };
      constexpr std::size_t kBatch = 50;
      for (std::size_t i = 0; i < vm_puts.size(); i += kBatch) {
        const std::size_t end = std::min(vm_puts.size(), i + kBatch);
        std::vector<etcd::Compare> cmp;
        std::vector<etcd::Op> ops;
        for (std::size_t k = i; k < end; ++k) {
          const auto& [key, value] = vm_puts[k];
          cmp.push_back(ours(key) ? lease_is_ours(key) : etcd::Compare::absent(key));
          ops.push_back(etcd::Op::put(key, value, lease));
        }
        if (end - i > 1 && timed([&] { return etcd_->txn(cmp, ops); }).succeeded) {
          for (std::size_t k = i; k < end; ++k) published_lease_[vm_puts[k].first] = lease;
          continue;
        }
        for (std::size_t k = i; k < end; ++k) {
          const auto& [key, value] = vm_puts[k];
          auto r = timed([&] { return etcd_->txn({lease_is_ours(key)}, {etcd::Op::put(key, value, lease)}); });
          if (!r.succeeded) r = timed([&] { return etcd_->txn({etcd::Compare::absent(key)}, {etcd::Op::put(key, value, lease)}); });
          if (r.succeeded) published_lease_[key] = lease;
        }
      }
      for (std::size_t i = 0; i < vm_dels.size(); i += kBatch) {
        const std::size_t end = std::min(vm_dels.size(), i + kBatch);
        std::vector<etcd::Compare> cmp;
        std::vector<etcd::Op> ops;
        for (std::size_t k = i; k < end; ++k) {
          cmp.push_back(lease_is_ours(vm_dels[k]));
          ops.push_back(etcd::Op::del(vm_dels[k]));
        }
        if (!(end - i > 1 && timed([&] { return etcd_->txn(cmp, ops); }).succeeded))
          for (std::size_t k = i; k < end; ++k)
            timed([&] { return etcd_->txn({lease_is_ours(vm_dels[k])}, {etcd::Op::del(vm_dels[k])}); });
        for (std::size_t k = i; k < end; ++k) published_lease_.erase(vm_dels[k]);
      }
      // incoming/<id> and migration/<id>: ours alone while the live move lasts; deleted only
      // while still bound to our lease (the controller may have removed them already).
      for (const auto& [key, value] : extra_puts) timed([&] { return etcd_->put(key, value, lease); });
      for (const auto& key : extra_dels) timed([&] { return etcd_->txn({lease_is_ours(key)}, {etcd::Op::del(key)}); });
      std::vector<etcd::Op> ops;
      for (const auto& [key, value] : host_puts) {
        ops.push_back(etcd::Op::put(key, value, lease));
        if (ops.size() >= 100) {
          timed([&] { return etcd_->txn({}, ops); });
          ops.clear();
        }
      }
      if (!ops.empty()) timed([&] { return etcd_->txn({}, ops); });
    } catch (const std::exception& e) {
      failed = true;
      log_line(std::string("publishing status failed (will retry): ") + e.what());
    }
    lock.lock();
    if (failed) {
      // Retry what did not go out (newer changes merge in).
      status_dirty_.insert(dirty.begin(), dirty.end());
      status_gone_.insert(gone.begin(), gone.end());
      for (auto& [k, v] : extra_puts) extra_puts_.try_emplace(k, v);
      for (const auto& k : extra_dels)
        if (!extra_puts_.count(k)) extra_dels_.insert(k);
      next_status = std::min(next_status, Clock::now() + 1s);
      publish_cv_.wait_for(lock, 500ms, [&] { return stopping_; });
    }
  }
}

} // namespace nimbus::cloud::host

#include "hypervisor/vmm.hpp"

#include <fmt/format.h>
#include <malloc.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <optional>
#include <sstream>
#include <future>
#include <cstdio>
#include <fstream>

#include "hypervisor/scheduler.hpp"
#include "hypervisor/threaded_host.hpp"
#include "hypervisor/marker_log.hpp"
#include "hypervisor/migration.hpp"
#include "hypervisor/vm_console.hpp"
#include "hypervisor/vm_control.hpp"
#include "hypervisor/balloon_report.hpp"
#include "hypervisor/vm_counters_report.hpp"

namespace nimbus::hypervisor {

namespace {

// The VMM uses 2 MiB frames, as KVM hosts use huge pages: few mappings per VM view.
constexpr uint64_t kVmmFrameSize = 2ull << 20;
// A VM on the user's terminal polls it this often while idle (a terminal cannot wake it).
constexpr auto kTerminalPoll = std::chrono::milliseconds(50);
constexpr auto kStatsInterval = std::chrono::seconds(1);

} // namespace

struct Vmm::Slot {
  VmConfig config;
  std::unique_ptr<VmConsole> console;
  std::unique_ptr<MarkerLog> markers;   // wraps whichever console the VM has
  std::unique_ptr<Vm> vm;
  std::atomic<int64_t> sched_index{-1};   // its first scheduler entry
  std::atomic<uint32_t> sched_entries{0};  // 1, or one per vCPU when they run in parallel
  // Makes every scheduler entry of the VM runnable (input, a frame, a request for it).
  void wake(ThreadedHost& host) const {
    const int64_t first = sched_index.load();
    if (first < 0) return;
    const uint32_t entries = sched_entries.load();
    for (uint32_t i = 0; i < entries; ++i) host.wake(static_cast<SchedVcpuIndex>(first + i));
  }
  int64_t sched_vm = -1;   // its scheduler entry (for the host CPU time it was given)
  std::string build_error;   // the VM could not be built
  bool reported = false;
};

std::filesystem::path default_state_dir() {
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime != nullptr && *runtime != '\0')
    return std::filesystem::path(runtime) / "nimbus";
  return fmt::format("/tmp/nimbus-{}", getuid());
}

int VmmResult::exit_code() const {
  if (interrupted) return kVmmExitInterrupted;
  if (timed_out) return kVmmExitTimeout;
  for (const auto& vm : vms) {
    if (vm.state == Vm::State::failed) return vm.exit_code != 0 ? vm.exit_code : 1;
    if (vm.exit_code != 0) return vm.exit_code;
  }
  return 0;
}

Vmm::Vmm(std::vector<VmConfig> configs, VmmOptions options) : options_(std::move(options)) {
  if (!options_.log) options_.log = [](const std::string& line) { fmt::print(stderr, "nimbus: {}\n", line); };
  if (options_.host_harts == 0) options_.host_harts = 1;
  std::error_code ec;
  std::filesystem::create_directories(options_.state_dir, ec);
  if (ec) throw std::runtime_error(fmt::format("state directory {}: {}", options_.state_dir.string(), ec.message()));
  std::filesystem::create_directories(options_.log_dir, ec);
  if (ec) throw std::runtime_error(fmt::format("log directory {}: {}", options_.log_dir.string(), ec.message()));

  uint64_t machine_memory = options_.machine_memory;
  if (machine_memory == 0)
    for (const auto& c : configs) machine_memory += (c.memory_bytes + kVmmFrameSize - 1) / kVmmFrameSize * kVmmFrameSize;
  machine_memory = (machine_memory + kVmmFrameSize - 1) / kVmmFrameSize * kVmmFrameSize;
  pool_ = std::make_unique<FramePool>(machine_memory, kVmmFrameSize);
  switch_ = std::make_unique<VirtualSwitch>();
  if (options_.tunnel) tunnel_ = std::make_unique<UdpTunnel>(*switch_, *options_.tunnel);
  for (const TapSpec& tap : options_.taps) taps_.push_back(std::make_unique<TapLink>(*switch_, tap));

  for (auto& config : configs) {
    auto slot = std::make_unique<Slot>();
    slot->config = config;
    slots_.push_back(std::move(slot));
  }
}

Vmm::~Vmm() {
  // VMs before consoles (a VM writes to its console) and before the pool (frames go back).
  for (auto& slot : slots_) slot->vm.reset();
  for (auto& slot : slots_) slot->markers.reset();
  for (auto& slot : slots_) slot->console.reset();
}

std::string Vmm::stats_json() const {
  std::vector<NamedVmCounters> named;
  for (const auto& slot : slots_) {
    NamedVmCounters entry{slot->config.name, {}};
    if (slot->vm) entry.counters = slot->vm->counters().snapshot();
    named.push_back(std::move(entry));
  }
  nlohmann::json json = counters_to_json(named);
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& slot = *slots_[i];
    nlohmann::json& entry = json["vms"][i];
    entry["mode"] = std::string(to_string(slot.config.mode));
    entry["vcpus"] = slot.config.vcpus;
    if (!slot.vm) {
      entry["state"] = "failed";
      entry["reason"] = slot.build_error;
      continue;
    }
    const Vm::State state = slot.vm->state();
    entry["state"] = std::string(to_string(state));
    entry["resident_bytes"] = slot.vm->resident_bytes();
    entry["host_resident_bytes"] = slot.vm->host_resident_bytes();
    entry["returned_bytes"] = slot.vm->discarded_bytes();
    entry["pool_returned_bytes"] = slot.vm->pool_returned_bytes();
    if (const machine::VirtioBalloon* balloon = slot.vm->balloon()) entry["balloon"] = balloon_to_json(*balloon);
    // Host threads its vCPUs may run on at once: 1 when they are interleaved (docs/smp.md).
    if (slot.sched_entries.load() != 0) entry["vcpu_threads"] = slot.sched_entries.load();
    if (host_ != nullptr && slot.sched_vm >= 0)
      entry["cpu_seconds"] =
          std::chrono::duration<double>(host_->vm_runtime(static_cast<SchedVmIndex>(slot.sched_vm))).count();
    if (state != Vm::State::running) {
      entry["exit_code"] = slot.vm->exit_code();
      entry["reason"] = slot.vm->reason();
    }
  }
  for (const std::string& name : switch_->networks()) {
    const VirtualSwitch::NetworkStats n = switch_->stats(name);
    json["networks"][name] = {{"id", network_id(name)},       {"forwarded", n.forwarded},
                              {"flooded", n.flooded},         {"spoofed", n.spoofed},
                              {"unknown", n.unknown},         {"malformed", n.malformed},
                              {"to_uplink", n.to_uplink},     {"from_uplink", n.from_uplink},
                              {"uplink_spoofed", n.uplink_spoofed}, {"to_host", n.to_host},
                              {"from_host", n.from_host},     {"host_spoofed", n.host_spoofed}};
  }
  for (const auto& tap : taps_) {
    const TapLink::Stats t = tap->stats();
    json["taps"][tap->spec().interface] = {{"network", tap->spec().network}, {"to_host", t.to_host},
                                           {"from_host", t.from_host},       {"oversized", t.oversized},
                                           {"send_errors", t.send_errors}};
  }
  if (tunnel_) {
    const UdpTunnel::Stats t = tunnel_->stats();
    json["tunnel"] = {{"port", tunnel_->local_port()}, {"sent", t.sent},           {"received", t.received},
                      {"malformed", t.malformed},      {"strangers", t.strangers}, {"undelivered", t.undelivered},
                      {"send_errors", t.send_errors},  {"authenticated", tunnel_->authenticated()},
                      {"unauthenticated", t.unauthenticated}, {"replayed", t.replayed}};
  }
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& slot = *slots_[i];
    if (!slot.vm || slot.vm->nics().empty()) continue;
    nlohmann::json nics = nlohmann::json::array();
    for (size_t n = 0; n < slot.vm->nics().size(); ++n) {
      const machine::VirtioNet& nic = *slot.vm->nics()[n];
      const auto c = nic.counters();
      nics.push_back({{"network", slot.config.nics[n].network}, {"mac", machine::format_mac(nic.mac())},
                      {"rx_frames", c.rx_frames}, {"rx_bytes", c.rx_bytes}, {"tx_frames", c.tx_frames},
                      {"tx_bytes", c.tx_bytes}, {"rx_dropped", c.rx_dropped}, {"tx_dropped", c.tx_dropped},
                      {"tx_bad_offload", c.tx_bad_offload}, {"tx_offloaded", c.tx_offloaded},
                      {"rx_finished", c.rx_finished}});
    }
    json["vms"][i]["nics"] = nics;
  }
  json["pid"] = options_.host_pid > 0 ? options_.host_pid : getpid();
  json["machine_memory"] = pool_->bytes();
  json["machine_memory_free"] = pool_->free_frames() * pool_->frame_size();
  return json.dump(2) + "\n";
}

// Written to a temporary file and renamed over the old one: readers never see half a file.
void Vmm::write_stats() const {
  const auto path = stats_path(options_.state_dir);
  const auto temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << stats_json();
    if (!out) return;
  }
  std::rename(temporary.c_str(), path.c_str());
}

void Vmm::report_stopped(Slot& slot) {
  slot.reported = true;
  const Vm& vm = *slot.vm;
  if (vm.state() == Vm::State::failed) {
    options_.log(fmt::format("VM '{}' failed: {}", vm.name(), vm.reason()));
    for (const auto& state : vm.vcpu_states()) options_.log(fmt::format("VM '{}':   {}", vm.name(), state));
  } else if (vm.state() == Vm::State::migrated) {
    options_.log(fmt::format("VM '{}' left this VMM: {}", vm.name(), vm.reason()));
  } else {
    options_.log(fmt::format("VM '{}' powered off (exit code {}: {})", vm.name(), vm.exit_code(), vm.reason()));
  }
  if (slot.console) slot.console->close_socket();
}

VmmResult Vmm::run() {
  SchedulerOptions scheduler_options;
  scheduler_options.harts = options_.host_harts;
  Scheduler scheduler(scheduler_options);
  ThreadedHost host(scheduler);
  // stats_json reads each VM's host CPU time from the host while it exists.
  struct HostInStats {
    const ThreadedHost*& seen;
    ~HostInStats() { seen = nullptr; }
  } host_in_stats{host_};
  host_ = &host;

  for (auto& slot_ptr : slots_) {
    Slot& slot = *slot_ptr;
    const VmConfig& config = slot.config;
    try {
      machine::ConsoleBackend* console = options_.terminal;
      if (console == nullptr) {
        VmConsoleOptions console_options;
        console_options.name = config.name;
        console_options.log_file = options_.log_dir / (config.name + ".log");
        console_options.socket_path = console_path(options_.state_dir, config.name);
        console_options.echo_stdout = options_.echo_stdout;
        console_options.on_input = [&host, &slot] { slot.wake(host); };
        slot.console = std::make_unique<VmConsole>(std::move(console_options));
        console = slot.console.get();
      }
      if (options_.marker_log) {
        slot.markers = std::make_unique<MarkerLog>(*console, marker_log_path(options_.state_dir, config.name));
        console = slot.markers.get();
      }
      VmOptions vm_options;
      vm_options.deterministic = options_.deterministic;
      vm_options.jit = options_.jit;
      vm_options.jit_threshold = options_.jit_threshold;
      if (options_.terminal != nullptr) vm_options.max_idle = kTerminalPoll;
      vm_options.log = options_.log;
      vm_options.network = switch_.get();
      if (options_.restore && &slot == slots_.front().get()) {
        vm_options.restore = options_.restore;
        vm_options.restore_began = options_.restore_began;
      }
      const bool incoming = options_.incoming && &slot == slots_.front().get();
      vm_options.incoming = incoming;
      try {
        slot.vm = std::make_unique<Vm>(config, *pool_, *console, vm_options);
      } catch (const std::exception& error) {
        if (incoming && options_.incoming_refused) options_.incoming_refused(error.what());
        throw;
      }
      if (slot.markers) slot.markers->watch(slot.vm->counters());
    } catch (const std::exception& error) {
      slot.build_error = error.what();
      const std::string what = error.what();
      options_.log(what.starts_with("VM '") ? "failed to start: " + what
                                            : fmt::format("VM '{}' failed to start: {}", config.name, what));
      continue;
    }
    Vm* vm = slot.vm.get();
    // A VM whose vCPUs run on their own host threads has a scheduler entry per vCPU and may use
    // up to 100 % of a host hart per vCPU; one interleaving its vCPUs (docs/smp.md) has one entry.
    const bool parallel = options_.vcpu_threads && vm->vcpus_in_parallel();
    const uint32_t entries = parallel ? vm->vcpu_count() : 1;
    const uint32_t limit = 100 * entries;
    SchedulerVmSpec spec;
    spec.name = config.name;
    spec.weight = config.weight;
    spec.cap_percent = std::min<uint32_t>(config.cap_percent, limit);
    spec.reservation_percent = std::min<uint32_t>(config.reservation_percent, limit);
    if (config.cap_percent > limit || config.reservation_percent > limit)
      options_.log(fmt::format("VM '{}': cap and reservation are limited to {} % ({} host hart{} for this VM)", config.name,
                               limit, entries, entries == 1 ? "" : "s"));
    const SchedVmIndex vm_index = scheduler.add_vm(spec);
    slot.sched_vm = static_cast<int64_t>(vm_index);
    if (parallel) {
      const SchedVcpuIndex first = static_cast<SchedVcpuIndex>(scheduler.vcpu_count());
      for (unsigned i = 0; i < entries; ++i)
        scheduler.add_vcpu(vm_index, [vm, i](Nanoseconds budget) { return vm->run_vcpu_thread(i, budget); });
      vm->set_vcpu_waker([&host, first](unsigned i) { host.wake(first + i); });
      slot.sched_entries = entries;
      slot.sched_index = first;
    } else {
      slot.sched_entries = 1;
      slot.sched_index = scheduler.add_vcpu(vm_index, [vm](Nanoseconds budget) { return vm->run(budget); });
    }
    // A frame for a sleeping VM wakes it, as console input does.
    for (machine::VirtioNet* nic : vm->nics()) nic->set_on_frame([&host, &slot] { slot.wake(host); });
  }
  // Frames may still arrive (from the tunnel) after the host is gone: nobody to wake then.
  struct UnhookNics {
    std::vector<std::unique_ptr<Slot>>& slots;
    ~UnhookNics() {
      for (auto& slot : slots)
        if (slot->vm) {
          for (machine::VirtioNet* nic : slot->vm->nics()) nic->set_on_frame({});
          slot->vm->set_vcpu_waker({});
        }
    }
  } unhook_nics{slots_};

  // A control socket per VM (bound before the sandbox goes on): `nimbus snapshot NAME --to DIR`.
  std::atomic<bool> stopping{false};
  std::vector<std::unique_ptr<VmControl>> controls;
  for (auto& slot_ptr : slots_) {
    Slot& slot = *slot_ptr;
    if (!slot.vm) continue;
    try {
      controls.push_back(std::make_unique<VmControl>(
          VmControl::path(options_.state_dir, slot.config.name), slot.config.name,
          VmControl::FdHandler([this, &slot, &host, &stopping](const std::string& request, int& fd) {
            return control(slot, host, stopping, request, fd);
          })));
    } catch (const std::exception& error) {
      options_.log(fmt::format("VM '{}': no control socket: {}", slot.config.name, error.what()));
    }
  }
  // Closed (threads joined) before the host stops: a waiting request sees `stopping`.
  struct CloseControls {
    std::atomic<bool>& stopping;
    std::vector<std::unique_ptr<VmControl>>& controls;
    ~CloseControls() {
      stopping = true;
      controls.clear();
    }
  } close_controls{stopping, controls};

  const auto started = std::chrono::steady_clock::now();
  VmmResult result;
  bool any = scheduler.vcpu_count() > 0;
  if (options_.after_setup) options_.after_setup();
  // An incoming migration is received last, with everything else set up (sockets, sandbox), so
  // the VM starts the moment it is handed over.
  if (options_.incoming && !slots_.empty() && slots_.front()->vm) {
    Vm& vm = *slots_.front()->vm;
    try {
      options_.incoming(vm);
    } catch (const std::exception& error) {
      vm.abandon(fmt::format("incoming migration failed: {}", error.what()));   // it never runs: the source keeps it
    }
  }
  // A VM resumed here (restored, or handed over: not before, or a failed move would pull its
  // traffic away from the source) tells its networks where it is now, as QEMU announces after a
  // migration: a tunnel peer that learned its MAC behind the old host learns it again.
  if ((options_.restore || options_.incoming) && !slots_.empty() && slots_.front()->vm &&
      slots_.front()->vm->state() == Vm::State::running)
    slots_.front()->vm->announce_nics();
  // Setup (boot images read, devices and VMs built) freed memory that glibc keeps in its heap
  // (its trim threshold rises with every large free): give those pages back before the vCPUs
  // run, or every VMM carries them as host memory beyond guest RAM (docs/hypervisor.md).
  ::malloc_trim(0);
  if (any) host.start();
  auto last_stats = std::chrono::steady_clock::time_point{};
  for (;;) {
    bool done = !any;
    if (any) {
      auto wait = std::chrono::duration_cast<Nanoseconds>(kStatsInterval);
      if (options_.timeout.count() != 0) {
        const auto left = started + options_.timeout - std::chrono::steady_clock::now();
        wait = std::max(Nanoseconds(0), std::min(wait, std::chrono::duration_cast<Nanoseconds>(left)));
      }
      // Wake at least every 100 ms to report VMs that stopped while others keep running.
      done = host.wait_all_halted(std::min(wait, Nanoseconds(std::chrono::milliseconds(100))));
    }
    for (auto& slot : slots_)
      if (slot->vm && !slot->reported && slot->vm->state() != Vm::State::running) report_stopped(*slot);
    const auto now = std::chrono::steady_clock::now();
    if (done) break;
    if (options_.timeout.count() != 0 && now - started >= options_.timeout) {
      result.timed_out = true;
      break;
    }
    if (options_.stop_requested && options_.stop_requested()) {
      result.interrupted = true;
      options_.log("interrupted: stopping every VM");
      break;
    }
    if (options_.snapshot_requested && options_.snapshot_requested()) {
      for (auto& slot : slots_) {
        if (!slot->vm || slot->vm->state() != Vm::State::running) continue;
        slot->vm->request_snapshot(options_.snapshot_dir);
        slot->wake(host);
      }
    }
    if (now - last_stats >= kStatsInterval) {
      write_stats();
      last_stats = now;
    }
  }
  stopping = true;
  controls.clear();
  if (any) host.stop();
  for (const auto& failure : host.failures()) options_.log(failure);
  if (pool_->free_frames() == 0)
    options_.log(fmt::format("machine memory ({} MiB, --machine-mem) ran out: guests were refused memory",
                             pool_->bytes() >> 20));
  write_stats();

  for (auto& slot : slots_) {
    VmOutcome outcome;
    outcome.name = slot->config.name;
    if (!slot->vm) {
      outcome.state = Vm::State::failed;
      outcome.exit_code = 1;
      outcome.reason = slot->build_error;
    } else {
      outcome.state = slot->vm->state();
      outcome.exit_code = slot->vm->exit_code();
      outcome.reason = slot->vm->reason();
      if (outcome.state == Vm::State::running) {
        options_.log(fmt::format("VM '{}' still running at the {} ({} instructions)", outcome.name,
                                 result.interrupted ? "interrupt" : "timeout",
                                 slot->vm->instructions()));
        for (const auto& state : slot->vm->vcpu_states()) options_.log(fmt::format("VM '{}':   {}", outcome.name, state));
      }
    }
    result.vms.push_back(std::move(outcome));
  }
  for (auto& slot : slots_)
    if (slot->console) slot->console->close_socket();
  return result;
}

std::string Vmm::control(Slot& slot, ThreadedHost& host, const std::atomic<bool>& stopping, const std::string& request,
                         int& fd) {
  const auto space = request.find(' ');
  const std::string verb = request.substr(0, space);
  if (verb == "migrate") return migrate(slot, host, request, fd);
  if (verb == "balloon") return balloon(slot, host, request);
  if (verb != "snapshot")
    return fmt::format("error unknown request '{}' (this VMM knows: snapshot DIR, migrate ADDRESS ..., balloon "
                       "[target=BYTES])",
                       verb.substr(0, 40));
  if (space == std::string::npos || space + 1 == request.size()) return "error snapshot needs a directory";
  const std::filesystem::path dir = request.substr(space + 1);
  if (!dir.is_absolute()) return fmt::format("error '{}' is not an absolute path", dir.string());
  if (!snapshot_supported(slot.config.mode))
    return fmt::format("error snapshots are not supported in {} mode", to_string(slot.config.mode));
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return fmt::format("error '{}' is not a directory", dir.string());
  if (slot.vm->state() != Vm::State::running) return fmt::format("error VM '{}' is not running", slot.config.name);
  auto outcome = std::make_shared<std::promise<std::pair<bool, std::string>>>();
  auto future = outcome->get_future();
  slot.vm->request_snapshot(dir, [outcome](bool ok, const std::string& message) { outcome->set_value({ok, message}); });
  slot.wake(host);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (stopping) return "error the VMM is stopping";
    if (slot.vm->state() != Vm::State::running) return fmt::format("error VM '{}' stopped before its snapshot", slot.config.name);
    if (std::chrono::steady_clock::now() > deadline) return "error no snapshot within 120 s";
  }
  const auto [ok, message] = future.get();
  return (ok ? "ok " : "error ") + message;
}

// "balloon" (the balloon's state) or "balloon target=BYTES" (the size the VM should give back:
// its balloon grows to BYTES, 0 lets it have everything again). The reply is "ok " and the
// balloon as one line of JSON (balloon_report.hpp), before the guest has acted on a new target.
std::string Vmm::balloon(Slot& slot, ThreadedHost& host, const std::string& request) {
  if (slot.vm->state() != Vm::State::running) return fmt::format("error VM '{}' is not running", slot.config.name);
  machine::VirtioBalloon* device = slot.vm->balloon();
  if (device == nullptr)
    return fmt::format("error VM '{}' has no balloon (balloon = true in its TOML file, or nimbus run --balloon)",
                       slot.config.name);
  std::istringstream words(request);
  std::string word;
  words >> word;   // "balloon"
  std::optional<uint64_t> target;
  while (words >> word) {
    if (!word.starts_with("target=")) return fmt::format("error bad balloon option '{}' (known: target=BYTES)", word.substr(0, 60));
    const std::string value = word.substr(7);
    uint64_t bytes = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), bytes);
    if (ec != std::errc() || end != value.data() + value.size())
      return fmt::format("error balloon target '{}' is not a number of bytes", value.substr(0, 40));
    if (bytes > slot.config.memory_bytes)
      return fmt::format("error balloon target {} bytes is more than VM '{}' has ({} bytes)", bytes, slot.config.name,
                         slot.config.memory_bytes);
    target = bytes;
  }
  if (target) device->set_target(static_cast<uint32_t>(*target / machine::VirtioBalloon::kPageSize));
  device->request_stats();   // fresh figures for the next request and the stats file
  slot.wake(host);
  nlohmann::json reply = balloon_to_json(*device);
  reply["vm"] = slot.config.name;
  reply["memory_bytes"] = slot.config.memory_bytes;
  reply["host_resident_bytes"] = slot.vm->host_resident_bytes();
  reply["returned_bytes"] = slot.vm->discarded_bytes();
  reply["pool_returned_bytes"] = slot.vm->pool_returned_bytes();
  return "ok " + reply.dump();
}

// "migrate tcp:HOST:PORT [max-downtime-ms=N] [timeout-ms=N] [max-bandwidth-mib=N] [auto-converge=0|1]
//  [held-dir=/abs] [json=0|1] [with-disk=0|1]" (with-disk: nimbus migrate --with-disk, sent only then)
// with the connection to the destination passed as a descriptor (the sandbox forbids connect).
std::string Vmm::migrate(Slot& slot, ThreadedHost& host, const std::string& request, int& fd) {
  std::vector<std::string> words;
  for (size_t at = 0; at < request.size();) {
    const size_t end = std::min(request.find(' ', at), request.size());
    if (end > at) words.push_back(request.substr(at, end - at));
    at = end + 1;
  }
  if (words.size() < 2) return "error migrate needs the destination address (tcp:HOST:PORT)";
  if (fd < 0) return "error migrate needs the connection to the destination passed with the request (use nimbus migrate)";
  migration::SendOptions options;
  options.destination = words[1];
  bool json = false;
  for (size_t i = 2; i < words.size(); ++i) {
    const auto eq = words[i].find('=');
    if (eq == std::string::npos) return fmt::format("error '{}' is not KEY=VALUE", words[i].substr(0, 60));
    const std::string key = words[i].substr(0, eq), value = words[i].substr(eq + 1);
    uint64_t number = 0;
    const bool numeric = !value.empty() && value.size() <= 12 && value.find_first_not_of("0123456789") == std::string::npos;
    if (numeric) number = std::stoull(value);
    if (key == "max-downtime-ms" && numeric && number >= 1) options.max_downtime = std::chrono::milliseconds(number);
    else if (key == "timeout-ms" && numeric && number >= 1) options.timeout = std::chrono::milliseconds(number);
    else if (key == "max-bandwidth-mib" && numeric) options.max_bandwidth = static_cast<double>(number) * (1 << 20);
    else if (key == "auto-converge" && (value == "0" || value == "1")) options.auto_converge = value == "1";
    else if (key == "json" && (value == "0" || value == "1")) json = value == "1";
    else if (key == "held-dir" && value.starts_with('/')) options.held_dir = value;
    else if (key == "with-disk" && (value == "0" || value == "1")) options.with_disk = value == "1";
    else return fmt::format("error bad migrate option '{}'", words[i].substr(0, 60));
  }
  if (!slot.vm || slot.vm->state() != Vm::State::running) return fmt::format("error VM '{}' is not running", slot.config.name);
  options.wake = [&host, &slot] { slot.wake(host); };
  if (slot.sched_vm >= 0) {
    const auto vm_index = static_cast<SchedVmIndex>(slot.sched_vm);
    options.set_cap = [&host, vm_index](uint32_t percent) { return host.set_cap(vm_index, percent); };
  }
  options.log = options_.log;
  const int connection = fd;
  fd = -1;   // send_vm owns it now
  try {
    const migration::SendReport report = migration::send_vm(*slot.vm, connection, options);
    options_.log(fmt::format("VM '{}' migrated to {}: {}", slot.config.name, options.destination, report.summary()));
    return "ok " + (json ? report.json()
                         : fmt::format("VM '{}' migrated to {}: {}", slot.config.name, options.destination, report.summary()));
  } catch (const std::exception& error) {
    options_.log(fmt::format("VM '{}': migration to {} failed: {}", slot.config.name, options.destination, error.what()));
    return fmt::format("error migration to {} failed: {}", options.destination, error.what());
  }
}

} // namespace nimbus::hypervisor

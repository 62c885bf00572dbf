// `nimbus bench`: runs the same kernel, initramfs and workloads on Nimbus and on
// qemu-system-riscv64 in one run and prints the ratios (DESIGN.md: speed is reported against
// QEMU measured in the same run, since the machines are noisy). Workloads: boot, the CPU
// benchmark and the benchmark suite ("cpu"; the suite alone: "suite"), the virtualization-cost
// microbenchmarks ("micro", bench_micro.hpp).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>

#include "cli/bench_micro.hpp"
#include "cli/child_process.hpp"
#include "cli/commands.hpp"
#include "cli/vmm_exec.hpp"
#include "hypervisor/vmm.hpp"
#include "machine/size_parser.hpp"

namespace nimbus::cli {
namespace {

constexpr const char* kDebianOpenSbi = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin";
constexpr const char* kInitMarker = "NIMBUS-GUEST:";

struct BenchOptions {
  std::string kernel, initrd, qemu = "qemu-system-riscv64", bios = kDebianOpenSbi, mem = "256M", json;
  unsigned rounds = 35; // about 10 s on QEMU on an idle host, as the benchmark bar asks
  std::string workload = "cpu";
  unsigned micro_scale = 10; // a few seconds per microbenchmark on Nimbus
  unsigned micro_repeat = 1;
  unsigned suite_scale = 1;  // about 0.3 s of QEMU's guest time per workload
  unsigned suite_repeat = 1;
  std::vector<std::string> virt; // virtualization modes to compare (micro workload)
  std::string pv_kernel;         // the paravirtualized kernel of the "trap+pv" column
  unsigned timeout = 900;
  std::string jit = "on"; // the Nimbus tier: on, off, or both (CPU workload: a row for each)
};

// One guest run on one emulator.
struct Measurement {
  std::optional<double> marker_seconds; // host time from start to the init marker
  std::optional<double> guest_seconds;  // the CPU benchmark's own elapsed time
  std::optional<double> section_seconds[3]; // its integer, memory and floating-point parts
  std::string checksum;
  std::vector<std::pair<std::string, double>> suite_seconds; // the suite's workloads, in order
  std::string suite_checksum;
  double wall_seconds = 0;
  uint64_t peak_overhead = 0; // host bytes beyond guest RAM
  int exit_code = -1;
  std::string last_lines;
};

// `also` sees every console line too, with its host time in seconds since the start.
Measurement measure(const std::vector<std::string>& argv, uint64_t ram, unsigned timeout, const std::string& what,
                    const std::function<void(const std::string&, double)>& also = {}) {
  fmt::print(stderr, "nimbus bench: {} ...\n", what);
  Measurement m;
  static const std::regex bench_line(
      R"(NIMBUS-BENCH: .*checksum=(0x[0-9a-f]+) elapsed=([0-9.]+)s(?: int=([0-9.]+)s mem=([0-9.]+)s fp=([0-9.]+)s)?)");
  static const std::regex suite_line(R"(NIMBUS-SUITE: scale=[0-9]+ checksum=(0x[0-9a-f]+)((?: [a-z]+=[0-9.]+s)+))");
  static const std::regex suite_part(R"( ([a-z]+)=([0-9.]+)s)");
  std::vector<std::string> tail;
  auto on_line = [&](const std::string& line, ChildProcess::Clock::duration t) {
    tail.push_back(line);
    if (tail.size() > 8) tail.erase(tail.begin());
    if (!m.marker_seconds && line.find(kInitMarker) != std::string::npos)
      m.marker_seconds = std::chrono::duration<double>(t).count();
    std::smatch match;
    if (std::regex_search(line, match, bench_line)) {
      m.checksum = match[1];
      m.guest_seconds = std::stod(match[2]);
      for (unsigned k = 0; k < 3; ++k)
        if (match[3 + k].matched) m.section_seconds[k] = std::stod(match[3 + k]);
    }
    if (std::regex_search(line, match, suite_line)) {
      m.suite_checksum = match[1];
      const std::string parts = match[2];
      for (std::sregex_iterator it(parts.begin(), parts.end(), suite_part), end; it != end; ++it)
        m.suite_seconds.emplace_back((*it)[1], std::stod((*it)[2]));
    }
    if (also) also(line, std::chrono::duration<double>(t).count());
    return true;
  };
  auto sampler = [&](pid_t pid) { m.peak_overhead = std::max(m.peak_overhead, sample_memory(pid, ram).overhead()); };
  const auto r = ChildProcess::run(argv, std::chrono::seconds(timeout), on_line, sampler);
  m.wall_seconds = std::chrono::duration<double>(r.elapsed).count();
  m.exit_code = r.exit_code;
  for (const auto& l : tail) m.last_lines += "    " + l + "\n";
  if (r.timed_out) fmt::print(stderr, "nimbus bench: {} timed out after {} s\n", what, timeout);
  return m;
}

std::string self_path() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "nimbus" : p.string();
}

// Starts either machine with the same firmware, kernel, initramfs and RAM, and makes scratch
// disks in a directory of its own.
class Machines {
public:
  explicit Machines(const BenchOptions& o)
      : o_(o), dir_(std::filesystem::temp_directory_path() / fmt::format("nimbus-bench-{}", getpid())) {
    std::filesystem::create_directories(dir_);
  }
  ~Machines() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Machines(const Machines&) = delete;
  Machines& operator=(const Machines&) = delete;

  std::string fresh_disk(const char* name) const {
    const auto path = (dir_ / name).string();
    std::ofstream(path).close();
    std::filesystem::resize_file(path, 64ull << 20);
    return path;
  }
  // An empty disk means none.
  // `jit`: "on" or "off"; empty: the --jit option ("both" means on here; the interpreter row asks for off).
  std::vector<std::string> nimbus(const std::string& append, const std::string& disk, std::string jit = "") const {
    if (jit.empty()) jit = o_.jit == "off" ? "off" : "on";
    std::vector<std::string> argv{self_path(), "run",   "--kernel", o_.kernel, "--initrd", o_.initrd, "--bios",
                                  o_.bios,     "--mem", o_.mem,     "--append", append, "--jit", jit};
    if (!disk.empty()) argv.insert(argv.end(), {"--drive", disk});
    return argv;
  }
  // One VM under the VMM in `mode`, logging its markers with counters into state_dir(mode).
  // "trap+pv" is trap mode with the paravirtualized kernel (--pv-kernel).
  std::vector<std::string> vmm(const std::string& mode, const std::string& append) const {
    const bool pv = mode == "trap+pv";
    return {self_path(), "run",      "--virt", pv ? "trap" : mode, "--kernel", pv ? o_.pv_kernel : o_.kernel, "--initrd",
            o_.initrd,   "--mem",    o_.mem,   "--append", append,      "--state-dir",       state_dir(mode).string(),
            "--marker-log"};
  }
  std::filesystem::path state_dir(const std::string& mode) const { return dir_ / ("vmm-" + mode); }
  std::vector<std::string> qemu(const std::string& append, const std::string& disk) const {
    std::vector<std::string> argv{o_.qemu,  "-M",      "virt",    "-nographic", "-m",      o_.mem,
                                  "-smp",   "1",       "-bios",   o_.bios,      "-kernel", o_.kernel,
                                  "-initrd", o_.initrd, "-append", append};
    if (!disk.empty())
      argv.insert(argv.end(),
                  {"-drive", "file=" + disk + ",if=none,format=raw,id=d0", "-device", "virtio-blk-device,drive=d0"});
    return argv;
  }

private:
  const BenchOptions& o_;
  std::filesystem::path dir_;
};

// Boot time, CPU benchmark and host memory: the default workload.
int run_cpu_workload(const BenchOptions& o, const Machines& machines, uint64_t ram, nlohmann::json& j) {
  const std::string test_append = "console=ttyS0 nimbus.mode=test";
  const std::string bench_append = fmt::format("console=ttyS0 nimbus.mode=bench nimbus.bench={}", o.rounds);
  const Measurement nimbus_boot =
      measure(machines.nimbus(test_append, machines.fresh_disk("nimbus-boot.img")), ram, o.timeout, "boot on Nimbus");
  const Measurement qemu_boot =
      measure(machines.qemu(test_append, machines.fresh_disk("qemu-boot.img")), ram, o.timeout, "boot on QEMU");
  const Measurement nimbus_cpu = measure(machines.nimbus(bench_append, machines.fresh_disk("nimbus-cpu.img")), ram,
                                         o.timeout, "CPU benchmark on Nimbus");
  const Measurement qemu_cpu = measure(machines.qemu(bench_append, machines.fresh_disk("qemu-cpu.img")), ram,
                                       o.timeout, "CPU benchmark on QEMU");
  std::optional<Measurement> interpreter_cpu; // --jit both: the interpreter too, in the same run
  if (o.jit == "both")
    interpreter_cpu = measure(machines.nimbus(bench_append, machines.fresh_disk("nimbus-interp.img"), "off"), ram,
                              o.timeout, "CPU benchmark on Nimbus, interpreter");

  bool ok = true;
  for (const auto* m : {&nimbus_boot, &qemu_boot}) {
    if (!m->marker_seconds) {
      fmt::print(stderr, "nimbus bench: a boot run never printed the init marker; last output:\n{}", m->last_lines);
      ok = false;
    }
  }
  for (const auto* m : {&nimbus_cpu, &qemu_cpu, interpreter_cpu ? &*interpreter_cpu : &nimbus_cpu}) {
    if (!m->guest_seconds) {
      fmt::print(stderr, "nimbus bench: a CPU run never printed its result; last output:\n{}", m->last_lines);
      ok = false;
    }
  }
  if (!ok) return 1;
  if (interpreter_cpu && interpreter_cpu->checksum != qemu_cpu.checksum) {
    fmt::print(stderr, "nimbus bench: checksums differ (Nimbus interpreter {}, QEMU {})\n", interpreter_cpu->checksum,
               qemu_cpu.checksum);
    return 1;
  }
  if (nimbus_cpu.checksum != qemu_cpu.checksum) {
    fmt::print(stderr, "nimbus bench: checksums differ (Nimbus {}, QEMU {}): Nimbus computed a wrong result\n",
               nimbus_cpu.checksum, qemu_cpu.checksum);
    return 1;
  }

  const double boot_ratio = *nimbus_boot.marker_seconds / *qemu_boot.marker_seconds;
  const double speed_ratio = *qemu_cpu.guest_seconds / *nimbus_cpu.guest_seconds;
  const uint64_t nimbus_overhead = std::max(nimbus_boot.peak_overhead, nimbus_cpu.peak_overhead);
  const uint64_t qemu_overhead = std::max(qemu_boot.peak_overhead, qemu_cpu.peak_overhead);
  const auto mib = [](uint64_t b) { return static_cast<double>(b) / (1 << 20); };

  fmt::print("{:<36} {:>12} {:>12} {:>10}   {}\n", "workload (1 hart, " + o.mem + ")", "Nimbus", "QEMU", "ratio",
             "bar");
  // The speed issue's bars (docs/jit.md): boot in at most 0.7x QEMU's time, and at least 1.5x QEMU's
  // guest speed on the whole benchmark and on each of its parts.
  constexpr double kBootBar = 0.7, kSpeedBar = 1.5;
  const auto verdict = [](bool met) { return met ? "met" : "MISSED"; };
  fmt::print("{:<36} {:>10.2f} s {:>10.2f} s {:>9.2f}x   <= {}x QEMU's boot time {}\n", "start to init marker",
             *nimbus_boot.marker_seconds, *qemu_boot.marker_seconds, boot_ratio, kBootBar,
             verdict(boot_ratio <= kBootBar));
  fmt::print("{:<36} {:>10.2f} s {:>10.2f} s {:>9.2f}x   >= {}x QEMU's guest speed {}\n",
             fmt::format("CPU benchmark ({} rounds)", o.rounds), *nimbus_cpu.guest_seconds, *qemu_cpu.guest_seconds,
             speed_ratio, kSpeedBar, verdict(speed_ratio >= kSpeedBar));
  // The benchmark's three workloads, each against QEMU's same part (the bar applies to each).
  static constexpr const char* kSections[3] = {"integer", "memory", "floating point"};
  for (unsigned k = 0; k < 3; ++k) {
    if (!nimbus_cpu.section_seconds[k] || !qemu_cpu.section_seconds[k] || *nimbus_cpu.section_seconds[k] <= 0) continue;
    const double ratio = *qemu_cpu.section_seconds[k] / *nimbus_cpu.section_seconds[k];
    fmt::print("{:<36} {:>10.2f} s {:>10.2f} s {:>9.2f}x   >= {}x {}\n", fmt::format("  {} part", kSections[k]),
               *nimbus_cpu.section_seconds[k], *qemu_cpu.section_seconds[k], ratio, kSpeedBar,
               verdict(ratio >= kSpeedBar));
    j["sections"][kSections[k]] = {{"nimbus", *nimbus_cpu.section_seconds[k]},
                                   {"qemu", *qemu_cpu.section_seconds[k]},
                                   {"speed_ratio", ratio}};
  }
  if (interpreter_cpu) {
    const double interpreter_ratio = *qemu_cpu.guest_seconds / *interpreter_cpu->guest_seconds;
    fmt::print("{:<36} {:>10.2f} s {:>10.2f} s {:>9.2f}x   (the CPU row above is --jit on: {:.2f}x the interpreter)\n",
               "  same, interpreter (--jit off)", *interpreter_cpu->guest_seconds, *qemu_cpu.guest_seconds,
               interpreter_ratio, *interpreter_cpu->guest_seconds / *nimbus_cpu.guest_seconds);
    j["cpu_seconds_interpreter"] = *interpreter_cpu->guest_seconds;
    j["speed_ratio_interpreter"] = interpreter_ratio;
  }
  fmt::print("{:<36} {:>8.1f} MiB {:>8.1f} MiB {:>9.2f}x   <= 16 MiB {}\n", "host memory beyond guest RAM",
             mib(nimbus_overhead), mib(qemu_overhead), mib(nimbus_overhead) / std::max(mib(qemu_overhead), 0.01),
             verdict(mib(nimbus_overhead) <= 16));
  // Without nimbus-vmm beside this binary `nimbus run` keeps the whole of `nimbus` (the cloud
  // layer's libraries resident): about 6 MiB more than a VM's process holds as installed.
  const bool vmm_in_process = vmm_executable().empty();
  if (vmm_in_process)
    fmt::print("(host memory: the VMM ran inside `nimbus` itself, as NIMBUS_VMM_IN_PROCESS=1 or no nimbus-vmm "
               "beside this binary makes it; about 6 MiB more than with nimbus-vmm)\n");
  fmt::print("(speed ratio = QEMU time / Nimbus time; checksum {} identical on both)\n", nimbus_cpu.checksum);

  j["boot_seconds"] = {{"nimbus", *nimbus_boot.marker_seconds}, {"qemu", *qemu_boot.marker_seconds}};
  j["cpu_seconds"] = {{"nimbus", *nimbus_cpu.guest_seconds}, {"qemu", *qemu_cpu.guest_seconds}};
  j["overhead_bytes"] = {{"nimbus", nimbus_overhead}, {"qemu", qemu_overhead}};
  j["vmm_in_process"] = vmm_in_process;
  j["boot_ratio"] = boot_ratio;
  j["speed_ratio"] = speed_ratio;
  j["rounds"] = o.rounds;
  return 0;
}

// The benchmark suite (guests/bench/nimbus-suite.c: linked lists, calls, state machines, byte
// loops, integer matrices, FP, memcpy, qsort, busybox's tools) on both machines, each workload
// against QEMU's; with --suite-repeat N the machines take turns N times and each workload keeps
// its fastest time on each machine.
int run_suite_workload(const BenchOptions& o, const Machines& machines, uint64_t ram, nlohmann::json& j) {
  const std::string append = fmt::format("console=ttyS0 nimbus.mode=suite nimbus.suite={}", o.suite_scale);
  std::map<std::string, double> best[2];
  std::vector<std::string> order;
  std::string checksum;
  for (unsigned repeat = 0; repeat < o.suite_repeat; ++repeat) {
    for (int machine = 0; machine < 2; ++machine) {
      const char* name = machine == 0 ? "Nimbus" : "QEMU";
      const Measurement m = measure(machine == 0 ? machines.nimbus(append, "") : machines.qemu(append, ""), ram, o.timeout,
                                    fmt::format("benchmark suite on {} (run {} of {})", name, repeat + 1, o.suite_repeat));
      if (m.suite_seconds.empty()) {
        fmt::print(stderr, "nimbus bench: the suite on {} never printed its result; last output:\n{}", name, m.last_lines);
        return 1;
      }
      if (checksum.empty()) checksum = m.suite_checksum;
      if (m.suite_checksum != checksum) {
        fmt::print(stderr, "nimbus bench: suite checksums differ (Nimbus {}, QEMU {}): Nimbus computed a wrong result\n",
                   machine == 0 ? m.suite_checksum : checksum, machine == 0 ? checksum : m.suite_checksum);
        return 1;
      }
      for (const auto& [workload, seconds] : m.suite_seconds) {
        if (std::find(order.begin(), order.end(), workload) == order.end()) order.push_back(workload);
        auto [it, fresh] = best[machine].emplace(workload, seconds);
        if (!fresh) it->second = std::min(it->second, seconds);
      }
    }
  }
  constexpr double kSpeedBar = 1.5;
  fmt::print("{:<36} {:>12} {:>12} {:>10}   {}\n",
             fmt::format("suite (nimbus.suite={}, fastest of {})", o.suite_scale, o.suite_repeat), "Nimbus", "QEMU",
             "ratio", "bar");
  double log_sum = 0;
  unsigned counted = 0, met = 0;
  for (const auto& w : order) {
    if (!best[0].count(w) || !best[1].count(w) || best[0][w] <= 0) continue;
    const double ratio = best[1][w] / best[0][w];
    log_sum += std::log(ratio);
    ++counted;
    met += ratio >= kSpeedBar;
    fmt::print("{:<36} {:>10.3f} s {:>10.3f} s {:>9.2f}x   >= {}x {}\n", "  " + w, best[0][w], best[1][w], ratio, kSpeedBar,
               ratio >= kSpeedBar ? "met" : "MISSED");
    j["suite"][w] = {{"nimbus", best[0][w]}, {"qemu", best[1][w]}, {"speed_ratio", ratio}};
  }
  if (counted == 0) return 1;
  const double geomean = std::exp(log_sum / counted);
  fmt::print("{:<36} {:>12} {:>12} {:>9.2f}x   {} of {} workloads at >= {}x\n", "  geometric mean", "", "", geomean, met,
             counted, kSpeedBar);
  fmt::print("(suite checksum {} identical on both)\n", checksum);
  j["suite_geomean"] = geomean;
  j["suite_scale"] = o.suite_scale;
  return 0;
}

// One column of the microbenchmark table: a label and the command line that runs the guest in
// nimbus.mode=micro (today Nimbus and QEMU; one per virtualization mode once VMs have modes).
struct BenchConfig {
  std::string label;
  std::vector<std::string> argv;
};

// The microbenchmarks under every configuration, side by side; the ratios are taken to the last
// configuration (QEMU), or with --virt to the first mode. With --micro-repeat N the configurations take turns N times (so load
// that comes and goes hits them alike) and each benchmark keeps its fastest run.
int run_micro_workload(const BenchOptions& o, const Machines& machines, uint64_t ram, nlohmann::json& j) {
  const std::string append = fmt::format("console=ttyS0 nimbus.mode=micro nimbus.micro={}", o.micro_scale);
  // Either the virtualization modes (the first is the reference: the cost of each mode relative
  // to it) or the bare machine against QEMU.
  std::vector<BenchConfig> configs;
  for (const auto& mode : o.virt) configs.push_back({mode, machines.vmm(mode, append)});
  if (configs.empty()) configs = {{"Nimbus", machines.nimbus(append, "")}, {"QEMU", machines.qemu(append, "")}};
  std::vector<MicroRun> runs;
  for (unsigned repeat = 0; repeat < o.micro_repeat; ++repeat) {
    for (size_t c = 0; c < configs.size(); ++c) {
      const auto& label = configs[c].label;
      MicroParser parsed;
      const Measurement m =
          measure(configs[c].argv, ram, o.timeout,
                  fmt::format("microbenchmarks on {} (run {} of {})", label, repeat + 1, o.micro_repeat),
                  [&](const std::string& line, double t) { parsed.feed(line, t); });
      auto problems = parsed.problems();
      if (m.exit_code != 0) problems.push_back(fmt::format("the machine exited with {}, not 0", m.exit_code));
      if (!runs.empty() && parsed.checksum() != runs.front().parsed.checksum())
        problems.push_back(fmt::format("CPU benchmark checksum {}, but {} computed {}: a wrong result",
                                       parsed.checksum(), runs.front().label, runs.front().parsed.checksum()));
      for (const auto& p : problems) fmt::print(stderr, "nimbus bench: microbenchmarks on {}: {}\n", label, p);
      if (!problems.empty()) {
        fmt::print(stderr, "nimbus bench: last output on {}:\n{}", label, m.last_lines);
        return 1;
      }
      std::vector<MicroExits> exits;
      if (!o.virt.empty()) {
        std::ifstream log(hypervisor::Vmm::marker_log_path(machines.state_dir(label), "vm"));
        exits = micro_exits(log);
        if (exits.empty()) fmt::print(stderr, "nimbus bench: no counters in the marker log of {}\n", label);
      }
      if (repeat == 0)
        runs.push_back({label, std::move(parsed), std::move(exits)});
      else
        runs[c].parsed.keep_fastest(parsed);
    }
  }

  const size_t reference = o.virt.empty() ? runs.size() - 1 : 0;
  fmt::print("microbenchmarks (1 hart, {}, nimbus.micro={}, fastest of {}), host time per operation:\n{}", o.mem,
             o.micro_scale, o.micro_repeat, micro_table(runs, reference, MicroClock::host));
  fmt::print("the guests' own clocks:\n{}", micro_table(runs, reference, MicroClock::guest));
  fmt::print("(host time: between the benchmark's start and result lines reaching the host console; ratio = cost\n"
             " relative to {}, above 1 is slower; cpu is one round of the CPU benchmark, checksum {} on all)\n",
             runs[reference].label, runs.back().parsed.checksum());
  if (!o.virt.empty()) fmt::print("VMM exits per operation:\n{}", micro_exits_table(runs));
  j["micro"] = micro_json(runs);
  j["micro_scale"] = o.micro_scale;
  j["micro_repeat"] = o.micro_repeat;
  return 0;
}

int run_bench(const BenchOptions& o) {
  for (const auto* f : {&o.kernel, &o.initrd, &o.bios})
    if (!std::filesystem::is_regular_file(*f)) {
      fmt::print(stderr, "nimbus bench: '{}' is not a file (build guests with guests/build.sh)\n", *f);
      return 2;
    }
  if (std::find(o.virt.begin(), o.virt.end(), "trap+pv") != o.virt.end() &&
      !std::filesystem::is_regular_file(o.pv_kernel)) {
    fmt::print(stderr, "nimbus bench: --virt trap+pv needs --pv-kernel FILE (build it with guests/build.sh kernel-pv; "
                       "source guests/paths.sh gives $NIMBUS_GUEST_KERNEL_PV)\n");
    return 2;
  }
  const auto ram = machine::parse_size(o.mem);
  if (!ram) {
    fmt::print(stderr, "nimbus bench: --mem '{}' is not a size\n", o.mem);
    return 2;
  }
  const Machines machines(o);
  nlohmann::json j;
  int rc = 0;
  if (o.workload == "cpu" || o.workload == "all") rc = run_cpu_workload(o, machines, *ram, j);
  if (rc == 0 && o.workload != "micro") {
    if (o.workload != "suite") fmt::print("\n");
    rc = run_suite_workload(o, machines, *ram, j);
  }
  if (rc == 0 && o.workload == "all") fmt::print("\n");
  if (rc == 0 && (o.workload == "micro" || o.workload == "all")) rc = run_micro_workload(o, machines, *ram, j);
  if (rc == 0 && !o.json.empty()) std::ofstream(o.json) << j.dump(2) << "\n";
  return rc;
}

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Run whole-guest workloads on Nimbus and qemu-system-riscv64 and compare");
  cmd->footer(
      "Runs, in one go: boot to the init marker (nimbus.mode=test), the CPU benchmark (nimbus.mode=bench)\n"
      "and the benchmark suite (nimbus.mode=suite: linked lists, calls, state machines, byte loops, integer\n"
      "matrices, FP, memcpy, qsort, busybox's tools) on both machines with the same firmware, kernel and\n"
      "initramfs, samples host memory beyond guest RAM, and prints ratios (--workload suite: the suite\n"
      "alone). --workload micro runs the virtualization-cost microbenchmarks instead (null system\n"
      "call, page fault, fork+exit+wait, exec, pipe round trip, CPU benchmark; nimbus.mode=micro), all both.\n"
      "With --virt, trap+pv is trap mode running the paravirtualized kernel given by --pv-kernel\n"
      "(guests/build.sh kernel-pv; $NIMBUS_GUEST_KERNEL_PV).\n"
      "Build the guest images first: guests/build.sh (paths: source guests/paths.sh).\n"
      "Example: nimbus bench --kernel $NIMBUS_GUEST_KERNEL --initrd $NIMBUS_GUEST_INITRD");
  cmd->add_option("--kernel", o->kernel, "Linux Image built by guests/build.sh")->required();
  cmd->add_option("--initrd", o->initrd, "Nimbus initramfs built by guests/build.sh (has the init marker and benchmark)")
      ->required();
  cmd->add_option("--bios", o->bios, "Firmware for both machines")->capture_default_str();
  cmd->add_option("--qemu", o->qemu, "The reference emulator")->capture_default_str();
  cmd->add_option("--mem", o->mem, "Guest RAM for both machines")->capture_default_str();
  cmd->add_option("--rounds", o->rounds, "CPU benchmark size (nimbus.bench=N)")->capture_default_str();
  cmd->add_option("--jit", o->jit,
                  "Nimbus's tier: off (interpreter), on (JIT), both (CPU workload: the JIT's rows plus the "
                  "interpreter's CPU benchmark, all against the same QEMU run)")
      ->check(CLI::IsMember({"off", "on", "both"}))
      ->capture_default_str();
  cmd->add_option("--workload", o->workload,
                  "cpu: boot, CPU benchmark and suite; suite: the suite alone; micro: microbenchmarks; all: everything")
      ->check(CLI::IsMember({"cpu", "suite", "micro", "all"}))
      ->capture_default_str();
  cmd->add_option("--suite-scale", o->suite_scale, "Benchmark suite size (nimbus.suite=SCALE)")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  cmd->add_option("--suite-repeat", o->suite_repeat,
                  "Run the suite this many times per machine, in turns, and keep each workload's fastest")
      ->check(CLI::Range(1u, 100u))
      ->capture_default_str();
  cmd->add_option("--micro-scale", o->micro_scale, "Microbenchmark size (nimbus.micro=SCALE)")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  cmd->add_option("--micro-repeat", o->micro_repeat,
                  "Run the microbenchmarks this many times per machine, in turns, and keep each one's fastest")
      ->check(CLI::Range(1u, 100u))
      ->capture_default_str();
  cmd->add_option("--virt", o->virt,
                  "Run the microbenchmarks as one VM under the VMM in each of these virtualization modes "
                  "(e.g. emulate,trap,trap+pv,hw; the first is the reference) instead of bare Nimbus vs QEMU, "
                  "with the VMM's exits per operation; trap+pv needs --pv-kernel")
      ->delimiter(',')
      ->check(CLI::IsMember({"emulate", "trap", "trap+pv", "hw"}));
  cmd->add_option("--pv-kernel", o->pv_kernel,
                  "The paravirtualized Linux Image (guests/build.sh kernel-pv) for --virt trap+pv");
  cmd->add_option("--timeout", o->timeout, "Seconds allowed for each run")->capture_default_str();
  cmd->add_option("--json", o->json, "Also write the figures as JSON to this file");
  cmd->callback([o] { set_exit_code(run_bench(*o)); });
}

NIMBUS_REGISTER_COMMAND(register_bench);

} // namespace
} // namespace nimbus::cli

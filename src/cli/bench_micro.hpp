#pragma once
// The microbenchmarks of `nimbus bench --workload micro`: reading what the guest's nimbus-micro
// prints (guests/bench/nimbus-micro.c, init's nimbus.mode=micro) together with the host time at
// which each line arrived, and printing runs side by side. Pure: no processes, so it is unit
// tested; bench_command.cpp runs the machines.
#include <cstdint>
#include <istream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nimbus::cli {

// The benchmarks nimbus-micro runs, in its order. "cpu" (the CPU benchmark, one op = one round)
// comes last and only when the guest has nimbus-bench.
const std::vector<std::string>& micro_benchmark_names();

struct MicroResult {
  std::string name;
  uint64_t iterations = 0;
  double guest_ns_per_op = 0; // the guest's own clock (guest time under --deterministic)
  double guest_seconds = 0;
  // Host time between the start line and the result line reaching the host: what compares
  // machines and virtualization modes, whatever clock the guest has.
  std::optional<double> host_seconds;

  std::optional<double> host_us_per_op() const;
  double guest_us_per_op() const { return guest_ns_per_op / 1000; }
};

// Fed the console of one guest run, line by line.
class MicroParser {
public:
  // `host_seconds`: when the line arrived, from any fixed origin.
  void feed(std::string_view line, double host_seconds);

  const std::vector<MicroResult>& results() const { return results_; }
  const MicroResult* find(std::string_view name) const;
  bool done() const { return done_; }
  // The CPU benchmark's checksum from its NIMBUS-BENCH line (empty if none): equal on every
  // machine that computes correctly.
  const std::string& checksum() const { return checksum_; }
  // Everything wrong with the run: a benchmark missing or with a nonsense figure, a malformed
  // line, no "done". Empty for a complete run.
  std::vector<std::string> problems() const;

  // Keeps, benchmark by benchmark, the one of this run and `other` (another run of the same
  // configuration) with the lower host time per operation: load on a shared host only ever
  // adds time, so the fastest of a few runs is the steadiest figure.
  void keep_fastest(const MicroParser& other);

private:
  std::vector<MicroResult> results_;
  std::vector<std::string> malformed_;
  std::string started_; // the benchmark whose start line came last
  double started_at_ = 0;
  std::string checksum_;
  bool done_ = false;
};

// What one benchmark cost the VMM per operation: the change of the VM's counters between the
// benchmark's start line and its result line (the VMM's marker log, `nimbus run --marker-log`),
// divided by the iterations.
struct MicroExits {
  std::string name;
  double exits = 0;                        // all exits (exits.total)
  std::map<std::string, double> by_reason; // each exit reason, and the fault/flush counters
};

// Reads a marker log (one JSON object per line: line, counters). Malformed lines are skipped;
// benchmarks without both lines and counters are left out.
std::vector<MicroExits> micro_exits(std::istream& marker_log);

// One way of running the guest, e.g. "Nimbus", "QEMU", or a virtualization mode.
struct MicroRun {
  std::string label;
  MicroParser parsed;
  std::vector<MicroExits> exits; // empty when the machine has no VMM counters (QEMU, bare Nimbus)
};

// Rows are the benchmarks, columns each run's exits per operation ("-" without counters), then
// the main reasons of the run with the most exits.
std::string micro_exits_table(const std::vector<MicroRun>& runs);

enum class MicroClock { host, guest };

// Rows are the benchmarks, columns each run's µs per operation by the chosen clock, then the
// ratio of every other run to runs[reference]. A figure a run lacks prints as "-".
std::string micro_table(const std::vector<MicroRun>& runs, size_t reference, MicroClock clock);

// {label: {benchmark: {iterations, host_us_per_op, guest_us_per_op}}}
nlohmann::json micro_json(const std::vector<MicroRun>& runs);

} // namespace nimbus::cli

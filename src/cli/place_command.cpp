// `nimbus place [options] FILE`: packs VMs (items) onto hosts (bins) and says how far the answer
// is from optimal. Subcommands: `simulate` (online engine, place_simulate.cpp) and `generate`.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.hpp"
#include "cli/place_bench.hpp"
#include "cli/place_generate.hpp"
#include "cli/place_simulate.hpp"
#include "cloud/placement/certify.hpp"
#include "cloud/placement/input_error.hpp"
#include "cloud/placement/instance_formats.hpp"
#include "cloud/placement/offline_report_json.hpp"
#include "cloud/placement/offline_solver.hpp"

namespace nimbus::cli {

namespace {

using namespace cloud::placement;

struct PlaceOptions {
  std::string file;
  std::string format = "auto";
  std::string algorithm = "auto";
  double time_limit = 10.0;
  bool no_local_search = false;
  std::string output;
  bool summary_only = false;
  bool certify = false;
};

const char* kFooter = R"(Formats (chosen by extension .bpp/.txt, .vbp, .json, or else by content; --format overrides):
  bpp   classic 1-D: item count, capacity, then one weight per line
  vbp   vector: dimensions (1-4); host capacities; number of item types; then per type
        one line with its demands and a count
  json  {"dimensions": ["vcpu","mem"],
         "host_types": [{"name": "m", "capacity": [8, 32768], "cost": 1.0}, ...],
         "vms": [{"name": "web", "demand": [2, 4096], "count": 3}, ...]}
        several host types, each with a cost; the objective is total cost.
Algorithms:
  auto        best of the fitting heuristics, local search, then exact search (default)
  exact       FFD, then exact search only (1-D: bin completion, column generation with dives,
              arc-flow program; vectors: column generation, all-pattern program, branch-and-bound)
  ff bf wf ffd bfd wfd             First/Best/Worst Fit, plain or Decreasing
  ffd-sum ffd-product ffd-l2       vector FFD by sum, product or L2 norm of normalized demands
  dot-product l2-norm              bin-centric heuristics of Panigrahy et al. (2011)
Output: the assignment as JSON (bins with host type, items, load; summary figures) on standard
output or --output; the summary (bins used, lower bound, gap %, time) on standard error, or on
standard output with --output or --summary-only.
Exit codes: 0 solved (optimal or not), 1 internal error or --certify refuted the claim, 2 bad input
or usage (message names file and line).)";

std::string format_cost(double v) {
  if (v == static_cast<double>(static_cast<int64_t>(v))) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{:.4f}", v);
}

void print_summary(std::FILE* out, const Instance& instance, const OfflineReport& r, const std::string& file,
                   double read_seconds, const CertifyResult* certificate) {
  const bool unit_cost = instance.single_host_type() && instance.host_types[0].cost == 1.0;
  fmt::print(out, "instance     {} ({} items, {} dimension{}, {} host type{})\n", file, instance.item_count(),
             instance.dimensions, instance.dimensions == 1 ? "" : "s", instance.host_types.size(),
             instance.host_types.size() == 1 ? "" : "s");
  fmt::print(out, "algorithm    {}\n", r.algorithm);
  fmt::print(out, "bins used    {}\n", r.bins);
  if (!unit_cost) fmt::print(out, "cost         {}\n", format_cost(r.cost));
  if (instance.single_host_type())
    fmt::print(out, "lower bound  {} (continuous {}, Martello-Toth L2 {}; proven by {})\n", format_cost(r.lower_bound),
               r.bin_bound.continuous, r.bin_bound.l2, r.bound_source);
  else
    fmt::print(out, "lower bound  {} (cost; proven by {})\n", format_cost(r.lower_bound), r.bound_source);
  fmt::print(out, "gap          {:.2f} %{}\n", r.gap_percent, r.optimal ? " (optimal)" : "");
  fmt::print(out, "stopped      {}\n", stop_reason_name(r.stop));
  if (certificate != nullptr)
    fmt::print(out, "certified    {} ({})\n",
               certificate->verdict == Certificate::Certified ? "yes"
               : certificate->verdict == Certificate::Refuted ? "NO, refuted"
                                                              : "no",
               certificate->method);
  fmt::print(out, "time         {:.3f} ms solve, {:.3f} ms read\n", r.seconds * 1e3, read_seconds * 1e3);
}

int run_place(const PlaceOptions& o) {
  if (o.file.empty()) {
    fmt::print(stderr, "nimbus place: missing instance FILE (see nimbus place --help)\n");
    return 2;
  }
  InstanceFormat format = InstanceFormat::Auto;
  parse_instance_format(o.format, format);  // validated by CLI11
  OfflineOptions options;
  options.time_limit_seconds = o.time_limit;
  options.local_search = !o.no_local_search;
  if (o.algorithm == "auto") options.mode = OfflineMode::Auto;
  else if (o.algorithm == "exact") options.mode = OfflineMode::Exact;
  else {
    options.mode = OfflineMode::Heuristic;
    options.heuristic = *heuristic_from_name(o.algorithm);  // validated by CLI11
  }

  Instance instance;
  const auto start = std::chrono::steady_clock::now();
  try {
    instance = read_instance_file(o.file, format);
  } catch (const InputError& e) {
    if (e.line() == 0) fmt::print(stderr, "nimbus place: {}: {}\n", e.file(), e.message());
    else fmt::print(stderr, "nimbus place: {}\n", e.what());
    return 2;
  }
  const double read_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (const std::string problem = instance_problem(instance); !problem.empty()) {
    fmt::print(stderr, "nimbus place: {}: {}\n", o.file, problem);
    return 2;
  }

  // The limit covers the whole run: reading counts against it.
  options.time_limit_seconds = std::max(0.0, o.time_limit - read_seconds);
  const OfflineReport report = solve_offline(instance, options);
  if (const std::string violation = packing_violation(instance, report.packing); !violation.empty()) {
    // A solver bug, never bad input: say so rather than print a wrong assignment.
    fmt::print(stderr, "nimbus place: internal error: infeasible packing ({})\n", violation);
    return 1;
  }

  if (!o.summary_only) {
    const nlohmann::json json = offline_report_json(instance, report, o.file);
    const std::string text = json.dump(instance.item_count() <= 10000 ? 2 : -1) + "\n";
    if (o.output.empty()) {
      std::fwrite(text.data(), 1, text.size(), stdout);
    } else {
      std::ofstream file(o.output);
      if (!(file << text)) {
        fmt::print(stderr, "nimbus place: {}: cannot write the assignment\n", o.output);
        return 2;
      }
    }
  }
  std::optional<CertifyResult> certificate;
  if (o.certify) {
    if (report.optimal) {
      certificate = certify_optimum(instance, report.packing, report.cost, o.time_limit);
    } else {
      certificate = CertifyResult{Certificate::NotCertified, "no optimum was claimed"};
    }
  }
  print_summary(o.output.empty() && !o.summary_only ? stderr : stdout, instance, report, o.file, read_seconds,
                certificate ? &*certificate : nullptr);
  if (certificate && certificate->verdict == Certificate::Refuted) return 1;
  return 0;
}

void register_place(CLI::App& app) {
  auto options = std::make_shared<PlaceOptions>();
  CLI::App* place = app.add_subcommand("place", "Pack VMs onto hosts (bin packing) and report the gap to a lower bound");
  place->footer(kFooter);
  place->add_option("file", options->file, "Instance file (bpp, vbp or json)");
  place->add_option("-f,--format", options->format, "Instance format: auto, bpp, vbp, json")
      ->check(CLI::IsMember({"auto", "bpp", "vbp", "json"}))
      ->capture_default_str();
  std::vector<std::string> algorithms{"auto", "exact"};
  for (Heuristic h : kAllHeuristics) algorithms.emplace_back(heuristic_name(h));
  place->add_option("-a,--algorithm", options->algorithm, "auto, exact, or a heuristic (see below)")
      ->check(CLI::IsMember(algorithms))
      ->capture_default_str();
  place->add_option("-t,--time-limit", options->time_limit, "Seconds for local and exact search")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  place->add_flag("--no-local-search", options->no_local_search, "Skip the local search after the heuristics");
  place->add_option("-o,--output", options->output, "Write the assignment JSON to this file");
  place->add_flag("--summary-only", options->summary_only, "Print only the summary, not the assignment");
  place->add_flag("--certify", options->certify,
                  "Re-check a claimed optimum by an independent method (subset DP, arc-flow LP/IP); "
                  "takes up to another --time-limit");
  place->require_subcommand(0, 1);
  register_place_simulate(*place);
  register_place_generate(*place);
  register_place_bench(*place);
  place->callback([options, place] {
    if (!place->get_subcommands().empty()) return;  // a subcommand ran instead
    set_exit_code(run_place(*options));
  });
}

} // namespace

NIMBUS_REGISTER_COMMAND(register_place);

} // namespace nimbus::cli

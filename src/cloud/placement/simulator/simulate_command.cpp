#include "cloud/placement/simulator/simulate_command.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "cloud/placement/input_error.hpp"
#include "cloud/placement/online/online_types.hpp"
#include "cloud/placement/simulator/simulation.hpp"
#include "cloud/placement/simulator/simulation_output.hpp"
#include "cloud/placement/simulator/trace_csv.hpp"

namespace nimbus::cloud::placement::simulator {

namespace {

// A bad option value; reported as "--option: message" with exit code 2.
struct OptionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// An output file that cannot be written; exit code 1.
struct OutputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    parts.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return parts;
    start = comma + 1;
  }
}

std::vector<int64_t> integer_list(const std::string& option, const std::string& text) {
  std::vector<int64_t> values;
  for (const std::string& part : split_commas(text)) {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc{} || end != part.data() + part.size())
      throw OptionError(fmt::format("{}: '{}' is not an integer", option, part));
    if (v < 0) throw OptionError(fmt::format("{}: {} is negative", option, v));
    values.push_back(v);
  }
  if (values.size() > kMaxDimensions)
    throw OptionError(fmt::format("{}: at most {} dimensions", option, kMaxDimensions));
  return values;
}

std::vector<double> ratio_list(const std::string& option, const std::string& text) {
  std::vector<double> values;
  for (const std::string& part : split_commas(text)) {
    double v = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc{} || end != part.data() + part.size() || !std::isfinite(v))
      throw OptionError(fmt::format("{}: '{}' is not a number", option, part));
    if (v <= 0) throw OptionError(fmt::format("{}: ratio {} must be positive", option, part));
    values.push_back(v);
  }
  if (values.size() > kMaxDimensions)
    throw OptionError(fmt::format("{}: at most {} dimensions", option, kMaxDimensions));
  return values;
}

void write_file(const std::string& path, const std::string& what, const std::function<void(std::ostream&)>& body) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw OutputError(fmt::format("cannot write {} to {}", what, path));
  body(f);
  f.flush();
  if (!f) throw OutputError(fmt::format("cannot write {} to {}", what, path));
}

} // namespace

int run_simulate_command(const SimulateOptions& o, std::ostream& out, std::ostream& err) {
  try {
    if (o.generate == !o.trace_path.empty())
      throw OptionError("give exactly one of --trace FILE and --generate");
    online::EngineConfig engine;
    if (!online::parse_policy(o.policy, engine.policy))
      throw OptionError(fmt::format("--policy: unknown policy '{}' (best-fit, worst-fit, dot-product, hybrid)", o.policy));
    const std::vector<int64_t> capacity = integer_list("--host-capacity", o.host_capacity);
    const std::size_t dims = capacity.size();
    engine.dimensions = dims;
    for (int64_t c : capacity)
      if (c == 0) throw OptionError("--host-capacity: every capacity must be positive");
    SimulationConfig config;
    config.initial_hosts = o.hosts;
    for (std::size_t d = 0; d < dims; ++d) config.host_spec.capacity[d] = capacity[d];
    if (!o.reserve.empty()) {
      const std::vector<int64_t> reserve = integer_list("--reserve", o.reserve);
      if (reserve.size() != dims)
        throw OptionError(fmt::format("--reserve: {} values for {} dimensions", reserve.size(), dims));
      for (std::size_t d = 0; d < dims; ++d) config.host_spec.reserved[d] = reserve[d];
    }
    if (!o.overcommit.empty()) {
      const std::vector<double> ratios = ratio_list("--overcommit", o.overcommit);
      if (ratios.size() != dims)
        throw OptionError(fmt::format("--overcommit: {} values for {} dimensions", ratios.size(), dims));
      for (std::size_t d = 0; d < dims; ++d) engine.overcommit[d] = ratios[d];
    }
    for (std::size_t d = 0; d < dims; ++d)
      if (std::floor(static_cast<double>(capacity[d]) * engine.overcommit[d]) <
          static_cast<double>(config.host_spec.reserved[d]))
        throw OptionError(fmt::format("--reserve: dimension {} reserves more than the host has", d + 1));
    if (o.hosts > 100000) throw OptionError("--hosts: at most 100000");
    if (o.samples == 0) throw OptionError("--samples: must be positive");
    if (o.consolidate_every < 0 || !std::isfinite(o.consolidate_every))
      throw OptionError("--consolidate-every: must be a non-negative number of seconds");
    config.engine = engine;
    config.samples = o.samples;
    config.consolidate_every = o.consolidate_every;
    config.migration_budget = o.migration_budget;
    if (o.progress) {
      config.progress = [&err](std::size_t done, std::size_t total) {
        if (done % std::max<std::size_t>(1, total / 10) == 0 || done == total)
          err << fmt::format("simulate: {}/{} events ({}%)\n", done, total, done * 100 / total) << std::flush;
      };
    }

    Trace trace;
    if (o.generate) {
      if (dims != 2) throw OptionError("--generate: the VM catalogue has 2 dimensions (vCPU, GiB); give --host-capacity CPU,GIB");
      if (o.hosts == 0) throw OptionError("--generate: give the fleet size with --hosts");
      GeneratorConfig g = o.generator;
      if (g.events == 0 || g.events > 10000000) throw OptionError("--events: must be in 1..10000000");
      if (g.arrival_rate == 0) {
        // Offered load: arrival rate x mean lifetime x mean VM size = load x fleet vCPUs.
        if (!(o.load > 0) || o.load > 10) throw OptionError("--load: must be in (0, 10]");
        const double fleet_vcpus = static_cast<double>(o.hosts) *
                                   (std::floor(static_cast<double>(capacity[0]) * engine.overcommit[0]) -
                                    static_cast<double>(config.host_spec.reserved[0]));
        g.arrival_rate = o.load * fleet_vcpus / (catalogue_mean_vcpus(public_cloud_catalogue()) * g.mean_lifetime);
        if (!(g.arrival_rate > 0)) throw OptionError("--load: the fleet has no usable vCPUs");
      }
      try {
        trace = generate_trace(g);
      } catch (const std::invalid_argument& e) {
        throw OptionError(fmt::format("--generate: {}", e.what()));
      }
    } else {
      trace = read_trace_csv(o.trace_path);
    }
    if (!o.write_trace_path.empty())
      write_file(o.write_trace_path, "the trace", [&](std::ostream& f) { write_trace_csv(trace, f); });

    const SimulationReport report = run_simulation(trace, config);
    write_summary_text(report, out);
    if (!o.csv_path.empty()) write_file(o.csv_path, "the CSV curves", [&](std::ostream& f) { write_samples_csv(report, f); });
    if (!o.svg_path.empty()) write_file(o.svg_path, "the SVG chart", [&](std::ostream& f) { f << render_report_svg(report); });
    if (!o.json_path.empty())
      write_file(o.json_path, "the JSON report", [&](std::ostream& f) { f << report_json(report).dump(2) << '\n'; });
    return 0;
  } catch (const InputError& e) {
    err << e.what() << '\n';
    return 2;
  } catch (const OptionError& e) {
    err << e.what() << '\n';
    return 2;
  } catch (const online::PlacementError& e) {
    err << e.what() << '\n';
    return 2;
  } catch (const OutputError& e) {
    err << e.what() << '\n';
    return 1;
  }
}

} // namespace nimbus::cloud::placement::simulator

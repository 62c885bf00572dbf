// The simulator end to end: a hand-checked trace, the lower bound never above the active hosts,
// consolidation freeing hosts, the SVG chart, and the command's exit codes for bad traces.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cloud/placement/input_error.hpp"
#include "cloud/placement/simulator/simulate_command.hpp"
#include "cloud/placement/simulator/simulation.hpp"
#include "cloud/placement/simulator/simulation_output.hpp"
#include "cloud/placement/simulator/svg_line_chart.hpp"
#include "cloud/placement/simulator/trace_csv.hpp"
#include "cloud/placement/simulator/trace_generator.hpp"

namespace nimbus::cloud::placement::simulator {
namespace {

std::string data_file(const std::string& name) {
  return (std::filesystem::path(NIMBUS_TEST_DATA_DIR) / "placement" / name).string();
}

SimulationConfig two_dim_config(online::Policy p = online::Policy::BestFit) {
  SimulationConfig c;
  c.engine.dimensions = 2;
  c.engine.policy = p;
  return c;
}

TEST(OnlineSimulation, HandCheckedTrace) {
  // See tests/data/placement/online_small_trace.csv; worked through by hand for best fit.
  const Trace t = read_trace_csv(data_file("online_small_trace.csv"));
  const SimulationReport r = run_simulation(t, two_dim_config());
  EXPECT_EQ(r.arrivals, 7u);
  EXPECT_EQ(r.placed, 6u);
  EXPECT_EQ(r.rejected, 1u);  // batch-2: h1 and h3 are full, h2 is draining
  EXPECT_EQ(r.rejections_by_reason.at("no-capacity"), 1u);
  EXPECT_EQ(r.departures, 2u);
  EXPECT_EQ(r.host_events, 5u);
  EXPECT_EQ(r.migrations, 1u);  // the drain moves web-2 to h1; batch-1 has nowhere to go
  EXPECT_EQ(r.evicted, 0u);
  ASSERT_FALSE(r.samples.empty());
  EXPECT_EQ(r.samples.back().active_hosts, 2u);
  EXPECT_EQ(r.samples.back().lower_bound, 2u);  // 32 vCPU / 16 per host
  EXPECT_EQ(r.samples.back().live_vms, 4u);
  EXPECT_EQ(r.peak_active_hosts, 3u);
  EXPECT_EQ(r.decision_latency.count, 7u);
}

TEST(OnlineSimulation, LowerBoundNeverExceedsActiveHosts) {
  GeneratorConfig g;
  g.events = 20000;
  g.arrival_rate = 2;
  g.mean_lifetime = 600;
  for (online::Policy p : {online::Policy::BestFit, online::Policy::WorstFit, online::Policy::DotProduct,
                           online::Policy::Hybrid}) {
    SimulationConfig c = two_dim_config(p);
    c.initial_hosts = 30;
    c.host_spec.capacity = ResourceVector{{64, 256, 0, 0}};
    c.samples = 200;
    const SimulationReport r = run_simulation(generate_trace(g), c);
    ASSERT_GE(r.samples.size(), 200u);
    for (const Sample& s : r.samples) {
      ASSERT_LE(s.lower_bound, s.active_hosts) << online::policy_name(p) << " at t=" << s.time;
      ASSERT_LE(s.active_hosts, 30u);
    }
    EXPECT_EQ(r.placed + r.rejected, r.arrivals);
    EXPECT_GE(r.mean_active_over_bound, 1.0);
  }
}

TEST(OnlineSimulation, ConsolidationFreesHostsWithinBudget) {
  // Fill 10 hosts, then let most VMs leave: hosts end up sparsely used until consolidation.
  std::ostringstream csv;
  for (int h = 0; h < 10; ++h) csv << "0,host_add,h" << h << ",8,32\n";
  for (int v = 0; v < 40; ++v) csv << "1,arrive,v" << v << ",2,8\n";
  for (int v = 0; v < 40; ++v)
    if (v % 4 != 0) csv << "2,depart,v" << v << "\n";
  csv << "10,arrive,late,1,1\n";
  const Trace t = parse_trace_csv("c.csv", csv.str());
  SimulationConfig c = two_dim_config();
  c.consolidate_every = 5;
  c.migration_budget = 6;
  const SimulationReport r = run_simulation(t, c);
  EXPECT_EQ(r.consolidation_rounds, 1u);
  // 10 hosts with one 2/8 VM each: each freed host costs one migration, budget 6 frees 6 hosts.
  EXPECT_EQ(r.migrations, 6u);
  EXPECT_EQ(r.hosts_freed, 6u);
  EXPECT_EQ(r.samples.back().active_hosts, 4u);
  SimulationConfig none = two_dim_config();
  EXPECT_EQ(run_simulation(t, none).samples.back().active_hosts, 10u);
}

TEST(OnlineSimulation, RejectsTracesThatDoNotMatchTheFleet) {
  const Trace too_large = read_trace_csv(data_file("online_bad_too_large.csv"));
  try {
    run_simulation(too_large, two_dim_config());
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.line(), 3u);
    EXPECT_EQ(e.message(), "VM demand (32,16) is larger than every host's usable capacity (16,64)");
  }
  SimulationConfig three = two_dim_config();
  three.engine.dimensions = 3;
  EXPECT_THROW(run_simulation(too_large, three), InputError);
  const Trace no_hosts = parse_trace_csv("n.csv", "0,arrive,a,1,1\n");
  EXPECT_THROW(run_simulation(no_hosts, two_dim_config()), InputError);
}

TEST(OnlineSvg, ChartIsWellFormedAndEscapesText) {
  LineChart chart;
  chart.title = "a < b & c";
  chart.series.push_back({"s1", "#123456", {{0, 0}, {10, 5}, {20, 3}}, false});
  chart.series.push_back({"s2", "red", {{0, 1}, {20, 2}}, true});
  const std::string svg = render_svg(chart);
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("a &lt; b &amp; c"), std::string::npos);
  EXPECT_EQ(svg.find("a < b"), std::string::npos);
  std::size_t polylines = 0;
  for (std::size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) ++polylines;
  EXPECT_EQ(polylines, 2u);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  // Empty charts still render.
  EXPECT_NE(render_svg(LineChart{}).find("</svg>"), std::string::npos);
}

TEST(OnlineSvg, NiceTicksAreRoundAndCoverTheRange) {
  const std::vector<double> t = nice_ticks(0, 7002, 6);
  ASSERT_GE(t.size(), 2u);
  EXPECT_EQ(t.front(), 0);
  EXPECT_GE(t.back(), 7002);
  EXPECT_DOUBLE_EQ(t[1] - t[0], 2000);
  EXPECT_EQ(nice_ticks(3, 3, 5).front(), 3);
}

int run(SimulateOptions o, std::string& out, std::string& err) {
  std::ostringstream o_out, o_err;
  const int rc = run_simulate_command(o, o_out, o_err);
  out = o_out.str();
  err = o_err.str();
  return rc;
}

TEST(OnlineSimulateCommand, BadTracesExitWithCodeTwoAndFileLine) {
  const struct {
    const char* file;
    const char* expected;
  } cases[] = {
      {"online_bad_nonnumeric.csv", ":3: demand 'sixteen' is not an integer\n"},
      {"online_bad_negative.csv", ":2: demand -16 is negative\n"},
      {"online_bad_too_large.csv", ":3: VM demand (32,16) is larger than every host's usable capacity (16,64)\n"},
      {"online_bad_missing_field.csv", ":2: arrive lists 1 amounts but the trace has 2 dimensions (set at line 1)\n"},
      {"online_bad_truncated.csv", ":3: field 5 (demand) is empty (the file ends inside this line: truncated?)\n"},
  };
  for (const auto& c : cases) {
    SimulateOptions o;
    o.trace_path = data_file(c.file);
    o.host_capacity = "16,64";
    std::string out, err;
    EXPECT_EQ(run(o, out, err), 2) << c.file;
    EXPECT_EQ(err, data_file(c.file) + c.expected);
  }
}

TEST(OnlineSimulateCommand, BadOptionsExitWithCodeTwo) {
  std::string out, err;
  SimulateOptions o;
  EXPECT_EQ(run(o, out, err), 2);  // neither --trace nor --generate
  o.generate = true;
  o.hosts = 10;
  o.policy = "random";
  EXPECT_EQ(run(o, out, err), 2);
  EXPECT_NE(err.find("--policy"), std::string::npos);
  o.policy = "hybrid";
  o.host_capacity = "64,x";
  EXPECT_EQ(run(o, out, err), 2);
  EXPECT_EQ(err, "--host-capacity: 'x' is not an integer\n");
  o.host_capacity = "64,256";
  o.overcommit = "2";
  EXPECT_EQ(run(o, out, err), 2);
  o.overcommit = "";
  o.reserve = "65,0";
  EXPECT_EQ(run(o, out, err), 2);
}

TEST(OnlineSimulateCommand, GeneratesRunsAndWritesEveryOutput) {
  const auto dir = std::filesystem::temp_directory_path() / ("nimbus_sim_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  SimulateOptions o;
  o.generate = true;
  o.hosts = 50;
  o.generator.events = 5000;
  o.generator.mean_lifetime = 300;
  o.policy = "dot-product";
  o.overcommit = "2,1";
  o.reserve = "2,8";
  o.csv_path = (dir / "c.csv").string();
  o.svg_path = (dir / "c.svg").string();
  o.json_path = (dir / "c.json").string();
  o.write_trace_path = (dir / "t.csv").string();
  std::string out, err;
  ASSERT_EQ(run(o, out, err), 0) << err;
  EXPECT_NE(out.find("decision latency"), std::string::npos);
  std::ifstream csv(o.csv_path);
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "time_s,events,live_vms,active_hosts,lower_bound,rejections,migrations");
  EXPECT_TRUE(std::filesystem::file_size(o.svg_path) > 1000);
  EXPECT_TRUE(std::filesystem::file_size(o.json_path) > 100);
  // The saved trace replays to the same result.
  SimulateOptions replay = o;
  replay.generate = false;
  replay.trace_path = o.write_trace_path;
  replay.write_trace_path.clear();
  std::string out2;
  ASSERT_EQ(run(replay, out2, err), 0) << err;
  const auto placed_line = [](const std::string& s) { return s.substr(s.find("placed:"), s.find('\n', s.find("placed:")) - s.find("placed:")); };
  EXPECT_EQ(placed_line(out), placed_line(out2));
  // An unwritable output is exit code 1.
  o.csv_path = (dir / "missing-dir" / "c.csv").string();
  EXPECT_EQ(run(o, out, err), 1);
  std::filesystem::remove_all(dir);
}

} // namespace
} // namespace nimbus::cloud::placement::simulator

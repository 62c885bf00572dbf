// The trace CSV reader (every kind of bad input gets file:line), its writer, and the generator.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>

#include "cloud/placement/input_error.hpp"
#include "cloud/placement/simulator/trace_csv.hpp"
#include "cloud/placement/simulator/trace_generator.hpp"

namespace nimbus::cloud::placement::simulator {
namespace {

// The "file:line: message" text of the error a bad trace raises ("" when it parses).
std::string error_of(const std::string& text) {
  try {
    parse_trace_csv("t.csv", text);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(OnlineTraceCsv, ReadsEveryEventKind) {
  const Trace t = parse_trace_csv("t.csv",
                                  "time,event,id,cpu,mem\n"
                                  "# a comment\n"
                                  "\n"
                                  "0,host_add,h1,16,64\n"
                                  "0.5,arrive,web-1,2,8,anti:web\n"
                                  "0.5,arrive,db,4,32,aff:pair  # trailing comment\n"
                                  "1.25,depart,web-1\n"
                                  "2,host_drain,h1\n"
                                  "3,host_remove,h1\n");
  EXPECT_EQ(t.dimensions, 2u);
  ASSERT_EQ(t.events.size(), 6u);
  EXPECT_EQ(t.events[0].kind, TraceEventKind::HostAdd);
  EXPECT_EQ(t.events[0].amount[1], 64);
  EXPECT_EQ(t.events[1].kind, TraceEventKind::Arrive);
  EXPECT_EQ(t.events[1].line, 5u);
  EXPECT_NE(t.events[1].anti_affinity_group, online::kNoGroup);
  EXPECT_NE(t.events[2].affinity_group, online::kNoGroup);
  EXPECT_NE(t.events[1].subject, t.events[2].subject);
  EXPECT_EQ(t.events[3].kind, TraceEventKind::Depart);
  EXPECT_EQ(t.events[3].subject, t.events[1].subject);
  EXPECT_DOUBLE_EQ(t.events[3].time, 1.25);
  EXPECT_EQ(t.events[5].kind, TraceEventKind::HostRemove);
}

TEST(OnlineTraceCsv, BadInputNamesFileAndLine) {
  EXPECT_EQ(error_of("0,arrive,a,1,x\n"), "t.csv:1: demand 'x' is not an integer");
  EXPECT_EQ(error_of("0,arrive,a,1,2\nabc,depart,a\n"), "t.csv:2: time 'abc' is not a number");
  EXPECT_EQ(error_of("0,arrive,a,1,-2\n"), "t.csv:1: demand -2 is negative");
  EXPECT_EQ(error_of("0,arrive,a,1,2\n1,arrive,b,1\n"),
            "t.csv:2: arrive lists 1 amounts but the trace has 2 dimensions (set at line 1)");
  EXPECT_EQ(error_of("0,arrive,a,1,2\n1,depart,b\n"), "t.csv:2: VM 'b' departs but never arrived");
  EXPECT_EQ(error_of("0,arrive,a,1,2\n1,depart,a\n2,depart,a\n"), "t.csv:3: VM 'a' departs twice");
  EXPECT_EQ(error_of("0,arrive,a,1,2\n1,arrive,a,1,2\n"), "t.csv:2: VM 'a' already arrived at line 1");
  EXPECT_EQ(error_of("5,arrive,a,1,2\n1,depart,a\n"), "t.csv:2: time 1 is earlier than the previous event's 5");
  EXPECT_EQ(error_of("0,explode,a\n"),
            "t.csv:1: unknown event 'explode' (expected arrive, depart, host_add, host_drain or host_remove)");
  EXPECT_EQ(error_of("0,arrive\n"), "t.csv:1: expected at least 3 fields (time,event,id), found 2");
  EXPECT_EQ(error_of("0,host_drain,h9\n"), "t.csv:1: host 'h9' was never added");
  EXPECT_EQ(error_of("0,arrive,a,1,2,colour:red\n"),
            "t.csv:1: field 6 'colour:red' is neither a demand nor aff:<group> / anti:<group>");
  EXPECT_EQ(error_of("0,arrive,a,1,99999999999999999999\n"), "t.csv:1: demand '99999999999999999999' is out of range");
  EXPECT_EQ(error_of("# nothing\n"), "t.csv:2: the trace holds no events");
  EXPECT_EQ(error_of("0,arrive,a,1,2,3,4,5\n"), "t.csv:1: arrive lists 5 amounts; at most 4 dimensions are supported");
  EXPECT_EQ(error_of("0,arrive,a,1,2\n1,depart,a,7\n"), "t.csv:2: 'depart' takes 3 fields (time,depart,<id>), found 4");
}

TEST(OnlineTraceCsv, TruncatedLastLineIsCalledOut) {
  EXPECT_EQ(error_of("0,arrive,a,1,2\n1,arrive,b,1,"),
            "t.csv:2: field 5 (demand) is empty (the file ends inside this line: truncated?)");
  // A complete last line without a newline is fine.
  EXPECT_EQ(error_of("0,arrive,a,1,2\n1,depart,a"), "");
}

TEST(OnlineTraceCsv, UnreadableFileIsAnInputError) {
  EXPECT_THROW(read_trace_csv("/nonexistent/trace.csv"), InputError);
}

TEST(OnlineTraceCsv, WriterOutputReadsBackIdentically) {
  GeneratorConfig g;
  g.events = 2000;
  g.seed = 7;
  const Trace t = generate_trace(g);
  std::ostringstream out;
  write_trace_csv(t, out);
  const Trace back = parse_trace_csv("gen.csv", out.str());
  ASSERT_EQ(back.events.size(), t.events.size());
  ASSERT_EQ(back.dimensions, 2u);
  for (std::size_t i = 0; i < t.events.size(); ++i) {
    ASSERT_EQ(back.events[i].kind, t.events[i].kind) << i;
    ASSERT_EQ(back.events[i].time, t.events[i].time) << i;  // shortest round-trip formatting
    ASSERT_EQ(back.events[i].amount, t.events[i].amount) << i;
  }
}

TEST(OnlineTraceGenerator, ArrivalsArePoissonAndSizesComeFromTheCatalogue) {
  GeneratorConfig g;
  g.events = 200000;
  g.arrival_rate = 5.0;
  g.mean_lifetime = 100.0;
  g.seed = 3;
  const Trace t = generate_trace(g);
  ASSERT_EQ(t.events.size(), g.events);
  std::size_t arrivals = 0;
  double last_arrival = 0, prev_time = 0;
  double vcpus = 0;
  const auto& catalogue = public_cloud_catalogue();
  for (const TraceEvent& ev : t.events) {
    ASSERT_GE(ev.time, prev_time);
    prev_time = ev.time;
    if (ev.kind != TraceEventKind::Arrive) continue;
    ++arrivals;
    last_arrival = ev.time;
    vcpus += static_cast<double>(ev.amount[0]);
    bool listed = false;
    for (const auto& e : catalogue) listed = listed || (e.vcpus == ev.amount[0] && e.memory_gib == ev.amount[1]);
    ASSERT_TRUE(listed) << ev.amount[0] << "," << ev.amount[1];
  }
  // Mean gap 1/rate within 2% (about 100k samples of an exponential: sd of the mean ~0.3%).
  const double mean_gap = last_arrival / static_cast<double>(arrivals);
  EXPECT_NEAR(mean_gap, 1.0 / g.arrival_rate, 0.02 / g.arrival_rate);
  EXPECT_NEAR(vcpus / static_cast<double>(arrivals), catalogue_mean_vcpus(catalogue), 0.1);
  // Steady state: arrivals balance departures, so departures are close to half the events.
  EXPECT_NEAR(static_cast<double>(t.events.size() - arrivals) / static_cast<double>(t.events.size()), 0.5, 0.01);
}

TEST(OnlineTraceGenerator, LifetimesAreLongTailed) {
  GeneratorConfig g;
  g.events = 100000;
  g.arrival_rate = 1.0;
  g.mean_lifetime = 1000.0;
  g.lifetime_sigma = 1.5;
  const Trace t = generate_trace(g);
  std::vector<double> arrive(t.events.size(), -1);
  std::vector<double> lifetimes;
  for (const TraceEvent& ev : t.events) {
    if (ev.kind == TraceEventKind::Arrive) {
      if (arrive.size() <= ev.subject) arrive.resize(ev.subject + 1, -1);
      arrive[ev.subject] = ev.time;
    } else {
      lifetimes.push_back(ev.time - arrive[ev.subject]);
    }
  }
  std::sort(lifetimes.begin(), lifetimes.end());
  const double median = lifetimes[lifetimes.size() / 2];
  // Log-normal with sigma 1.5: median = mean * exp(-sigma^2 / 2) ~ 0.32 * mean, far below the
  // mean (a long tail). Completed lifetimes are biased short, so only bound it loosely.
  EXPECT_LT(median, 0.45 * g.mean_lifetime);
  EXPECT_GT(lifetimes.back(), 10 * median);
}

TEST(OnlineTraceGenerator, RejectsNonsenseParameters) {
  GeneratorConfig g;
  g.arrival_rate = 0;
  EXPECT_THROW(generate_trace(g), std::invalid_argument);
  g.arrival_rate = 1;
  g.mean_lifetime = -1;
  EXPECT_THROW(generate_trace(g), std::invalid_argument);
}

} // namespace
} // namespace nimbus::cloud::placement::simulator

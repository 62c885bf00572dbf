// Reading nimbus-micro's console lines and the host times they arrived at.
#include "cli/bench_micro.hpp"

#include <gtest/gtest.h>
#include <sstream>

namespace nimbus::cli {
namespace {

// A complete run as nimbus-micro prints it, with console noise; line i arrives at host time t0 + i.
std::vector<std::string> complete_run() {
  return {"NIMBUS-GUEST: Linux 6.1 riscv64, 1 harts, 250000 KiB, mmu sv57, mode micro",
          "NIMBUS-MICRO: scale=1",
          "NIMBUS-MICRO: start name=null_syscall",
          "NIMBUS-MICRO: name=null_syscall iterations=20000 ns_per_op=1093.4 elapsed=0.021867s",
          "NIMBUS-MICRO: start name=page_fault",
          "NIMBUS-MICRO: name=page_fault iterations=2048 ns_per_op=11720.4 elapsed=0.024003s",
          "NIMBUS-MICRO: start name=fork_exit_wait",
          "[    3.141592] some kernel message",
          "NIMBUS-MICRO: name=fork_exit_wait iterations=100 ns_per_op=1765000.6 elapsed=0.176500s",
          "NIMBUS-MICRO: start name=exec",
          "NIMBUS-MICRO: name=exec iterations=50 ns_per_op=5166691.6 elapsed=0.258335s",
          "NIMBUS-MICRO: start name=pipe_roundtrip",
          "NIMBUS-MICRO: name=pipe_roundtrip iterations=2000 ns_per_op=14416.1 elapsed=0.028832s",
          "NIMBUS-MICRO: start name=cpu",
          "NIMBUS-BENCH: rounds=1 checksum=0x5684a173db1bb7a2 elapsed=0.041s int=0.016s mem=0.020s fp=0.005s",
          "NIMBUS-MICRO: name=cpu iterations=1 ns_per_op=46786533.0 elapsed=0.046787s",
          "NIMBUS-MICRO: done"};
}

MicroParser parse(const std::vector<std::string>& lines, double t0 = 10, double step = 1) {
  MicroParser p;
  for (size_t i = 0; i < lines.size(); ++i) p.feed(lines[i], t0 + step * static_cast<double>(i));
  return p;
}

TEST(MicroParser, CompleteRunHasEveryBenchmarkAndNoProblems) {
  const MicroParser p = parse(complete_run());
  EXPECT_TRUE(p.done());
  EXPECT_TRUE(p.problems().empty()) << p.problems().front();
  ASSERT_EQ(p.results().size(), micro_benchmark_names().size());
  for (size_t i = 0; i < p.results().size(); ++i) EXPECT_EQ(p.results()[i].name, micro_benchmark_names()[i]);
  EXPECT_EQ(p.checksum(), "0x5684a173db1bb7a2");
}

TEST(MicroParser, GuestFiguresComeFromTheResultLine) {
  const MicroParser p = parse(complete_run());
  const MicroResult* r = p.find("page_fault");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->iterations, 2048u);
  EXPECT_DOUBLE_EQ(r->guest_ns_per_op, 11720.4);
  EXPECT_DOUBLE_EQ(r->guest_us_per_op(), 11.7204);
  EXPECT_DOUBLE_EQ(r->guest_seconds, 0.024003);
}

TEST(MicroParser, HostTimeRunsFromTheStartLineToTheResultLine) {
  const MicroParser p = parse(complete_run(), 10, 0.5);
  // null_syscall: start at line 2, result at line 3 -> 0.5 s over 20000 iterations.
  ASSERT_TRUE(p.find("null_syscall")->host_seconds);
  EXPECT_DOUBLE_EQ(*p.find("null_syscall")->host_seconds, 0.5);
  EXPECT_DOUBLE_EQ(*p.find("null_syscall")->host_us_per_op(), 25.0);
  // fork_exit_wait: a kernel line in between does not restart the clock (lines 6 to 8).
  EXPECT_DOUBLE_EQ(*p.find("fork_exit_wait")->host_seconds, 1.0);
  // cpu: the NIMBUS-BENCH line in between neither (lines 13 to 15).
  EXPECT_DOUBLE_EQ(*p.find("cpu")->host_seconds, 1.0);
}

TEST(MicroParser, MarkersAfterConsoleNoiseOnTheSameLineAreRead) {
  MicroParser p;
  p.feed("[  1.0] xNIMBUS-MICRO: start name=exec", 1);
  p.feed("garbageNIMBUS-MICRO: name=exec iterations=5 ns_per_op=2.0 elapsed=0.00000001s", 3);
  ASSERT_NE(p.find("exec"), nullptr);
  EXPECT_DOUBLE_EQ(*p.find("exec")->host_seconds, 2.0);
}

TEST(MicroParser, ResultWithoutItsStartLineHasNoHostTime) {
  MicroParser p;
  p.feed("NIMBUS-MICRO: start name=exec", 1);
  p.feed("NIMBUS-MICRO: name=null_syscall iterations=5 ns_per_op=2.0 elapsed=0.1s", 2);
  ASSERT_NE(p.find("null_syscall"), nullptr);
  EXPECT_FALSE(p.find("null_syscall")->host_seconds);
  EXPECT_FALSE(p.find("null_syscall")->host_us_per_op());
}

TEST(MicroParser, TruncatedRunReportsMissingBenchmarksAndNoDone) {
  auto lines = complete_run();
  lines.resize(7); // stops after fork_exit_wait's start line
  const auto problems = parse(lines).problems();
  auto has = [&](const std::string& what) {
    for (const auto& p : problems)
      if (p.find(what) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has("no result for fork_exit_wait"));
  EXPECT_TRUE(has("no result for cpu"));
  EXPECT_TRUE(has("done"));
  EXPECT_FALSE(has("null_syscall"));
}

TEST(MicroParser, MalformedAndNonsenseResultsAreProblems) {
  auto lines = complete_run();
  lines[3] = "NIMBUS-MICRO: name=null_syscall iterations=lots ns_per_op=1.0 elapsed=1s";
  lines[5] = "NIMBUS-MICRO: name=page_fault iterations=2048 ns_per_op=0.0 elapsed=0.0s";
  const auto problems = parse(lines).problems();
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_NE(problems[0].find("malformed"), std::string::npos);
  EXPECT_NE(problems[1].find("no result for null_syscall"), std::string::npos);
  EXPECT_NE(problems[2].find("page_fault: ns_per_op"), std::string::npos);
}

TEST(MicroParser, KeepFastestTakesTheLowerHostTimeBenchmarkByBenchmark) {
  auto lines = complete_run();
  MicroParser a = parse(lines, 0, 1);
  // A second run: exec took 0.5 s instead of 1 s, everything else 3 s instead of 1 s.
  MicroParser b;
  for (size_t i = 0; i < lines.size(); ++i) b.feed(lines[i], 100 + 3.0 * static_cast<double>(i) - (i == 10 ? 2.5 : 0));
  a.keep_fastest(b);
  EXPECT_DOUBLE_EQ(*a.find("exec")->host_seconds, 0.5);
  EXPECT_DOUBLE_EQ(*a.find("null_syscall")->host_seconds, 1.0);
  EXPECT_DOUBLE_EQ(*a.find("cpu")->host_seconds, 2.0);
  EXPECT_EQ(a.results().size(), micro_benchmark_names().size());
  EXPECT_TRUE(a.problems().empty());

  // A benchmark only the other run has is taken as it is.
  lines.resize(4);
  MicroParser c = parse(lines);
  c.keep_fastest(b);
  ASSERT_NE(c.find("exec"), nullptr);
  EXPECT_DOUBLE_EQ(*c.find("exec")->host_seconds, 0.5);
  EXPECT_DOUBLE_EQ(*c.find("null_syscall")->host_seconds, 1.0);
}

TEST(MicroTable, ColumnsPerRunAndRatiosToTheReference) {
  MicroRun slow{"Nimbus", parse(complete_run(), 0, 2)};
  MicroRun fast{"QEMU", parse(complete_run(), 0, 1)};
  const std::string table = micro_table({slow, fast}, 1, MicroClock::host);
  EXPECT_NE(table.find("Nimbus/QEMU"), std::string::npos) << table;
  // null_syscall: 2 s vs 1 s over 20000 -> 100 and 50 µs/op, ratio 2.
  EXPECT_NE(table.find("null_syscall"), std::string::npos);
  EXPECT_NE(table.find("100.00"), std::string::npos) << table;
  EXPECT_NE(table.find("50.00"), std::string::npos) << table;
  EXPECT_NE(table.find("2.00x"), std::string::npos) << table;
  EXPECT_EQ(table.find("1.00x"), std::string::npos) << "the reference has no ratio to itself\n" << table;

  const std::string guest = micro_table({slow, fast}, 1, MicroClock::guest);
  EXPECT_NE(guest.find("1.09"), std::string::npos) << guest; // null_syscall's 1093.4 ns
  EXPECT_NE(guest.find("1.00x"), std::string::npos) << guest; // both guests timed the same
}

TEST(MicroTable, AFigureARunLacksIsADash) {
  auto lines = complete_run();
  lines.resize(5);
  MicroRun partial{"Nimbus", parse(lines)};
  MicroRun full{"QEMU", parse(complete_run())};
  const std::string table = micro_table({partial, full}, 1, MicroClock::host);
  const size_t row = table.find("\nexec");
  ASSERT_NE(row, std::string::npos) << table;
  const std::string exec_row = table.substr(row + 1, table.find('\n', row + 1) - row - 1);
  // Nimbus's figure and the ratio are dashes; QEMU's is there.
  EXPECT_NE(exec_row.find(" - "), std::string::npos) << exec_row;
  EXPECT_TRUE(exec_row.ends_with(" -")) << exec_row;
  EXPECT_NE(exec_row.find("20000.00"), std::string::npos) << exec_row; // 1 s over 50
}

TEST(MicroJson, EveryRunAndBenchmark) {
  const auto j = micro_json({{"Nimbus", parse(complete_run())}});
  ASSERT_TRUE(j.contains("Nimbus"));
  EXPECT_EQ(j["Nimbus"].size(), micro_benchmark_names().size());
  EXPECT_EQ(j["Nimbus"]["exec"]["iterations"], 50);
  EXPECT_DOUBLE_EQ(j["Nimbus"]["exec"]["host_us_per_op"].get<double>(), 1e6 / 50);
}

} // namespace
} // namespace nimbus::cli

namespace nimbus::cli {
namespace {

TEST(MicroExits, CountersBetweenStartAndResultLinesPerIteration) {
  std::istringstream log(
      R"({"t":1.0,"line":"NIMBUS-GUEST: Linux","counters":{"exits":{"total":5,"mmio":5},"tlb_flushes":0}})" "\n"
      R"({"t":1.1,"line":"NIMBUS-MICRO: start name=fork_exit_wait","counters":{"exits":{"total":10,"mmio":4},"tlb_flushes":2}})" "\n"
      "not json at all\n"
      R"({"t":1.2,"line":"NIMBUS-MICRO: name=fork_exit_wait iterations=100 ns_per_op=1.0 elapsed=0.1s","counters":{"exits":{"total":410,"mmio":204},"tlb_flushes":52}})" "\n"
      R"({"t":1.3,"line":"NIMBUS-MICRO: start name=exec","counters":{"exits":{"total":500}}})" "\n"
      R"({"t":1.4,"line":"NIMBUS-MICRO: name=pipe_roundtrip iterations=10 ns_per_op=1.0 elapsed=0.1s","counters":{"exits":{"total":900}}})" "\n");
  const auto exits = micro_exits(log);
  ASSERT_EQ(exits.size(), 1u);   // exec never finished; pipe_roundtrip never started
  EXPECT_EQ(exits[0].name, "fork_exit_wait");
  EXPECT_DOUBLE_EQ(exits[0].exits, 4.0);
  EXPECT_DOUBLE_EQ(exits[0].by_reason.at("exits.mmio"), 2.0);
  EXPECT_DOUBLE_EQ(exits[0].by_reason.at("tlb_flushes"), 0.5);

  std::vector<MicroRun> runs(2);
  runs[0].label = "emulate";
  runs[1].label = "trap";
  runs[1].exits = exits;
  const std::string table = micro_exits_table(runs);
  EXPECT_NE(table.find("fork_exit_wait"), std::string::npos);
  EXPECT_NE(table.find("4.00"), std::string::npos);
  EXPECT_NE(table.find("[trap: mmio 2.00 tlbflush 0.50]"), std::string::npos) << table;
}

} // namespace
} // namespace nimbus::cli

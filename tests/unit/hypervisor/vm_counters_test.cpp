#include "hypervisor/vm_counters.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "hypervisor/vm_counters_report.hpp"

namespace nimbus::hypervisor {
namespace {

using ::testing::HasSubstr;

TEST(VmCounters, CountsEachEventWhereItBelongs) {
  VmCounters counters;
  counters.count_exit(ExitReason::sbi_call);
  counters.count_exit(ExitReason::sbi_call);
  counters.count_exit(ExitReason::mmio, 5);
  counters.count_exit(ExitReason::shutdown);
  counters.count_emulated_privileged_instruction(3);
  counters.count_shadow_page_fault();
  counters.count_g_stage_fault(2);
  counters.count_tlb_flush(4);
  counters.count_world_switch(6);
  counters.count_instructions_retired(1000);
  VmCountersSnapshot s = counters.snapshot();
  EXPECT_EQ(s.exits_for(ExitReason::sbi_call), 2u);
  EXPECT_EQ(s.exits_for(ExitReason::mmio), 5u);
  EXPECT_EQ(s.exits_for(ExitReason::shutdown), 1u);
  EXPECT_EQ(s.exits_for(ExitReason::wfi), 0u);
  EXPECT_EQ(s.total_exits(), 8u);
  EXPECT_EQ(s.emulated_privileged_instructions, 3u);
  EXPECT_EQ(s.shadow_page_faults, 1u);
  EXPECT_EQ(s.g_stage_faults, 2u);
  EXPECT_EQ(s.tlb_flushes, 4u);
  EXPECT_EQ(s.world_switches, 6u);
  EXPECT_EQ(s.instructions_retired, 1000u);
}

TEST(VmCounters, ConcurrentIncrementsAreNotLost) {
  VmCounters counters;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counters.count_exit(ExitReason::wfi);
        counters.count_world_switch();
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counters.snapshot().exits_for(ExitReason::wfi), 40000u);
  EXPECT_EQ(counters.snapshot().world_switches, 40000u);
}

TEST(VmCounters, ExitReasonNamesRoundTrip) {
  for (size_t i = 0; i < kExitReasonCount; ++i) {
    auto reason = static_cast<ExitReason>(i);
    EXPECT_EQ(exit_reason_from_string(to_string(reason)), reason);
  }
  EXPECT_FALSE(exit_reason_from_string("coffee_break"));
}

std::vector<NamedVmCounters> sample() {
  VmCounters web;
  web.count_exit(ExitReason::sbi_call, 12);
  web.count_exit(ExitReason::guest_page_fault, 3);
  web.count_instructions_retired(123456789);
  VmCounters db;
  db.count_exit(ExitReason::wfi, 7);
  db.count_tlb_flush(2);
  return {{"web", web.snapshot()}, {"database", db.snapshot()}};
}

TEST(VmCountersReport, TableHasOneColumnPerVmAndOneRowPerCounter) {
  std::string table = format_counters_table(sample());
  std::vector<std::string> lines;
  for (size_t start = 0, end; (end = table.find('\n', start)) != std::string::npos; start = end + 1)
    lines.push_back(table.substr(start, end - start));
  ASSERT_EQ(lines.size(), 1 + 1 + kExitReasonCount + 6);
  EXPECT_THAT(lines[0], ::testing::MatchesRegex("counter +web +database"));
  EXPECT_THAT(lines[1], ::testing::MatchesRegex("exits +15 +7"));
  EXPECT_THAT(table, HasSubstr("  sbi_call "));
  EXPECT_THAT(lines.back(), ::testing::MatchesRegex("instructions retired +123456789 +0"));
  // Columns line up: every line has the same length.
  for (const auto& line : lines) EXPECT_EQ(line.size(), lines[0].size()) << line;
}

TEST(VmCountersReport, JsonRoundTripsAndSaysWhatItHolds) {
  auto vms = sample();
  nlohmann::json json = counters_to_json(vms);
  EXPECT_EQ(json["vms"][0]["name"], "web");
  EXPECT_EQ(json["vms"][0]["exits"]["total"], 15);
  EXPECT_EQ(json["vms"][0]["exits"]["sbi_call"], 12);
  EXPECT_EQ(json["vms"][1]["tlb_flushes"], 2);
  EXPECT_EQ(counters_from_json(nlohmann::json::parse(json.dump())), vms);
}

TEST(VmCountersReport, MalformedJsonGetsAPreciseError) {
  auto error_of = [](nlohmann::json json) -> std::string {
    try {
      counters_from_json(json);
    } catch (const CountersFormatError& error) {
      return error.what();
    }
    return "";
  };
  nlohmann::json good = counters_to_json(sample());
  EXPECT_THAT(error_of(nlohmann::json::array()), HasSubstr("'vms' array"));
  auto broken = good;
  broken["vms"][1]["world_switches"] = -1;
  EXPECT_THAT(error_of(broken), HasSubstr("VM 'database': counter 'world_switches' must be a non-negative integer, got -1"));
  broken = good;
  broken["vms"][0]["exits"].erase("mmio");
  EXPECT_THAT(error_of(broken), HasSubstr("VM 'web' exits: missing counter 'mmio'"));
  broken = good;
  broken["vms"][0]["exits"]["teleport"] = 1;
  EXPECT_THAT(error_of(broken), HasSubstr("unknown exit reason 'teleport'"));
  broken = good;
  broken["vms"][0]["exits"]["total"] = 99;
  EXPECT_THAT(error_of(broken), HasSubstr("does not match"));
  broken = good;
  broken["vms"][1].erase("name");
  EXPECT_THAT(error_of(broken), HasSubstr("vms[1]: 'name' must be a string"));
}

} // namespace
} // namespace nimbus::hypervisor

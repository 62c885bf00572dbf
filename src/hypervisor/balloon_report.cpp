#include "hypervisor/balloon_report.hpp"

#include <fmt/format.h>

namespace nimbus::hypervisor {

nlohmann::json balloon_to_json(const machine::VirtioBalloon& balloon) {
  using machine::VirtioBalloon;
  const VirtioBalloon::Counters c = balloon.counters();
  nlohmann::json json = {
      {"target_bytes", uint64_t{balloon.target()} * VirtioBalloon::kPageSize},
      {"actual_bytes", uint64_t{balloon.actual()} * VirtioBalloon::kPageSize},
      {"held_bytes", balloon.held_pages() * VirtioBalloon::kPageSize},
      {"inflated_pages", c.inflated_pages},
      {"deflated_pages", c.deflated_pages},
      {"reported_bytes", c.reported_bytes},
      {"reports", c.reports},
      {"ignored_pages", c.ignored_pages},
      {"ignored_duplicates", c.ignored_duplicates},
      {"ignored_reports", c.ignored_reports},
      {"stats_updates", c.stats_updates},
  };
  const VirtioBalloon::Stats stats = balloon.stats();
  nlohmann::json guest = nlohmann::json::object();
  for (unsigned tag = 0; tag < VirtioBalloon::kStatsTags; ++tag) {
    if (!(stats.present & (1u << tag))) continue;
    const std::string_view name = VirtioBalloon::stat_name(tag);
    guest[name.empty() ? fmt::format("tag_{}", tag) : std::string(name)] = stats.values[tag];
  }
  json["guest_stats"] = guest;
  return json;
}

std::string balloon_summary(const nlohmann::json& b) {
  auto mib = [&](const char* key) { return b.value(key, uint64_t{0}) >> 20; };
  std::string line = fmt::format("target {} MiB, balloon {} MiB (the driver's count), {} MiB given back by free page "
                                 "reporting in {} reports, {} pages inflated, {} deflated",
                                 mib("target_bytes"), mib("actual_bytes"), mib("reported_bytes"),
                                 b.value("reports", uint64_t{0}), b.value("inflated_pages", uint64_t{0}),
                                 b.value("deflated_pages", uint64_t{0}));
  const uint64_t ignored = b.value("ignored_pages", uint64_t{0}) + b.value("ignored_duplicates", uint64_t{0}) +
                           b.value("ignored_reports", uint64_t{0});
  if (ignored != 0) line += fmt::format(", {} bad page numbers or reports ignored", ignored);
  if (b.contains("guest_stats") && b["guest_stats"].contains("free_memory"))
    line += fmt::format("; guest: {} MiB free", b["guest_stats"]["free_memory"].get<uint64_t>() >> 20);
  if (b.contains("guest_stats") && b["guest_stats"].contains("total_memory"))
    line += fmt::format(" of {} MiB", b["guest_stats"]["total_memory"].get<uint64_t>() >> 20);
  return line;
}

} // namespace nimbus::hypervisor

#include "cloud/placement/offline_report_json.hpp"

namespace nimbus::cloud::placement {

nlohmann::json offline_report_json(const Instance& instance, const OfflineReport& report, const std::string& source) {
  using nlohmann::json;
  json out;
  out["instance"] = source;
  out["items"] = instance.item_count();
  out["dimensions"] = instance.dimension_names;
  out["algorithm"] = report.algorithm;
  out["bins_used"] = report.bins;
  out["cost"] = report.cost;
  json bound;
  bound["cost"] = report.lower_bound;
  if (instance.single_host_type()) {
    bound["continuous"] = report.bin_bound.continuous;
    bound["martello_toth_l2"] = report.bin_bound.l2;
    bound["best_dimension"] = instance.dimension_names[report.bin_bound.best_dimension];
  }
  out["gap_percent"] = report.gap_percent;
  bound["proven_by"] = report.bound_source;
  out["lower_bound"] = bound;
  out["optimal"] = report.optimal;
  out["stop_reason"] = stop_reason_name(report.stop);
  out["time_ms"] = report.seconds * 1e3;

  std::vector<std::vector<std::size_t>> members(report.packing.bin_count());
  std::vector<ResourceVector> loads(report.packing.bin_count());
  for (std::size_t i = 0; i < report.packing.bin_of_item.size(); ++i) {
    const auto b = static_cast<std::size_t>(report.packing.bin_of_item[i]);
    members[b].push_back(i);
    loads[b] += instance.demands[i];
  }
  json bins = json::array();
  for (std::size_t b = 0; b < members.size(); ++b) {
    json bin;
    bin["bin"] = b;
    bin["host_type"] = instance.host_types[static_cast<std::size_t>(report.packing.bin_host_type[b])].name;
    json items = json::array();
    for (std::size_t i : members[b]) {
      if (instance.item_names.empty()) items.push_back(i);
      else items.push_back(instance.item_names[i]);
    }
    bin["items"] = std::move(items);
    json load = json::array();
    for (std::size_t d = 0; d < instance.dimensions; ++d) load.push_back(loads[b][d]);
    bin["load"] = std::move(load);
    bins.push_back(std::move(bin));
  }
  out["bins"] = std::move(bins);
  return out;
}

} // namespace nimbus::cloud::placement

#include "cloud/placement/simulator/trace_generator.hpp"

#include <cmath>
#include <queue>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

namespace nimbus::cloud::placement::simulator {

const std::vector<CatalogueEntry>& public_cloud_catalogue() {
  static const std::vector<CatalogueEntry> catalogue = [] {
    struct Family {
      const char* name;
      int64_t gib_per_vcpu;
      double weight;
    };
    const Family families[] = {{"general", 4, 0.5}, {"compute", 2, 0.25}, {"memory", 8, 0.25}};
    struct Size {
      const char* name;
      int64_t vcpus;
      double weight;
    };
    const Size sizes[] = {{"small", 1, 0.25},   {"large", 2, 0.30},    {"xlarge", 4, 0.22},
                          {"2xlarge", 8, 0.13}, {"4xlarge", 16, 0.07}, {"8xlarge", 32, 0.03}};
    std::vector<CatalogueEntry> out;
    for (const Family& f : families)
      for (const Size& s : sizes)
        out.push_back({fmt::format("{}.{}", f.name, s.name), s.vcpus, s.vcpus * f.gib_per_vcpu, f.weight * s.weight});
    return out;
  }();
  return catalogue;
}

double catalogue_mean_vcpus(const std::vector<CatalogueEntry>& catalogue) {
  double total = 0, weighted = 0;
  for (const auto& e : catalogue) {
    total += e.weight;
    weighted += e.weight * static_cast<double>(e.vcpus);
  }
  return total > 0 ? weighted / total : 0;
}

Trace generate_trace(const GeneratorConfig& config, const std::vector<CatalogueEntry>& catalogue) {
  if (!(config.arrival_rate > 0) || !std::isfinite(config.arrival_rate))
    throw std::invalid_argument("arrival rate must be positive");
  if (!(config.mean_lifetime > 0) || !std::isfinite(config.mean_lifetime))
    throw std::invalid_argument("mean lifetime must be positive");
  if (!(config.lifetime_sigma > 0) || config.lifetime_sigma > 10)
    throw std::invalid_argument("lifetime sigma must be in (0, 10]");
  if (catalogue.empty()) throw std::invalid_argument("the VM catalogue is empty");

  std::mt19937_64 rng(config.seed);
  std::exponential_distribution<double> gap(config.arrival_rate);
  // Log-normal with the requested mean: mean = exp(mu + sigma^2 / 2).
  const double sigma = config.lifetime_sigma;
  std::lognormal_distribution<double> lifetime(std::log(config.mean_lifetime) - sigma * sigma / 2, sigma);
  std::vector<double> weights;
  for (const auto& e : catalogue) weights.push_back(e.weight);
  std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());

  Trace trace;
  trace.source = fmt::format("generated (seed {}, {} events, {}/s arrivals, mean lifetime {} s)", config.seed,
                             config.events, config.arrival_rate, config.mean_lifetime);
  trace.dimensions = 2;
  trace.events.reserve(config.events);
  using Departure = std::pair<double, uint64_t>;
  std::priority_queue<Departure, std::vector<Departure>, std::greater<>> departures;
  double next_arrival = gap(rng);
  uint64_t next_vm = 0;
  while (trace.events.size() < config.events) {
    if (!departures.empty() && departures.top().first <= next_arrival) {
      TraceEvent ev;
      ev.time = departures.top().first;
      ev.kind = TraceEventKind::Depart;
      ev.subject = departures.top().second;
      departures.pop();
      trace.events.push_back(ev);
      continue;
    }
    const CatalogueEntry& size = catalogue[pick(rng)];
    TraceEvent ev;
    ev.time = next_arrival;
    ev.kind = TraceEventKind::Arrive;
    ev.subject = next_vm++;
    ev.amount[0] = size.vcpus;
    ev.amount[1] = size.memory_gib;
    trace.events.push_back(ev);
    departures.emplace(next_arrival + lifetime(rng), ev.subject);
    next_arrival += gap(rng);
  }
  return trace;
}

} // namespace nimbus::cloud::placement::simulator

#pragma once
// Synthetic traces shaped like a public cloud: Poisson arrivals, log-normal (long-tailed)
// lifetimes, and VM sizes drawn from a catalogue of instance families (vCPU, memory GiB).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cloud/placement/simulator/trace.hpp"

namespace nimbus::cloud::placement::simulator {

struct CatalogueEntry {
  std::string name;  // e.g. "general.4xlarge"
  int64_t vcpus;
  int64_t memory_gib;
  double weight;     // relative popularity
};

// General purpose (4 GiB per vCPU), compute (2 GiB) and memory (8 GiB) families, 1 to 32
// vCPUs, small sizes far more popular than large ones.
const std::vector<CatalogueEntry>& public_cloud_catalogue();
double catalogue_mean_vcpus(const std::vector<CatalogueEntry>& catalogue);

struct GeneratorConfig {
  uint64_t seed = 1;
  std::size_t events = 100000;     // arrivals plus departures emitted
  double arrival_rate = 10.0;      // VMs per second (Poisson process)
  double mean_lifetime = 3600.0;   // seconds
  double lifetime_sigma = 1.5;     // log-normal shape: larger means a longer tail
};

// Two-dimensional trace (vCPU, memory GiB), events in time order. VMs still running when the
// event count is reached never depart. Throws std::invalid_argument for a non-positive rate,
// lifetime or sigma.
Trace generate_trace(const GeneratorConfig& config,
                     const std::vector<CatalogueEntry>& catalogue = public_cloud_catalogue());

} // namespace nimbus::cloud::placement::simulator

#pragma once
// What `nimbus place simulate` does, independent of the command-line parser so it can be
// tested directly: read or generate a trace, run it, write the report files.
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

#include "cloud/placement/simulator/trace_generator.hpp"

namespace nimbus::cloud::placement::simulator {

struct SimulateOptions {
  std::string trace_path;            // replay this CSV trace ...
  bool generate = false;             // ... or generate one
  GeneratorConfig generator = [] {
    GeneratorConfig g;
    g.arrival_rate = 0;  // derive it from `load`
    return g;
  }();
  double load = 0.85;                // generated arrival rate targets this vCPU load (if rate == 0)
  std::string policy = "best-fit";
  std::size_t hosts = 0;             // initial fleet size
  std::string host_capacity = "96,384";  // per dimension
  std::string reserve;               // per dimension; empty = nothing reserved
  std::string overcommit;            // per dimension; empty = 1.0 everywhere
  std::size_t samples = 500;
  double consolidate_every = 0;
  std::size_t migration_budget = 0;
  std::string csv_path;
  std::string svg_path;
  std::string json_path;
  std::string write_trace_path;      // save the trace that was run (useful with --generate)
  bool progress = false;             // progress lines on `err`
};

// Exit codes: 0 done, 2 bad input (one line "file:line: message" on `err`), 1 output not writable.
int run_simulate_command(const SimulateOptions& options, std::ostream& out, std::ostream& err);

} // namespace nimbus::cloud::placement::simulator

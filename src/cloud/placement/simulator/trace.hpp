#pragma once
// A placement trace: timed events for the online engine, read from CSV or generated.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cloud/placement/online/online_types.hpp"

namespace nimbus::cloud::placement::simulator {

enum class TraceEventKind { Arrive, Depart, HostAdd, HostDrain, HostRemove };

struct TraceEvent {
  double time = 0;
  TraceEventKind kind = TraceEventKind::Arrive;
  uint64_t subject = 0;      // VM id (arrive, depart) or trace host number (host events)
  ResourceVector amount;     // VM demand (arrive) or host capacity (host_add)
  online::GroupId affinity_group = online::kNoGroup;
  online::GroupId anti_affinity_group = online::kNoGroup;
  std::size_t line = 0;      // line in the source file (0 for generated traces)
};

struct Trace {
  std::string source;        // file name, or a description of the generator
  std::size_t dimensions = 0;
  std::vector<TraceEvent> events;  // in time order
};

const char* trace_event_name(TraceEventKind kind);

} // namespace nimbus::cloud::placement::simulator

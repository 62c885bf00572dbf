#pragma once
// The trace CSV format, one event per line ('#' starts a comment, blank lines are skipped, an
// optional header line starts with "time"):
//
//   time,arrive,<vm>,<demand 1>,...,<demand D>[,aff:<group>][,anti:<group>]
//   time,depart,<vm>
//   time,host_add,<host>,<capacity 1>,...,<capacity D>
//   time,host_drain,<host>
//   time,host_remove,<host>
//
// Times are seconds (non-decreasing), amounts non-negative integers; D is set by the first line
// that carries amounts. Every error is an InputError naming the file and line.
#include <ostream>
#include <string>
#include <string_view>

#include "cloud/placement/simulator/trace.hpp"

namespace nimbus::cloud::placement::simulator {

Trace parse_trace_csv(const std::string& file_name, std::string_view text);
Trace read_trace_csv(const std::string& path);  // InputError(path, 0, ...) when unreadable

// Writes a trace in the same format (VMs named vm<id>, hosts h<n>, groups g<id>).
void write_trace_csv(const Trace& trace, std::ostream& out);

} // namespace nimbus::cloud::placement::simulator

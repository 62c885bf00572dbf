#pragma once
// Guest markers with the VM's counters: a console decorator that passes everything through and,
// whenever the guest completes a line starting with "NIMBUS-", appends one JSON line to a file:
//   {"t": seconds since the log opened, "line": "...", "counters": {...}}
// with the VM's counters at that instant. A guest benchmark that prints a line before and after
// its loop thus gets its exact exits, faults and flushes per operation (`nimbus bench --virt`),
// without the guest knowing it is virtualized.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include "hypervisor/vm_counters.hpp"
#include "machine/console_backend.hpp"

namespace nimbus::hypervisor {

class MarkerLog final : public machine::ConsoleBackend {
public:
  // Throws std::runtime_error if `path` cannot be created.
  MarkerLog(machine::ConsoleBackend& inner, const std::filesystem::path& path);
  ~MarkerLog() override;
  MarkerLog(const MarkerLog&) = delete;
  MarkerLog& operator=(const MarkerLog&) = delete;

  // The counters to record; until set, markers are logged without them.
  void watch(const VmCounters& counters) { counters_ = &counters; }

  void write(uint8_t byte) override;
  void flush() override { inner_.flush(); }
  std::optional<uint8_t> read() override { return inner_.read(); }
  void wait_for_input(std::chrono::nanoseconds max) override { inner_.wait_for_input(max); }

private:
  void record(const std::string& line);

  machine::ConsoleBackend& inner_;
  std::FILE* file_ = nullptr;
  const VmCounters* counters_ = nullptr;
  std::string line_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

} // namespace nimbus::hypervisor

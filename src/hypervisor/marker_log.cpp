#include "hypervisor/marker_log.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace nimbus::hypervisor {

namespace {

constexpr size_t kMaxLine = 4096;   // a guest that never ends its line cannot grow us without bound

nlohmann::json to_json(const VmCountersSnapshot& s) {
  nlohmann::json exits = nlohmann::json::object();
  for (size_t i = 0; i < kExitReasonCount; ++i)
    exits[std::string(to_string(static_cast<ExitReason>(i)))] = s.exits[i];
  exits["total"] = s.total_exits();
  return {{"exits", exits},
          {"emulated_privileged_instructions", s.emulated_privileged_instructions},
          {"shadow_page_faults", s.shadow_page_faults},
          {"g_stage_faults", s.g_stage_faults},
          {"tlb_flushes", s.tlb_flushes},
          {"world_switches", s.world_switches},
          {"instructions_retired", s.instructions_retired}};
}

} // namespace

MarkerLog::MarkerLog(machine::ConsoleBackend& inner, const std::filesystem::path& path) : inner_(inner) {
  file_ = std::fopen(path.c_str(), "w");
  if (file_ == nullptr)
    throw std::runtime_error(fmt::format("cannot create the marker log {}: {}", path.string(), std::strerror(errno)));
}

MarkerLog::~MarkerLog() { std::fclose(file_); }

void MarkerLog::write(uint8_t byte) {
  inner_.write(byte);
  if (byte == '\n') {
    if (line_.rfind("NIMBUS-", 0) == 0) record(line_);
    line_.clear();
  } else if (byte != '\r' && line_.size() < kMaxLine) {
    line_.push_back(static_cast<char>(byte));
  }
}

void MarkerLog::record(const std::string& line) {
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  nlohmann::json entry = {{"t", t}, {"line", line}};
  if (counters_ != nullptr) entry["counters"] = to_json(counters_->snapshot());
  // Invalid UTF-8 from a guest is replaced, never thrown on.
  const std::string text = entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fprintf(file_, "%s\n", text.c_str());
  std::fflush(file_);
}

} // namespace nimbus::hypervisor

#include "cli/bench_micro.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <regex>

namespace nimbus::cli {
namespace {

constexpr std::string_view kMicroMarker = "NIMBUS-MICRO: ";
constexpr std::string_view kBenchMarker = "NIMBUS-BENCH: ";

// "a=1 b=x" -> {a: 1, b: x}; words without '=' map to "".
std::map<std::string, std::string, std::less<>> fields(std::string_view text) {
  std::map<std::string, std::string, std::less<>> out;
  while (!text.empty()) {
    const size_t space = text.find(' ');
    const std::string_view word = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
    if (word.empty()) continue;
    const size_t eq = word.find('=');
    out[std::string(word.substr(0, eq))] = eq == std::string_view::npos ? "" : std::string(word.substr(eq + 1));
  }
  return out;
}

template <typename T>
std::optional<T> number(std::string_view s) {
  T value{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<double> figure(const MicroResult* r, MicroClock clock) {
  if (!r) return std::nullopt;
  return clock == MicroClock::host ? r->host_us_per_op() : std::optional<double>(r->guest_us_per_op());
}

} // namespace

const std::vector<std::string>& micro_benchmark_names() {
  static const std::vector<std::string> names{"null_syscall", "page_fault", "fork_exit_wait", "exec", "pipe_roundtrip",
                                              "cpu"};
  return names;
}

std::optional<double> MicroResult::host_us_per_op() const {
  if (!host_seconds || iterations == 0) return std::nullopt;
  return *host_seconds * 1e6 / static_cast<double>(iterations);
}

void MicroParser::feed(std::string_view line, double host_seconds) {
  if (const size_t at = line.find(kBenchMarker); at != std::string_view::npos) {
    const auto f = fields(line.substr(at + kBenchMarker.size()));
    if (const auto it = f.find("checksum"); it != f.end()) checksum_ = it->second;
    return;
  }
  const size_t at = line.find(kMicroMarker);
  if (at == std::string_view::npos) return;
  const std::string_view text = line.substr(at + kMicroMarker.size());
  const auto f = fields(text);
  if (f.contains("done")) {
    done_ = true;
  } else if (f.contains("start")) {
    const auto name = f.find("name");
    started_ = name == f.end() ? "" : name->second;
    started_at_ = host_seconds;
  } else if (f.contains("scale")) {
    // the run's size; the iterations of each benchmark already say it
  } else {
    const auto get = [&](std::string_view key) {
      const auto it = f.find(key);
      return it == f.end() ? std::string_view{} : std::string_view(it->second);
    };
    std::string_view elapsed = get("elapsed");
    if (elapsed.ends_with('s')) elapsed.remove_suffix(1);
    const auto iterations = number<uint64_t>(get("iterations"));
    const auto ns_per_op = number<double>(get("ns_per_op"));
    const auto seconds = number<double>(elapsed);
    if (get("name").empty() || !iterations || !ns_per_op || !seconds) {
      malformed_.emplace_back(text);
      return;
    }
    MicroResult r{std::string(get("name")), *iterations, *ns_per_op, *seconds, std::nullopt};
    if (started_ == r.name) r.host_seconds = host_seconds - started_at_;
    started_.clear();
    results_.push_back(std::move(r));
  }
}

const MicroResult* MicroParser::find(std::string_view name) const {
  for (const auto& r : results_)
    if (r.name == name) return &r;
  return nullptr;
}

void MicroParser::keep_fastest(const MicroParser& other) {
  for (const auto& theirs : other.results_) {
    auto mine = std::find_if(results_.begin(), results_.end(), [&](const auto& r) { return r.name == theirs.name; });
    if (mine == results_.end()) {
      results_.push_back(theirs);
      continue;
    }
    const auto a = mine->host_us_per_op(), b = theirs.host_us_per_op();
    if (b && (!a || *b < *a)) *mine = theirs;
  }
}

std::vector<std::string> MicroParser::problems() const {
  std::vector<std::string> out;
  for (const auto& line : malformed_) out.push_back(fmt::format("malformed line 'NIMBUS-MICRO: {}'", line));
  for (const auto& name : micro_benchmark_names()) {
    const MicroResult* r = find(name);
    if (!r) {
      out.push_back(fmt::format("no result for {}", name));
      continue;
    }
    if (r->iterations == 0) out.push_back(fmt::format("{}: zero iterations", name));
    if (!std::isfinite(r->guest_ns_per_op) || r->guest_ns_per_op <= 0)
      out.push_back(fmt::format("{}: ns_per_op {} is not a positive time", name, r->guest_ns_per_op));
    if (!r->host_seconds) out.push_back(fmt::format("{}: no start line before its result, so no host time", name));
  }
  if (!done_) out.push_back("no 'NIMBUS-MICRO: done' line (the guest stopped early)");
  return out;
}

std::string micro_table(const std::vector<MicroRun>& runs, size_t reference, MicroClock clock) {
  std::string out = fmt::format("{:<16} {:>10}", clock == MicroClock::host ? "host µs/op" : "guest µs/op", "iterations");
  for (const auto& run : runs) out += fmt::format(" {:>12}", run.label);
  for (size_t i = 0; i < runs.size(); ++i)
    if (i != reference) out += fmt::format(" {:>14}", runs[i].label + "/" + runs[reference].label);
  out += "\n";
  for (const auto& name : micro_benchmark_names()) {
    const MicroResult* first = nullptr;
    for (const auto& run : runs)
      if (!first) first = run.parsed.find(name);
    if (!first) continue; // no run has it (e.g. "cpu" without nimbus-bench)
    out += fmt::format("{:<16} {:>10}", name, first->iterations);
    for (const auto& run : runs) {
      const auto v = figure(run.parsed.find(name), clock);
      out += v ? fmt::format(" {:>12.2f}", *v) : fmt::format(" {:>12}", "-");
    }
    const auto ref = figure(runs[reference].parsed.find(name), clock);
    for (size_t i = 0; i < runs.size(); ++i) {
      if (i == reference) continue;
      const auto v = figure(runs[i].parsed.find(name), clock);
      out += v && ref && *ref > 0 ? fmt::format(" {:>13.2f}x", *v / *ref) : fmt::format(" {:>14}", "-");
    }
    out += "\n";
  }
  return out;
}

std::vector<MicroExits> micro_exits(std::istream& marker_log) {
  static const std::regex start_line(R"(NIMBUS-MICRO: start name=(\S+))");
  static const std::regex result_line(R"(NIMBUS-MICRO: name=(\S+) iterations=(\d+) )");
  std::vector<MicroExits> out;
  std::string started;
  nlohmann::json start_counters;
  std::string text;
  while (std::getline(marker_log, text)) {
    const auto entry = nlohmann::json::parse(text, nullptr, false);
    if (entry.is_discarded() || !entry.is_object() || !entry.contains("line") || !entry["line"].is_string() ||
        !entry.contains("counters") || !entry["counters"].is_object())
      continue;
    const std::string line = entry["line"];
    const auto& counters = entry["counters"];
    std::smatch m;
    if (std::regex_search(line, m, start_line)) {
      started = m[1];
      start_counters = counters;
      continue;
    }
    if (!std::regex_search(line, m, result_line) || m[1] != started) continue;
    const double iterations = std::stod(m[2]);
    if (iterations <= 0) continue;
    MicroExits e;
    e.name = m[1];
    // Every numeric counter, flattened: exits.<reason> and the top-level fault/flush counts.
    auto delta = [&](const nlohmann::json& now, const nlohmann::json& then) -> double {
      return now.is_number() && then.is_number() ? (now.get<double>() - then.get<double>()) / iterations : 0.0;
    };
    for (const auto& [key, value] : counters.items()) {
      if (key == "exits" && value.is_object() && start_counters.contains("exits")) {
        for (const auto& [reason, n] : value.items())
          if (start_counters["exits"].contains(reason)) e.by_reason["exits." + reason] = delta(n, start_counters["exits"][reason]);
      } else if (start_counters.contains(key)) {
        e.by_reason[key] = delta(value, start_counters[key]);
      }
    }
    e.exits = e.by_reason.count("exits.total") ? e.by_reason["exits.total"] : 0;
    out.push_back(std::move(e));
    started.clear();
  }
  return out;
}

std::string micro_exits_table(const std::vector<MicroRun>& runs) {
  auto find = [](const MicroRun& run, const std::string& name) -> const MicroExits* {
    for (const auto& e : run.exits)
      if (e.name == name) return &e;
    return nullptr;
  };
  static const std::vector<std::pair<std::string, std::string>> details{
      {"exits.sbi_call", "sbi"}, {"exits.mmio", "mmio"}, {"exits.privileged_instruction", "priv"},
      {"exits.guest_page_fault", "pgfault"}, {"tlb_flushes", "tlbflush"}};
  std::string out = fmt::format("{:<16}", "exits/op");
  for (const auto& run : runs) out += fmt::format(" {:>12}", run.label);
  out += "   breakdown (per op)\n";
  for (const auto& name : micro_benchmark_names()) {
    bool any = false;
    for (const auto& run : runs) any = any || find(run, name) != nullptr;
    if (!any) continue;
    out += fmt::format("{:<16}", name);
    for (const auto& run : runs) {
      const MicroExits* e = find(run, name);
      out += e ? fmt::format(" {:>12.2f}", e->exits) : fmt::format(" {:>12}", "-");
    }
    out += "  ";
    for (const auto& run : runs) {
      const MicroExits* e = find(run, name);
      if (!e) continue;
      std::string parts;
      for (const auto& [key, label] : details) {
        const auto it = e->by_reason.find(key);
        if (it != e->by_reason.end() && it->second >= 0.005) parts += fmt::format(" {} {:.2f}", label, it->second);
      }
      if (!parts.empty()) out += fmt::format(" [{}:{}]", run.label, parts);
    }
    out += "\n";
  }
  return out;
}

nlohmann::json micro_json(const std::vector<MicroRun>& runs) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& run : runs) {
    auto& by_name = j[run.label] = nlohmann::json::object();
    for (const auto& r : run.parsed.results()) {
      by_name[r.name] = {{"iterations", r.iterations}, {"guest_us_per_op", r.guest_us_per_op()}};
      if (const auto host = r.host_us_per_op()) by_name[r.name]["host_us_per_op"] = *host;
    }
    for (const auto& e : run.exits) {
      by_name[e.name]["exits_per_op"] = e.exits;
      by_name[e.name]["counters_per_op"] = e.by_reason;
    }
  }
  return j;
}

} // namespace nimbus::cli

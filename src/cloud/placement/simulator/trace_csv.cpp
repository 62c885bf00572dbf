#include "cloud/placement/simulator/trace_csv.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "cloud/placement/input_error.hpp"

namespace nimbus::cloud::placement::simulator {

const char* trace_event_name(TraceEventKind kind) {
  switch (kind) {
  case TraceEventKind::Arrive: return "arrive";
  case TraceEventKind::Depart: return "depart";
  case TraceEventKind::HostAdd: return "host_add";
  case TraceEventKind::HostDrain: return "host_drain";
  case TraceEventKind::HostRemove: return "host_remove";
  }
  return "?";
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

struct Name {
  uint64_t id;
  std::size_t line;  // where it was introduced
  bool alive;
};

class TraceParser {
 public:
  explicit TraceParser(const std::string& file) { trace_.source = file; }

  void line(std::size_t number, std::string_view text) {
    line_ = number;
    if (auto hash = text.find('#'); hash != std::string_view::npos) text = text.substr(0, hash);
    text = trim(text);
    if (text.empty()) return;
    fields_.clear();
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = text.find(',', start);
      fields_.push_back(trim(text.substr(start, comma == std::string_view::npos ? comma : comma - start)));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (!seen_content_ && fields_[0] == "time") {  // optional header
      seen_content_ = true;
      return;
    }
    seen_content_ = true;
    event();
  }

  Trace finish(std::size_t end_line) {
    if (trace_.events.empty()) throw InputError(trace_.source, end_line, "the trace holds no events");
    return std::move(trace_);
  }

 private:
  [[noreturn]] void fail(const std::string& message) const { throw InputError(trace_.source, line_, message); }

  int64_t amount(std::size_t field, const char* what) const {
    const std::string_view s = fields_[field];
    if (s.empty()) fail(fmt::format("field {} ({}) is empty", field + 1, what));
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc::result_out_of_range) fail(fmt::format("{} '{}' is out of range", what, s));
    if (ec != std::errc{} || end != s.data() + s.size())
      fail(fmt::format("{} '{}' is not an integer", what, s));
    if (v < 0) fail(fmt::format("{} {} is negative", what, v));
    return v;
  }

  void set_dimensions(std::size_t count, const char* what) {
    if (trace_.dimensions == 0) {
      if (count == 0) fail(fmt::format("{} lists no amounts", what));
      if (count > kMaxDimensions)
        fail(fmt::format("{} lists {} amounts; at most {} dimensions are supported", what, count, kMaxDimensions));
      trace_.dimensions = count;
      dimensions_line_ = line_;
    } else if (count != trace_.dimensions) {
      fail(fmt::format("{} lists {} amounts but the trace has {} dimensions (set at line {})", what, count,
                       trace_.dimensions, dimensions_line_));
    }
  }

  online::GroupId group(std::string_view name) {
    auto [it, inserted] = groups_.try_emplace(std::string(name), static_cast<online::GroupId>(groups_.size() + 1));
    return it->second;
  }

  void expect_fields(std::size_t n, const char* event) const {
    if (fields_.size() != n)
      fail(fmt::format("'{}' takes {} fields (time,{},<id>), found {}", event, n, event, fields_.size()));
  }

  void event() {
    if (fields_.size() < 3)
      fail(fmt::format("expected at least 3 fields (time,event,id), found {}", fields_.size()));
    TraceEvent ev;
    ev.line = line_;
    const std::string_view t = fields_[0];
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), ev.time);
    if (t.empty() || ec != std::errc{} || end != t.data() + t.size() || !std::isfinite(ev.time))
      fail(fmt::format("time '{}' is not a number", t));
    if (ev.time < 0) fail(fmt::format("time {} is negative", t));
    if (ev.time < last_time_) fail(fmt::format("time {} is earlier than the previous event's {}", t, last_time_));
    last_time_ = ev.time;
    const std::string_view kind = fields_[1];
    const std::string name(fields_[2]);
    if (name.empty()) fail("the id field is empty");

    if (kind == "arrive") {
      ev.kind = TraceEventKind::Arrive;
      std::size_t amounts = 0;
      std::size_t f = 3;
      for (; f < fields_.size() && fields_[f].find(':') == std::string_view::npos; ++f) ++amounts;
      set_dimensions(amounts, "arrive");
      for (std::size_t d = 0; d < amounts; ++d) ev.amount[d] = amount(3 + d, "demand");
      for (; f < fields_.size(); ++f) {
        const std::string_view tag = fields_[f];
        if (tag.rfind("aff:", 0) == 0 && tag.size() > 4) {
          ev.affinity_group = group(tag.substr(4));
        } else if (tag.rfind("anti:", 0) == 0 && tag.size() > 5) {
          ev.anti_affinity_group = group(tag.substr(5));
        } else {
          fail(fmt::format("field {} '{}' is neither a demand nor aff:<group> / anti:<group>", f + 1, tag));
        }
      }
      auto [it, inserted] = vms_.try_emplace(name, Name{vms_.size(), line_, true});
      if (!inserted) fail(fmt::format("VM '{}' already arrived at line {}", name, it->second.line));
      ev.subject = it->second.id;
    } else if (kind == "depart") {
      ev.kind = TraceEventKind::Depart;
      expect_fields(3, "depart");
      auto it = vms_.find(name);
      if (it == vms_.end()) fail(fmt::format("VM '{}' departs but never arrived", name));
      if (!it->second.alive) fail(fmt::format("VM '{}' departs twice", name));
      it->second.alive = false;
      ev.subject = it->second.id;
    } else if (kind == "host_add") {
      ev.kind = TraceEventKind::HostAdd;
      set_dimensions(fields_.size() - 3, "host_add");
      for (std::size_t d = 0; d < trace_.dimensions; ++d) {
        ev.amount[d] = amount(3 + d, "capacity");
        if (ev.amount[d] == 0) fail(fmt::format("capacity of dimension {} is zero", d + 1));
      }
      auto [it, inserted] = hosts_.try_emplace(name, Name{hosts_.size(), line_, true});
      if (!inserted) fail(fmt::format("host '{}' was already added at line {}", name, it->second.line));
      ev.subject = it->second.id;
    } else if (kind == "host_drain" || kind == "host_remove") {
      ev.kind = kind == "host_drain" ? TraceEventKind::HostDrain : TraceEventKind::HostRemove;
      expect_fields(3, kind == "host_drain" ? "host_drain" : "host_remove");
      auto it = hosts_.find(name);
      if (it == hosts_.end()) fail(fmt::format("host '{}' was never added", name));
      if (!it->second.alive) fail(fmt::format("host '{}' was already removed", name));
      if (ev.kind == TraceEventKind::HostRemove) it->second.alive = false;
      ev.subject = it->second.id;
    } else {
      fail(fmt::format("unknown event '{}' (expected arrive, depart, host_add, host_drain or host_remove)", kind));
    }
    trace_.events.push_back(ev);
  }

  Trace trace_;
  std::size_t line_ = 0;
  std::size_t dimensions_line_ = 0;
  bool seen_content_ = false;
  double last_time_ = 0;
  std::vector<std::string_view> fields_;
  std::unordered_map<std::string, Name> vms_;
  std::unordered_map<std::string, Name> hosts_;
  std::unordered_map<std::string, online::GroupId> groups_;
};

} // namespace

Trace parse_trace_csv(const std::string& file_name, std::string_view text) {
  TraceParser parser(file_name);
  std::size_t number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    ++number;
    const std::size_t nl = text.find('\n', pos);
    const bool last_without_newline = nl == std::string_view::npos;
    const std::string_view line = text.substr(pos, last_without_newline ? std::string_view::npos : nl - pos);
    pos = last_without_newline ? text.size() : nl + 1;
    if (!last_without_newline) {
      parser.line(number, line);
      continue;
    }
    try {
      parser.line(number, line);
    } catch (const InputError& e) {
      throw InputError(e.file(), e.line(), e.message() + " (the file ends inside this line: truncated?)");
    }
  }
  return parser.finish(number + 1);
}

Trace read_trace_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, 0, "cannot open the trace file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw InputError(path, 0, "cannot read the trace file");
  const std::string text = buffer.str();
  return parse_trace_csv(path, text);
}

void write_trace_csv(const Trace& trace, std::ostream& out) {
  out << "time,event,id";
  for (std::size_t d = 0; d < trace.dimensions; ++d) out << ",amount" << d + 1;
  out << '\n';
  std::string line;
  for (const TraceEvent& ev : trace.events) {
    line.clear();
    const bool vm = ev.kind == TraceEventKind::Arrive || ev.kind == TraceEventKind::Depart;
    fmt::format_to(std::back_inserter(line), "{},{},{}{}", ev.time, trace_event_name(ev.kind), vm ? "vm" : "h",
                   ev.subject);
    if (ev.kind == TraceEventKind::Arrive || ev.kind == TraceEventKind::HostAdd)
      for (std::size_t d = 0; d < trace.dimensions; ++d) fmt::format_to(std::back_inserter(line), ",{}", ev.amount[d]);
    if (ev.affinity_group != online::kNoGroup) fmt::format_to(std::back_inserter(line), ",aff:g{}", ev.affinity_group);
    if (ev.anti_affinity_group != online::kNoGroup)
      fmt::format_to(std::back_inserter(line), ",anti:g{}", ev.anti_affinity_group);
    line += '\n';
    out << line;
  }
}

} // namespace nimbus::cloud::placement::simulator

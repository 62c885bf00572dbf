#include "cloud/host/move_requests.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cloud/host/vm_spec.hpp"

namespace nimbus::cloud::host {

using nlohmann::json;

namespace {

void only_fields(const json& body, std::initializer_list<const char*> known, const char* list) {
  if (!body.is_object()) throw SpecError("the body must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    bool ok = false;
    for (const char* k : known) ok = ok || key == k;
    if (!ok) throw SpecError(fmt::format("unknown field '{}' (known: {})", key, list));
  }
}

} // namespace

SnapshotRequest parse_snapshot_request(const json& body) {
  only_fields(body, {"to"}, "to");
  SnapshotRequest r;
  auto it = body.find("to");
  if (it == body.end() || it->is_null()) return r;
  if (!it->is_string()) throw SpecError(fmt::format("field 'to': must be a string (an absolute directory), got {}", it->dump()));
  r.to = it->get<std::string>();
  if (r.to.empty() || r.to[0] != '/') throw SpecError(fmt::format("field 'to': must be an absolute directory, got \"{}\"", r.to));
  for (char c : r.to)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) throw SpecError("field 'to': contains a control character");
  std::string component;
  for (std::size_t i = 0; i <= r.to.size(); ++i) {
    if (i == r.to.size() || r.to[i] == '/') {
      if (component == "..") throw SpecError(fmt::format("field 'to': \"{}\" has a '..' component", r.to));
      component.clear();
    } else {
      component += r.to[i];
    }
  }
  if (r.to.size() > 3000) throw SpecError("field 'to': longer than 3000 characters");
  return r;
}

MigrateRequest parse_migrate_request(const json& body) {
  only_fields(body, {"to", "max_downtime_ms"}, "to, max_downtime_ms");
  MigrateRequest r;
  auto to = body.find("to");
  if (to == body.end() || to->is_null()) throw SpecError("field 'to': required, tcp:HOST:PORT or tls:HOST:PORT where the destination VMM waits");
  if (!to->is_string()) throw SpecError(fmt::format("field 'to': must be a string tcp:HOST:PORT or tls:HOST:PORT, got {}", to->dump()));
  r.to = to->get<std::string>();
  check_tcp_address("to", r.to);
  auto md = body.find("max_downtime_ms");
  if (md != body.end() && !md->is_null()) {
    if (!md->is_number_integer())
      throw SpecError(fmt::format("field 'max_downtime_ms': must be an integer 1..60000, got {}", md->dump()));
    const int64_t v = md->get<int64_t>();
    if (v < 1 || v > 60000) throw SpecError(fmt::format("field 'max_downtime_ms': must be 1..60000, got {}", v));
    r.max_downtime_ms = v;
  }
  return r;
}

} // namespace nimbus::cloud::host

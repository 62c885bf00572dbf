#include "cloud/host/vm_spec.hpp"

#include <cmath>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <set>

namespace nimbus::cloud::host {

using nlohmann::json;

bool valid_vm_id(const std::string& id) {
  if (id.empty() || id.size() > 63 || id[0] == '.' || id[0] == '-') return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

namespace {

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_float: return "a fractional number";
    default: return "a number";
  }
}

std::string get_string(const json& j, const char* field, const std::string& fallback) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_string()) throw SpecError(fmt::format("field '{}': must be a string, got {} ({})", field, type_name(*it), it->dump()));
  return it->get<std::string>();
}

int64_t get_int(const json& j, const char* field, int64_t fallback, int64_t min, int64_t max) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return fallback;
  int64_t v = 0;
  if (it->is_number_integer()) {
    v = it->get<int64_t>();
  } else if (const double d = it->is_number_float() ? it->get<double>() : 0.5;
             it->is_number_float() && d >= -9.2233720368547758e18 && d < 9.2233720368547758e18 && d == std::trunc(d)) {
    // In range before the cast: converting a double outside int64's range is undefined
    // (found by the cloud_api fuzz target with 2.1e48).
    v = static_cast<int64_t>(d);
  } else if (it->is_string()) {  // int64 as a string, as protobuf JSON writes it
    const std::string s = it->get<std::string>();
    size_t used = 0;
    try {
      v = std::stoll(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != s.size())
      throw SpecError(fmt::format("field '{}': must be an integer, got \"{}\"", field, s));
  } else {
    throw SpecError(fmt::format("field '{}': must be an integer, got {} ({})", field, type_name(*it), it->dump()));
  }
  if (v < min || v > max) throw SpecError(fmt::format("field '{}': must be {}..{}, got {}", field, min, max, v));
  return v;
}

void check_path(const char* field, const std::string& path, bool required) {
  if (path.empty()) {
    if (required) throw SpecError(fmt::format("field '{}': required (an absolute path on the host)", field));
    return;
  }
  if (path[0] != '/') throw SpecError(fmt::format("field '{}': must be an absolute path, got \"{}\"", field, path));
  if (path.find('\n') != std::string::npos || path.find('\0') != std::string::npos)
    throw SpecError(fmt::format("field '{}': contains a newline or NUL", field));
}

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// Informational text (tenant, name) ends up in logs and in a comment line of the VM TOML: a
// newline there would start a TOML line of its own (found by tests/fuzz/fuzz_cloud_api.cpp).
void check_printable(const char* field, const std::string& text) {
  for (const char c : text)
    if (is_control(c))
      throw SpecError(fmt::format("field '{}': contains a control character (0x{:02x})", field, static_cast<unsigned char>(c)));
}

// Text for a TOML comment: control characters (a newline would end the comment) become '?'.
std::string comment_text(std::string text) {
  for (char& c : text)
    if (is_control(c)) c = '?';
  return text;
}

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) out += fmt::format("\\u{:04X}", static_cast<unsigned char>(c));
        else out += c;
    }
  }
  return out + "\"";
}

} // namespace

void check_tcp_address(const char* field, const std::string& address) {
  if (address.rfind("tcp:", 0) != 0 && address.rfind("tls:", 0) != 0)
    throw SpecError(fmt::format("field '{}': must be tcp:HOST:PORT or tls:HOST:PORT, got \"{}\"", field, comment_text(address)));
  const std::string rest = address.substr(4);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw SpecError(fmt::format("field '{}': must be tcp:HOST:PORT or tls:HOST:PORT (no host or port in \"{}\")", field, comment_text(address)));
  const std::string host = rest.substr(0, colon), port = rest.substr(colon + 1);
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
      throw SpecError(fmt::format("field '{}': host \"{}\" has a character other than letters, digits, . - : [ ]", field,
                                  comment_text(host)));
  if (host.size() > 253) throw SpecError(fmt::format("field '{}': host name longer than 253 characters", field));
  long p = 0;
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || (p = std::stol(port)) < 1 ||
      p > 65535)
    throw SpecError(fmt::format("field '{}': port must be 1..65535, got \"{}\"", field, comment_text(port)));
}

VmSpec parse_vm_spec(const json& j, const std::string& path_id) {
  if (!j.is_object()) throw SpecError(fmt::format("the VM spec must be a JSON object, got {}", type_name(j)));
  static const std::set<std::string> known = {"id", "tenant", "name", "generation", "vcpus", "memory_mib", "disk_gib",
                                              "mode", "kernel", "initrd", "append", "bios", "disk", "disk_template",
                                              "weight", "cap", "state", "incoming", "migrate_to", "nics"};
  for (const auto& [key, value] : j.items())
    if (!known.count(key))
      throw SpecError(fmt::format("unknown field '{}' (known: id, tenant, name, generation, vcpus, memory_mib, disk_gib, "
                                  "mode, kernel, initrd, append, bios, disk, disk_template, weight, cap, state, incoming, "
                                  "migrate_to, nics)", key));
  VmSpec s;
  s.id = get_string(j, "id", path_id);
  if (s.id.empty()) throw SpecError("field 'id': required");
  if (!path_id.empty() && s.id != path_id)
    throw SpecError(fmt::format("field 'id': \"{}\" does not match the id in the path \"{}\"", s.id, path_id));
  if (!valid_vm_id(s.id))
    throw SpecError(fmt::format("field 'id': \"{}\" is not a valid VM id (1-63 of A-Z a-z 0-9 . _ -, not starting with . or -)", s.id));
  s.tenant = get_string(j, "tenant", "");
  check_printable("tenant", s.tenant);
  s.name = get_string(j, "name", "");
  check_printable("name", s.name);
  s.generation = get_int(j, "generation", 1, 0, INT64_MAX);
  s.vcpus = get_int(j, "vcpus", 1, 1, 64);
  s.memory_mib = get_int(j, "memory_mib", 128, 16, 1 << 20);
  s.disk_gib = get_int(j, "disk_gib", 0, 0, 1 << 20);
  s.mode = get_string(j, "mode", "emulate");
  if (s.mode.empty()) s.mode = "emulate";
  if (s.mode != "emulate" && s.mode != "trap" && s.mode != "hw")
    throw SpecError(fmt::format("field 'mode': must be emulate, trap or hw, got \"{}\"", s.mode));
  s.kernel = get_string(j, "kernel", "");
  check_path("kernel", s.kernel, true);
  s.initrd = get_string(j, "initrd", "");
  check_path("initrd", s.initrd, false);
  s.append = get_string(j, "append", "");
  s.bios = get_string(j, "bios", "");
  s.disk = get_string(j, "disk", "");
  check_path("disk", s.disk, false);
  s.disk_template = get_string(j, "disk_template", "");
  check_path("disk_template", s.disk_template, false);
  if (!s.disk_template.empty() && s.disk.empty())
    throw SpecError("field 'disk_template': given without 'disk' (the path to copy the template to)");
  s.weight = get_int(j, "weight", 100, 1, 10000);
  s.cap = get_int(j, "cap", 0, 0, 100 * s.vcpus);
  s.state = get_string(j, "state", "running");
  if (s.state != "running" && s.state != "stopped")
    throw SpecError(fmt::format("field 'state': must be running or stopped, got \"{}\"", s.state));
  if (auto it = j.find("incoming"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean())
      throw SpecError(fmt::format("field 'incoming': must be true or false, got {} ({})", type_name(*it), it->dump()));
    s.incoming = it->get<bool>();
  }
  s.migrate_to = get_string(j, "migrate_to", "");
  if (!s.migrate_to.empty()) check_tcp_address("migrate_to", s.migrate_to);
  if (s.incoming && !s.migrate_to.empty())
    throw SpecError("fields 'incoming' and 'migrate_to': a VM is either arriving here or leaving, not both");
  if (s.incoming && s.state != "running")
    throw SpecError("field 'incoming': a VM that waits for a live migration must have state \"running\"");
  if (auto it = j.find("nics"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) throw SpecError(fmt::format("field 'nics': must be an array, got {}", type_name(*it)));
    if (it->size() > 4) throw SpecError(fmt::format("field 'nics': at most 4 NICs, got {}", it->size()));
    for (size_t i = 0; i < it->size(); ++i) {
      const json& n = (*it)[i];
      const std::string where = fmt::format("nics[{}]", i);
      if (!n.is_object()) throw SpecError(fmt::format("field '{}': must be an object {{vni, mac}}, got {}", where, type_name(n)));
      for (const auto& [key, value] : n.items())
        if (key != "vni" && key != "mac") throw SpecError(fmt::format("field '{}': unknown field '{}' (known: vni, mac)", where, key));
      NetNic nic;
      nic.vni = static_cast<uint32_t>(get_int(n, "vni", 0, 1, (1 << 24) - 1));
      const std::string mac = get_string(n, "mac", "");
      if (!machine::parse_mac(mac, nic.mac) || (nic.mac[0] & 1) || nic.mac == machine::MacAddress{})
        throw SpecError(fmt::format("field '{}.mac': \"{}\" is not a unicast MAC (xx:xx:xx:xx:xx:xx)", where, comment_text(mac)));
      for (const NetNic& other : s.nics)
        if (other.vni == nic.vni && other.mac == nic.mac) throw SpecError(fmt::format("field '{}': the same NIC twice", where));
      s.nics.push_back(nic);
    }
  }
  return s;
}

VmSpec parse_vm_spec_text(const std::string& text, const std::string& path_id) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    // nlohmann's text: "[json.exception.parse_error.101] parse error at line 1, column 5: ...", or
    // out_of_range.406 for a number beyond a double's range ("1e999")
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    throw SpecError("malformed JSON: " + what);
  }
  return parse_vm_spec(j, path_id);
}

json vm_spec_to_json(const VmSpec& s) {
  json nics = json::array();
  for (const NetNic& n : s.nics) nics.push_back(json{{"vni", n.vni}, {"mac", machine::format_mac(n.mac)}});
  return json{{"nics", nics}, {"id", s.id},         {"tenant", s.tenant},   {"name", s.name},     {"generation", s.generation},
              {"vcpus", s.vcpus},   {"memory_mib", s.memory_mib}, {"disk_gib", s.disk_gib}, {"mode", s.mode},
              {"kernel", s.kernel}, {"initrd", s.initrd},   {"append", s.append}, {"bios", s.bios},
              {"disk", s.disk},     {"disk_template", s.disk_template}, {"weight", s.weight}, {"cap", s.cap},
              {"state", s.state},   {"incoming", s.incoming}, {"migrate_to", s.migrate_to}};
}

std::string vm_toml(const VmSpec& s) {
  std::string t;
  t += "# Written by the nimbus host agent for VM " + comment_text(s.id) +
       (s.tenant.empty() ? "" : " of tenant " + comment_text(s.tenant)) + "\n";
  t += "name = " + toml_string(s.id) + "\n";
  t += fmt::format("memory = \"{}M\"\n", s.memory_mib);
  t += fmt::format("vcpus = {}\n", s.vcpus);
  t += "mode = " + toml_string(s.mode) + "\n";
  t += "kernel = " + toml_string(s.kernel) + "\n";
  if (!s.initrd.empty()) t += "initrd = " + toml_string(s.initrd) + "\n";
  if (!s.append.empty()) t += "append = " + toml_string(s.append) + "\n";
  if (!s.disk.empty()) t += "disk = " + toml_string(s.disk) + "\n";
  t += fmt::format("weight = {}\n", s.weight);
  if (s.cap > 0) t += fmt::format("cap = {}\n", s.cap);
  for (const NetNic& n : s.nics)
    t += fmt::format("[[net]]\nnetwork = \"vni-{}\"\nmac = \"{}\"\n", n.vni, machine::format_mac(n.mac));
  return t;
}

} // namespace nimbus::cloud::host

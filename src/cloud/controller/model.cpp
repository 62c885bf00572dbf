#include "cloud/controller/model.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>

namespace nimbus::cloud::controller {

using nlohmann::json;

namespace {

// An integer field's JSON value: an integer of magnitude at most 2^53 (what every JSON tool keeps
// exact; far beyond any count, size or revision Nimbus writes). nlohmann's own conversion of a
// float such as 1e300 to int64_t is undefined behaviour (found by fuzz_cloud_api on a stored VM
// record), and near 2^63 the controller's sums of resources and its revision + 1 would overflow
// such a record is malformed.
constexpr int64_t kMaxRecordInteger = int64_t{1} << 53;
bool int64_value(const json& x, int64_t& out) {
  if (x.is_number_unsigned()) {
    if (x.get<uint64_t>() > static_cast<uint64_t>(kMaxRecordInteger)) return false;
  } else if (!x.is_number_integer()) {
    return false;
  }
  const int64_t v = x.get<int64_t>();
  if (v > kMaxRecordInteger || v < -kMaxRecordInteger) return false;
  out = v;
  return true;
}

// A field of a stored record: absent keeps the default; present, it must have the field's type
// (else the record is malformed: parse_record() gives the default record).
template <typename T>
void get_field(const json& j, const char* name, T& out) {
  if (!j.is_object()) throw std::invalid_argument("a record is a JSON object");
  const auto it = j.find(name);
  if (it == j.end()) return;
  if constexpr (std::is_same_v<T, int64_t>) {
    if (!int64_value(*it, out)) throw std::invalid_argument(std::string("field '") + name + "' is not an int64");
  } else {
    out = it->template get<T>();
  }
}

} // namespace

#define NIMBUS_GET(field) get_field(j, #field, v.field)

void Alloc::add(const std::string& id, const Resources& r) {
  if (std::find(vms.begin(), vms.end(), id) != vms.end()) return;
  vms.push_back(id);
  vcpus += r.vcpus;
  memory_mib += r.memory_mib;
  disk_gib += r.disk_gib;
}

bool Alloc::remove(const std::string& id, const Resources& r) {
  auto it = std::find(vms.begin(), vms.end(), id);
  if (it == vms.end()) return false;
  vms.erase(it);
  vcpus = std::max<int64_t>(0, vcpus - r.vcpus);
  memory_mib = std::max<int64_t>(0, memory_mib - r.memory_mib);
  disk_gib = std::max<int64_t>(0, disk_gib - r.disk_gib);
  return true;
}

void to_json(json& j, const Resources& v) { j = json{{"vcpus", v.vcpus}, {"memory_mib", v.memory_mib}, {"disk_gib", v.disk_gib}}; }
void from_json(const json& j, Resources& v) {
  v = {};
  NIMBUS_GET(vcpus);
  NIMBUS_GET(memory_mib);
  NIMBUS_GET(disk_gib);
}
void to_json(json& j, const Quota& v) {
  j = json{{"vcpus", v.vcpus}, {"memory_mib", v.memory_mib}, {"vms", v.vms}, {"disk_gib", v.disk_gib}};
}
void from_json(const json& j, Quota& v) {
  v = {};
  NIMBUS_GET(vcpus);
  NIMBUS_GET(memory_mib);
  NIMBUS_GET(vms);
  NIMBUS_GET(disk_gib);
}
void to_json(json& j, const Flavor& v) {
  j = json{{"name", v.name}, {"vcpus", v.vcpus}, {"memory_mib", v.memory_mib}, {"disk_gib", v.disk_gib}};
}
void from_json(const json& j, Flavor& v) {
  v = {};
  NIMBUS_GET(name);
  NIMBUS_GET(vcpus);
  NIMBUS_GET(memory_mib);
  NIMBUS_GET(disk_gib);
}
void to_json(json& j, const Image& v) {
  j = json{{"name", v.name}, {"kernel", v.kernel}, {"initrd", v.initrd}, {"append", v.append},
           {"disk_template", v.disk_template}, {"mode", v.mode}, {"bios", v.bios}};
}
void from_json(const json& j, Image& v) {
  v = {};
  NIMBUS_GET(name);
  NIMBUS_GET(kernel);
  NIMBUS_GET(initrd);
  NIMBUS_GET(append);
  NIMBUS_GET(disk_template);
  NIMBUS_GET(mode);
  NIMBUS_GET(bios);
}
void to_json(json& j, const Tenant& v) {
  j = json{{"name", v.name}, {"quota", v.quota}, {"token_sha256", v.token_sha256}, {"created", v.created}};
}
void from_json(const json& j, Tenant& v) {
  v = {};
  NIMBUS_GET(name);
  if (j.contains("quota")) v.quota = j.at("quota").get<Quota>();
  NIMBUS_GET(token_sha256);
  NIMBUS_GET(created);
}
// A record's "nics" (malformed entries are left out).
static std::vector<VmNic> nics_from_json(const json& j) {
  std::vector<VmNic> out;
  auto it = j.find("nics");
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& n : *it) {
    if (!n.is_object()) continue;
    VmNic nic;
    const json& v = n;
    VmNic& w = nic;
    get_field(v, "network", w.network);
    get_field(v, "vni", w.vni);
    get_field(v, "mac", w.mac);
    if (w.vni > 0 && !w.mac.empty()) out.push_back(nic);
  }
  return out;
}

void to_json(json& j, const VmRecord& v) {
  j = json{{"id", v.id},
           {"tenant", v.tenant},
           {"name", v.name},
           {"flavor", v.flavor},
           {"image", v.image},
           {"mode", v.mode},
           {"state", v.state},
           {"host", v.host},
           {"generation", v.generation},
           {"anti_affinity", v.anti_affinity},
           {"affinity", v.affinity},
           {"created", v.created},
           {"events_seq", v.events_seq},
           {"vcpus", v.vcpus},
           {"memory_mib", v.memory_mib},
           {"disk_gib", v.disk_gib}};
  if (!v.nics.empty()) {
    j["nics"] = json::array();
    for (const auto& n : v.nics) j["nics"].push_back(json{{"network", n.network}, {"vni", n.vni}, {"mac", n.mac}});
  }
  if (!(v.migration == MigrationInfo{}))
    j["migration"] = json{{"to", v.migration.to}, {"address", v.migration.address}, {"why", v.migration.why},
                          {"started", v.migration.started}};
}
void from_json(const json& j, VmRecord& v) {
  v = {};
  NIMBUS_GET(id);
  NIMBUS_GET(tenant);
  NIMBUS_GET(name);
  NIMBUS_GET(flavor);
  NIMBUS_GET(image);
  NIMBUS_GET(mode);
  NIMBUS_GET(state);
  NIMBUS_GET(host);
  NIMBUS_GET(generation);
  NIMBUS_GET(anti_affinity);
  NIMBUS_GET(affinity);
  NIMBUS_GET(created);
  NIMBUS_GET(events_seq);
  NIMBUS_GET(vcpus);
  NIMBUS_GET(memory_mib);
  NIMBUS_GET(disk_gib);
  v.nics = nics_from_json(j);
  if (auto m = j.find("migration"); m != j.end() && m->is_object()) {
    v.migration.to = m->value("to", "");
    v.migration.address = m->value("address", "");
    v.migration.why = m->value("why", "");
    v.migration.started = m->value("started", "");
  }
}
void to_json(json& j, const HostInfo& v) {
  j = json{{"name", v.name}, {"api", v.api}, {"capacity", v.capacity}, {"rack", v.rack}, {"started", v.started}};
  if (v.simulated) j["simulated"] = true;
}
void from_json(const json& j, HostInfo& v) {
  v = {};
  NIMBUS_GET(name);
  NIMBUS_GET(api);
  if (j.contains("capacity")) v.capacity = j.at("capacity").get<Resources>();
  NIMBUS_GET(rack);
  if (j.contains("started") && j["started"].is_string()) v.started = j["started"].get<std::string>();
  if (j.contains("simulated") && j["simulated"].is_boolean()) v.simulated = j["simulated"].get<bool>();
}
void from_json(const json& j, HostStatusRecord& v) {
  v = {};
  if (j.contains("used") && j["used"].is_object()) v.used = j.at("used").get<Resources>();
  if (j.contains("updated") && j["updated"].is_string()) v.updated = j["updated"].get<std::string>();
  if (j.contains("vms") && j["vms"].is_object()) {
    for (const auto& [id, o] : j["vms"].items()) {
      ObservedVm vm;
      if (o.is_object()) {
        if (o.contains("state") && o["state"].is_string()) vm.state = o["state"].get<std::string>();
        if (o.contains("cpu_load") && o["cpu_load"].is_number()) vm.cpu_load = o["cpu_load"].get<double>();
        if (o.contains("pid")) int64_value(o["pid"], vm.pid);
        if (o.contains("generation")) int64_value(o["generation"], vm.generation);
      }
      v.cpu_load += vm.cpu_load;
      v.vms[id] = vm;
    }
  }
}
void to_json(json& j, const HostAdmin& v) { j = json{{"cordoned", v.cordoned}, {"draining", v.draining}}; }
void from_json(const json& j, HostAdmin& v) {
  v = {};
  NIMBUS_GET(cordoned);
  NIMBUS_GET(draining);
}
void to_json(json& j, const Alloc& v) {
  j = json{{"vcpus", v.vcpus}, {"memory_mib", v.memory_mib}, {"disk_gib", v.disk_gib}, {"vms", v.vms}};
}
void from_json(const json& j, Alloc& v) {
  v = {};
  NIMBUS_GET(vcpus);
  NIMBUS_GET(memory_mib);
  NIMBUS_GET(disk_gib);
  NIMBUS_GET(vms);
}
void to_json(json& j, const AssignSpec& v) {
  j = json{{"id", v.id},         {"tenant", v.tenant}, {"name", v.name},         {"generation", v.generation},
           {"vcpus", v.vcpus},   {"memory_mib", v.memory_mib}, {"disk_gib", v.disk_gib}, {"mode", v.mode},
           {"kernel", v.kernel}, {"initrd", v.initrd}, {"append", v.append},     {"bios", v.bios},
           {"disk", v.disk},     {"disk_template", v.disk_template}};
  if (v.incoming) j["incoming"] = true;
  if (!v.migrate_to.empty()) j["migrate_to"] = v.migrate_to;
  if (!v.nics.empty()) {
    j["nics"] = json::array();
    for (const auto& n : v.nics) j["nics"].push_back(json{{"vni", n.vni}, {"mac", n.mac}});
  }
}
void from_json(const json& j, AssignSpec& v) {
  v = {};
  NIMBUS_GET(id);
  NIMBUS_GET(tenant);
  NIMBUS_GET(name);
  NIMBUS_GET(generation);
  NIMBUS_GET(vcpus);
  NIMBUS_GET(memory_mib);
  NIMBUS_GET(disk_gib);
  NIMBUS_GET(mode);
  NIMBUS_GET(kernel);
  NIMBUS_GET(initrd);
  NIMBUS_GET(append);
  NIMBUS_GET(bios);
  NIMBUS_GET(disk);
  NIMBUS_GET(disk_template);
  NIMBUS_GET(incoming);
  NIMBUS_GET(migrate_to);
  v.nics = nics_from_json(j);
}
void to_json(json& j, const NetworkRecord& v) {
  j = json{{"tenant", v.tenant}, {"name", v.name}, {"vni", v.vni}, {"created", v.created}};
}
void from_json(const json& j, NetworkRecord& v) {
  v = {};
  NIMBUS_GET(tenant);
  NIMBUS_GET(name);
  NIMBUS_GET(vni);
  NIMBUS_GET(created);
}
void to_json(json& j, const IncomingRecord& v) {
  j = json{{"host", v.host}, {"generation", v.generation}, {"address", v.address}};
}
void from_json(const json& j, IncomingRecord& v) {
  v = {};
  NIMBUS_GET(host);
  NIMBUS_GET(generation);
  NIMBUS_GET(address);
}
void to_json(json& j, const MigrationResult& v) {
  j = json{{"host", v.host}, {"to", v.to}, {"generation", v.generation}, {"ok", v.ok}, {"error", v.error},
           {"downtime_ms", v.downtime_ms}, {"total_ms", v.total_ms}, {"rounds", v.rounds}};
}
void from_json(const json& j, MigrationResult& v) {
  v = {};
  NIMBUS_GET(host);
  NIMBUS_GET(to);
  NIMBUS_GET(generation);
  NIMBUS_GET(ok);
  NIMBUS_GET(error);
  NIMBUS_GET(downtime_ms);
  NIMBUS_GET(total_ms);
  NIMBUS_GET(rounds);
}
void from_json(const json& j, VmObserved& v) {
  v = {};
  NIMBUS_GET(host);
  NIMBUS_GET(generation);
  NIMBUS_GET(state);
  NIMBUS_GET(pid);
  if (j.contains("cpu_load") && j["cpu_load"].is_number()) v.cpu_load = j["cpu_load"].get<double>();
  if (j.contains("console") && j["console"].is_string()) v.console = j["console"].get<std::string>();
  if (j.contains("started") && j["started"].is_string()) v.started = j["started"].get<std::string>();
  if (j.contains("starts") && j["starts"].is_number_integer()) v.starts = j["starts"].get<int64_t>();
  if (j.contains("previous_end") && j["previous_end"].is_string()) v.previous_end = j["previous_end"].get<std::string>();
}
void to_json(json& j, const Event& v) {
  j = json{{"time", v.time}, {"tenant", v.tenant}, {"vm", v.vm}, {"host", v.host}, {"kind", v.kind}, {"message", v.message}};
}
void from_json(const json& j, Event& v) {
  v = {};
  NIMBUS_GET(time);
  NIMBUS_GET(tenant);
  NIMBUS_GET(vm);
  NIMBUS_GET(host);
  NIMBUS_GET(kind);
  NIMBUS_GET(message);
}
void to_json(json& j, const LeaderRecord& v) { j = json{{"id", v.id}, {"api", v.api}}; }
void from_json(const json& j, LeaderRecord& v) {
  v = {};
  NIMBUS_GET(id);
  NIMBUS_GET(api);
}

std::string Keys::tail(const std::string& key, const std::string& dir) {
  if (key.size() <= dir.size() || key.compare(0, dir.size(), dir) != 0) return {};
  return key.substr(dir.size());
}

std::vector<Flavor> default_flavors() {
  return {
      {"n1.tiny", 1, 64, 1},      {"n1.small", 1, 128, 2},    {"n1.medium", 2, 256, 4},
      {"n1.large", 4, 512, 8},    {"n1.xlarge", 8, 1024, 16}, {"m1.small", 1, 256, 2},
      {"m1.medium", 2, 1024, 4},  {"c1.medium", 4, 256, 4},
  };
}

std::string now_rfc3339() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
}

} // namespace nimbus::cloud::controller

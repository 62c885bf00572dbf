#pragma once
// The controller's records as they are stored in etcd (JSON values, key layout in docs/cloud.md),
// with their JSON conversions. Pure data: no etcd, no HTTP.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace nimbus::cloud::controller {

// What a VM or a host holds in each dimension placement knows about.
struct Resources {
  int64_t vcpus = 0;
  int64_t memory_mib = 0;
  int64_t disk_gib = 0;

  Resources& operator+=(const Resources& o) {
    vcpus += o.vcpus;
    memory_mib += o.memory_mib;
    disk_gib += o.disk_gib;
    return *this;
  }
  Resources& operator-=(const Resources& o) {
    vcpus -= o.vcpus;
    memory_mib -= o.memory_mib;
    disk_gib -= o.disk_gib;
    return *this;
  }
  friend Resources operator+(Resources a, const Resources& b) { return a += b; }
  friend Resources operator-(Resources a, const Resources& b) { return a -= b; }
  friend bool operator==(const Resources&, const Resources&) = default;
  bool fits_in(const Resources& c) const { return vcpus <= c.vcpus && memory_mib <= c.memory_mib && disk_gib <= c.disk_gib; }
};

struct Quota {
  int64_t vcpus = 0;
  int64_t memory_mib = 0;
  int64_t vms = 0;
  int64_t disk_gib = 0;
  friend bool operator==(const Quota&, const Quota&) = default;
};

// A tenant's usage has the quota's shape.
using Usage = Quota;

struct Flavor {
  std::string name;
  int64_t vcpus = 0;
  int64_t memory_mib = 0;
  int64_t disk_gib = 0;
  Resources resources() const { return {vcpus, memory_mib, disk_gib}; }
};

struct Image {
  std::string name;
  std::string kernel;
  std::string initrd;
  std::string append;
  std::string disk_template;  // copied to the VM's disk on first start when not empty
  std::string mode = "emulate";
  std::string bios;  // empty: the VMM is the firmware
};

struct Tenant {
  std::string name;
  Quota quota;
  std::string token_sha256;
  std::string created;
};

// Lifecycle states of a VM record (desired state plus the controller's progress).
namespace vm_state {
inline constexpr const char* kPending = "pending";
inline constexpr const char* kScheduled = "scheduled";
inline constexpr const char* kRunning = "running";
inline constexpr const char* kStopping = "stopping";
inline constexpr const char* kStopped = "stopped";
inline constexpr const char* kMigrating = "migrating";
inline constexpr const char* kFailed = "failed";
inline constexpr const char* kDeleted = "deleted";
} // namespace vm_state

// A live move in flight (state `migrating`, docs/cloud.md "Moves"): the VM runs on `host`, the
// destination waits for it with an incoming VMM, and the record says how far it got.
struct MigrationInfo {
  std::string to;       // destination host (its alloc already holds the VM)
  std::string address;  // tcp:HOST:PORT the destination's VMM listens on, once it said so
  std::string why;      // drain of h, consolidation, migrate requested, ...
  std::string started;  // RFC 3339
  bool operator==(const MigrationInfo&) const = default;
};

// A VM's NIC on a tenant network (docs/cloud.md, "Tenant networks"): the network's name (in the
// VM's tenant), its VNI and the MAC the controller gave the NIC.
struct VmNic {
  std::string network;
  int64_t vni = 0;
  std::string mac;
  bool operator==(const VmNic&) const = default;
};

// A tenant network (`networks/<tenant>/<name>`). Its key lives apart, in `net/keys/<vni>`,
// which only agents read: no API answer and no log line shows it.
struct NetworkRecord {
  std::string tenant;
  std::string name;
  int64_t vni = 0;
  std::string created;
};

struct VmRecord {
  std::string id;
  std::string tenant;
  std::string name;
  std::string flavor;
  std::string image;
  std::string mode;
  std::string state;  // desired lifecycle state: scheduled (run it), stopped, failed
  std::string host;
  int64_t generation = 1;
  std::string anti_affinity;  // group name within the tenant, empty: none
  std::string affinity;
  std::string created;
  int64_t events_seq = 0;
  int64_t vcpus = 0;
  int64_t memory_mib = 0;
  int64_t disk_gib = 0;
  MigrationInfo migration;  // set only while state is `migrating`
  std::vector<VmNic> nics;  // tenant networks, eth0 first
  Resources resources() const { return {vcpus, memory_mib, disk_gib}; }
};

struct HostInfo {
  std::string name;
  std::string api;  // the agent's REST endpoint, "http://127.0.0.1:PORT"
  Resources capacity;
  std::string rack;
  std::string started;
  bool simulated = false;  // a --simulate agent: no VMMs, so moves are stop-and-restart
};

struct ObservedVm {
  std::string state;
  int64_t generation = 0;
  double cpu_load = 0;  // host CPUs' worth (1.0 = one hart busy)
  int64_t pid = 0;
};

struct HostStatusRecord {
  Resources used;
  std::map<std::string, ObservedVm> vms;
  std::string updated;
  double cpu_load = 0;  // sum of the VMs' cpu_load
};

struct HostAdmin {
  bool cordoned = false;
  bool draining = false;
};

struct Alloc {
  int64_t vcpus = 0;
  int64_t memory_mib = 0;
  int64_t disk_gib = 0;
  std::vector<std::string> vms;
  Resources resources() const { return {vcpus, memory_mib, disk_gib}; }
  void add(const std::string& id, const Resources& r);
  // Returns false when the VM was not listed (nothing changes then).
  bool remove(const std::string& id, const Resources& r);
};

// What an agent runs: the VM's full spec (enough to write its VM TOML) and its generation; a
// new generation of the same id means "restart it".
struct AssignSpec {
  std::string id;
  std::string tenant;
  std::string name;
  int64_t generation = 1;
  int64_t vcpus = 1;
  int64_t memory_mib = 64;
  int64_t disk_gib = 0;
  std::string mode = "emulate";
  std::string kernel;
  std::string initrd;
  std::string append;
  std::string bios;
  std::string disk;           // the VM's disk image path in the shared disks dir, empty: none
  std::string disk_template;  // copied to `disk` by the agent when `disk` does not exist yet
  bool incoming = false;      // live move: wait for the VM (`nimbus run --incoming`), do not boot it
  std::string migrate_to;     // live move: send the running VM to this tcp:HOST:PORT
  std::vector<VmNic> nics;    // written as {vni, mac} (the agent's spec has no network names)
};

// Written by the destination agent under its lease (incoming/<vm-id>): its VMM for this VM
// listens at `address`.
struct IncomingRecord {
  std::string host;
  int64_t generation = 0;
  std::string address;
};

// Written by the source agent under its lease (migration/<vm-id>): how sending the VM ended.
struct MigrationResult {
  std::string host;
  std::string to;  // the address it was sent to
  int64_t generation = 0;
  bool ok = false;
  std::string error;
  double downtime_ms = 0;
  double total_ms = 0;
  int64_t rounds = 0;
};

struct VmObserved {
  std::string host;
  int64_t generation = 0;
  std::string state;
  int64_t pid = 0;
  double cpu_load = 0;
  std::string console;
  std::string started;
  int64_t starts = 0;        // fresh boots of its VMM by that host's agent (0: an agent too old to say)
  std::string previous_end;  // how the run before the last start ended, as the agent saw it
};

struct Event {
  std::string time;
  std::string tenant;
  std::string vm;
  std::string host;
  std::string kind;
  std::string message;
};

struct LeaderRecord {
  std::string id;
  std::string api;
};

void to_json(nlohmann::json& j, const Resources& v);
void from_json(const nlohmann::json& j, Resources& v);
void to_json(nlohmann::json& j, const Quota& v);
void from_json(const nlohmann::json& j, Quota& v);
void to_json(nlohmann::json& j, const Flavor& v);
void from_json(const nlohmann::json& j, Flavor& v);
void to_json(nlohmann::json& j, const Image& v);
void from_json(const nlohmann::json& j, Image& v);
void to_json(nlohmann::json& j, const Tenant& v);
void from_json(const nlohmann::json& j, Tenant& v);
void to_json(nlohmann::json& j, const NetworkRecord& v);
void from_json(const nlohmann::json& j, NetworkRecord& v);
void to_json(nlohmann::json& j, const VmRecord& v);
void from_json(const nlohmann::json& j, VmRecord& v);
void to_json(nlohmann::json& j, const HostInfo& v);
void from_json(const nlohmann::json& j, HostInfo& v);
void from_json(const nlohmann::json& j, HostStatusRecord& v);
void to_json(nlohmann::json& j, const HostAdmin& v);
void from_json(const nlohmann::json& j, HostAdmin& v);
void to_json(nlohmann::json& j, const Alloc& v);
void from_json(const nlohmann::json& j, Alloc& v);
void to_json(nlohmann::json& j, const AssignSpec& v);
void from_json(const nlohmann::json& j, AssignSpec& v);
void from_json(const nlohmann::json& j, VmObserved& v);
void to_json(nlohmann::json& j, const IncomingRecord& v);
void from_json(const nlohmann::json& j, IncomingRecord& v);
void to_json(nlohmann::json& j, const MigrationResult& v);
void from_json(const nlohmann::json& j, MigrationResult& v);
void to_json(nlohmann::json& j, const Event& v);
void from_json(const nlohmann::json& j, Event& v);
void to_json(nlohmann::json& j, const LeaderRecord& v);
void from_json(const nlohmann::json& j, LeaderRecord& v);

// Parses a stored value; a malformed one gives a default-constructed record (and is logged by the
// caller), so one bad key cannot stop the controller.
template <typename T>
bool parse_record(const std::string& text, T& out) {
  try {
    out = nlohmann::json::parse(text).get<T>();
    return true;
  } catch (const std::exception&) {
    out = T{};
    return false;
  }
}
template <typename T>
std::string dump_record(const T& v) {
  return nlohmann::json(v).dump();
}

// The etcd keys of docs/cloud.md under one prefix ("/nimbus/").
struct Keys {
  std::string prefix = "/nimbus/";
  std::string hosts() const { return prefix + "hosts/"; }
  std::string host(const std::string& h) const { return hosts() + h; }
  std::string hoststatus() const { return prefix + "hoststatus/"; }
  std::string hostadmin() const { return prefix + "hostadmin/"; }
  std::string hostadmin(const std::string& h) const { return hostadmin() + h; }
  std::string allocs() const { return prefix + "alloc/"; }
  std::string alloc(const std::string& h) const { return allocs() + h; }
  std::string tenants() const { return prefix + "tenants/"; }
  std::string tenant(const std::string& t) const { return tenants() + t; }
  std::string usage(const std::string& t) const { return prefix + "usage/" + t; }
  std::string flavors() const { return prefix + "flavors/"; }
  std::string flavor(const std::string& f) const { return flavors() + f; }
  std::string images() const { return prefix + "images/"; }
  std::string image(const std::string& i) const { return images() + i; }
  std::string vms() const { return prefix + "vms/"; }
  std::string vms(const std::string& t) const { return vms() + t + "/"; }
  std::string vm(const std::string& t, const std::string& n) const { return vms(t) + n; }
  std::string assigns() const { return prefix + "assign/"; }
  std::string assign(const std::string& h, const std::string& id) const { return assigns() + h + "/" + id; }
  std::string vmstatuses() const { return prefix + "vmstatus/"; }
  std::string vmstatus(const std::string& id) const { return vmstatuses() + id; }
  std::string incomings() const { return prefix + "incoming/"; }
  std::string incoming(const std::string& id) const { return incomings() + id; }
  std::string migrations() const { return prefix + "migration/"; }
  std::string migration(const std::string& id) const { return migrations() + id; }
  std::string events() const { return prefix + "events/"; }
  std::string networks() const { return prefix + "networks/"; }
  std::string network(const std::string& t, const std::string& n) const { return networks() + t + "/" + n; }
  std::string netkey(int64_t vni) const { return prefix + "net/keys/" + std::to_string(vni); }
  std::string leader() const { return prefix + "leader"; }
  std::string admin() const { return prefix + "admin"; }
  // The last path component of a key under `dir` ("" when the key is not under it).
  static std::string tail(const std::string& key, const std::string& dir);
};

// The default flavor catalogue seeded into an empty store.
std::vector<Flavor> default_flavors();

// Time as RFC 3339 UTC with milliseconds.
std::string now_rfc3339();

} // namespace nimbus::cloud::controller

#include "cloud/controller/logic.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <fmt/format.h>

#include <set>

namespace nimbus::cloud::controller {

using nlohmann::json;

json ApiError::body() const {
  json j = details_.is_object() ? details_ : json::object();
  j["error"] = what();
  j["code"] = code_;
  return j;
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return false;
  for (char c : name)
    if (!alnum(c) && c != '-' && c != '.' && c != '_') return false;
  return true;
}

json parse_body(const std::string& body, const std::string& expected_shape) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    throw ApiError(400, "malformed_json",
                   fmt::format("malformed JSON at byte {}: send a JSON object like {}", e.byte, expected_shape),
                   json{{"expected", expected_shape}});
  } catch (const json::exception&) {
    // A number beyond a double's range ("1e999") is out_of_range, not parse_error.
    throw ApiError(400, "malformed_json",
                   fmt::format("a number in the body is out of range: send a JSON object like {}", expected_shape),
                   json{{"expected", expected_shape}});
  }
  if (!j.is_object())
    throw ApiError(400, "malformed_json", fmt::format("the body must be a JSON object like {}", expected_shape),
                   json{{"expected", expected_shape}});
  return j;
}

namespace {

void reject_unknown(const json& j, const std::set<std::string>& allowed, const std::string& shape) {
  for (const auto& [key, value] : j.items()) {
    (void)value;
    if (!allowed.count(key))
      throw ApiError(400, "unknown_field", fmt::format("unknown field '{}': send {}", key, shape), json{{"field", key}});
  }
}

std::string string_field(const json& j, const std::string& key, bool required, const std::string& shape) {
  if (!j.contains(key)) {
    if (required)
      throw ApiError(400, "missing_field", fmt::format("missing field '{}': send {}", key, shape), json{{"field", key}});
    return {};
  }
  if (!j[key].is_string())
    throw ApiError(400, "bad_field", fmt::format("field '{}' must be a string: send {}", key, shape), json{{"field", key}});
  return j[key].get<std::string>();
}

void check_name(const std::string& what, const std::string& name) {
  if (!valid_name(name))
    throw ApiError(400, "bad_name",
                   fmt::format("{} name '{}' is not valid: use 1-63 characters of a-z, 0-9, '-', '.', '_', starting with "
                               "a letter or digit",
                               what, name),
                   json{{"field", what}});
}

int64_t count_field(const json& j, const std::string& key, bool required, const std::string& shape, int64_t min = 0) {
  if (!j.contains(key)) {
    if (required)
      throw ApiError(400, "missing_field", fmt::format("missing field '{}': send {}", key, shape), json{{"field", key}});
    return 0;
  }
  if (!j[key].is_number_integer() || j[key].get<int64_t>() < min)
    throw ApiError(400, "bad_field", fmt::format("field '{}' must be an integer >= {}: send {}", key, min, shape),
                   json{{"field", key}});
  return j[key].get<int64_t>();
}

template <typename Map>
std::string names_of(const Map& m) {
  std::string out;
  for (const auto& [name, v] : m) {
    (void)v;
    out += out.empty() ? name : ", " + name;
  }
  return out;
}

template <typename Map>
json name_list(const Map& m) {
  json a = json::array();
  for (const auto& [name, v] : m) {
    (void)v;
    a.push_back(name);
  }
  return a;
}

} // namespace

CreateVmRequest parse_create_vm(const std::string& body, const std::string& token_tenant) {
  const std::string shape =
      R"({"name": "web1", "flavor": "n1.tiny", "image": "linux"}; optional: "anti_affinity" and "affinity" group names, )"
      R"("networks": ["blue", ...] (one NIC each, at most 4))" +
      std::string(token_tenant.empty() ? R"(; with the admin token also "tenant")" : "");
  const json j = parse_body(body, shape);
  reject_unknown(j, {"name", "flavor", "image", "anti_affinity", "affinity", "tenant", "networks"}, shape);
  CreateVmRequest r;
  r.name = string_field(j, "name", true, shape);
  check_name("vm", r.name);
  r.flavor = string_field(j, "flavor", true, shape);
  r.image = string_field(j, "image", true, shape);
  check_name("flavor", r.flavor);
  check_name("image", r.image);
  r.anti_affinity = string_field(j, "anti_affinity", false, shape);
  r.affinity = string_field(j, "affinity", false, shape);
  if (!r.anti_affinity.empty()) check_name("anti_affinity group", r.anti_affinity);
  if (!r.affinity.empty()) check_name("affinity group", r.affinity);
  if (auto it = j.find("networks"); it != j.end()) {
    if (!it->is_array() || it->size() > 4)
      throw ApiError(400, "bad_field", "networks must be an array of at most 4 network names: send " + shape,
                     json{{"field", "networks"}});
    for (const auto& n : *it) {
      if (!n.is_string()) throw ApiError(400, "bad_field", "networks must hold names (strings): send " + shape, json{{"field", "networks"}});
      check_name("network", n.get<std::string>());
      if (std::find(r.networks.begin(), r.networks.end(), n.get<std::string>()) != r.networks.end())
        throw ApiError(400, "bad_field", fmt::format("network '{}' is named twice (one NIC per network)", n.get<std::string>()),
                       json{{"field", "networks"}});
      r.networks.push_back(n.get<std::string>());
    }
  }
  const std::string tenant = string_field(j, "tenant", false, shape);
  if (token_tenant.empty()) {
    if (tenant.empty())
      throw ApiError(400, "missing_field", "the admin token must say which tenant owns the VM: add \"tenant\": NAME",
                     json{{"field", "tenant"}});
    check_name("tenant", tenant);   // it becomes a key segment (vms/<tenant>/<name>)
    r.tenant = tenant;
  } else {
    if (!tenant.empty() && tenant != token_tenant)
      throw ApiError(403, "forbidden", fmt::format("a token of tenant '{}' cannot create VMs for tenant '{}'", token_tenant, tenant));
    r.tenant = token_tenant;
  }
  return r;
}

CreateNetworkRequest parse_create_network(const std::string& body, const std::string& token_tenant) {
  const std::string shape =
      std::string(R"({"name": "blue"})") + (token_tenant.empty() ? R"(; with the admin token also "tenant")" : "");
  const json j = parse_body(body, shape);
  reject_unknown(j, {"name", "tenant"}, shape);
  CreateNetworkRequest r;
  r.name = string_field(j, "name", true, shape);
  check_name("network", r.name);
  const std::string tenant = string_field(j, "tenant", false, shape);
  if (token_tenant.empty()) {
    if (tenant.empty())
      throw ApiError(400, "missing_field", "the admin token must say which tenant owns the network: add \"tenant\": NAME",
                     json{{"field", "tenant"}});
    check_name("tenant", tenant);
    r.tenant = tenant;
  } else {
    if (!tenant.empty() && tenant != token_tenant)
      throw ApiError(403, "forbidden", fmt::format("a token of tenant '{}' cannot create networks for tenant '{}'", token_tenant, tenant));
    r.tenant = token_tenant;
  }
  return r;
}

std::string nic_mac(const std::string& id, std::size_t index) {
  if (id.size() < 8 || id.find_first_not_of("0123456789abcdef") != std::string::npos || index > 255) return {};
  return fmt::format("02:{:02x}:{}:{}:{}:{}", index, id.substr(0, 2), id.substr(2, 2), id.substr(4, 2), id.substr(6, 2));
}

Quota parse_quota_object(const json& q, const std::string& shape) {
  if (!q.is_object()) throw ApiError(400, "bad_field", "quota must be an object: send " + shape, json{{"field", "quota"}});
  reject_unknown(q, {"vcpus", "memory_mib", "vms", "disk_gib"}, shape);
  Quota quota;
  quota.vcpus = count_field(q, "vcpus", true, shape);
  quota.memory_mib = count_field(q, "memory_mib", true, shape);
  quota.vms = count_field(q, "vms", true, shape);
  quota.disk_gib = count_field(q, "disk_gib", true, shape);
  return quota;
}

CreateTenantRequest parse_create_tenant(const std::string& body) {
  const std::string shape = R"({"name": "acme", "quota": {"vcpus": 8, "memory_mib": 2048, "vms": 10, "disk_gib": 100}})";
  const json j = parse_body(body, shape);
  reject_unknown(j, {"name", "quota"}, shape);
  CreateTenantRequest r;
  r.name = string_field(j, "name", true, shape);
  check_name("tenant", r.name);
  if (!j.contains("quota")) throw ApiError(400, "missing_field", "missing field 'quota': send " + shape, json{{"field", "quota"}});
  r.quota = parse_quota_object(j["quota"], shape);
  return r;
}

Quota parse_quota(const std::string& body) {
  const std::string shape = R"({"vcpus": 8, "memory_mib": 2048, "vms": 10, "disk_gib": 100})";
  return parse_quota_object(parse_body(body, shape), shape);
}

Flavor parse_flavor(const std::string& body) {
  const std::string shape = R"({"name": "n2.big", "vcpus": 2, "memory_mib": 512, "disk_gib": 4})";
  const json j = parse_body(body, shape);
  reject_unknown(j, {"name", "vcpus", "memory_mib", "disk_gib"}, shape);
  Flavor f;
  f.name = string_field(j, "name", true, shape);
  check_name("flavor", f.name);
  f.vcpus = count_field(j, "vcpus", true, shape, 1);
  f.memory_mib = count_field(j, "memory_mib", true, shape, 16);
  f.disk_gib = count_field(j, "disk_gib", false, shape);
  return f;
}

Image parse_image(const std::string& body) {
  const std::string shape =
      R"({"name": "linux", "kernel": "/path/Image", "initrd": "/path/initramfs.cpio.gz", "append": "console=ttyS0", "mode": "emulate|trap|hw", "disk_template": "", "bios": ""})";
  const json j = parse_body(body, shape);
  reject_unknown(j, {"name", "kernel", "initrd", "append", "mode", "disk_template", "bios"}, shape);
  Image im;
  im.name = string_field(j, "name", true, shape);
  check_name("image", im.name);
  im.kernel = string_field(j, "kernel", true, shape);
  if (im.kernel.empty()) throw ApiError(400, "bad_field", "field 'kernel' must name the kernel image file", json{{"field", "kernel"}});
  im.initrd = string_field(j, "initrd", false, shape);
  im.append = string_field(j, "append", false, shape);
  im.disk_template = string_field(j, "disk_template", false, shape);
  im.bios = string_field(j, "bios", false, shape);
  im.mode = string_field(j, "mode", false, shape);
  if (im.mode.empty()) im.mode = "emulate";
  if (im.mode != "emulate" && im.mode != "trap" && im.mode != "hw")
    throw ApiError(400, "bad_field", fmt::format("mode '{}' is not one of emulate, trap, hw", im.mode), json{{"field", "mode"}});
  return im;
}

const Flavor& find_flavor(const std::map<std::string, Flavor>& flavors, const std::string& name, int status) {
  auto it = flavors.find(name);
  if (it == flavors.end())
    throw ApiError(status, "unknown_flavor",
                   fmt::format("unknown flavor '{}'; choose one of: {} (nimbus flavor list)", name, names_of(flavors)),
                   json{{"flavor", name}, {"choices", name_list(flavors)}});
  return it->second;
}

const Image& find_image(const std::map<std::string, Image>& images, const std::string& name, int status) {
  auto it = images.find(name);
  if (it == images.end())
    throw ApiError(status, "unknown_image",
                   fmt::format("unknown image '{}'; choose one of: {} (nimbus image list)", name,
                               images.empty() ? std::string("(none registered: nimbus image create)") : names_of(images)),
                   json{{"image", name}, {"choices", name_list(images)}});
  return it->second;
}

Usage usage_after(const Usage& usage, const Resources& r, int sign) {
  Usage u = usage;
  u.vcpus += sign * r.vcpus;
  u.memory_mib += sign * r.memory_mib;
  u.disk_gib += sign * r.disk_gib;
  u.vms += sign;
  auto clamp = [](int64_t& x) { x = x < 0 ? 0 : x; };
  clamp(u.vcpus);
  clamp(u.memory_mib);
  clamp(u.disk_gib);
  clamp(u.vms);
  return u;
}

std::optional<ApiError> check_quota(const std::string& tenant, const Quota& quota, const Usage& usage, const Resources& r) {
  const Usage after = usage_after(usage, r, +1);
  struct Dim {
    const char* name;
    int64_t used, limit, want;
  } dims[] = {{"vms", usage.vms, quota.vms, 1},
              {"vcpus", usage.vcpus, quota.vcpus, r.vcpus},
              {"memory_mib", usage.memory_mib, quota.memory_mib, r.memory_mib},
              {"disk_gib", usage.disk_gib, quota.disk_gib, r.disk_gib}};
  (void)after;
  for (const auto& d : dims) {
    if (d.used + d.want > d.limit)
      return ApiError(403, "quota_exceeded",
                      fmt::format("quota exceeded for tenant '{}': {} would be {} but the quota is {} (in use {}); delete "
                                  "VMs or ask the admin for a larger quota",
                                  tenant, d.name, d.used + d.want, d.limit, d.used),
                      json{{"quota", d.name}, {"limit", d.limit}, {"usage", d.used}, {"requested", d.want}});
  }
  return std::nullopt;
}

TxnPlan create_vm_txn(const Keys& keys, const VmRecord& rec, const AssignSpec& assign, const Alloc& alloc_after,
                      const Usage& usage_after_create, const Revisions& revs) {
  TxnPlan t;
  t.compares.push_back(etcd::Compare::absent(keys.vm(rec.tenant, rec.name)));
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.alloc(rec.host), revs.alloc));
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.usage(rec.tenant), revs.usage));
  t.ops.push_back(etcd::Op::put(keys.vm(rec.tenant, rec.name), dump_record(rec)));
  t.ops.push_back(etcd::Op::put(keys.assign(rec.host, rec.id), dump_record(assign)));
  t.ops.push_back(etcd::Op::put(keys.alloc(rec.host), dump_record(alloc_after)));
  t.ops.push_back(etcd::Op::put(keys.usage(rec.tenant), dump_record(usage_after_create)));
  return t;
}

// A batch's host allocations and tenant usages as they are after it, each written only if the
// key is still at the revision the batch was computed from (so concurrent batches never
// overcommit a host or a quota: the later one fails and is recomputed).
static void put_guarded(TxnPlan& t, const Keys& keys, const std::map<std::string, KeyAfter<Alloc>>& allocs_after,
                 const std::map<std::string, KeyAfter<Usage>>& usages_after) {
  auto guard = [&](const std::string& key, const auto& after) {
    t.compares.push_back(after.in_flight_value ? etcd::Compare::value_is(key, *after.in_flight_value)
                                               : etcd::Compare::mod_revision_is(key, after.revision));
    t.ops.push_back(etcd::Op::put(key, dump_record(after.value)));
  };
  for (const auto& [host, a] : allocs_after) guard(keys.alloc(host), a);
  for (const auto& [tenant, u] : usages_after) guard(keys.usage(tenant), u);
}

TxnPlan create_vms_txn(const Keys& keys, const std::vector<BatchedCreate>& creates,
                       const std::map<std::string, KeyAfter<Alloc>>& allocs_after,
                       const std::map<std::string, KeyAfter<Usage>>& usages_after) {
  TxnPlan t;
  for (const auto& c : creates) {
    if (!allocs_after.count(c.rec.host) || !usages_after.count(c.rec.tenant))
      throw std::invalid_argument("create_vms_txn: a create's host or tenant has no value after the batch");
    t.compares.push_back(etcd::Compare::absent(keys.vm(c.rec.tenant, c.rec.name)));
    t.ops.push_back(etcd::Op::put(keys.vm(c.rec.tenant, c.rec.name), dump_record(c.rec)));
    t.ops.push_back(etcd::Op::put(keys.assign(c.rec.host, c.rec.id), dump_record(c.assign)));
  }
  put_guarded(t, keys, allocs_after, usages_after);
  return t;
}

TxnPlan delete_vm_txn(const Keys& keys, const VmRecord& rec, int64_t rec_revision, const Alloc& alloc_after,
                      int64_t alloc_revision, const Usage& usage_after_delete, int64_t usage_revision) {
  TxnPlan t;
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.vm(rec.tenant, rec.name), rec_revision));
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.usage(rec.tenant), usage_revision));
  t.ops.push_back(etcd::Op::del(keys.vm(rec.tenant, rec.name)));
  t.ops.push_back(etcd::Op::put(keys.usage(rec.tenant), dump_record(usage_after_delete)));
  if (!rec.host.empty()) {
    t.compares.push_back(etcd::Compare::mod_revision_is(keys.alloc(rec.host), alloc_revision));
    t.ops.push_back(etcd::Op::del(keys.assign(rec.host, rec.id)));
    t.ops.push_back(etcd::Op::put(keys.alloc(rec.host), dump_record(alloc_after)));
  }
  return t;
}

TxnPlan delete_vms_txn(const Keys& keys, const std::vector<BatchedDelete>& deletes,
                       const std::map<std::string, KeyAfter<Alloc>>& allocs_after,
                       const std::map<std::string, KeyAfter<Usage>>& usages_after) {
  TxnPlan t;
  for (const auto& d : deletes) {
    const VmRecord& rec = d.rec;
    if (!usages_after.count(rec.tenant) || (!rec.host.empty() && !allocs_after.count(rec.host)))
      throw std::invalid_argument("delete_vms_txn: a delete's host or tenant has no value after the batch");
    t.compares.push_back(etcd::Compare::mod_revision_is(keys.vm(rec.tenant, rec.name), d.record_revision));
    t.ops.push_back(etcd::Op::del(keys.vm(rec.tenant, rec.name)));
    if (!rec.host.empty()) t.ops.push_back(etcd::Op::del(keys.assign(rec.host, rec.id)));
  }
  put_guarded(t, keys, allocs_after, usages_after);
  return t;
}

TxnPlan move_vms_txn(const Keys& keys, const std::vector<BatchedMove>& moves,
                     const std::map<std::string, KeyAfter<Alloc>>& allocs_after,
                     const std::set<std::string>& hosts_absent, std::vector<VmRecord>& afters) {
  TxnPlan t;
  afters.clear();
  for (const auto& m : moves) {
    const VmRecord& rec = m.before;
    if (m.to.empty() || m.to == rec.host) throw std::invalid_argument("move_vms_txn: the target host is empty or the VM's own");
    if (!allocs_after.count(rec.host) || !allocs_after.count(m.to))
      throw std::invalid_argument("move_vms_txn: a move's host has no alloc value after the batch");
    VmRecord after = rec;
    after.host = m.to;
    after.generation = rec.generation + 1;
    after.state = m.new_state;
    t.compares.push_back(etcd::Compare::mod_revision_is(keys.vm(rec.tenant, rec.name), m.record_revision));
    t.ops.push_back(etcd::Op::del(keys.assign(rec.host, rec.id)));
    if (after.state != vm_state::kStopped) {
      AssignSpec assign = m.assign;
      assign.generation = after.generation;
      t.ops.push_back(etcd::Op::put(keys.assign(m.to, rec.id), dump_record(assign)));
    }
    t.ops.push_back(etcd::Op::put(keys.vm(rec.tenant, rec.name), dump_record(after)));
    afters.push_back(std::move(after));
  }
  for (const auto& [host, a] : allocs_after) {
    t.compares.push_back(etcd::Compare::mod_revision_is(keys.alloc(host), a.revision));
    t.ops.push_back(etcd::Op::put(keys.alloc(host), dump_record(a.value)));
  }
  for (const auto& host : hosts_absent) t.compares.push_back(etcd::Compare::absent(keys.host(host)));
  return t;
}

TxnPlan move_vm_txn(const Keys& keys, const MoveTxnInput& in, VmRecord& after) {
  TxnPlan t;
  const VmRecord& rec = in.before;
  if (in.to.empty() || in.to == rec.host) throw std::invalid_argument("move_vm_txn: the target host is empty or the VM's own");
  after = rec;
  after.host = in.to;
  after.generation = rec.generation + 1;
  after.state = in.new_state;
  AssignSpec assign = in.assign;
  assign.generation = after.generation;
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.vm(rec.tenant, rec.name), in.record_revision));
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.alloc(rec.host), in.from_alloc_revision));
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.alloc(in.to), in.to_alloc_revision));
  if (in.require_old_host_absent) t.compares.push_back(etcd::Compare::absent(keys.host(rec.host)));
  t.ops.push_back(etcd::Op::del(keys.assign(rec.host, rec.id)));
  t.ops.push_back(etcd::Op::put(keys.assign(in.to, rec.id), dump_record(assign)));
  t.ops.push_back(etcd::Op::put(keys.vm(rec.tenant, rec.name), dump_record(after)));
  t.ops.push_back(etcd::Op::put(keys.alloc(rec.host), dump_record(in.from_alloc_after)));
  t.ops.push_back(etcd::Op::put(keys.alloc(in.to), dump_record(in.to_alloc_after)));
  return t;
}

AssignSpec make_assign(const VmRecord& rec, const Image& image, const std::string& disks_dir) {
  AssignSpec a;
  a.id = rec.id;
  a.tenant = rec.tenant;
  a.name = rec.name;
  a.generation = rec.generation;
  a.vcpus = rec.vcpus;
  a.memory_mib = rec.memory_mib;
  a.disk_gib = rec.disk_gib;
  a.mode = rec.mode.empty() ? image.mode : rec.mode;
  a.kernel = image.kernel;
  a.initrd = image.initrd;
  a.append = image.append;
  a.bios = image.bios;
  if (!image.disk_template.empty() && !disks_dir.empty()) {
    a.disk = disks_dir + "/" + rec.id + ".img";
    a.disk_template = image.disk_template;
  }
  a.nics = rec.nics;
  return a;
}

std::string sha256_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < length; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(bytes)) != 1) throw std::runtime_error("no random bytes from OpenSSL");
  std::string out;
  for (unsigned char b : buf) out += fmt::format("{:02x}", b);
  return out;
}

bool restarted_in_place(const VmObserved& before, const VmObserved& after) {
  return before.starts > 0 && after.starts > before.starts && before.host == after.host &&
         before.generation == after.generation;
}

} // namespace nimbus::cloud::controller

#pragma once
// The controller's pure decisions, testable without etcd: request validation, quota arithmetic,
// and turning a placement decision into the one etcd transaction that commits it.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloud/controller/model.hpp"
#include "cloud/etcd/etcd_client.hpp"

namespace nimbus::cloud::controller {

// An answer the REST API turns into `status` and {"error": message, "code": code, ...details}.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, const std::string& message, nlohmann::json details = nlohmann::json::object())
      : std::runtime_error(message), status_(status), code_(std::move(code)), details_(std::move(details)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }
  const nlohmann::json& details() const { return details_; }
  nlohmann::json body() const;

 private:
  int status_;
  std::string code_;
  nlohmann::json details_;
};

// The VM was booted afresh where it ran, by its agent and not at the controller's request: same
// host, same generation, a higher start count (self-fencing restarted it, say). The first report
// of a VM, a move and a new generation (the controller's own start, stop, reboot) are not.
bool restarted_in_place(const VmObserved& before, const VmObserved& after);

// Names of tenants, VMs, flavors, images, groups: 1-63 of [a-z0-9._-], starting alphanumeric.
bool valid_name(const std::string& name);

// Parses a JSON request body into an object; 400 naming the position and the expected shape.
nlohmann::json parse_body(const std::string& body, const std::string& expected_shape);

struct CreateVmRequest {
  std::string tenant;  // from the token; an admin names it in the body
  std::string name;
  std::string flavor;
  std::string image;
  std::string anti_affinity;
  std::string affinity;
  std::vector<std::string> networks;  // tenant networks, one NIC each (eth0 first)
};
// `token_tenant` empty means the admin token. Throws ApiError (400) naming what is wrong.
CreateVmRequest parse_create_vm(const std::string& body, const std::string& token_tenant);

// POST /v1/networks: {"name": "blue"} (the admin adds "tenant"). Throws ApiError (400/403).
struct CreateNetworkRequest {
  std::string tenant;
  std::string name;
};
CreateNetworkRequest parse_create_network(const std::string& body, const std::string& token_tenant);
// The MAC of NIC `index` of VM `id` (at least 8 hex digits): 02 (locally administered,
// unicast), the index, then the id's first 4 bytes; the controller draws ids whose first 4
// bytes no other VM has, so MACs are unique. Empty for other ids.
std::string nic_mac(const std::string& id, std::size_t index);

struct CreateTenantRequest {
  std::string name;
  Quota quota;
};
CreateTenantRequest parse_create_tenant(const std::string& body);
Quota parse_quota(const std::string& body);
Flavor parse_flavor(const std::string& body);
Image parse_image(const std::string& body);

// Finds a flavor or image by name; 400 (`status`) naming it and listing the choices.
const Flavor& find_flavor(const std::map<std::string, Flavor>& flavors, const std::string& name, int status = 400);
const Image& find_image(const std::map<std::string, Image>& images, const std::string& name, int status = 400);

// Usage after adding (sign +1) or removing (-1) one VM of `r`.
Usage usage_after(const Usage& usage, const Resources& r, int sign);
// nullopt when the VM fits the quota; else the 403 naming the first quota it breaks.
std::optional<ApiError> check_quota(const std::string& tenant, const Quota& quota, const Usage& usage, const Resources& r);

// A transaction: every compare must hold for the ops to apply.
struct TxnPlan {
  std::vector<etcd::Compare> compares;
  std::vector<etcd::Op> ops;
};

// Revisions the decision was made from (0: the key was absent).
struct Revisions {
  int64_t alloc = 0;
  int64_t usage = 0;
};

// Commits a new VM on `rec.host`: alloc/<host> and usage/<tenant> unchanged since read, the name
// still free; puts the record, the assignment, the new alloc and usage, and the event.
TxnPlan create_vm_txn(const Keys& keys, const VmRecord& rec, const AssignSpec& assign, const Alloc& alloc_after,
                      const Usage& usage_after_create, const Revisions& revs);

// Several creates decided one after another on the same cache (group commit), committed in ONE
// transaction: every alloc/<host> and usage/<tenant> they touch unchanged since it was read
// (one compare per key, revision 0 = absent), every name still free; each such key is put once
// with its value after all of them, plus each VM's record and assignment. All or none apply, so
// each decision is still guarded exactly as create_vm_txn guards a single one.
struct BatchedCreate {
  VmRecord rec;  // rec.host set
  AssignSpec assign;
};
template <typename T>
struct KeyAfter {
  T value;               // the value after every create of the batch
  int64_t revision = 0;  // the mod revision it was read at (0: absent)
  // Set when a batch still in flight puts this key: its revision after that batch is unknown, so
  // the transaction compares the value that batch puts instead (the whole state of an alloc or a
  // usage is its value, so equal values mean the same VMs and the same usage).
  std::optional<std::string> in_flight_value;
};
TxnPlan create_vms_txn(const Keys& keys, const std::vector<BatchedCreate>& creates,
                       const std::map<std::string, KeyAfter<Alloc>>& allocs_after,
                       const std::map<std::string, KeyAfter<Usage>>& usages_after);

// Deletes a VM: record unchanged, alloc and usage unchanged since read.
TxnPlan delete_vm_txn(const Keys& keys, const VmRecord& rec, int64_t rec_revision, const Alloc& alloc_after,
                      int64_t alloc_revision, const Usage& usage_after_delete, int64_t usage_revision);

// Several deletes decided on the same cache (group commit), committed in ONE transaction: each
// VM's record unchanged since read, each alloc/<host> and usage/<tenant> touched compared once at
// its read revision and put once with its value after every delete; per VM the record and its
// assignment are deleted. All or none apply, each delete guarded exactly as delete_vm_txn's.
struct BatchedDelete {
  VmRecord rec;
  int64_t record_revision = 0;
};
TxnPlan delete_vms_txn(const Keys& keys, const std::vector<BatchedDelete>& deletes,
                       const std::map<std::string, KeyAfter<Alloc>>& allocs_after,
                       const std::map<std::string, KeyAfter<Usage>>& usages_after);

struct MoveTxnInput {
  VmRecord before;           // the record as read
  int64_t record_revision = 0;
  std::string to;            // target host
  Alloc from_alloc_after;    // alloc of before.host without the VM
  int64_t from_alloc_revision = 0;
  Alloc to_alloc_after;      // alloc of `to` with the VM
  int64_t to_alloc_revision = 0;
  AssignSpec assign;         // the spec to run on `to` (its generation is overwritten)
  bool require_old_host_absent = false;  // host loss: only while hosts/<old> is gone
  std::string new_state = vm_state::kScheduled;
};
// Moves a VM (stop-and-restart): deletes assign/<old>/<id>, puts assign/<new>/<id> and the
// record with generation + 1, updates both allocs. Returns the new record in `after`.
TxnPlan move_vm_txn(const Keys& keys, const MoveTxnInput& in, VmRecord& after);

// Several moves off lost hosts in ONE transaction (evacuation in batches): each VM's record
// unchanged since read, each alloc touched compared once at its read revision and put once with
// its value after every move, each lost host compared absent. Per VM: the old assignment
// deleted, the new one put (not for a stopped VM: it moves on paper only), the record put with
// generation + 1 and state `new_state`. `afters` receives the new records, in order.
struct BatchedMove {
  VmRecord before;
  int64_t record_revision = 0;
  std::string to;
  AssignSpec assign;  // generation overwritten
  std::string new_state = vm_state::kScheduled;
};
TxnPlan move_vms_txn(const Keys& keys, const std::vector<BatchedMove>& moves,
                     const std::map<std::string, KeyAfter<Alloc>>& allocs_after,
                     const std::set<std::string>& hosts_absent, std::vector<VmRecord>& afters);

// The assignment for a VM record and its image; `disks_dir` holds the VMs' disks.
AssignSpec make_assign(const VmRecord& rec, const Image& image, const std::string& disks_dir);

// A hex SHA-256 of `text` (tokens are stored only as this).
std::string sha256_hex(const std::string& text);
// `bytes` random bytes from the OS as hex.
std::string random_hex(std::size_t bytes);

} // namespace nimbus::cloud::controller

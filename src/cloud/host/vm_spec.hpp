#pragma once
// What a host agent runs: a VM's spec, as the controller writes it to `assign/<host>/<vm-id>`
// and as `PUT /v1/vms/{id}` takes it (JSON), checked field by field with precise errors, and
// turned into the VM TOML that `nimbus run --vm` reads.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "machine/devices/virtio_net.hpp"

namespace nimbus::cloud::host {

// A spec the agent refuses; the text names the field and says what is wrong with it.
class SpecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A NIC on a tenant network (docs/cloud.md, "Tenant networks"), as the controller assigns it:
// the network's VNI (1..2^24-1) and the MAC. JSON: {"vni": N, "mac": "02:00:..."}.
struct NetNic {
  uint32_t vni = 0;
  machine::MacAddress mac{};
  bool operator==(const NetNic&) const = default;
};

struct VmSpec {
  std::string id;        // [A-Za-z0-9._-]{1,63}, not starting with '.' or '-': also the VMM's VM name
  std::string tenant;    // informational
  std::string name;      // the tenant's name for it, informational
  int64_t generation = 1;
  int64_t vcpus = 1;           // 1..64
  int64_t memory_mib = 128;    // 16..1048576
  int64_t disk_gib = 0;        // the size the placement counted (informational for the agent)
  std::string mode = "emulate";  // emulate | trap | hw
  std::string kernel;          // required (absolute path on this host)
  std::string initrd;
  std::string append;
  std::string bios;            // accepted for the image format; the VMM is the VM's firmware
  std::string disk;            // absolute path of the VM's disk, empty: none
  std::string disk_template;   // copied (sparse) to `disk` when `disk` does not exist yet
  int64_t weight = 100;        // scheduler weight 1..10000
  int64_t cap = 0;             // percent of one host hart, 0 = none
  std::string state = "running";  // desired state for API-created VMs: running | stopped
  // Live migration (docs/cloud.md, "Moves"): `incoming` starts a VMM that waits for this VM to
  // arrive (`nimbus run --incoming`) instead of booting it; `migrate_to`, on the running copy's
  // assignment, asks the agent to send it there (`nimbus migrate --to tcp:HOST:PORT`).
  bool incoming = false;
  std::string migrate_to;
  std::vector<NetNic> nics;    // at most 4; eth0 first

  bool operator==(const VmSpec&) const = default;
};

// Parses and checks a spec. `path_id`, when not empty, is the id from the URL or the etcd key:
// the body's `id` may be left out, but if present must equal it. Unknown fields are refused (a
// misspelt field would otherwise silently do nothing).
VmSpec parse_vm_spec(const nlohmann::json& j, const std::string& path_id = {});
// The same from text: a JSON syntax error names the line and column.
VmSpec parse_vm_spec_text(const std::string& text, const std::string& path_id = {});

nlohmann::json vm_spec_to_json(const VmSpec& spec);

// "tcp:HOST:PORT" with a port 1..65535 and a host of letters, digits, '.', '-', ':' (IPv6 in
// brackets) or an error saying what is wrong; `field` names it in the message.
void check_tcp_address(const char* field, const std::string& address);

// True for a valid VM id / VMM name.
bool valid_vm_id(const std::string& id);

// The VM TOML for `nimbus run --vm` (name = the id). Strings are escaped for TOML. Each NIC is a
// [[net]] table on network "vni-<N>" (host_network.hpp) with its MAC.
std::string vm_toml(const VmSpec& spec);

} // namespace nimbus::cloud::host

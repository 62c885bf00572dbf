// Fuzz target: the cloud API's request bodies and stored records, as the controller and the
// host agent parse them (src/cloud/controller/logic.cpp, model.cpp; src/cloud/host/vm_spec.cpp).
//
// The first byte picks the parser; the rest is the body. Beyond "no crash":
//  - a request parser either returns a request whose names are valid, or throws ApiError with a
//    4xx status and an {"error", "code"} body; no other exception escapes (a nlohmann type error
//    leaking out would be a 500 for a client mistake);
//  - a VM spec (PUT /v1/vms/{id}, assign/<host>/<id>) either throws SpecError, or round-trips
//    through vm_spec_to_json unchanged, and the VM TOML the agent writes from it is read back by
//    the VMM's own parser (parse_vm_config) with the same name, sizes, paths and command line
//    (nothing in a spec can inject TOML keys);
//  - a stored etcd record either fails to parse (parse_record false) or dumps to JSON that parses
//    back to the same dump.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "cloud/controller/logic.hpp"
#include "cloud/controller/model.hpp"
#include "cloud/host/vm_spec.hpp"
#include "fuzz_support.hpp"
#include "hypervisor/vm_config.hpp"

namespace ctl = nimbus::cloud::controller;
namespace host = nimbus::cloud::host;

namespace {

void check_api_error(const ctl::ApiError& e) {
  FUZZ_CHECK(e.status() >= 400 && e.status() < 500);
  FUZZ_CHECK(!e.code().empty());
  const nlohmann::json body = e.body();
  FUZZ_CHECK(body.is_object() && body.contains("error") && body.contains("code"));
}

template <typename Parse>
void request(Parse parse) {
  try {
    parse();
  } catch (const ctl::ApiError& e) {
    check_api_error(e);
  }
}

void vm_spec(const std::string& body, const std::string& path_id) {
  host::VmSpec spec;
  try {
    spec = host::parse_vm_spec_text(body, path_id);
  } catch (const host::SpecError&) {
    return;
  }
  FUZZ_CHECK(host::valid_vm_id(spec.id));
  FUZZ_CHECK(path_id.empty() || spec.id == path_id);
  FUZZ_CHECK(host::parse_vm_spec(host::vm_spec_to_json(spec), path_id) == spec);

  const std::string toml = host::vm_toml(spec);
  nimbus::hypervisor::VmConfig config;
  try {
    config = nimbus::hypervisor::parse_vm_config(toml, "agent.toml");
  } catch (const nimbus::hypervisor::ConfigError& e) {
    std::fprintf(stderr, "the agent's TOML for an accepted spec is refused by the VMM: %s\n%s\n", e.what(),
                 toml.c_str());
    FUZZ_CHECK(false);
  }
  FUZZ_CHECK(config.name == spec.id);
  FUZZ_CHECK(config.vcpus == static_cast<uint64_t>(spec.vcpus));
  FUZZ_CHECK(config.memory_bytes == static_cast<uint64_t>(spec.memory_mib) << 20);
  FUZZ_CHECK(std::string(nimbus::hypervisor::to_string(config.mode)) == spec.mode);
  FUZZ_CHECK(config.kernel == spec.kernel && config.initrd == spec.initrd && config.append == spec.append);
  FUZZ_CHECK(config.disk == spec.disk && !config.disk_read_only);
  FUZZ_CHECK(config.weight == static_cast<uint64_t>(spec.weight) && config.cap_percent == static_cast<uint64_t>(spec.cap));
  FUZZ_CHECK(config.bios == "vmm" && config.reservation_percent == 0);
}

template <typename T>
void record(const std::string& text) {
  T value;
  if (!ctl::parse_record(text, value)) return;
  const std::string dumped = ctl::dump_record(value);
  T again;
  FUZZ_CHECK(ctl::parse_record(dumped, again));
  FUZZ_CHECK(ctl::dump_record(again) == dumped);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 16) {
  case 0:
  case 1:
    request([&] {
      const std::string token_tenant = data[0] % 16 == 0 ? "" : "acme";
      const ctl::CreateVmRequest r = ctl::parse_create_vm(body, token_tenant);
      FUZZ_CHECK(ctl::valid_name(r.name) && ctl::valid_name(r.flavor) && ctl::valid_name(r.image));
      FUZZ_CHECK(ctl::valid_name(r.tenant));
      FUZZ_CHECK(token_tenant.empty() || r.tenant == token_tenant);
      FUZZ_CHECK(r.affinity.empty() || ctl::valid_name(r.affinity));
      FUZZ_CHECK(r.anti_affinity.empty() || ctl::valid_name(r.anti_affinity));
    });
    break;
  case 2:
    request([&] { FUZZ_CHECK(ctl::valid_name(ctl::parse_create_tenant(body).name)); });
    break;
  case 3: request([&] { ctl::parse_quota(body); }); break;
  case 4: request([&] { FUZZ_CHECK(ctl::valid_name(ctl::parse_flavor(body).name)); }); break;
  case 5: request([&] { FUZZ_CHECK(ctl::valid_name(ctl::parse_image(body).name)); }); break;
  case 6: vm_spec(body, ""); break;
  case 7: vm_spec(body, "vm-1"); break;
  case 8: record<ctl::VmRecord>(body); break;
  case 9: record<ctl::HostInfo>(body); break;
  case 10: record<ctl::Alloc>(body); break;
  case 11: record<ctl::AssignSpec>(body); break;
  case 12: record<ctl::Tenant>(body); break;
  case 13: record<ctl::Event>(body); break;
  case 14: record<ctl::HostAdmin>(body); break;
  default: record<ctl::Flavor>(body); break;
  }
  return 0;
}

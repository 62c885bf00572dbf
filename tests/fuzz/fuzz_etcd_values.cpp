// Fuzz target: what the controller and the host agent read back from etcd
// (src/cloud/controller/model.cpp): every stored record type and the arithmetic the controller
// does on decoded records. (etcd's own replies arrive as protobuf through gRPC, decoded by
// protobuf, not by us.) Anyone who can write to etcd (or answer in its place) controls these bytes;
// a hostile value must cost the controller one ignored record, never the process.
//
// The first byte picks what is decoded; the rest is the value. Beyond "no crash, no undefined
// behaviour":
//  - parse_record() never throws; a record it accepts dumps to JSON that parses back to the same
//    dump (for the types the controller also writes);
//  - a host, its alloc and a VM decoded together (three values separated by a NUL byte) go
//    through what the controller computes from them (the VM added to and removed from the alloc,
//    what is left of the host, fits_in, the next generation and event number) without overflow,
//    and removing the VM gives the alloc back.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cloud/controller/model.hpp"
#include "fuzz_support.hpp"

namespace ctl = nimbus::cloud::controller;

namespace {

template <typename T>
bool decode(const std::string& text, T& value) {
  return ctl::parse_record(text, value);  // never throws: a bad value is the default record
}

template <typename T>
void round_trip(const std::string& text) {
  T value;
  if (!decode(text, value)) return;
  const std::string dumped = ctl::dump_record(value);
  T again;
  FUZZ_CHECK(decode(dumped, again));
  FUZZ_CHECK(ctl::dump_record(again) == dumped);
}

template <typename T>
void parse_only(const std::string& text) {
  T value;
  decode(text, value);
}

// What the controller derives from a host, its alloc and one VM (controller.cpp, logic.cpp).
void host_alloc_vm(const std::string& text) {
  const size_t a = text.find('\0');
  const size_t b = a == std::string::npos ? std::string::npos : text.find('\0', a + 1);
  if (b == std::string::npos) return;
  ctl::HostInfo host;
  ctl::Alloc alloc;
  ctl::VmRecord vm;
  decode(text.substr(0, a), host);
  decode(text.substr(a + 1, b - a - 1), alloc);
  decode(text.substr(b + 1), vm);
  const ctl::Alloc before = alloc;
  const bool listed = std::find(alloc.vms.begin(), alloc.vms.end(), vm.id) != alloc.vms.end();
  const ctl::Resources free_before = host.capacity - alloc.resources();
  const bool fits = (alloc.resources() + vm.resources()).fits_in(host.capacity);
  (void)free_before;
  (void)fits;
  alloc.add(vm.id, vm.resources());
  const ctl::Resources free_after = host.capacity - alloc.resources();
  (void)free_after;
  FUZZ_CHECK(alloc.remove(vm.id, vm.resources()));
  if (!listed && before.vcpus >= 0 && before.memory_mib >= 0 && before.disk_gib >= 0 && vm.vcpus >= 0 &&
      vm.memory_mib >= 0 && vm.disk_gib >= 0) {
    FUZZ_CHECK(alloc.vms == before.vms);
    FUZZ_CHECK(alloc.resources() == before.resources());
  }
  const int64_t next_generation = vm.generation + 1;
  const int64_t next_event = vm.events_seq + 1;
  (void)next_generation;
  (void)next_event;
  ctl::HostStatusRecord status;
  decode(text.substr(b + 1), status);
  const ctl::Resources left = host.capacity - status.used;
  (void)left;
}

void write_seeds() {
  using nimbus::fuzz::write_seed;
  ctl::VmRecord vm;
  vm.id = "acme-web1-1";
  vm.tenant = "acme";
  vm.name = "web1";
  vm.flavor = "n1.small";
  vm.image = "linux";
  vm.mode = "trap";
  vm.state = "running";
  vm.host = "h1";
  vm.generation = 3;
  vm.anti_affinity = "web";
  vm.created = "2026-12-03T12:00:00.000Z";
  vm.events_seq = 7;
  vm.vcpus = 1;
  vm.memory_mib = 128;
  vm.disk_gib = 2;
  vm.migration = {"h2", "tcp:10.0.0.2:7000", "drain of h1", "2026-12-03T12:01:00.000Z"};
  ctl::HostInfo host{"h1", "http://127.0.0.1:9001", {8, 4096, 100}, "r1", "2026-12-03T11:00:00.000Z", false};
  ctl::Alloc alloc;
  alloc.add("acme-web0-1", {2, 256, 4});
  ctl::AssignSpec assign;
  assign.id = vm.id;
  assign.tenant = "acme";
  assign.name = "web1";
  assign.kernel = "/img/Image";
  assign.disk = "/disks/acme-web1-1.img";
  assign.migrate_to = "tcp:10.0.0.2:7000";
  ctl::Tenant tenant{"acme", {8, 4096, 10, 100}, std::string(64, 'a'), "2026-12-03T10:00:00.000Z"};
  ctl::MigrationResult moved{"h1", "tcp:10.0.0.2:7000", 3, true, "", 12.5, 340.0, 4};
  const std::string status =
      R"({"used":{"vcpus":2,"memory_mib":256,"disk_gib":4},"updated":"2026-12-03T12:00:00.000Z",)"
      R"("vms":{"acme-web1-1":{"state":"running","generation":3,"cpu_load":0.25,"pid":4242}}})";
  const std::string observed =
      R"({"host":"h1","generation":3,"state":"running","pid":4242,"cpu_load":0.5,"console":"/run/c.sock","started":"2026-12-03T12:00:00.000Z"})";
  // Byte 0 is the selector of LLVMFuzzerTestOneInput.
  write_seed("vm", std::string(1, '\x00') + ctl::dump_record(vm));
  write_seed("host", std::string(1, '\x01') + ctl::dump_record(host));
  write_seed("hoststatus", std::string(1, '\x02') + status);
  write_seed("hostadmin", std::string(1, '\x03') + ctl::dump_record(ctl::HostAdmin{true, false}));
  write_seed("alloc", std::string(1, '\x04') + ctl::dump_record(alloc));
  write_seed("assign", std::string(1, '\x05') + ctl::dump_record(assign));
  write_seed("tenant", std::string(1, '\x06') + ctl::dump_record(tenant));
  write_seed("usage", std::string(1, '\x07') + ctl::dump_record(ctl::Usage{2, 256, 1, 4}));
  write_seed("flavor", std::string(1, '\x08') + ctl::dump_record(ctl::default_flavors().front()));
  write_seed("image", std::string(1, '\x09') + ctl::dump_record(ctl::Image{"linux", "/img/Image", "/img/initrd", "console=ttyS0", "", "trap", ""}));
  write_seed("incoming", std::string(1, '\x0a') + ctl::dump_record(ctl::IncomingRecord{"h2", 3, "tcp:10.0.0.2:7000"}));
  write_seed("migration", std::string(1, '\x0b') + ctl::dump_record(moved));
  write_seed("vmstatus", std::string(1, '\x0c') + observed);
  write_seed("event", std::string(1, '\x0d') + ctl::dump_record(ctl::Event{"2026-12-03T12:00:00.000Z", "acme", vm.id, "h1", "created", "placed on h1"}));
  write_seed("leader", std::string(1, '\x0e') + ctl::dump_record(ctl::LeaderRecord{"ctl-1", "http://127.0.0.1:8080"}));
  write_seed("host_alloc_vm", std::string(1, '\x0f') + ctl::dump_record(host) + '\0' + ctl::dump_record(alloc) + '\0' +
                                  ctl::dump_record(vm));
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (nimbus::fuzz::seed_dir()) {
    write_seeds();
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string value(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 16) {
  case 0: round_trip<ctl::VmRecord>(value); break;
  case 1: round_trip<ctl::HostInfo>(value); break;
  case 2: parse_only<ctl::HostStatusRecord>(value); break;
  case 3: round_trip<ctl::HostAdmin>(value); break;
  case 4: round_trip<ctl::Alloc>(value); break;
  case 5: round_trip<ctl::AssignSpec>(value); break;
  case 6: round_trip<ctl::Tenant>(value); break;
  case 7: round_trip<ctl::Usage>(value); break;
  case 8: round_trip<ctl::Flavor>(value); break;
  case 9: round_trip<ctl::Image>(value); break;
  case 10: round_trip<ctl::IncomingRecord>(value); break;
  case 11: round_trip<ctl::MigrationResult>(value); break;
  case 12: parse_only<ctl::VmObserved>(value); break;
  case 13: round_trip<ctl::Event>(value); break;
  case 14: round_trip<ctl::LeaderRecord>(value); break;
  default: host_alloc_vm(value); break;
  }
  return 0;
}

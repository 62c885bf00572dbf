// Fuzz target: the device-tree builder (machine/device_tree.*) on the inputs a user controls:
// the kernel command line (--append, VM `append`), the RAM size (--mem), the hart count (--smp),
// where the initrd went, and which virtio slots and optional devices the board has.
//
// Beyond "no crash": build_device_tree either throws std::runtime_error (a libfdt failure or an
// impossible spec, with a message), or returns a blob that libfdt accepts (fdt_check_header) and
// that says exactly what the spec said: the command line byte for byte, the memory node's base
// and size, one cpu node per hart, the initrd range, one virtio-mmio node per slot.
#include <libfdt.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "machine/device_tree.hpp"

using namespace nimbus::machine;

namespace {

uint64_t be64(const void* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<const uint8_t*>(p)[i];
  return v;
}

int count_nodes(const void* fdt, int parent, const char* prefix) {
  int n = 0;
  int child;
  fdt_for_each_subnode(child, fdt, parent) {
    const char* name = fdt_get_name(fdt, child, nullptr);
    if (name && std::strncmp(name, prefix, std::strlen(prefix)) == 0) ++n;
  }
  return n;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nimbus::fuzz::ByteReader in(data, size);
  DeviceTreeSpec spec;
  spec.ram_size = in.u64();
  spec.harts = in.u16() % 600; // up to past the board's 512 (the builder itself must cope)
  const uint8_t flags = in.u8();
  spec.rtc = flags & 1;
  spec.test_finisher = flags & 2;
  if (flags & 4) spec.initrd = DeviceTreeSpec::Range{in.u64(), in.u64()};
  const uint8_t slots = in.u8();
  for (unsigned s = 0; s < 8; ++s)
    if (slots >> s & 1) spec.virtio_slots.push_back(s);
  if (flags & 8) spec.virtio_slots.push_back(8 + in.u8() % 8); // a slot that does not exist
  const std::vector<uint8_t> rest = in.bytes(in.remaining());
  spec.bootargs.assign(rest.begin(), rest.end());

  std::vector<uint8_t> blob;
  try {
    blob = build_device_tree(spec);
  } catch (const std::runtime_error& e) {
    FUZZ_CHECK(std::strncmp(e.what(), "device tree: ", 13) == 0);
    return 0;
  }
  FUZZ_CHECK(spec.harts > 0);
  const void* fdt = blob.data();
  FUZZ_CHECK(blob.size() >= sizeof(fdt_header) && fdt_check_header(fdt) == 0 && fdt_totalsize(fdt) <= blob.size());

  const int chosen = fdt_path_offset(fdt, "/chosen");
  FUZZ_CHECK(chosen >= 0);
  int len = 0;
  const void* bootargs = fdt_getprop(fdt, chosen, "bootargs", &len);
  if (spec.bootargs.empty()) {
    FUZZ_CHECK(bootargs == nullptr);
  } else {
    FUZZ_CHECK(bootargs != nullptr && static_cast<size_t>(len) == spec.bootargs.size() + 1);
    FUZZ_CHECK(std::memcmp(bootargs, spec.bootargs.data(), spec.bootargs.size()) == 0);
  }
  if (spec.initrd) {
    const void* start = fdt_getprop(fdt, chosen, "linux,initrd-start", &len);
    FUZZ_CHECK(start && len == 8 && be64(start) == spec.initrd->start);
    const void* end = fdt_getprop(fdt, chosen, "linux,initrd-end", &len);
    FUZZ_CHECK(end && len == 8 && be64(end) == spec.initrd->end);
  }

  const int memory = fdt_path_offset(fdt, "/memory@80000000");
  FUZZ_CHECK(memory >= 0);
  const void* reg = fdt_getprop(fdt, memory, "reg", &len);
  FUZZ_CHECK(reg && len == 16);
  FUZZ_CHECK(be64(reg) == spec.ram_base && be64(static_cast<const uint8_t*>(reg) + 8) == spec.ram_size);

  const int cpus = fdt_path_offset(fdt, "/cpus");
  FUZZ_CHECK(cpus >= 0 && count_nodes(fdt, cpus, "cpu@") == static_cast<int>(spec.harts));
  FUZZ_CHECK(count_nodes(fdt, 0, "virtio_mmio@") + count_nodes(fdt, fdt_path_offset(fdt, "/soc"), "virtio_mmio@") ==
             static_cast<int>(spec.virtio_slots.size()));
  return 0;
}

// balloon = true and virtio_console = true in a VM's TOML file, and in the VMCF section that
// snapshots and migration carry (an older section without them decodes as "neither").
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hypervisor/vm_config.hpp"
#include "hypervisor/vm_snapshot.hpp"

namespace nimbus::hypervisor {
namespace {

using ::testing::HasSubstr;

const std::string kBase = "name = \"a\"\nmemory = \"256M\"\nkernel = \"Image\"\n";

TEST(VmConfigBalloon, KeysAreOffByDefaultAndParsed) {
  const VmConfig plain = parse_vm_config(kBase, "vm.toml");
  EXPECT_FALSE(plain.balloon);
  EXPECT_FALSE(plain.virtio_console);
  const VmConfig both = parse_vm_config(kBase + "balloon = true\nvirtio_console = true\n", "vm.toml");
  EXPECT_TRUE(both.balloon);
  EXPECT_TRUE(both.virtio_console);
  try {
    parse_vm_config(kBase + "balloon = \"yes\"\n", "vm.toml");
    FAIL() << "a string for balloon was accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("balloon"));
  }
}

TEST(VmConfigBalloon, VmcfCarriesTheDevicesAndOldSectionsDecode) {
  VmConfig c = parse_vm_config(kBase + "balloon = true\nvirtio_console = true\n", "vm.toml");
  const VmConfig back = decode_config(encode_config(c));
  EXPECT_TRUE(back.balloon);
  EXPECT_TRUE(back.virtio_console);
  // The version-2 tail is the interfaces (here none: a u32 count of 0), then the two flags. A
  // section written before the tail existed is the same bytes without those 4 + 2.
  machine::snapshot::Section old = encode_config(c);
  old.payload.resize(old.payload.size() - 6);
  const VmConfig from_old = decode_config(old);
  EXPECT_FALSE(from_old.balloon);
  EXPECT_FALSE(from_old.virtio_console);
  // A tail with the interfaces only (a version-2 section of a VM with NICs) has no devices.
  machine::snapshot::Section nics_only = encode_config(c);
  nics_only.payload.resize(nics_only.payload.size() - 2);
  EXPECT_FALSE(decode_config(nics_only).balloon);
  // A VM with neither device nor interface writes exactly that older section (older VMMs read it),
  // and is saved as format version 1.
  c.balloon = c.virtio_console = false;
  EXPECT_EQ(encode_config(c).payload, old.payload);
  EXPECT_EQ(snapshot_format_version(c), 1u);
  c.balloon = true;
  EXPECT_EQ(snapshot_format_version(c), 2u);
}

} // namespace
} // namespace nimbus::hypervisor

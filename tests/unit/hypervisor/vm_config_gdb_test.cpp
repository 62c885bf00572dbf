// The gdb stub's keys in a VM's TOML file (docs/gdb.md).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "hypervisor/vm_config.hpp"

namespace nimbus::hypervisor {
namespace {

using ::testing::HasSubstr;

constexpr const char* kBase = "name = \"dbg\"\nmemory = \"64M\"\nkernel = \"Image\"\n";

std::string error_of(const std::string& text) {
  try {
    parse_vm_config(text, "vm.toml");
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(VmConfigGdb, ParsesAddressAndWait) {
  const VmConfig vm = parse_vm_config(std::string(kBase) + "gdb = \"tcp:127.0.0.1:1234\"\ngdb_wait = true\n", "vm.toml");
  EXPECT_EQ(vm.gdb, "tcp:127.0.0.1:1234");
  EXPECT_TRUE(vm.gdb_wait);
  const VmConfig plain = parse_vm_config(kBase, "vm.toml");
  EXPECT_TRUE(plain.gdb.empty());
  EXPECT_FALSE(plain.gdb_wait);
}

TEST(VmConfigGdb, RefusesWhatCannotWork) {
  EXPECT_THAT(error_of(std::string(kBase) + "gdb = \"\"\n"), HasSubstr("key 'gdb': must be an address"));
  EXPECT_THAT(error_of(std::string(kBase) + "gdb = \"tcp:127.0.0.1:1\"\nmode = \"trap\"\n"),
              HasSubstr("needs mode = \"emulate\" or \"hw\""));
  EXPECT_EQ(parse_vm_config(std::string(kBase) + "gdb = \"tcp:127.0.0.1:1\"\nmode = \"hw\"\n", "vm.toml").gdb,
            "tcp:127.0.0.1:1");
  EXPECT_THAT(error_of(std::string(kBase) + "gdb_wait = true\n"), HasSubstr("key 'gdb_wait': needs gdb"));
  EXPECT_THAT(error_of(std::string(kBase) + "gdb = 1234\n"), HasSubstr("gdb"));
}

} // namespace
} // namespace nimbus::hypervisor

// [[net]] tables of a VM's TOML file and the cross-VM MAC check.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hypervisor/vm_config.hpp"

namespace nimbus::hypervisor {
namespace {

using ::testing::HasSubstr;

std::string vm(const std::string& name, const std::string& net) {
  return "name = \"" + name + "\"\nmemory = \"64M\"\nkernel = \"Image\"\n" + net;
}

std::string error_of(const std::string& text) {
  try {
    parse_vm_config(text, "vm.toml");
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(VmConfigNet, ParsesInterfacesWithDefaultAndGivenMacs) {
  const VmConfig c = parse_vm_config(
      vm("web", "[[net]]\nnetwork = \"blue\"\n[[net]]\nnetwork = \"red\"\nmac = \"52:54:00:00:00:07\"\n"), "vm.toml");
  ASSERT_EQ(c.nics.size(), 2u);
  EXPECT_EQ(c.nics[0].network, "blue");
  EXPECT_EQ(c.nics[0].mac, default_mac("web", 0));
  EXPECT_EQ(c.nics[0].mac[0], 0x52);
  EXPECT_EQ(machine::format_mac(c.nics[1].mac), "52:54:00:00:00:07");
  EXPECT_NE(default_mac("web", 0), default_mac("web", 1));
  EXPECT_NE(default_mac("web", 0), default_mac("db", 0));
}

TEST(VmConfigNet, RefusesBadTables) {
  EXPECT_THAT(error_of(vm("a", "net = \"blue\"\n")), HasSubstr("[[net]] tables"));
  EXPECT_THAT(error_of(vm("a", "[[net]]\nmac = \"52:54:00:00:00:07\"\n")), HasSubstr("network"));
  EXPECT_THAT(error_of(vm("a", "[[net]]\nnetwork = \"has space\"\n")), HasSubstr("not a network name"));
  EXPECT_THAT(error_of(vm("a", "[[net]]\nnetwork = \"b\"\nmac = \"ff:ff:ff:ff:ff:ff\"\n")), HasSubstr("unicast MAC"));
  EXPECT_THAT(error_of(vm("a", "[[net]]\nnetwork = \"b\"\nvlan = 3\n")), HasSubstr("unknown key"));
  EXPECT_THAT(error_of(vm("a", "[[net]]\nnetwork = \"b\"\n[[net]]\nnetwork = \"b\"\n")), HasSubstr("already has"));
  std::string many;
  for (int i = 0; i < 5; ++i) many += "[[net]]\nnetwork = \"n" + std::to_string(i) + "\"\n";
  EXPECT_THAT(error_of(vm("a", many)), HasSubstr("at most 4"));
}

TEST(VmConfigNet, OneMacPerNetworkAcrossVms) {
  const std::string mac = "[[net]]\nnetwork = \"blue\"\nmac = \"52:54:00:00:00:07\"\n";
  std::vector<VmConfig> vms = {parse_vm_config(vm("a", mac), "a.toml"), parse_vm_config(vm("b", mac), "b.toml")};
  try {
    check_vm_set(vms, 1);
    FAIL() << "duplicate MAC accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("already used by VM 'a'"));
  }
  vms[1] = parse_vm_config(vm("b", "[[net]]\nnetwork = \"red\"\nmac = \"52:54:00:00:00:07\"\n"), "b.toml");
  EXPECT_NO_THROW(check_vm_set(vms, 1)) << "the same MAC on another network is fine";
}

} // namespace
} // namespace nimbus::hypervisor

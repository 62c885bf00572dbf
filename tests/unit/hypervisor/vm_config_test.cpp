#include "hypervisor/vm_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace nimbus::hypervisor {
namespace {

using ::testing::HasSubstr;

constexpr const char* kMinimal = R"(name = "web"
memory = "256M"
kernel = "Image"
)";

// The error text of parsing `text`, or "" if it parsed.
std::string error_of(const std::string& text, const std::string& source = "vm.toml") {
  try {
    parse_vm_config(text, source);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(VmConfig, MinimalFileGetsDefaults) {
  VmConfig vm = parse_vm_config(kMinimal, "web.toml");
  EXPECT_EQ(vm.name, "web");
  EXPECT_EQ(vm.memory_bytes, 256ull << 20);
  EXPECT_EQ(vm.kernel, "Image");
  EXPECT_EQ(vm.vcpus, 1u);
  EXPECT_EQ(vm.mode, VirtMode::emulate);
  EXPECT_EQ(vm.weight, 100u);
  EXPECT_EQ(vm.cap_percent, 0u);
  EXPECT_EQ(vm.reservation_percent, 0u);
  EXPECT_EQ(vm.source, "web.toml");
}

TEST(VmConfig, EveryField) {
  VmConfig vm = parse_vm_config(R"(
name = "db-1"
vcpus = 4
memory = "1G"
mode = "trap"
kernel = "/k/Image"
initrd = "/k/initrd"
append = "console=ttyS0 quiet"
disk = "/d/db.img"
readonly = true
weight = 300
cap = 250
reservation = 150
)",
                                "db.toml");
  EXPECT_EQ(vm.name, "db-1");
  EXPECT_EQ(vm.vcpus, 4u);
  EXPECT_EQ(vm.memory_bytes, 1ull << 30);
  EXPECT_EQ(vm.mode, VirtMode::trap);
  EXPECT_EQ(vm.kernel, "/k/Image");
  EXPECT_EQ(vm.initrd, "/k/initrd");
  EXPECT_EQ(vm.append, "console=ttyS0 quiet");
  EXPECT_EQ(vm.disk, "/d/db.img");
  EXPECT_TRUE(vm.disk_read_only);
  EXPECT_FALSE(parse_vm_config(std::string(kMinimal) + "disk = \"d\"\n", "x").disk_read_only);
  EXPECT_EQ(vm.weight, 300u);
  EXPECT_EQ(vm.cap_percent, 250u);
  EXPECT_EQ(vm.reservation_percent, 150u);
  EXPECT_EQ(parse_vm_config(std::string(kMinimal) + "mode = \"hw\"\n", "x").mode, VirtMode::hw);
  EXPECT_EQ(parse_vm_config(std::string(kMinimal) + "mode = \"emulate\"\n", "x").mode, VirtMode::emulate);
}

TEST(VmConfig, MemoryAsSizeStringOrBytes) {
  auto memory = [](const std::string& value) {
    return parse_vm_config("name = \"a\"\nkernel = \"k\"\nmemory = " + value + "\n", "m.toml").memory_bytes;
  };
  EXPECT_EQ(memory("\"64M\""), 64ull << 20);
  EXPECT_EQ(memory("\"65536K\""), 64ull << 20);
  EXPECT_EQ(memory("\"2GiB\""), 2ull << 30);
  EXPECT_EQ(memory("16777216"), 16ull << 20);
}

TEST(VmConfig, SyntaxErrorNamesFileAndLine) {
  std::string error = error_of("name = \"a\"\nmemory = = 3\n", "bad.toml");
  EXPECT_THAT(error, HasSubstr("bad.toml:2:"));
}

TEST(VmConfig, UnknownKeyNamesFileLineAndKey) {
  std::string error = error_of(std::string(kMinimal) + "cpus = 2\n", "a.toml");
  EXPECT_THAT(error, HasSubstr("a.toml:4:"));
  EXPECT_THAT(error, HasSubstr("'cpus'"));
  EXPECT_THAT(error, HasSubstr("unknown key"));
  EXPECT_THAT(error_of(std::string(kMinimal) + "[extra]\nx = 1\n"), HasSubstr("'extra'"));
}

TEST(VmConfig, ReadonlyIsABooleanForADisk) {
  EXPECT_THAT(error_of(std::string(kMinimal) + "disk = \"d\"\nreadonly = \"yes\"\n"),
              HasSubstr("key 'readonly': must be true or false"));
  EXPECT_THAT(error_of(std::string(kMinimal) + "readonly = true\n"), HasSubstr("key 'readonly': needs a disk"));
}

TEST(VmConfig, MissingRequiredKeys) {
  EXPECT_THAT(error_of("memory = \"1M\"\nkernel = \"k\"\n", "a.toml"), HasSubstr("a.toml: missing required key 'name'"));
  EXPECT_THAT(error_of("name = \"a\"\nkernel = \"k\"\n"), HasSubstr("missing required key 'memory'"));
  EXPECT_THAT(error_of("name = \"a\"\nmemory = \"1M\"\n"), HasSubstr("missing required key 'kernel'"));
  EXPECT_THAT(error_of(""), HasSubstr("missing required key"));
}

TEST(VmConfig, WrongTypes) {
  std::string error = error_of("name = \"a\"\nmemory = \"1M\"\nkernel = \"k\"\nvcpus = \"two\"\n", "t.toml");
  EXPECT_THAT(error, HasSubstr("t.toml:4: key 'vcpus': must be an integer, got a string"));
  EXPECT_THAT(error_of("name = 3\nmemory = \"1M\"\nkernel = \"k\"\n"), HasSubstr("key 'name': must be a string, got an integer"));
  EXPECT_THAT(error_of(std::string(kMinimal) + "weight = 1.5\n"), HasSubstr("key 'weight': must be an integer, got a float"));
  EXPECT_THAT(error_of(std::string(kMinimal) + "cap = true\n"), HasSubstr("key 'cap': must be an integer, got a boolean"));
  EXPECT_THAT(error_of("name = \"a\"\nkernel = \"k\"\nmemory = [1]\n"), HasSubstr("key 'memory': must be a size string"));
  EXPECT_THAT(error_of(std::string(kMinimal) + "append = 7\n"), HasSubstr("key 'append': must be a string"));
}

TEST(VmConfig, OutOfRangeValues) {
  auto with = [](const std::string& line) { return error_of(std::string(kMinimal) + line + "\n", "r.toml"); };
  EXPECT_THAT(with("vcpus = 0"), HasSubstr("r.toml:4: key 'vcpus': must be between 1 and 64, got 0"));
  EXPECT_THAT(with("vcpus = 65"), HasSubstr("key 'vcpus': must be between 1 and 64, got 65"));
  EXPECT_THAT(with("weight = 0"), HasSubstr("key 'weight': must be between 1 and 10000, got 0"));
  EXPECT_THAT(with("weight = -5"), HasSubstr("key 'weight'"));
  EXPECT_THAT(with("cap = 101"), HasSubstr("key 'cap': must be between 0 and 100, got 101"));
  EXPECT_THAT(with("vcpus = 2\ncap = 201"), HasSubstr("key 'cap': must be between 0 and 200, got 201"));
  EXPECT_THAT(with("reservation = -1"), HasSubstr("key 'reservation'"));
  EXPECT_THAT(with("cap = 50\nreservation = 60"), HasSubstr("key 'reservation': reservation 60 % exceeds the VM's own cap 50 %"));
  EXPECT_THAT(with("mode = \"paravirt\""), HasSubstr("key 'mode': must be one of emulate, trap, hw; got 'paravirt'"));
  EXPECT_THAT(with("vcpus = 99999999999999999"), HasSubstr("key 'vcpus'"));
}

TEST(VmConfig, BadMemoryValues) {
  auto memory = [](const std::string& value) {
    return error_of("name = \"a\"\nkernel = \"k\"\nmemory = " + value + "\n", "m.toml");
  };
  EXPECT_THAT(memory("\"lots\""), HasSubstr("m.toml:3: key 'memory': 'lots' is not a size"));
  EXPECT_THAT(memory("\"256Q\""), HasSubstr("is not a size"));
  EXPECT_THAT(memory("\"512K\""), HasSubstr("must be between 1M and 1T"));
  EXPECT_THAT(memory("\"2T\""), HasSubstr("must be between 1M and 1T"));
  EXPECT_THAT(memory("1048577"), HasSubstr("whole 4 KiB pages"));
  EXPECT_THAT(memory("-4096"), HasSubstr("must not be negative"));
  EXPECT_THAT(memory("\"99999999999T\""), HasSubstr("is not a size"));
}

TEST(VmConfig, BadNames) {
  auto name = [](const std::string& value) {
    return error_of("name = \"" + value + "\"\nmemory = \"1M\"\nkernel = \"k\"\n", "n.toml");
  };
  EXPECT_THAT(name(""), HasSubstr("n.toml:1: key 'name': '' is not a valid VM name"));
  EXPECT_THAT(name("a/b"), HasSubstr("not a valid VM name"));
  EXPECT_THAT(name("../x"), HasSubstr("not a valid VM name"));
  EXPECT_THAT(name("-x"), HasSubstr("not a valid VM name"));
  EXPECT_THAT(name(std::string(64, 'a')), HasSubstr("not a valid VM name"));
  EXPECT_EQ(name(std::string(63, 'a')), "");
  EXPECT_THAT(error_of("name = \"a\"\nmemory = \"1M\"\nkernel = \"\"\n"), HasSubstr("key 'kernel': must name a kernel"));
}

VmConfig make_vm(const std::string& name, uint32_t reservation, const std::string& source) {
  VmConfig vm;
  vm.name = name;
  vm.source = source;
  vm.vcpus = 4;
  vm.reservation_percent = reservation;
  return vm;
}

TEST(VmConfig, BiosDefaultsToTheVmmAndTakesNoneOrOpensbiInEmulateMode) {
  EXPECT_EQ(parse_vm_config(kMinimal, "a.toml").bios, "vmm");
  EXPECT_EQ(parse_vm_config(std::string(kMinimal) + "bios = \"none\"\n", "a.toml").bios, "none");
  EXPECT_EQ(parse_vm_config(std::string(kMinimal) + "bios = \"opensbi\"\nmode = \"emulate\"\n", "a.toml").bios,
            "opensbi");
  EXPECT_EQ(parse_vm_config(std::string(kMinimal) + "bios = \"vmm\"\nmode = \"hw\"\n", "a.toml").bios, "vmm");
}

TEST(VmConfig, OwnFirmwareOnlyInEmulateMode) {
  for (const char* mode : {"trap", "hw"}) {
    const std::string error =
        error_of(std::string(kMinimal) + "mode = \"" + mode + "\"\nbios = \"opensbi\"\n", "x.toml");
    EXPECT_THAT(error, HasSubstr("x.toml:5: key 'bios':")) << error;
    EXPECT_THAT(error, HasSubstr("only mode = \"emulate\"")) << error;
    EXPECT_THAT(error, HasSubstr(std::string(mode) + " mode needs the VMM's SBI")) << error;
  }
  EXPECT_THAT(error_of(std::string(kMinimal) + "bios = \"\"\n"), HasSubstr("key 'bios'"));
  EXPECT_THAT(error_of(std::string(kMinimal) + "bios = 1\n"), HasSubstr("key 'bios'"));
}

TEST(VmSet, DuplicateNamesNameBothFiles) {
  std::vector<VmConfig> vms = {make_vm("a", 0, "one.toml"), make_vm("b", 0, "two.toml"), make_vm("a", 0, "three.toml")};
  try {
    check_vm_set(vms, 4);
    FAIL() << "duplicate accepted";
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("three.toml: key 'name': VM name 'a' is already used by one.toml"));
  }
}

TEST(VmSet, ReservationsMustFitTheHost) {
  std::vector<VmConfig> vms = {make_vm("a", 150, "a.toml"), make_vm("b", 50, "b.toml")};
  EXPECT_NO_THROW(check_vm_set(vms, 2));
  vms.push_back(make_vm("c", 1, "c.toml"));
  try {
    check_vm_set(vms, 2);
    FAIL() << "overcommitted reservations accepted";
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("reservations add up to 201 % but 2 host harts give at most 200 %"));
    EXPECT_THAT(error.what(), HasSubstr("c 1 % (c.toml)"));
  }
}

class VmConfigFiles : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("nimbus_vm_config_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path write(const std::string& name, const std::string& text) {
    std::filesystem::path path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(VmConfigFiles, LoadsFilesAndResolvesPathsRelativeToThem) {
  auto a = write("a.toml", "name = \"a\"\nmemory = \"64M\"\nkernel = \"img/Image\"\ndisk = \"/abs/disk.img\"\n");
  auto b = write("b.toml", "name = \"b\"\nmemory = \"64M\"\nkernel = \"Image\"\nreservation = 40\n");
  auto vms = load_vm_configs({a, b}, 1);
  ASSERT_EQ(vms.size(), 2u);
  EXPECT_EQ(vms[0].kernel, (dir_ / "img/Image").string());
  EXPECT_EQ(vms[0].disk, "/abs/disk.img");
  EXPECT_EQ(vms[0].source, a.string());
  EXPECT_EQ(vms[1].reservation_percent, 40u);
}

TEST_F(VmConfigFiles, FirmwareFileIsRelativeToTheTomlFile) {
  auto a = write("a.toml", "name = \"a\"\nmemory = \"64M\"\nkernel = \"Image\"\nbios = \"fw/fw_jump.bin\"\n");
  auto b = write("b.toml", "name = \"b\"\nmemory = \"64M\"\nkernel = \"Image\"\nbios = \"opensbi\"\n");
  auto vms = load_vm_configs({a, b}, 1);
  EXPECT_EQ(vms[0].bios, (dir_ / "fw/fw_jump.bin").string());
  EXPECT_EQ(vms[1].bios, "opensbi");
}

TEST_F(VmConfigFiles, DuplicateAcrossFilesAndMissingFile) {
  auto a = write("a.toml", "name = \"same\"\nmemory = \"64M\"\nkernel = \"Image\"\n");
  auto b = write("b.toml", "name = \"same\"\nmemory = \"64M\"\nkernel = \"Image\"\n");
  EXPECT_THROW(load_vm_configs({a, b}, 2), ConfigError);
  try {
    load_vm_config(dir_ / "absent.toml");
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("absent.toml: cannot open"));
  }
}

} // namespace
} // namespace nimbus::hypervisor

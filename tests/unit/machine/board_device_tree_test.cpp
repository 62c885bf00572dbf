#include <gtest/gtest.h>
#include <libfdt.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "machine/device_tree.hpp"

namespace nimbus::machine {
namespace {

struct DeviceTreeTest : ::testing::Test {
  DeviceTreeSpec spec = [] {
    DeviceTreeSpec s;
    s.ram_size = 256ull << 20;
    s.harts = 2;
    s.bootargs = "console=ttyS0 earlycon";
    s.initrd = DeviceTreeSpec::Range{0x88000000, 0x88123456};
    s.virtio_slots = {0, 1};
    return s;
  }();
  std::vector<uint8_t> blob;
  const void* fdt = nullptr;

  void build() {
    blob = build_device_tree(spec);
    fdt = blob.data();
    ASSERT_EQ(fdt_check_header(fdt), 0);
    ASSERT_EQ(fdt_totalsize(fdt), blob.size());
  }
  int node(const char* path) {
    const int off = fdt_path_offset(fdt, path);
    EXPECT_GE(off, 0) << path;
    return off;
  }
  std::string str(const char* path, const char* prop) {
    int len = 0;
    const auto* p = static_cast<const char*>(fdt_getprop(fdt, node(path), prop, &len));
    if (!p) return "<missing>";
    return std::string(p, static_cast<size_t>(len) - 1);
  }
  std::vector<uint32_t> cells(const char* path, const char* prop) {
    int len = 0;
    const auto* p = static_cast<const fdt32_t*>(fdt_getprop(fdt, node(path), prop, &len));
    std::vector<uint32_t> out;
    for (int i = 0; p && i < len / 4; ++i) out.push_back(fdt32_to_cpu(p[i]));
    return out;
  }
  uint64_t u64(const char* path, const char* prop) {
    const auto c = cells(path, prop);
    return c.size() == 2 ? (uint64_t{c[0]} << 32) | c[1] : ~uint64_t{0};
  }
  // The path of the node a phandle refers to.
  std::string phandle_path(uint32_t phandle) {
    const int off = fdt_node_offset_by_phandle(fdt, phandle);
    char buf[256] = {};
    if (off < 0 || fdt_get_path(fdt, off, buf, sizeof buf) != 0) return "<none>";
    return buf;
  }
};

TEST_F(DeviceTreeTest, RootAndMemory) {
  build();
  EXPECT_EQ(str("/", "compatible"), "riscv-virtio");
  EXPECT_EQ(cells("/", "#address-cells"), (std::vector<uint32_t>{2}));
  EXPECT_EQ(cells("/memory@80000000", "reg"), (std::vector<uint32_t>{0, 0x80000000, 0, 0x10000000}));
  EXPECT_EQ(str("/memory@80000000", "device_type"), "memory");
}

TEST_F(DeviceTreeTest, CpusWithInterruptControllers) {
  build();
  EXPECT_EQ(cells("/cpus", "timebase-frequency"), (std::vector<uint32_t>{10000000}));
  for (int h = 0; h < 2; ++h) {
    const std::string cpu = "/cpus/cpu@" + std::to_string(h);
    EXPECT_EQ(str(cpu.c_str(), "riscv,isa"), "rv64imafdc_zicsr_zifencei_zicntr_sstc");
    EXPECT_EQ(str(cpu.c_str(), "mmu-type"), "riscv,sv57");
    EXPECT_EQ(str(cpu.c_str(), "status"), "okay");
    EXPECT_EQ(str(cpu.c_str(), "device_type"), "cpu");
    EXPECT_EQ(cells(cpu.c_str(), "reg"), (std::vector<uint32_t>{static_cast<uint32_t>(h)}));
    const std::string intc = cpu + "/interrupt-controller";
    EXPECT_EQ(str(intc.c_str(), "compatible"), "riscv,cpu-intc");
    EXPECT_EQ(cells(intc.c_str(), "#interrupt-cells"), (std::vector<uint32_t>{1}));
    const std::string core = "/cpus/cpu-map/cluster0/core" + std::to_string(h);
    EXPECT_EQ(phandle_path(cells(core.c_str(), "cpu").at(0)), cpu);
  }
  EXPECT_LT(fdt_path_offset(fdt, "/cpus/cpu@2"), 0);
}

TEST_F(DeviceTreeTest, PlicAndClintRouteToEachHartsLines) {
  build();
  const auto plic = cells("/soc/plic@c000000", "interrupts-extended");
  ASSERT_EQ(plic.size(), 8u);
  const auto clint = cells("/soc/clint@2000000", "interrupts-extended");
  ASSERT_EQ(clint.size(), 8u);
  for (unsigned h = 0; h < 2; ++h) {
    const std::string intc = "/cpus/cpu@" + std::to_string(h) + "/interrupt-controller";
    EXPECT_EQ(phandle_path(plic[4 * h]), intc);
    EXPECT_EQ(plic[4 * h + 1], 11u); // M external
    EXPECT_EQ(phandle_path(plic[4 * h + 2]), intc);
    EXPECT_EQ(plic[4 * h + 3], 9u); // S external
    EXPECT_EQ(phandle_path(clint[4 * h]), intc);
    EXPECT_EQ(clint[4 * h + 1], 3u); // M software
    EXPECT_EQ(clint[4 * h + 3], 7u); // M timer
  }
  EXPECT_EQ(cells("/soc/plic@c000000", "riscv,ndev"), (std::vector<uint32_t>{95}));
  EXPECT_EQ(cells("/soc/plic@c000000", "reg"), (std::vector<uint32_t>{0, 0x0c000000, 0, 0x600000}));
  EXPECT_EQ(cells("/soc/clint@2000000", "reg"), (std::vector<uint32_t>{0, 0x02000000, 0, 0x10000}));
  EXPECT_NE(fdt_getprop(fdt, node("/soc/plic@c000000"), "interrupt-controller", nullptr), nullptr);
  EXPECT_EQ(fdt_node_check_compatible(fdt, node("/soc/plic@c000000"), "riscv,plic0"), 0);
  EXPECT_EQ(fdt_node_check_compatible(fdt, node("/soc/clint@2000000"), "riscv,clint0"), 0);
}

TEST_F(DeviceTreeTest, UartRtcAndVirtioUseThePlic) {
  build();
  const std::string plic = "/soc/plic@c000000";
  EXPECT_EQ(str("/soc/serial@10000000", "compatible"), "ns16550a");
  EXPECT_EQ(cells("/soc/serial@10000000", "interrupts"), (std::vector<uint32_t>{10}));
  EXPECT_EQ(cells("/soc/serial@10000000", "clock-frequency"), (std::vector<uint32_t>{3686400}));
  EXPECT_EQ(phandle_path(cells("/soc/serial@10000000", "interrupt-parent").at(0)), plic);
  EXPECT_EQ(str("/soc/rtc@101000", "compatible"), "google,goldfish-rtc");
  EXPECT_EQ(cells("/soc/rtc@101000", "interrupts"), (std::vector<uint32_t>{11}));
  EXPECT_EQ(cells("/soc/virtio_mmio@10001000", "interrupts"), (std::vector<uint32_t>{1}));
  EXPECT_EQ(cells("/soc/virtio_mmio@10002000", "interrupts"), (std::vector<uint32_t>{2}));
  EXPECT_EQ(cells("/soc/virtio_mmio@10002000", "reg"), (std::vector<uint32_t>{0, 0x10002000, 0, 0x1000}));
  EXPECT_EQ(str("/soc/virtio_mmio@10001000", "compatible"), "virtio,mmio");
  EXPECT_LT(fdt_path_offset(fdt, "/soc/virtio_mmio@10003000"), 0) << "only present devices are listed";
}

TEST_F(DeviceTreeTest, SysconPoweroffAndReboot) {
  build();
  EXPECT_EQ(fdt_node_check_compatible(fdt, node("/soc/test@100000"), "syscon"), 0);
  EXPECT_EQ(fdt_node_check_compatible(fdt, node("/soc/test@100000"), "sifive,test0"), 0);
  EXPECT_EQ(str("/poweroff", "compatible"), "syscon-poweroff");
  EXPECT_EQ(cells("/poweroff", "value"), (std::vector<uint32_t>{0x5555}));
  EXPECT_EQ(phandle_path(cells("/poweroff", "regmap").at(0)), "/soc/test@100000");
  EXPECT_EQ(str("/reboot", "compatible"), "syscon-reboot");
  EXPECT_EQ(cells("/reboot", "value"), (std::vector<uint32_t>{0x7777}));
  EXPECT_EQ(phandle_path(cells("/reboot", "regmap").at(0)), "/soc/test@100000");
}

TEST_F(DeviceTreeTest, ChosenCarriesBootargsConsoleAndInitrd) {
  build();
  EXPECT_EQ(str("/chosen", "bootargs"), "console=ttyS0 earlycon");
  EXPECT_EQ(str("/chosen", "stdout-path"), "/soc/serial@10000000");
  EXPECT_EQ(u64("/chosen", "linux,initrd-start"), 0x88000000u);
  EXPECT_EQ(u64("/chosen", "linux,initrd-end"), 0x88123456u);
}

TEST_F(DeviceTreeTest, ChosenCarriesTheRngSeedAsGiven) {
  for (uint8_t i = 0; i < 32; ++i) spec.rng_seed.push_back(static_cast<uint8_t>(0xa0 + i));
  build();
  int len = 0;
  const auto* seed = static_cast<const uint8_t*>(fdt_getprop(fdt, node("/chosen"), "rng-seed", &len));
  ASSERT_NE(seed, nullptr);
  ASSERT_EQ(len, 32);
  EXPECT_TRUE(std::equal(spec.rng_seed.begin(), spec.rng_seed.end(), seed));
}

TEST_F(DeviceTreeTest, NoInitrdNoBootargsMeansNoSuchProperties) {
  spec.initrd.reset();
  spec.bootargs.clear();
  spec.virtio_slots.clear();
  build();
  EXPECT_EQ(fdt_getprop(fdt, node("/chosen"), "linux,initrd-start", nullptr), nullptr);
  EXPECT_EQ(fdt_getprop(fdt, node("/chosen"), "bootargs", nullptr), nullptr);
  EXPECT_EQ(fdt_getprop(fdt, node("/chosen"), "rng-seed", nullptr), nullptr);
  EXPECT_LT(fdt_path_offset(fdt, "/soc/virtio_mmio@10001000"), 0);
}

TEST_F(DeviceTreeTest, ManyHartsFit) {
  spec.harts = 64;
  build();
  EXPECT_GE(fdt_path_offset(fdt, "/cpus/cpu@3f"), 0);
  EXPECT_EQ(cells("/soc/plic@c000000", "interrupts-extended").size(), 64u * 4);
}

TEST_F(DeviceTreeTest, BadSpecsAreErrors) {
  spec.harts = 0;
  EXPECT_THROW(build_device_tree(spec), std::runtime_error);
  spec.harts = 1;
  spec.virtio_slots = {8};
  EXPECT_THROW(build_device_tree(spec), std::runtime_error);
}

TEST_F(DeviceTreeTest, DtcDecompilesItCleanly) {
  if (std::system("command -v dtc >/dev/null 2>&1") != 0) GTEST_SKIP() << "dtc is not installed";
  build();
  char name[] = "/tmp/nimbus-dtb-XXXXXX";
  const int fd = mkstemp(name);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, blob.data(), blob.size()), static_cast<ssize_t>(blob.size()));
  close(fd);
  const std::string dts = std::string(name) + ".dts";
  const std::string cmd = "dtc -I dtb -O dts -o " + dts + " " + name + " 2>" + dts + ".err";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(dts);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("compatible = \"ns16550a\";"), std::string::npos);
  EXPECT_NE(text.find("bootargs = \"console=ttyS0 earlycon\";"), std::string::npos);
  std::ifstream err(dts + ".err");
  const std::string warnings((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  EXPECT_EQ(warnings.find("ERROR"), std::string::npos) << warnings;
  std::remove(name);
  std::remove(dts.c_str());
  std::remove((dts + ".err").c_str());
}

} // namespace
} // namespace nimbus::machine

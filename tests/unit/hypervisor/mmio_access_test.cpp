#include "hypervisor/mmio_access.hpp"

#include <gtest/gtest.h>

#include "machine/hart_assembler.hpp"
#include "machine/mmio_device.hpp"

namespace nimbus::hypervisor {
namespace {

using namespace test::as;

class Register : public machine::MmioDevice {
public:
  std::string_view name() const override { return "reg"; }
  bool read(uint64_t offset, unsigned, uint64_t& v) override {
    v = offset == 0 ? value : 0;
    return offset < 0x100;
  }
  bool write(uint64_t offset, unsigned, uint64_t v) override {
    value = v;
    return offset < 0x100;
  }
  uint64_t value = 0;
};

TEST(MmioAccess, DecodesIntegerLoadsAndStoresOnly) {
  auto a = decode_mmio_access(lw(a3, t0, 4));
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->write);
  EXPECT_EQ(a->size, 4u);
  EXPECT_TRUE(a->sign_extend);
  EXPECT_EQ(a->reg, a3);
  EXPECT_EQ(a->length, 4u);
  a = decode_mmio_access(sd(t2, t0, 0));
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->write);
  EXPECT_EQ(a->size, 8u);
  EXPECT_EQ(a->reg, t2);
  a = decode_mmio_access(0x4108);   // c.lw a0, 0(a0)
  ASSERT_TRUE(a);
  EXPECT_EQ(a->length, 2u);
  EXPECT_EQ(a->size, 4u);
  EXPECT_FALSE(decode_mmio_access(fld(1, t0, 0)));   // FP to a device: not emulated
  EXPECT_FALSE(decode_mmio_access(amo(0, false, a0, t0, t1)));
  EXPECT_FALSE(decode_mmio_access(addi(a0, a0, 1)));
}

TEST(MmioAccess, PerformsOnTheDeviceBusWithSignExtension) {
  machine::Bus bus(0x8000'0000, 4096);
  Register reg;
  bus.map(0x1000'0000, 0x1000, &reg);
  ASSERT_TRUE(perform_mmio(bus, 0x1000'0000, *decode_mmio_access(sw(t2, t0, 0)), 0xFFFF'FF80));
  EXPECT_EQ(reg.value, 0xFFFF'FF80u);
  EXPECT_EQ(*perform_mmio(bus, 0x1000'0000, *decode_mmio_access(lb(a0, t0, 0)), 0), ~uint64_t{0x7f});
  EXPECT_EQ(*perform_mmio(bus, 0x1000'0000, *decode_mmio_access(lbu(a0, t0, 0)), 0), 0x80u);
  EXPECT_EQ(*perform_mmio(bus, 0x1000'0000, *decode_mmio_access(lw(a0, t0, 0)), 0), 0xFFFF'FFFF'FFFF'FF80u);
  EXPECT_FALSE(perform_mmio(bus, 0x3000'0000, *decode_mmio_access(lw(a0, t0, 0)), 0));   // nothing there
  EXPECT_FALSE(perform_mmio(bus, 0x1000'0200, *decode_mmio_access(lw(a0, t0, 0)), 0));   // device refuses
}

} // namespace
} // namespace nimbus::hypervisor

#include <gtest/gtest.h>

#include "machine/devices/test_finisher.hpp"

namespace nimbus::machine {
namespace {

using Kind = ShutdownRequest::Kind;

TEST(TestFinisher, NoRequestInitially) { EXPECT_EQ(TestFinisher{}.request().kind, Kind::kNone); }

TEST(TestFinisher, PassPowersOffWithZero) {
  TestFinisher f;
  ASSERT_TRUE(f.write(0, 4, 0x5555));
  EXPECT_EQ(f.request(), (ShutdownRequest{Kind::kPowerOff, 0}));
}

TEST(TestFinisher, FailCarriesTheCode) {
  TestFinisher f;
  ASSERT_TRUE(f.write(0, 4, (42u << 16) | 0x3333));
  EXPECT_EQ(f.request(), (ShutdownRequest{Kind::kPowerOff, 42}));
}

TEST(TestFinisher, SixteenBitWriteAsOpenSbiDoes) {
  TestFinisher f;
  ASSERT_TRUE(f.write(0, 2, 0x5555));
  EXPECT_EQ(f.request(), (ShutdownRequest{Kind::kPowerOff, 0}));
}

TEST(TestFinisher, ResetRequestsReboot) {
  TestFinisher f;
  ASSERT_TRUE(f.write(0, 4, 0x7777));
  EXPECT_EQ(f.request().kind, Kind::kReboot);
  f.clear();
  EXPECT_EQ(f.request().kind, Kind::kNone);
}

TEST(TestFinisher, OtherValuesAndOffsetsDoNothing) {
  TestFinisher f;
  ASSERT_TRUE(f.write(0, 4, 0x1234));
  ASSERT_TRUE(f.write(4, 4, 0x5555));
  ASSERT_TRUE(f.write(0, 1, 0x55)); // bytes are below the device's minimum access size
  EXPECT_EQ(f.request().kind, Kind::kNone);
}

} // namespace
} // namespace nimbus::machine

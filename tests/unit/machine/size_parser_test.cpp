#include <gtest/gtest.h>

#include "machine/size_parser.hpp"

namespace nimbus::machine {
namespace {

TEST(SizeParser, AcceptsQemuStyleSuffixes) {
  EXPECT_EQ(parse_size("256M"), 256ull << 20);
  EXPECT_EQ(parse_size("256m"), 256ull << 20);
  EXPECT_EQ(parse_size("1G"), 1ull << 30);
  EXPECT_EQ(parse_size("512MiB"), 512ull << 20);
  EXPECT_EQ(parse_size("64MB"), 64ull << 20);
  EXPECT_EQ(parse_size("65536K"), 64ull << 20);
  EXPECT_EQ(parse_size("4096"), 4096u);
}

TEST(SizeParser, RejectsGarbageAndOverflow) {
  EXPECT_FALSE(parse_size(""));
  EXPECT_FALSE(parse_size("M"));
  EXPECT_FALSE(parse_size("12X"));
  EXPECT_FALSE(parse_size("-5M"));
  EXPECT_FALSE(parse_size("1.5G"));
  EXPECT_FALSE(parse_size("99999999999999999999"));
  EXPECT_FALSE(parse_size("17179869184T"));
  EXPECT_FALSE(parse_size("256 M"));
}

} // namespace
} // namespace nimbus::machine

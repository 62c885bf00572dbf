// The load-time fix of OpenSBI 1.1's hart_start ordering (firmware_errata.hpp): applied to the one
// known instruction sequence only, where it is the same 48 bytes with the stores first.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <vector>

#include "machine/board.hpp"
#include "machine/bus.hpp"
#include "machine/firmware_errata.hpp"

namespace nimbus::machine {
namespace {

// The faulty sequence as Debian's fw_dynamic.bin holds it (see firmware_errata.cpp).
const std::vector<uint8_t> kFaulty = {
    0x03, 0xb5, 0x0b, 0x00, 0x09, 0x46, 0x85, 0x45, 0x4a, 0x95, 0xef, 0xa0, 0x7f, 0xce, 0x1b, 0x07,
    0x05, 0x00, 0x39, 0xcb, 0x85, 0x47, 0x63, 0x17, 0xf7, 0x04, 0x26, 0x85, 0xef, 0x70, 0xcf, 0x97,
    0x83, 0xb7, 0x8b, 0x00, 0x23, 0x38, 0x59, 0x01, 0x23, 0x3c, 0x49, 0x01, 0x23, 0x30, 0x39, 0x03};
constexpr uint64_t kBase = 0x80000000;

std::vector<uint8_t> image_with(const std::vector<size_t>& offsets) {
  std::vector<uint8_t> image(4096, 0x13);
  for (const size_t at : offsets) std::copy(kFaulty.begin(), kFaulty.end(), image.begin() + static_cast<long>(at));
  return image;
}

std::vector<uint8_t> fixed_after_load(const std::vector<uint8_t>& image, std::vector<std::string>& fixes) {
  Bus bus(kBase, 1 << 20);
  EXPECT_TRUE(bus.copy_to_ram(kBase, image.data(), image.size()));
  fixes = fix_firmware_errata(bus, kBase, kBase + image.size());
  std::vector<uint8_t> out(image.size());
  EXPECT_TRUE(bus.copy_from_ram(kBase, out.data(), out.size()));
  return out;
}

TEST(FirmwareErrataTest, MovesTheThreeStoresBeforeTheCompareAndSwap) {
  const std::vector<uint8_t> image = image_with({0x100});
  std::vector<std::string> fixes;
  const std::vector<uint8_t> out = fixed_after_load(image, fixes);
  ASSERT_EQ(fixes, std::vector<std::string>{"opensbi-1.1-hsm-hart-start-order"});
  // The three sd (s5, s4, s3 into the target's scratch) now come first, the rest follows them.
  EXPECT_TRUE(std::equal(kFaulty.begin() + 36, kFaulty.end(), out.begin() + 0x100));
  EXPECT_TRUE(std::equal(kFaulty.begin(), kFaulty.begin() + 10, out.begin() + 0x100 + 12)); // ld .. add
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 0x100, image.begin()));
  EXPECT_TRUE(std::equal(out.begin() + 0x130, out.end(), image.begin() + 0x130));
}

TEST(FirmwareErrataTest, LeavesOtherImagesAlone) {
  std::vector<std::string> fixes;
  for (const auto& offsets : {std::vector<size_t>{}, std::vector<size_t>{0x101}, std::vector<size_t>{0x100, 0x400}}) {
    const std::vector<uint8_t> image = image_with(offsets);
    EXPECT_EQ(fixed_after_load(image, fixes), image);
    EXPECT_TRUE(fixes.empty());
  }
}

TEST(FirmwareErrataTest, DebiansOpenSbiHasTheFaultyCodeOnce) {
  for (const char* path : {Board::kDefaultOpenSbi, "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"}) {
    std::ifstream in(path, std::ios::binary);
    if (!in) GTEST_SKIP() << "Debian's opensbi is not installed";
    const std::vector<uint8_t> image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> fixes;
    fixed_after_load(image, fixes);
    EXPECT_EQ(fixes.size(), 1u) << path;
  }
}

} // namespace
} // namespace nimbus::machine

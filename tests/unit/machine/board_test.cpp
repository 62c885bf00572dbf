#include <gtest/gtest.h>
#include <libfdt.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>

#include "machine/board.hpp"
#include "machine/boot_loader.hpp"
#include "machine/boot_test_files.hpp"

namespace nimbus::machine {
namespace {

using testing::ElfSegment;
using testing::make_elf;
using testing::make_linux_image;
using testing::TempFile;

constexpr uint64_t kRamSize = 256ull << 20;

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct BoardTest : ::testing::Test {
  Bus bus{Board::kRamBase, kRamSize};
  Clock clock{true};
  InterruptPins hart0, hart1;
  BoardConfig config = [] {
    BoardConfig c;
    c.ram_size = kRamSize;
    c.harts = 2;
    c.bootargs = "console=ttyS0";
    return c;
  }();

  uint64_t read(uint64_t paddr, unsigned size = 4) {
    uint64_t v = 0;
    EXPECT_TRUE(bus.read(paddr, size, v)) << std::hex << paddr;
    return v;
  }
  std::vector<uint8_t> ram(uint64_t paddr, size_t n) {
    std::vector<uint8_t> out(n);
    EXPECT_TRUE(bus.copy_from_ram(paddr, out.data(), n));
    return out;
  }
};

TEST_F(BoardTest, RejectsImpossibleConfigurations) {
  BoardConfig bad = config;
  bad.ram_size = 1 << 20;
  EXPECT_THROW(Board(bad, bus, clock, {&hart0, &hart1}), std::invalid_argument);
  EXPECT_THROW(Board(config, bus, clock, {&hart0}), std::invalid_argument);
  EXPECT_THROW(Board(config, bus, clock, {&hart0, nullptr}), std::invalid_argument);
  Bus low(0x40000000, kRamSize);
  EXPECT_THROW(Board(config, low, clock, {&hart0, &hart1}), std::invalid_argument);
}

TEST_F(BoardTest, DevicesAreAtQemuVirtAddresses) {
  Board board(config, bus, clock, {&hart0, &hart1});
  std::string out;
  board.uart().set_sink([&](uint8_t b) { out.push_back(static_cast<char>(b)); });
  ASSERT_TRUE(bus.write(0x10000000, 1, 'k'));
  EXPECT_EQ(out, "k");
  EXPECT_EQ(read(0x10000005, 1) & 0x60, 0x60u); // LSR: transmitter empty
  ASSERT_TRUE(bus.write(0x02000004, 4, 1));       // CLINT msip hart 1
  EXPECT_TRUE(hart1.sample() & (1u << 3));
  EXPECT_EQ(read(0x0c000000 + 4 * 10), 0u); // PLIC priority
  EXPECT_NE(read(0x00101000), 0u);          // RTC time
  EXPECT_EQ(board.shutdown_request().kind, ShutdownRequest::Kind::kNone);
  ASSERT_TRUE(bus.write(0x00100000, 4, 0x5555));
  EXPECT_EQ(board.shutdown_request(), (ShutdownRequest{ShutdownRequest::Kind::kPowerOff, 0}));
  board.clear_shutdown_request();
  EXPECT_EQ(board.shutdown_request().kind, ShutdownRequest::Kind::kNone);
}

TEST_F(BoardTest, ResetReturnsDevicesToPowerOnState) {
  Board board(config, bus, clock, {&hart0, &hart1});
  ASSERT_TRUE(bus.write(0x02000000, 4, 1));       // msip hart 0
  ASSERT_TRUE(bus.write(0x02004000, 8, 0));       // mtimecmp hart 0: fires at once
  ASSERT_TRUE(bus.write(0x0c000000 + 4 * 10, 4, 3));
  ASSERT_TRUE(bus.write(0x10000007, 1, 0x42));    // UART scratch
  ASSERT_TRUE(bus.write(0x00100000, 4, 0x7777));  // reboot request
  EXPECT_NE(hart0.sample() & ((1u << 3) | (1u << 7)), 0u);
  board.reset();
  EXPECT_EQ(hart0.sample(), 0u);
  EXPECT_EQ(read(0x0c000000 + 4 * 10), 0u);
  EXPECT_EQ(read(0x10000007, 1), 0u);
  EXPECT_EQ(board.shutdown_request().kind, ShutdownRequest::Kind::kNone);
  EXPECT_EQ(board.next_deadline(), Clint::kNoDeadline);
}

TEST_F(BoardTest, UartInterruptReachesHartThroughPlic) {
  Board board(config, bus, clock, {&hart0, &hart1});
  ASSERT_TRUE(bus.write(0x0c000000 + 4 * 10, 4, 1));          // priority
  ASSERT_TRUE(bus.write(0x0c000000 + 0x2000 + 0x80 * 3, 4, 1u << 10)); // hart 1 S-mode enable
  ASSERT_TRUE(bus.write(0x10000001, 1, 1));                   // IER: receive data
  board.uart().push_input('x');
  EXPECT_TRUE(hart1.sample() & (1u << 9));
  EXPECT_EQ(read(0x0c000000 + 0x200000 + 0x1000 * 3 + 4), 10u); // claim
  EXPECT_FALSE(hart1.sample() & (1u << 9));
  EXPECT_EQ(read(0x10000000, 1), uint64_t{'x'});
  ASSERT_TRUE(bus.write(0x0c000000 + 0x200000 + 0x1000 * 3 + 4, 4, 10)); // complete
  EXPECT_FALSE(hart1.sample() & (1u << 9)) << "the line dropped when the byte was read";
}

TEST_F(BoardTest, TickDrivesTimerAndReportsDeadline) {
  Board board(config, bus, clock, {&hart0, &hart1});
  EXPECT_EQ(board.next_deadline(), Clint::kNoDeadline);
  ASSERT_TRUE(bus.write(0x02004008, 8, 50)); // mtimecmp hart 1
  EXPECT_EQ(board.next_deadline(), 50u);
  clock.skip_to(board.next_deadline());
  board.tick(clock.now());
  EXPECT_TRUE(hart1.sample() & (1u << 7));
  EXPECT_FALSE(hart0.sample() & (1u << 7));
}

TEST_F(BoardTest, VirtioSlotsFollowConfiguration) {
  TempFile disk(std::vector<uint8_t>(4096, 0));
  config.drive_path = disk.path();
  Board board(config, bus, clock, {&hart0, &hart1});
  EXPECT_EQ(read(0x10001000), 0x74726976u);
  EXPECT_EQ(read(0x10001008), 2u); // block
  EXPECT_EQ(read(0x10002008), 4u); // entropy
  uint64_t v = 0;
  EXPECT_FALSE(bus.read(0x10003000, 4, v)) << "empty slot";
  EXPECT_NE(board.virtio(0), nullptr);
  EXPECT_EQ(board.virtio(2), nullptr);
  const void* fdt = board.dtb().data();
  EXPECT_GE(fdt_path_offset(fdt, "/soc/virtio_mmio@10001000"), 0);
  EXPECT_GE(fdt_path_offset(fdt, "/soc/virtio_mmio@10002000"), 0);
  EXPECT_LT(fdt_path_offset(fdt, "/soc/virtio_mmio@10003000"), 0);
}

// QEMU's virt machine seeds Linux's random number generator through /chosen/rng-seed; without
// it a kernel whose virtio-rng driver is a module (Debian's) blocks in getrandom() for seconds.
std::vector<uint8_t> rng_seed_of(const Board& board) {
  const void* fdt = board.dtb().data();
  int len = 0;
  const auto* seed = static_cast<const uint8_t*>(fdt_getprop(fdt, fdt_path_offset(fdt, "/chosen"), "rng-seed", &len));
  return seed == nullptr ? std::vector<uint8_t>{} : std::vector<uint8_t>(seed, seed + len);
}

TEST_F(BoardTest, TheDeviceTreeCarriesA32ByteRngSeedFreshForEachBoard) {
  Clock host_time{false};
  Board first(config, bus, host_time, {&hart0, &hart1});
  const std::vector<uint8_t> a = rng_seed_of(first);
  Bus bus2{Board::kRamBase, kRamSize};
  Board second(config, bus2, host_time, {&hart0, &hart1});
  const std::vector<uint8_t> b = rng_seed_of(second);
  ASSERT_EQ(a.size(), 32u);
  ASSERT_EQ(b.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_NE(a, std::vector<uint8_t>(32, 0));
}

TEST_F(BoardTest, ADeterministicMachineGetsTheSameRngSeedEveryRun) {
  Board first(config, bus, clock, {&hart0, &hart1});
  Bus bus2{Board::kRamBase, kRamSize};
  Board second(config, bus2, clock, {&hart0, &hart1});
  EXPECT_EQ(rng_seed_of(first).size(), 32u);
  EXPECT_EQ(rng_seed_of(first), rng_seed_of(second));
}

TEST_F(BoardTest, NoDriveNoEntropyMeansNoVirtio) {
  config.entropy = false;
  Board board(config, bus, clock, {&hart0, &hart1});
  uint64_t v = 0;
  EXPECT_FALSE(bus.read(0x10001000, 4, v));
  EXPECT_LT(fdt_path_offset(board.dtb().data(), "/soc/virtio_mmio@10001000"), 0);
}

TEST_F(BoardTest, BadDriveIsAnError) {
  config.drive_path = "/no/such/disk.img";
  EXPECT_THROW(Board(config, bus, clock, {&hart0, &hart1}), std::runtime_error);
}

TEST_F(BoardTest, BootsOpenSbiWithKernelAndInitrdLikeQemu) {
  if (!std::ifstream(Board::kDefaultOpenSbi)) GTEST_SKIP() << "Debian's opensbi is not installed";
  Board board(config, bus, clock, {&hart0, &hart1});
  TempFile kernel(make_linux_image(0x1000000, std::vector<uint8_t>(4096, 0x13)));
  TempFile initrd(std::vector<uint8_t>(10000, 0xab));
  BootSpec spec;
  spec.kernel = kernel.path();
  spec.initrd = initrd.path();
  const BootInfo info = board.boot(spec);

  EXPECT_EQ(info.reset_pc, 0x1000u);
  EXPECT_EQ(info.firmware_entry, 0x80000000u);
  EXPECT_EQ(info.kernel_entry, 0x80200000u);
  EXPECT_EQ(info.next_address, 0x80200000u);
  ASSERT_TRUE(info.initrd);
  EXPECT_EQ(info.initrd->start, 0x80200000u + (128u << 20));
  EXPECT_EQ(info.initrd->end, info.initrd->start + 10000);
  EXPECT_EQ(info.dtb_address, 0x8fe00000u);

  // The file, but for Debian's OpenSBI 1.1 the 48 bytes of its hart_start fix (firmware_errata.hpp).
  const auto fw = file_bytes(Board::kDefaultOpenSbi);
  const auto loaded = ram(0x80000000, fw.size());
  if (info.firmware_fixes.empty()) {
    EXPECT_EQ(loaded, fw);
  } else {
    EXPECT_EQ(info.firmware_fixes, std::vector<std::string>{"opensbi-1.1-hsm-hart-start-order"});
    size_t first = fw.size(), last = 0;
    for (size_t i = 0; i < fw.size(); ++i)
      if (loaded[i] != fw[i]) first = std::min(first, i), last = i;
    ASSERT_LT(first, fw.size());
    EXPECT_LT(last - first, 48u);
  }
  EXPECT_EQ(ram(0x80200000, 4096 + 64), file_bytes(kernel.path()));
  EXPECT_EQ(ram(info.initrd->start, 10000), file_bytes(initrd.path()));

  // The reset vector as the harts will fetch it.
  EXPECT_EQ(read(0x1000), 0x00000297u);
  EXPECT_EQ(read(0x1018, 8), 0x80000000u);
  EXPECT_EQ(read(0x1020, 8), 0x8fe00000u);
  EXPECT_EQ(read(0x1028, 8), 0x4942534fu);
  EXPECT_EQ(read(0x1038, 8), 0x80200000u);

  // The DTB in RAM is the board's, with the initrd and bootargs in /chosen.
  const auto& dtb = board.dtb();
  EXPECT_EQ(ram(info.dtb_address, dtb.size()), dtb);
  const int chosen = fdt_path_offset(dtb.data(), "/chosen");
  int len = 0;
  const void* start = fdt_getprop(dtb.data(), chosen, "linux,initrd-start", &len);
  ASSERT_NE(start, nullptr);
  ASSERT_EQ(len, 8);
  fdt64_t value;
  std::memcpy(&value, start, 8); // properties are only 4-byte aligned
  EXPECT_EQ(fdt64_to_cpu(value), info.initrd->start);
  EXPECT_STREQ(static_cast<const char*>(fdt_getprop(dtb.data(), chosen, "bootargs", nullptr)), "console=ttyS0");
}

TEST_F(BoardTest, BiosNoneJumpsStraightToElfKernel) {
  Board board(config, bus, clock, {&hart0, &hart1});
  TempFile kernel(make_elf(EM_RISCV, 0x80000100, {{0x80000000, 0x80000000, std::vector<uint8_t>(512, 0x13), 512}}));
  BootSpec spec;
  spec.bios = "none";
  spec.kernel = kernel.path();
  const BootInfo info = board.boot(spec);
  EXPECT_FALSE(info.firmware_entry);
  EXPECT_EQ(read(0x1018, 8), 0x80000100u);
  EXPECT_EQ(read(0x1020, 8), info.dtb_address);
}

TEST_F(BoardTest, BiosNoneLoadsRawKernelAtRamBase) {
  Board board(config, bus, clock, {&hart0, &hart1});
  TempFile kernel(std::vector<uint8_t>{0x6f, 0, 0, 0});
  BootSpec spec;
  spec.bios = "none";
  spec.kernel = kernel.path();
  board.boot(spec);
  EXPECT_EQ(read(0x80000000), 0x6fu);
  EXPECT_EQ(read(0x1018, 8), 0x80000000u);
}

TEST_F(BoardTest, FirmwareWithoutKernelHandsOverToNextBoundaryAndExtraLoadsLand) {
  TempFile firmware(std::vector<uint8_t>(300 * 1024, 0x13));
  TempFile payload(std::vector<uint8_t>{1, 2, 3, 4, 5});
  Board board(config, bus, clock, {&hart0, &hart1});
  BootSpec spec;
  spec.bios = firmware.path();
  spec.extra.push_back({payload.path(), 0x80400000});
  const BootInfo info = board.boot(spec);
  EXPECT_EQ(info.next_address, 0x80200000u);
  EXPECT_EQ(ram(0x80400000, 5), (std::vector<uint8_t>{1, 2, 3, 4, 5}));
}

TEST_F(BoardTest, BootErrorsNameTheProblem) {
  Board board(config, bus, clock, {&hart0, &hart1});
  BootSpec none;
  none.bios = "none";
  EXPECT_THROW(board.boot(none), BootError);
  TempFile kernel(std::vector<uint8_t>(64, 0x13));
  BootSpec initrd_only;
  initrd_only.bios = "none";
  initrd_only.initrd = kernel.path();
  EXPECT_THROW(board.boot(initrd_only), BootError);
  BootSpec missing;
  missing.bios = "/no/such/firmware.bin";
  try {
    board.boot(missing);
    FAIL();
  } catch (const BootError& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/firmware.bin"), std::string::npos);
  }
  BootSpec outside;
  outside.bios = "none";
  outside.kernel = kernel.path();
  outside.extra.push_back({kernel.path(), 0x10000000});
  EXPECT_THROW(board.boot(outside), BootError);
}

TEST_F(BoardTest, KernelFillingRamLeavesNoRoomForDtb) {
  Board board(config, bus, clock, {&hart0, &hart1});
  TempFile kernel(make_linux_image(kRamSize - 0x1000, {}));
  BootSpec spec;
  spec.bios = "none";
  spec.kernel = kernel.path();
  EXPECT_THROW(board.boot(spec), BootError);
}

} // namespace
} // namespace nimbus::machine

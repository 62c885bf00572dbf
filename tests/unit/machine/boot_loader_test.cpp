#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "machine/boot_loader.hpp"
#include "machine/boot_rom.hpp"
#include "machine/boot_test_files.hpp"

namespace nimbus::machine {
namespace {

using testing::ElfSegment;
using testing::make_elf;
using testing::make_linux_image;
using testing::TempFile;

constexpr uint64_t kRam = 0x80000000;

// The message of the BootError `fn` throws ("" if it does not throw one).
template <typename Fn> std::string boot_error(Fn fn) {
  try {
    fn();
  } catch (const BootError& e) {
    return e.what();
  }
  return "";
}

struct BootLoaderTest : ::testing::Test {
  Bus bus{kRam, 16 << 20};
  uint8_t at(uint64_t paddr) {
    uint8_t b = 0;
    EXPECT_TRUE(bus.copy_from_ram(paddr, &b, 1));
    return b;
  }
};

TEST_F(BootLoaderTest, MissingFileIsNamed) {
  const std::string msg = boot_error([&] { load_image(bus, "/no/such/kernel", kRam); });
  EXPECT_NE(msg.find("/no/such/kernel"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
}

// read_boot_file sizes its buffer from the file (one allocation); a pipe has no size and is read
// as a stream.
TEST(ReadBootFile, ReadsARegularFileExactly) {
  std::vector<uint8_t> bytes(3 * 4096 + 17);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 3);
  const TempFile file(bytes);
  EXPECT_EQ(read_boot_file(file.path()), bytes);
  const TempFile empty(std::vector<uint8_t>{});
  EXPECT_TRUE(read_boot_file(empty.path()).empty());
}

TEST(ReadBootFile, ReadsAPipe) {
  char dir[] = "/tmp/nimbus-boot-fifo-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string fifo = std::string(dir) + "/image";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::vector<uint8_t> bytes(100000);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i % 251);
  std::thread writer([&] {
    std::ofstream out(fifo, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  });
  const std::vector<uint8_t> read = read_boot_file(fifo);
  writer.join();
  std::remove(fifo.c_str());
  rmdir(dir);
  EXPECT_EQ(read, bytes);
}

// An initrd or extra file goes into RAM a piece (1 MiB) at a time: every byte lands, pieces and
// the last partial one alike; a refused placement writes nothing; a pipe works too.
TEST_F(BootLoaderTest, CopiesAFileIntoRamPieceByPiece) {
  std::vector<uint8_t> bytes((2u << 20) + 4096 + 5);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 13 + (i >> 20));
  const TempFile file(bytes);
  uint64_t told = 0;
  EXPECT_EQ(copy_boot_file_to_ram(bus, file.path(), kRam + 0x1000, [&](uint64_t n) { told = n; }), bytes.size());
  EXPECT_EQ(told, bytes.size());
  std::vector<uint8_t> back(bytes.size());
  ASSERT_TRUE(bus.copy_from_ram(kRam + 0x1000, back.data(), back.size()));
  EXPECT_EQ(back, bytes);

  std::memset(bus.ram(), 0, 16 << 20);
  const std::string msg = boot_error([&] {
    copy_boot_file_to_ram(bus, file.path(), kRam, [&](uint64_t) { throw BootError("refused"); });
  });
  EXPECT_EQ(msg, "refused");
  EXPECT_EQ(at(kRam), 0) << "nothing written before the check passed";
  EXPECT_NE(boot_error([&] { copy_boot_file_to_ram(bus, "/no/such/initrd", kRam, [](uint64_t) {}); }).find("cannot open"),
            std::string::npos);

  char dir[] = "/tmp/nimbus-boot-fifo-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string fifo = std::string(dir) + "/initrd";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] {
    std::ofstream out(fifo, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), 70000);
  });
  EXPECT_EQ(copy_boot_file_to_ram(bus, fifo, kRam + 0x10, [](uint64_t) {}), 70000u);
  writer.join();
  std::remove(fifo.c_str());
  rmdir(dir);
  EXPECT_EQ(at(kRam + 0x10 + 69999), bytes[69999]);
}

TEST_F(BootLoaderTest, LoadsElfSegmentsAndZeroesBss) {
  std::memset(bus.ram(), 0xff, 0x3000);
  const auto elf = make_elf(EM_RISCV, kRam + 0x10,
                            {{kRam, kRam, {1, 2, 3, 4}, 0x100}, {kRam + 0x2000, kRam + 0x2000, {9, 9}, 2}});
  TempFile f(elf);
  const LoadedImage img = load_image(bus, f.path(), 0);
  EXPECT_TRUE(img.elf);
  EXPECT_EQ(img.entry, kRam + 0x10);
  EXPECT_EQ(img.start, kRam);
  EXPECT_EQ(img.end, kRam + 0x2002);
  EXPECT_EQ(at(kRam + 3), 4);
  EXPECT_EQ(at(kRam + 4), 0) << "BSS is zeroed";
  EXPECT_EQ(at(kRam + 0xff), 0);
  EXPECT_EQ(at(kRam + 0x100), 0xff) << "nothing past memsz is touched";
  EXPECT_EQ(at(kRam + 0x2001), 9);
}

TEST_F(BootLoaderTest, ElfEntryAtVirtualAddressIsTranslatedToPhysical) {
  const auto elf = make_elf(EM_RISCV, 0xffffffff80000040ull, {{0xffffffff80000000ull, kRam, {0x13, 0, 0, 0}, 0x1000}});
  TempFile f(elf);
  EXPECT_EQ(load_image(bus, f.path(), 0).entry, kRam + 0x40);
}

TEST_F(BootLoaderTest, X86ElfIsRefused) {
  TempFile f(make_elf(EM_X86_64, 0x401000, {{0x401000, 0x401000, {0x90}, 1}}));
  const std::string msg = boot_error([&] { load_image(bus, f.path(), kRam); });
  EXPECT_NE(msg.find(f.path()), std::string::npos) << msg;
  EXPECT_NE(msg.find("not RISC-V"), std::string::npos) << msg;
}

TEST_F(BootLoaderTest, HostBinaryIsRefused) {
  // A real x86-64 executable from the host.
  const std::string msg = boot_error([&] { load_image(bus, "/bin/true", kRam); });
  EXPECT_NE(msg.find("/bin/true"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not RISC-V"), std::string::npos) << msg;
}

TEST_F(BootLoaderTest, ThirtyTwoBitElfIsRefused) {
  TempFile f(make_elf(EM_RISCV, kRam, {{kRam, kRam, {1}, 1}}, ELFCLASS32));
  EXPECT_NE(boot_error([&] { load_image(bus, f.path(), kRam); }).find("not a 64-bit ELF"), std::string::npos);
}

TEST_F(BootLoaderTest, TruncatedElfIsRefused) {
  auto elf = make_elf(EM_RISCV, kRam, {{kRam, kRam, std::vector<uint8_t>(256, 7), 256}});
  {
    TempFile f(std::vector<uint8_t>(elf.begin(), elf.begin() + 40));
    EXPECT_NE(boot_error([&] { load_image(bus, f.path(), kRam); }).find("truncated ELF header"), std::string::npos);
  }
  {
    TempFile f(std::vector<uint8_t>(elf.begin(), elf.begin() + 80));
    EXPECT_NE(boot_error([&] { load_image(bus, f.path(), kRam); }).find("program headers"), std::string::npos);
  }
  {
    TempFile f(std::vector<uint8_t>(elf.begin(), elf.end() - 10));
    const std::string msg = boot_error([&] { load_image(bus, f.path(), kRam); });
    EXPECT_NE(msg.find("truncated: segment 0"), std::string::npos) << msg;
  }
}

TEST_F(BootLoaderTest, SegmentOutsideRamIsRefused) {
  TempFile f(make_elf(EM_RISCV, 0x1000, {{0x1000, 0x1000, {1, 2}, 2}}));
  const std::string msg = boot_error([&] { load_image(bus, f.path(), kRam); });
  EXPECT_NE(msg.find("outside RAM"), std::string::npos) << msg;
  TempFile huge(make_elf(EM_RISCV, kRam, {{kRam, kRam, {1, 2}, 1ull << 40}}));
  EXPECT_NE(boot_error([&] { load_image(bus, huge.path(), kRam); }).find("outside RAM"), std::string::npos);
}

TEST_F(BootLoaderTest, ElfWithoutLoadableSegmentsIsRefused) {
  TempFile f(make_elf(EM_RISCV, kRam, {}));
  EXPECT_NE(boot_error([&] { load_image(bus, f.path(), kRam); }).find("no program headers"), std::string::npos);
}

TEST_F(BootLoaderTest, GarbageLoadsAsRawButNotAsElf) {
  std::vector<uint8_t> garbage(100);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<uint8_t>(i * 37 + 11);
  TempFile f(garbage);
  EXPECT_NE(boot_error([&] { load_elf(bus, f.path(), garbage); }).find("not an ELF"), std::string::npos);
  const LoadedImage img = load_image(bus, f.path(), kRam + 0x1000);
  EXPECT_FALSE(img.elf);
  EXPECT_FALSE(img.linux_image);
  EXPECT_EQ(img.end, kRam + 0x1000 + 100);
  EXPECT_EQ(at(kRam + 0x1000 + 99), garbage[99]);
}

TEST_F(BootLoaderTest, RawThatDoesNotFitIsRefused) {
  TempFile f(std::vector<uint8_t>(64, 1));
  const std::string msg = boot_error([&] { load_image(bus, f.path(), kRam + (16 << 20) - 32); });
  EXPECT_NE(msg.find("do not fit in RAM"), std::string::npos) << msg;
  TempFile empty(std::vector<uint8_t>{});
  EXPECT_NE(boot_error([&] { load_image(bus, empty.path(), kRam); }).find("empty"), std::string::npos);
}

TEST_F(BootLoaderTest, LinuxImageReservesItsImageSize) {
  TempFile f(make_linux_image(0x400000, std::vector<uint8_t>(1000, 0x13)));
  const LoadedImage img = load_image(bus, f.path(), kRam + 0x200000);
  EXPECT_TRUE(img.linux_image);
  EXPECT_EQ(img.entry, kRam + 0x200000);
  EXPECT_EQ(img.end, kRam + 0x200000 + 0x400000);
  TempFile too_big(make_linux_image(1ull << 40, {}));
  EXPECT_NE(boot_error([&] { load_image(bus, too_big.path(), kRam); }).find("Image header"), std::string::npos);
}

TEST(BootPlacement, MatchesQemuVirt) {
  EXPECT_EQ(kernel_address_after_firmware(0x80000000 + 115328), 0x80200000u);
  EXPECT_EQ(kernel_address_after_firmware(0x80200000), 0x80200000u);
  EXPECT_EQ(initrd_address(0x80200000, 256 * kMiB), 0x80200000u + 128 * kMiB);
  EXPECT_EQ(initrd_address(0x80200000, 64 * kMiB), 0x80200000u + 32 * kMiB);
  EXPECT_EQ(dtb_address(0x80000000, 256 * kMiB, 4590), 0x8fe00000u);
  EXPECT_EQ(dtb_address(0x80000000, 256 * kMiB, 3 * kMiB), 0x8fc00000u);
  // Large RAM: the DTB stays below 3 GiB so 32-bit-minded firmware can reach it.
  EXPECT_EQ(dtb_address(0x80000000, 4096 * kMiB, 4590), 0xbfe00000u);
}

TEST(BootRom, LayoutMatchesQemuResetVector) {
  FwDynamicInfo info;
  info.next_addr = 0x80200000;
  const auto rom = BootRom::build(0x80000000, 0x8fe00000, info);
  ASSERT_EQ(rom.size(), 0x28u + 6 * 8);
  auto u64 = [&](size_t at) {
    uint64_t v = 0;
    std::memcpy(&v, rom.data() + at, 8);
    return v;
  };
  EXPECT_EQ(u64(0x18), 0x80000000u);
  EXPECT_EQ(u64(0x20), 0x8fe00000u);
  EXPECT_EQ(u64(0x28), FwDynamicInfo::kMagic);
  EXPECT_EQ(u64(0x30), 2u);
  EXPECT_EQ(u64(0x38), 0x80200000u);
  EXPECT_EQ(u64(0x40), 1u); // S-mode
  EXPECT_EQ(u64(0x48), 0u);
  EXPECT_EQ(u64(0x50), 0u);

  BootRom dev;
  dev.set_contents(rom);
  uint64_t v = 0;
  ASSERT_TRUE(dev.read(0x18, 8, v));
  EXPECT_EQ(v, 0x80000000u);
  ASSERT_TRUE(dev.read(0x0, 4, v));
  EXPECT_EQ(v, 0x00000297u);
  EXPECT_FALSE(dev.write(0, 4, 0)) << "ROM is read-only";
  ASSERT_TRUE(dev.read(0x800, 4, v));
  EXPECT_EQ(v, 0u);
  // Harts execute straight from the ROM's storage.
  const uint8_t* code = dev.code_pointer(0, 24);
  ASSERT_NE(code, nullptr);
  EXPECT_EQ(std::memcmp(code, rom.data(), 24), 0);
  EXPECT_EQ(dev.code_pointer(BootRom::kSize - 4, 8), nullptr);
  EXPECT_NE(dev.code_pointer(BootRom::kSize - 4, 4), nullptr);
  EXPECT_THROW(dev.set_contents(std::vector<uint8_t>(BootRom::kSize + 1)), std::invalid_argument);
}

TEST(BootRom, DisassemblesToTheIntendedInstructions) {
  if (std::system("command -v riscv64-linux-gnu-objdump >/dev/null 2>&1") != 0) GTEST_SKIP() << "no objdump";
  const auto rom = BootRom::build(0x80000000, 0x8fe00000, {});
  TempFile f(std::vector<uint8_t>(rom.begin(), rom.begin() + 24));
  const std::string out = f.path() + ".txt";
  const std::string cmd =
      "riscv64-linux-gnu-objdump -D -b binary -m riscv:rv64 -M no-aliases,numeric " + f.path() + " > " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(out);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(out.c_str());
  EXPECT_NE(text.find("auipc\tx5,0x0"), std::string::npos) << text;
  EXPECT_NE(text.find("addi\tx12,x5,40"), std::string::npos) << text;
  EXPECT_NE(text.find("csrrs\tx10,mhartid,x0"), std::string::npos) << text;
  EXPECT_NE(text.find("ld\tx11,32(x5)"), std::string::npos) << text;
  EXPECT_NE(text.find("ld\tx5,24(x5)"), std::string::npos) << text;
  EXPECT_NE(text.find("jalr\tx0,0(x5)"), std::string::npos) << text;
}

} // namespace
} // namespace nimbus::machine

#include <gtest/gtest.h>

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "machine/devices/virtio_test_driver.hpp"
#include "machine/devices/virtio_block.hpp"

namespace nimbus::machine {
namespace {

using testing::VirtioTestDriver;
using B = VirtioBlock;
constexpr uint64_t kHeader = VirtioTestDriver::kBuffers;
constexpr uint64_t kData = VirtioTestDriver::kBuffers + 0x1000;
constexpr uint64_t kStatus = VirtioTestDriver::kBuffers + 0x800;

std::string temp_image(size_t bytes, char fill) {
  char name[] = "/tmp/nimbus-blk-XXXXXX";
  const int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  const std::string data(bytes, fill);
  EXPECT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  close(fd);
  return name;
}

std::string file_contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct VirtioBlockTest : ::testing::Test {
  std::string path = temp_image(8 * 512, 'x');
  Bus bus{VirtioTestDriver::kRamBase, 1 << 20};
  std::unique_ptr<VirtioMmio> transport;
  B* block = nullptr;
  std::unique_ptr<VirtioTestDriver> driver;

  void SetUp() override { open(false); }
  void TearDown() override { std::remove(path.c_str()); }

  void open(bool read_only) {
    driver.reset();
    transport.reset();
    auto dev = std::make_unique<B>(path, read_only);
    block = dev.get();
    transport = std::make_unique<VirtioMmio>(bus, std::move(dev), IrqLine{});
    driver = std::make_unique<VirtioTestDriver>(bus, *transport);
    ASSERT_TRUE(driver->init(VirtioMmio::kFeatureVersion1 | B::kFeatureFlush | (read_only ? B::kFeatureRo : 0)));
  }

  // Submits header / data / status as three descriptors; returns the status byte.
  uint8_t request(uint32_t type, uint64_t sector, uint32_t data_len, bool device_writes_data) {
    uint8_t header[16] = {};
    std::memcpy(header, &type, 4);
    std::memcpy(header + 8, &sector, 8);
    EXPECT_TRUE(bus.copy_to_ram(kHeader, header, 16));
    const uint8_t sentinel = 0xee;
    EXPECT_TRUE(bus.copy_to_ram(kStatus, &sentinel, 1));
    uint16_t n = 0;
    driver->set_desc(n, kHeader, 16, Virtqueue::kDescNext, static_cast<uint16_t>(n + 1));
    ++n;
    if (data_len) {
      driver->set_desc(n, kData, data_len, (device_writes_data ? Virtqueue::kDescWrite : 0) | Virtqueue::kDescNext,
                       static_cast<uint16_t>(n + 1));
      ++n;
    }
    driver->set_desc(n, kStatus, 1, Virtqueue::kDescWrite);
    driver->make_available(0);
    const uint16_t before = driver->used_idx();
    driver->notify();
    EXPECT_EQ(driver->used_idx(), static_cast<uint16_t>(before + 1)) << transport->last_error();
    last_used_len = driver->used(before).second;
    uint8_t status = 0;
    EXPECT_TRUE(bus.copy_from_ram(kStatus, &status, 1));
    return status;
  }
  uint32_t last_used_len = 0;
};

TEST_F(VirtioBlockTest, ConfigReportsCapacityAndBlockSize) {
  uint64_t v = 0;
  ASSERT_TRUE(transport->read(VirtioMmio::kConfig, 8, v));
  EXPECT_EQ(v, 8u);
  ASSERT_TRUE(transport->read(VirtioMmio::kConfig + 0x14, 4, v));
  EXPECT_EQ(v, 512u);
  ASSERT_TRUE(transport->read(VirtioMmio::kConfig + 0x0c, 4, v));
  EXPECT_GT(v, 0u);
  EXPECT_EQ(driver->reg(VirtioMmio::kDeviceId), 2u);
  const uint64_t f = driver->device_features();
  EXPECT_TRUE(f & B::kFeatureFlush);
  EXPECT_TRUE(f & B::kFeatureSegMax);
  EXPECT_TRUE(f & B::kFeatureBlkSize);
  EXPECT_FALSE(f & B::kFeatureRo);
}

TEST_F(VirtioBlockTest, ReadsSectors) {
  std::FILE* f = std::fopen(path.c_str(), "r+b");
  std::fseek(f, 3 * 512, SEEK_SET);
  std::fputs("sector three", f);
  std::fclose(f);
  EXPECT_EQ(request(B::kTypeIn, 3, 1024, true), B::kStatusOk);
  EXPECT_EQ(last_used_len, 1025u);
  char got[13] = {};
  ASSERT_TRUE(bus.copy_from_ram(kData, got, 12));
  EXPECT_STREQ(got, "sector three");
}

TEST_F(VirtioBlockTest, WriteThenFlushIsInTheFile) {
  const std::string data(512, 'W');
  ASSERT_TRUE(bus.copy_to_ram(kData, data.data(), data.size()));
  EXPECT_EQ(request(B::kTypeOut, 5, 512, false), B::kStatusOk);
  EXPECT_EQ(last_used_len, 1u);
  EXPECT_EQ(request(B::kTypeFlush, 0, 0, false), B::kStatusOk);
  const std::string file = file_contents(path);
  ASSERT_EQ(file.size(), 8u * 512);
  EXPECT_EQ(file.substr(5 * 512, 512), data);
  EXPECT_EQ(file.substr(4 * 512, 512), std::string(512, 'x'));
  EXPECT_EQ(file.substr(6 * 512, 512), std::string(512, 'x'));
}

TEST_F(VirtioBlockTest, OutOfRangeSectorsAreIoErrors) {
  EXPECT_EQ(request(B::kTypeIn, 8, 512, true), B::kStatusIoErr);
  EXPECT_EQ(request(B::kTypeIn, 7, 1024, true), B::kStatusIoErr);
  EXPECT_EQ(request(B::kTypeOut, ~uint64_t{0}, 512, false), B::kStatusIoErr);
  EXPECT_EQ(request(B::kTypeIn, 7, 512, true), B::kStatusOk);
  EXPECT_EQ(file_contents(path), std::string(8 * 512, 'x'));
}

TEST_F(VirtioBlockTest, PartialSectorIsAnIoError) {
  EXPECT_EQ(request(B::kTypeIn, 0, 100, true), B::kStatusIoErr);
}

TEST_F(VirtioBlockTest, GetIdReturnsTheFileName) {
  EXPECT_EQ(request(B::kTypeGetId, 0, 20, true), B::kStatusOk);
  char id[21] = {};
  ASSERT_TRUE(bus.copy_from_ram(kData, id, 20));
  const std::string base = path.substr(path.rfind('/') + 1);
  EXPECT_EQ(std::string(id), base.substr(0, 20));
}

TEST_F(VirtioBlockTest, UnknownTypeIsUnsupported) { EXPECT_EQ(request(77, 0, 0, false), B::kStatusUnsupported); }

TEST_F(VirtioBlockTest, ReadOnlyDriveRefusesWrites) {
  open(true);
  EXPECT_TRUE(driver->device_features() & B::kFeatureRo);
  const std::string data(512, 'W');
  ASSERT_TRUE(bus.copy_to_ram(kData, data.data(), data.size()));
  EXPECT_EQ(request(B::kTypeOut, 0, 512, false), B::kStatusIoErr);
  EXPECT_EQ(file_contents(path), std::string(8 * 512, 'x'));
  EXPECT_EQ(request(B::kTypeIn, 0, 512, true), B::kStatusOk);
}

TEST_F(VirtioBlockTest, ReadOnlyFileIsServedReadOnly) {
  if (geteuid() == 0) GTEST_SKIP() << "root can write any file";
  chmod(path.c_str(), 0444);
  driver.reset();
  transport.reset(); // the fixture's read-write attach holds the exclusive lock
  B dev(path, false);
  EXPECT_TRUE(dev.read_only());
  EXPECT_TRUE(dev.features() & B::kFeatureRo);
}

TEST_F(VirtioBlockTest, RequestWithoutStatusByteNeedsReset) {
  uint8_t header[16] = {};
  ASSERT_TRUE(bus.copy_to_ram(kHeader, header, 16));
  driver->set_desc(0, kHeader, 16, 0);
  driver->make_available(0);
  driver->notify();
  EXPECT_TRUE(driver->needs_reset());
}

// The error of an attach that finds the image locked.
std::string lock_error(const std::string& path, bool read_only) {
  try {
    B dev(path, read_only);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return {};
}

TEST_F(VirtioBlockTest, SecondReadWriteAttachIsRefusedNamingImageAndHolder) {
  const std::string error = lock_error(path, false);
  ASSERT_FALSE(error.empty()) << "a second read-write attach of a locked image succeeded";
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("in use by pid " + std::to_string(getpid())), std::string::npos) << error;
}

TEST_F(VirtioBlockTest, ReadOnlyAttachIsRefusedWhileAWriterHoldsTheImage) {
  EXPECT_NE(lock_error(path, true).find("in use"), std::string::npos);
}

TEST_F(VirtioBlockTest, ReadOnlyAttachesShareButExcludeAWriter) {
  open(true);
  EXPECT_EQ(lock_error(path, true), "");
  EXPECT_NE(lock_error(path, false).find("in use"), std::string::npos);
}

TEST_F(VirtioBlockTest, LockIsReleasedWithTheDevice) {
  driver.reset();
  transport.reset();
  EXPECT_EQ(lock_error(path, false), "");
  EXPECT_EQ(lock_error(path, false), ""); // and again: the first one's destructor released it
}

TEST_F(VirtioBlockTest, HolderInAnotherProcessIsNamed) {
  driver.reset();
  transport.reset();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int fd = ::open(path.c_str(), O_RDWR);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) _exit(1);
    if (write(ready[1], "x", 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  const std::string error = lock_error(path, false);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(ready[0]);
  close(ready[1]);
  EXPECT_NE(error.find("in use by pid " + std::to_string(child)), std::string::npos) << error;
  EXPECT_EQ(lock_error(path, false), ""); // kill -9 of the holder frees the image
}

TEST(VirtioBlockOpen, MissingFileNamesThePath) {
  try {
    B dev("/nonexistent/disk.img", false);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/disk.img"), std::string::npos) << e.what();
  }
}

TEST(VirtioBlockOpen, DirectoryIsRefused) { EXPECT_THROW(B("/tmp", false), std::runtime_error); }

} // namespace
} // namespace nimbus::machine

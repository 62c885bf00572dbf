// Live migration between two Vms in one process over a socketpair (migration.hpp): a guest that
// keeps rewriting 1 MiB of memory while it hashes it is migrated mid-run; what the source printed
// before the hand-off plus what the destination prints after is exactly an unmigrated run's
// output (every page it wrote arrived: the dirty log saw every write path). A destination that
// goes away before the hand-off leaves the VM running on the source to the same end.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "hypervisor/fake_guest_cpu.hpp"
#include "hypervisor/migration.hpp"
#include "hypervisor/vm.hpp"
#include "machine/boot_test_files.hpp"
#include "machine/devices/virtio_test_driver.hpp"
#include "machine/hart_assembler.hpp"

namespace nimbus::hypervisor {
namespace {

using namespace nimbus::test::as;
using machine::testing::TempFile;
using testing::BufferConsole;

constexpr uint32_t a6 = 16, a7 = 17, s2 = 18, s3 = 19, s4 = 20, s5 = 21, t3 = 28;

// 160 passes over the 1 MiB at 0x8010_0000: word = hash = hash * 31 + word + offset; a '.'
// per pass, then the hash as 16 letters and SRST shutdown.
std::vector<uint8_t> dirtying_guest() {
  std::vector<uint32_t> c;
  c.push_back(addi(s2, zero, 0));
  c.push_back(addi(t1, zero, 31));
  li32(c, s3, 0x801);
  c.push_back(slli(s3, s3, 20));
  c.push_back(addi(s4, zero, 0));
  li32(c, s5, 160);
  const size_t pass = c.size();
  c.push_back(addi(s1, zero, 0));
  li32(c, t0, 1u << 20);
  const size_t inner = c.size();
  c.push_back(add(t2, s3, s1));
  c.push_back(ld(t3, t2, 0));
  c.push_back(mul(s2, s2, t1));
  c.push_back(add(s2, s2, t3));
  c.push_back(add(s2, s2, s1));
  c.push_back(sd(s2, t2, 0));
  c.push_back(addi(s1, s1, 8));
  c.push_back(blt(s1, t0, -static_cast<int32_t>((c.size() - inner) * 4)));
  c.push_back(addi(a0, zero, '.'));
  sbi_putchar_a0(c);
  c.push_back(addi(s4, s4, 1));
  c.push_back(blt(s4, s5, -static_cast<int32_t>((c.size() - pass) * 4)));
  sbi_print_letters_and_shutdown(c, s2);
  std::vector<uint8_t> bytes(c.size() * 4);
  std::memcpy(bytes.data(), c.data(), bytes.size());
  return bytes;
}

VmConfig config_for(const TempFile& kernel, VirtMode mode = VirtMode::emulate) {
  VmConfig config;
  config.name = "mig";
  config.memory_bytes = 16 << 20;
  config.kernel = kernel.path();
  config.mode = mode;
  return config;
}

void run_to_halt(Vm& vm) {
  for (int i = 0; i < 20000 && vm.state() == Vm::State::running; ++i) {
    if (vm.run(std::chrono::milliseconds(1)).stop == RunResult::Stop::wait)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

constexpr uint64_t kFrame = 2 << 20;

// Every mode: emulate (soft-TLB store entries and the bus's slow paths mark the log), trap
// (shadow leaves writable only after a store fault that marks the page), hw (G-stage leaves
// likewise).
class VmMigrationModes : public ::testing::TestWithParam<VirtMode> {};

// The interpreter, for the tests that move a running guest: they need one that dirties its 1 MiB
// slower than the 8 MiB/s link copies, or pre-copy never converges here (no scheduler throttles
// a bare Vm::run), and the guest's speed under the JIT depends on the host's load (it finished
// before the switch-over on a quiet machine). The JIT's stores reach the dirty log too: the
// dirty-log test below runs with it, and the migration integration tests check guests' results.
VmOptions interpreter() {
  VmOptions options;
  options.jit = false;
  return options;
}

TEST_P(VmMigrationModes, AMigratedGuestPrintsWhatAnUnmigratedRunPrints) {
  const VirtMode mode = GetParam();
  TempFile kernel(dirtying_guest());
  FramePool pool_a(32 << 20, kFrame);
  BufferConsole whole;
  Vm reference(config_for(kernel, mode), pool_a, whole, interpreter());
  run_to_halt(reference);
  ASSERT_EQ(reference.state(), Vm::State::powered_off) << reference.reason();
  ASSERT_EQ(whole.output.size(), 160u + 16u);

  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  FramePool pool_b(32 << 20, kFrame), pool_c(32 << 20, kFrame);
  BufferConsole first, rest;
  Vm source(config_for(kernel, mode), pool_b, first, interpreter());
  std::thread runner([&] { run_to_halt(source); });
  std::unique_ptr<Vm> destination;
  std::string receive_error;
  std::thread receiver([&] {
    try {
      migration::Incoming incoming(fds[1]);
      VmOptions options = interpreter();
      options.incoming = true;
      destination = std::make_unique<Vm>(incoming.hello(std::chrono::seconds(5)).config, pool_c, rest, options);
      incoming.receive(*destination);
    } catch (const std::exception& error) {
      receive_error = error.what();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  migration::SendOptions options;
  options.destination = "socketpair";
  // A slow link (pre-copy's bandwidth limit): the guest sweeps its 1 MiB many times during
  // round 0, so what it rewrites meanwhile must reach the destination through the log.
  options.max_bandwidth = 8 << 20;
  migration::SendReport report;
  try {
    report = migration::send_vm(source, fds[0], options);
  } catch (const std::exception& error) {
    ADD_FAILURE() << error.what();
  }
  receiver.join();
  runner.join();
  ASSERT_EQ(receive_error, "");
  ASSERT_EQ(source.state(), Vm::State::migrated) << source.reason();
  EXPECT_GE(report.rounds, 2u);
  EXPECT_GT(report.pages_sent, 0u);
  ASSERT_LT(first.output.size(), 160u) << "the guest finished before the migration: make it longer";
  run_to_halt(*destination);
  ASSERT_EQ(destination->state(), Vm::State::powered_off) << destination->reason();
  EXPECT_EQ(first.output + rest.output, whole.output);
  EXPECT_EQ(destination->config().mode, mode);
}

TEST_P(VmMigrationModes, EveryTakeOfTheDirtyLogSeesTheNextRewriteOfAPage) {
  // The guest rewrites the same 256 pages over and over; after each take, its stores through
  // translations it already holds (soft-TLB store entries; shadow or G-stage leaves made
  // writable in the last round) must mark the pages again (the take drops or write-protects them).
  TempFile kernel(dirtying_guest());
  FramePool pool(32 << 20, kFrame);
  BufferConsole output;
  Vm vm(config_for(kernel, GetParam()), pool, output);
  vm.run(std::chrono::milliseconds(5));
  vm.start_dirty_log();
  const uint64_t buffer_first = (0x8010'0000 - machine::Board::kRamBase) / 4096;
  for (int take = 0; take < 3; ++take) {
    // Two whole passes over the buffer (a '.' each), however slowly the host runs us.
    const size_t dots = output.output.size();
    for (int i = 0; i < 100000 && output.output.size() < dots + 2; ++i) vm.run(std::chrono::milliseconds(1));
    ASSERT_EQ(vm.state(), Vm::State::running);
    ASSERT_GE(output.output.size(), dots + 2);
    const std::vector<uint64_t> bits = vm.take_dirty_log();
    uint64_t marked = 0;
    for (uint64_t page = buffer_first; page < buffer_first + 256; ++page) marked += bits[page / 64] >> (page % 64) & 1;
    EXPECT_EQ(marked, 256u) << "take " << take;
  }
  vm.stop_dirty_log();
  // Logging off: the pages it write-protected become writable again and the guest ends as it should.
  run_to_halt(vm);
  EXPECT_EQ(vm.state(), Vm::State::powered_off) << vm.reason();
  EXPECT_EQ(output.output.size(), 160u + 16u);
}

INSTANTIATE_TEST_SUITE_P(Modes, VmMigrationModes, ::testing::Values(VirtMode::emulate, VirtMode::trap, VirtMode::hw),
                         [](const auto& mode_info) { return std::string(to_string(mode_info.param)); });

// --with-disk: while the VM migrates (pre-copy slowed to 8 MiB/s, so there are rounds), 4 KiB
// writes keep reaching its virtio disk through the device's queue (the test drives the queue
// at the VM's round boundaries, as a guest driver would between two of its instructions). The
// destination's own image must hold exactly what was written before the stop: the initial data
// (round 0), the blocks rewritten during pre-copy (rounds) and those of the last moments (the
// final copy with the VM stopped).
class VmMigrationDisk : public ::testing::TestWithParam<VirtMode> {};

TEST_P(VmMigrationDisk, TheDestinationsDiskHoldsEveryBlockWrittenBeforeTheStop) {
  namespace fs = std::filesystem;
  using Driver = machine::testing::VirtioTestDriver;
  constexpr uint64_t kDiskBytes = 1 << 20;
  char dir_name[] = "/tmp/nimbus-migration-disk.XXXXXX";
  ASSERT_NE(::mkdtemp(dir_name), nullptr);
  const fs::path dir = dir_name;
  const fs::path source_disk = dir / "source.img", copy = dir / "copy.img";
  std::vector<uint8_t> expected(kDiskBytes, 0);
  for (size_t i = 0; i < 64 * 1024; ++i) expected[i] = static_cast<uint8_t>(i * 7 + 1);   // data before the boot
  {
    std::ofstream out(source_disk, std::ios::binary);
    out.write(reinterpret_cast<const char*>(expected.data()), static_cast<std::streamsize>(expected.size()));
  }

  TempFile kernel(dirtying_guest());
  VmConfig config = config_for(kernel, GetParam());
  config.disk = source_disk.string();
  FramePool pool_b(32 << 20, kFrame), pool_c(32 << 20, kFrame);
  BufferConsole first, rest;
  Vm source(config, pool_b, first, interpreter()); // slower than its link: see interpreter()
  machine::VirtioMmio* transport = nullptr;
  for (unsigned slot = 0; slot < 8 && transport == nullptr; ++slot)
    if (auto* t = source.board().virtio(slot); t != nullptr && t->device().device_id() == machine::VirtioBlock::kDeviceId)
      transport = t;
  ASSERT_NE(transport, nullptr);
  Driver driver(source.bus(), *transport);
  std::atomic<int> writes{0};
  std::atomic<bool> driver_failed{false};
  // One write request at a round boundary: block k*37 % 256, filled with k's byte.
  std::function<void()> write_one = [&] {
    const int k = writes.load();
    if (k == 0 && !driver.init()) driver_failed = true;
    const uint64_t block = (static_cast<uint64_t>(k) * 37) % (kDiskBytes / 4096);
    uint8_t header[16] = {};
    const uint32_t type = machine::VirtioBlock::kTypeOut;
    const uint64_t sector = block * 8;
    std::memcpy(header, &type, 4);
    std::memcpy(header + 8, &sector, 8);
    std::vector<uint8_t> data(4096, static_cast<uint8_t>(0x80 + k % 100));
    const uint8_t status = 0xff;
    source.bus().copy_to_ram(Driver::kBuffers, header, sizeof header);
    source.bus().copy_to_ram(Driver::kBuffers + 0x1000, data.data(), data.size());
    source.bus().copy_to_ram(Driver::kBuffers + 0x3000, &status, 1);
    driver.set_desc(0, Driver::kBuffers, 16, 1, 1);
    driver.set_desc(1, Driver::kBuffers + 0x1000, 4096, 1, 2);
    driver.set_desc(2, Driver::kBuffers + 0x3000, 1, 2);
    const uint16_t before = driver.used_idx();
    driver.make_available(0);
    driver.notify();
    uint8_t done = 0xff;
    source.bus().copy_from_ram(Driver::kBuffers + 0x3000, &done, 1);
    if (driver.used_idx() != static_cast<uint16_t>(before + 1) || done != machine::VirtioBlock::kStatusOk) {
      driver_failed = true;
      return;
    }
    std::memcpy(expected.data() + block * 4096, data.data(), data.size());   // completed: on the disk
    writes.fetch_add(1);
  };

  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  std::thread runner([&] { run_to_halt(source); });
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    while (writing.load() && source.state() == Vm::State::running) {
      source.run_at_boundary(write_one);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::unique_ptr<Vm> destination;
  std::string receive_error;
  std::thread receiver([&] {
    try {
      migration::Incoming incoming(fds[1]);
      VmConfig arrived = incoming.hello(std::chrono::seconds(5)).config;
      EXPECT_EQ(incoming.expect_disk(copy, std::chrono::seconds(5)), kDiskBytes);
      arrived.disk = copy.string();
      VmOptions options = interpreter();
      options.incoming = true;
      destination = std::make_unique<Vm>(arrived, pool_c, rest, options);
      incoming.receive(*destination);
    } catch (const std::exception& error) {
      receive_error = error.what();
    }
  });
  // Some writes before the migration starts, so round 0 carries some of them.
  for (int i = 0; i < 2000 && writes.load() < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  migration::SendOptions options;
  options.destination = "socketpair";
  options.max_bandwidth = 8 << 20;
  options.with_disk = true;
  migration::SendReport report;
  try {
    report = migration::send_vm(source, fds[0], options);
  } catch (const std::exception& error) {
    ADD_FAILURE() << error.what();
  }
  writing = false;
  writer.join();
  receiver.join();
  runner.join();
  ASSERT_EQ(receive_error, "");
  ASSERT_FALSE(driver_failed.load());
  ASSERT_EQ(source.state(), Vm::State::migrated) << source.reason();
  EXPECT_GE(report.rounds, 2u);
  EXPECT_GT(report.disk_blocks_sent, 16u);   // round 0's 16 blocks of data and the rewritten ones
  EXPECT_GT(writes.load(), 10) << "too few writes during the migration to tell";
  std::vector<uint8_t> got(kDiskBytes);
  {
    std::ifstream in(copy, std::ios::binary);
    in.read(reinterpret_cast<char*>(got.data()), static_cast<std::streamsize>(got.size()));
    EXPECT_EQ(in.gcount(), static_cast<std::streamsize>(kDiskBytes));
  }
  size_t differing = 0;
  for (size_t block = 0; block < kDiskBytes / 4096; ++block)
    differing += std::memcmp(got.data() + block * 4096, expected.data() + block * 4096, 4096) != 0;
  EXPECT_EQ(differing, 0u) << "of " << kDiskBytes / 4096 << " blocks, after " << writes.load() << " writes";
  // The VM runs on there, on its copy, to the same end.
  ASSERT_NE(destination, nullptr);
  EXPECT_EQ(destination->disk()->path(), copy.string());
  run_to_halt(*destination);
  EXPECT_EQ(destination->state(), Vm::State::powered_off) << destination->reason();
  destination.reset();
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Modes, VmMigrationDisk, ::testing::Values(VirtMode::emulate, VirtMode::hw),
                         [](const auto& mode_info) { return std::string(to_string(mode_info.param)); });

TEST(VmMigration, ADestinationThatGoesAwayLeavesTheVmRunningOnTheSource) {
  TempFile kernel(dirtying_guest());
  FramePool pool_a(32 << 20, kFrame);
  BufferConsole whole;
  Vm reference(config_for(kernel), pool_a, whole, interpreter());
  run_to_halt(reference);

  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  FramePool pool_b(32 << 20, kFrame);
  BufferConsole output;
  Vm source(config_for(kernel), pool_b, output, interpreter());
  std::thread runner([&] { run_to_halt(source); });
  // The "destination" accepts, takes some pages, then dies.
  std::thread receiver([&] {
    migration::Channel channel(fds[1]);
    channel.receive(std::chrono::seconds(5));
    channel.send(migration::FrameType::accept);
    channel.receive(std::chrono::seconds(5));
  });
  migration::SendOptions options;
  options.destination = "socketpair";
  std::string error;
  try {
    migration::send_vm(source, fds[0], options);
  } catch (const migration::MigrationError& e) {
    error = e.what();
  }
  receiver.join();
  runner.join();
  EXPECT_NE(error.find("runs on here"), std::string::npos) << error;
  ASSERT_EQ(source.state(), Vm::State::powered_off) << source.reason();
  EXPECT_EQ(output.output, whole.output);
}

} // namespace
} // namespace nimbus::hypervisor

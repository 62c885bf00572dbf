// Live migration between two Vms in one process over a socketpair (migration.hpp): a guest that
// keeps rewriting 1 MiB of memory while it hashes it is migrated mid-run; what the source printed
// before the hand-off plus what the destination prints after is exactly an unmigrated run's
// output (every page it wrote arrived: the dirty log saw every write path). A destination that
// goes away before the hand-off leaves the VM running on the source to the same end.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "hypervisor/fake_guest_cpu.hpp"
#include "hypervisor/migration.hpp"
#include "hypervisor/vm.hpp"
#include "machine/boot_test_files.hpp"
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

VmConfig config_for(const TempFile& kernel) {
  VmConfig config;
  config.name = "mig";
  config.memory_bytes = 16 << 20;
  config.kernel = kernel.path();
  config.mode = VirtMode::emulate;
  return config;
}

void run_to_halt(Vm& vm) {
  for (int i = 0; i < 20000 && vm.state() == Vm::State::running; ++i) {
    if (vm.run(std::chrono::milliseconds(1)).stop == RunResult::Stop::wait)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

constexpr uint64_t kFrame = 2 << 20;

TEST(VmMigration, AMigratedGuestPrintsWhatAnUnmigratedRunPrints) {
  TempFile kernel(dirtying_guest());
  FramePool pool_a(32 << 20, kFrame);
  BufferConsole whole;
  Vm reference(config_for(kernel), pool_a, whole);
  run_to_halt(reference);
  ASSERT_EQ(reference.state(), Vm::State::powered_off) << reference.reason();
  ASSERT_EQ(whole.output.size(), 160u + 16u);

  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  FramePool pool_b(32 << 20, kFrame), pool_c(32 << 20, kFrame);
  BufferConsole first, rest;
  Vm source(config_for(kernel), pool_b, first);
  std::thread runner([&] { run_to_halt(source); });
  std::unique_ptr<Vm> destination;
  std::string receive_error;
  std::thread receiver([&] {
    try {
      migration::Incoming incoming(fds[1]);
      VmOptions options;
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
}

TEST(VmMigration, EveryTakeOfTheDirtyLogSeesTheNextRewriteOfAPage) {
  // The guest rewrites the same 256 pages over and over; after each take, its stores through
  // store entries it already has in its soft TLB must mark the pages again (the take drops them).
  TempFile kernel(dirtying_guest());
  FramePool pool(32 << 20, kFrame);
  BufferConsole output;
  Vm vm(config_for(kernel), pool, output);
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
}

TEST(VmMigration, ADestinationThatGoesAwayLeavesTheVmRunningOnTheSource) {
  TempFile kernel(dirtying_guest());
  FramePool pool_a(32 << 20, kFrame);
  BufferConsole whole;
  Vm reference(config_for(kernel), pool_a, whole);
  run_to_halt(reference);

  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  FramePool pool_b(32 << 20, kFrame);
  BufferConsole output;
  Vm source(config_for(kernel), pool_b, output);
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

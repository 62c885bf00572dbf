// Vm snapshots in every mode (emulate, trap, hw): a bare-metal guest that hashes a counter and prints progress is
// snapshotted mid-run; a VM restored from the directory prints the rest, and the two halves
// together are exactly what an uninterrupted run prints.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "hypervisor/fake_guest_cpu.hpp"
#include "hypervisor/vm.hpp"
#include "hypervisor/vm_snapshot.hpp"
#include "machine/boot_test_files.hpp"
#include "machine/hart_assembler.hpp"

namespace nimbus::hypervisor {
namespace {

using namespace nimbus::test::as;
using machine::testing::TempFile;
using testing::BufferConsole;

constexpr uint32_t a6 = 16, a7 = 17, s2 = 18, t3 = 28;

// s2 = s2 * 31 + s1 for s1 = 0 .. 2^21 - 1, a '.' every 2^16 steps, then s2 as 16 letters
// 'a' + nibble, then SRST shutdown.
std::vector<uint8_t> counting_guest() {
  std::vector<uint32_t> c;
  c.push_back(addi(s1, zero, 0));
  c.push_back(addi(s2, zero, 0));
  c.push_back(addi(t1, zero, 31));
  li32(c, t0, 1u << 21);
  const size_t loop = c.size();
  c.push_back(mul(s2, s2, t1));
  c.push_back(add(s2, s2, s1));
  c.push_back(addi(s1, s1, 1));
  c.push_back(slli(t2, s1, 48));
  const size_t branch = c.size();
  c.push_back(0); // bne t2, zero, skip
  c.push_back(addi(a0, zero, '.'));
  sbi_putchar_a0(c);
  const size_t skip = c.size();
  c[branch] = bne(t2, zero, static_cast<int32_t>((skip - branch) * 4));
  c.push_back(blt(s1, t0, -static_cast<int32_t>((c.size() - loop) * 4)));
  sbi_print_letters_and_shutdown(c, s2);
  if (c.size() * 4 > 4096) std::abort();
  std::vector<uint8_t> bytes(c.size() * 4);
  std::memcpy(bytes.data(), c.data(), bytes.size());
  return bytes;
}

VmConfig config_for(const TempFile& kernel, VirtMode mode = VirtMode::emulate) {
  VmConfig config;
  config.name = "snap";
  config.memory_bytes = 16 << 20;
  config.kernel = kernel.path();
  config.mode = mode;
  return config;
}

RunResult run_to_halt(Vm& vm) {
  RunResult last;
  for (int i = 0; i < 600; ++i) {
    last = vm.run(std::chrono::milliseconds(100));
    if (last.stop == RunResult::Stop::halt) break;
    if (last.stop == RunResult::Stop::wait) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return last;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char name[] = "/tmp/nimbus-snapshot-test.XXXXXX";
    if (!::mkdtemp(name)) std::abort();
    path = name;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

class VmSnapshotModes : public ::testing::TestWithParam<VirtMode> {};

TEST_P(VmSnapshotModes, RestoredVmContinuesExactlyWhereTheSnapshotWasTaken) {
  TempFile kernel(counting_guest());
  VmOptions options;
  options.deterministic = true;
  const VirtMode mode = GetParam();
  const uint64_t kFrame = 2 << 20;   // the VMM's frames (hw mode's G-stage maps megapages)

  FramePool pool_a(64 << 20, kFrame);
  BufferConsole whole;
  Vm reference(config_for(kernel, mode), pool_a, whole, options);
  run_to_halt(reference);
  ASSERT_EQ(reference.state(), Vm::State::powered_off) << reference.reason();
  ASSERT_EQ(whole.output.size(), 32u + 16u) << whole.output;

  FramePool pool_b(64 << 20, kFrame);
  BufferConsole first;
  Vm original(config_for(kernel, mode), pool_b, first, options);
  // Run until some, but not all, progress dots are out.
  for (int i = 0; i < 10000 && first.output.size() < 8; ++i) original.run(std::chrono::microseconds(200));
  ASSERT_GE(first.output.size(), 8u);
  ASSERT_LT(first.output.size(), 32u) << "the guest ran too far before the snapshot";
  TempDir dir;
  const Vm::SnapshotStats stats = original.save_snapshot(dir.path);
  EXPECT_GT(stats.memory_pages, 0u);
  EXPECT_TRUE(std::filesystem::exists(dir.path / "state"));

  auto image = load_snapshot(dir.path);
  EXPECT_EQ(image->config.name, "snap");
  EXPECT_EQ(image->config.memory_bytes, 16u << 20);
  EXPECT_EQ(image->config.mode, mode);
  VmOptions restore_options = options;
  restore_options.restore = image;
  FramePool pool_c(64 << 20, kFrame);
  BufferConsole rest;
  Vm restored(image->config, pool_c, rest, restore_options);
  EXPECT_EQ(restored.instructions(), original.instructions());
  run_to_halt(restored);
  ASSERT_EQ(restored.state(), Vm::State::powered_off) << restored.reason();
  EXPECT_EQ(first.output + rest.output, whole.output);
  EXPECT_EQ(restored.instructions(), reference.instructions());

  // The original runs on after its snapshot, to the same end.
  run_to_halt(original);
  EXPECT_EQ(first.output, whole.output);
  // emulate maps the memory file copy-on-write; trap and hw copy it into frames their shadow or
  // G-stage tables map.
  EXPECT_EQ(restored.memory().snapshot_mapped(), mode == VirtMode::emulate);
}

INSTANTIATE_TEST_SUITE_P(Modes, VmSnapshotModes, ::testing::Values(VirtMode::emulate, VirtMode::trap, VirtMode::hw),
                         [](const auto& mode_info) { return std::string(to_string(mode_info.param)); });

TEST(VmSnapshot, ARestoreOfADifferentShapeIsRefused) {
  TempFile kernel(counting_guest());
  VmOptions options;
  options.deterministic = true;
  FramePool pool(64 << 20);
  BufferConsole console;
  Vm vm(config_for(kernel), pool, console, options);
  vm.run(std::chrono::microseconds(200));
  TempDir dir;
  vm.save_snapshot(dir.path);
  auto image = load_snapshot(dir.path);

  VmOptions restore_options;   // not deterministic: the snapshot's clock was
  restore_options.restore = image;
  FramePool pool2(64 << 20);
  BufferConsole out;
  EXPECT_THROW(Vm(image->config, pool2, out, restore_options), std::runtime_error);
  restore_options.deterministic = true;
  VmConfig two = image->config;
  two.vcpus = 2;   // the snapshot has one vCPU and one CLINT hart
  EXPECT_THROW(Vm(two, pool2, out, restore_options), std::runtime_error);
  VmConfig bigger = image->config;
  bigger.memory_bytes = 32 << 20;
  EXPECT_THROW(Vm(bigger, pool2, out, restore_options), std::runtime_error);
  EXPECT_EQ(pool2.free_frames(), pool2.total_frames()) << "a refused restore gives its frames back";
}

// Network interfaces (docs/migration.md, "Network interfaces"): VMCF carries each interface's
// network and MAC (format version 2, only then), the restored VM has the same interfaces, and
// its virtio-net state must belong to an interface of that MAC.
TEST(VmSnapshot, NetworkInterfacesComeBackAndOnlyTheyNeedVersion2) {
  TempFile kernel(counting_guest());
  VmOptions options;
  options.deterministic = true;
  VmConfig config = config_for(kernel);
  config.nics = {NicConfig{"blue", {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}}, NicConfig{"red", {0x52, 0x54, 0x00, 0, 0, 1}}};
  FramePool pool(64 << 20);
  BufferConsole console;
  Vm vm(config, pool, console, options);
  vm.run(std::chrono::microseconds(200));
  TempDir dir;
  vm.save_snapshot(dir.path);
  auto image = load_snapshot(dir.path);
  ASSERT_EQ(image->config.nics.size(), 2u);
  EXPECT_EQ(image->config.nics[0].network, "blue");
  EXPECT_EQ(image->config.nics[0].mac, config.nics[0].mac);
  EXPECT_EQ(image->config.nics[1].network, "red");
  EXPECT_EQ(image->config.nics[1].mac, config.nics[1].mac);
  const auto version_of = [](const std::filesystem::path& state) {
    std::ifstream in(state, std::ios::binary);
    char header[12] = {};
    in.read(header, sizeof header);
    return static_cast<uint8_t>(header[8]);
  };
  EXPECT_EQ(version_of(dir.path / "state"), 2);

  VmOptions restore_options = options;
  restore_options.restore = image;
  FramePool pool2(64 << 20);
  BufferConsole out;
  {
    Vm restored(image->config, pool2, out, restore_options);
    ASSERT_EQ(restored.nics().size(), 2u);
    EXPECT_EQ(restored.nics()[1]->mac(), config.nics[1].mac);
  }
  VmConfig other_mac = image->config;
  other_mac.nics[1].mac[5] = 2;   // the device state names the snapshot's MAC
  try {
    Vm restored(other_mac, pool2, out, restore_options);
    FAIL() << "a restore into an interface of another MAC";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("virtio-net MAC 52:54:00:00:00:01 differs"), std::string::npos) << e.what();
  }

  // Without interfaces: version 1, as an older nimbus wrote and reads.
  Vm plain(config_for(kernel), pool, console, options);
  plain.run(std::chrono::microseconds(200));
  TempDir plain_dir;
  plain.save_snapshot(plain_dir.path);
  EXPECT_EQ(version_of(plain_dir.path / "state"), 1);
  EXPECT_TRUE(load_snapshot(plain_dir.path)->config.nics.empty());
}

TEST(VmSnapshot, BadInterfacesInTheConfigurationAreRefused) {
  VmConfig config;
  config.name = "n";
  config.memory_bytes = 16 << 20;
  config.kernel = "/k";
  config.nics = {NicConfig{"blue", {0x52, 0x54, 0, 0, 0, 1}}};
  const machine::snapshot::Section good = encode_config(config);
  EXPECT_EQ(decode_config(good).nics.size(), 1u);
  const auto refused = [&](VmConfig c, const std::string& why) {
    try {
      decode_config(encode_config(c));
      ADD_FAILURE() << "accepted: " << why;
    } catch (const machine::snapshot::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  VmConfig multicast = config;
  multicast.nics[0].mac[0] = 0x01;
  refused(multicast, "is not a unicast address");
  VmConfig twice = config;
  twice.nics.push_back(NicConfig{"blue", {0x52, 0x54, 0, 0, 0, 2}});
  refused(twice, "network or MAC used twice");
  VmConfig bad_name = config;
  bad_name.nics[0].network = "a b";
  refused(bad_name, "bad network name");
  VmConfig many = config;
  for (uint8_t i = 2; i <= 5; ++i) many.nics.push_back(NicConfig{"n" + std::to_string(i), {0x52, 0x54, 0, 0, 0, i}});
  refused(many, "5 network interfaces (0 to 4)");
  // Every cut of the interface tail is refused (never a crash, never a partial list).
  for (size_t cut = 1; cut < 4 + 4 + 4 + 6; ++cut) {
    machine::snapshot::Section s = good;
    s.payload.resize(s.payload.size() - cut);
    EXPECT_THROW(decode_config(s), machine::snapshot::FormatError) << cut;
  }
}

} // namespace
} // namespace nimbus::hypervisor

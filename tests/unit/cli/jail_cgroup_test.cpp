// Finding the cgroup hierarchies a jailed VMM's limits go into (jail_cgroup.hpp), on the
// layouts hosts really have: pure v2 (Debian 12 with systemd), hybrid v1 with an empty v2 (older
// hosts, many CI containers), and mount points with escaped blanks.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "cli/jail_cgroup.hpp"

namespace nimbus::cli {
namespace {

const CgroupHierarchy* find(const std::vector<CgroupHierarchy>& all, const std::string& controller) {
  for (const auto& h : all)
    for (const auto& c : h.controllers)
      if (c == controller) return &h;
  return nullptr;
}

TEST(JailCgroupTest, PureV2ReadsControllersFromTheMount) {
  std::istringstream mountinfo(
      "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
      "30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n");
  std::istringstream self("0::/user.slice/user-0.slice/session-3.scope\n");
  std::string asked;
  const auto all = parse_cgroup_hierarchies(mountinfo, self, [&](const std::filesystem::path& mount) {
    asked = mount.string();
    return std::string("cpuset cpu io memory hugetlb pids rdma misc\n");
  });
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(asked, "/sys/fs/cgroup");
  EXPECT_TRUE(all[0].v2);
  EXPECT_EQ(all[0].own_path, "/user.slice/user-0.slice/session-3.scope");
  ASSERT_NE(find(all, "memory"), nullptr);
  ASSERT_NE(find(all, "pids"), nullptr);
  EXPECT_EQ(find(all, "misc")->mount, "/sys/fs/cgroup"); // the newline is not part of the last name
}

TEST(JailCgroupTest, HybridV1TakesControllersFromMountOptions) {
  std::istringstream mountinfo(
      "40 30 0:35 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
      "41 30 0:36 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
      "42 30 0:37 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "43 30 0:38 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
      "44 30 0:39 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n");
  std::istringstream self("9:name=systemd:/\n8:pids:/\n4:memory:/ci/job-7\n1:cpu,cpuacct:/\n0::/\n");
  const auto all = parse_cgroup_hierarchies(mountinfo, self, [](const std::filesystem::path&) { return std::string(); });
  // The empty v2 and the named systemd hierarchy hold no controllers we could use.
  ASSERT_EQ(all.size(), 3u);
  const auto* memory = find(all, "memory");
  ASSERT_NE(memory, nullptr);
  EXPECT_FALSE(memory->v2);
  EXPECT_EQ(memory->mount, "/sys/fs/cgroup/memory");
  EXPECT_EQ(memory->own_path, "/ci/job-7"); // v1 groups nest under our own, so the host's limits hold
  EXPECT_EQ(find(all, "cpu")->mount, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(find(all, "cpuacct"), find(all, "cpu"));
  EXPECT_EQ(find(all, "name=systemd"), nullptr);
}

TEST(JailCgroupTest, EscapedMountPathsAndSubgroupBindsAreHandled) {
  std::istringstream mountinfo(
      "50 30 0:40 / /srv/my\\040cgroups rw - cgroup cgroup rw,pids\n"
      // A container's bind of one group of a hierarchy is not the hierarchy's root: skipped.
      "51 30 0:41 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "52 30 0:42 / /weird rw - cgroup\n"); // truncated: no super options
  std::istringstream self("");
  const auto all = parse_cgroup_hierarchies(mountinfo, self, [](const std::filesystem::path&) { return std::string(); });
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].mount, "/srv/my cgroups");
  EXPECT_EQ(all[0].own_path, "/");
}

TEST(JailCgroupTest, NoLimitsMakeNoGroups) {
  VmmCgroup none(CgroupLimits{}, 12345);
  EXPECT_TRUE(none.groups().empty());
  none.add(12345); // nothing to join
}

// A directory tree laid out as cgroupfs is, for the path and limit-file logic of VmmCgroup. A
// real cgroupfs makes a group's interface files when the group is made; here the test makes
// those of the group it expects, so a file the code writes that cgroupfs would not have fails.
class FakeCgroupfs : public ::testing::Test {
protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("nimbus-cgroupfs-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  // Creates `file` (and its directories) holding `text`.
  void make(const std::filesystem::path& file, const std::string& text = "") {
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }
  static std::string read(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::filesystem::path root_;
};

TEST_F(FakeCgroupfs, V2GroupsGoUnderNimbusWithTheLimitsInV2Files) {
  const auto mount = root_ / "sys/fs/cgroup";
  // systemd gave the root's children memory already: only cpu and pids are to be enabled there.
  make(mount / "cgroup.subtree_control", "memory io\n");
  make(mount / "nimbus/cgroup.subtree_control");
  const auto group = mount / "nimbus/vmm-4242";
  for (const char* f : {"memory.max", "cpu.max", "pids.max", "cgroup.procs"}) make(group / f);
  std::filesystem::create_directories(mount / "nimbus/vmm-17");  // a killed keeper's, now empty
  make(mount / "nimbus/vmm-18/cgroup.procs", "977\n");          // a live VMM's: stays
  // A hybrid v1 memory hierarchy beside it: v2 is preferred where it holds the controller.
  const auto v1_memory = root_ / "v1/memory";
  std::filesystem::create_directories(v1_memory);
  const std::vector<CgroupHierarchy> hierarchies = {
      {v1_memory, false, {"memory"}, "/"},
      {mount, true, {"cpuset", "cpu", "io", "memory", "pids"}, "/user.slice/session-3.scope"},
  };
  CgroupLimits limits;
  limits.memory_max = 512ull << 20;
  limits.cpu_max_percent = 150;
  limits.pids_max = 64;
  VmmCgroup cgroup(limits, 4242, hierarchies);
  ASSERT_EQ(cgroup.groups().size(), 1u);
  EXPECT_EQ(cgroup.groups()[0], group); // not under our own group: v2 forbids controlled children there
  EXPECT_EQ(read(group / "memory.max"), "536870912");
  EXPECT_EQ(read(group / "cpu.max"), "150000 100000");
  EXPECT_EQ(read(group / "pids.max"), "64");
  EXPECT_EQ(read(mount / "cgroup.subtree_control"), "+cpu +pids");
  EXPECT_EQ(read(mount / "nimbus/cgroup.subtree_control"), "+memory +cpu +pids");
  EXPECT_FALSE(std::filesystem::exists(mount / "nimbus/vmm-17"));
  EXPECT_TRUE(std::filesystem::exists(mount / "nimbus/vmm-18"));
  EXPECT_FALSE(std::filesystem::exists(v1_memory / "nimbus"));
  cgroup.add(4242);
  EXPECT_EQ(read(group / "cgroup.procs"), "4242");
}

TEST_F(FakeCgroupfs, V2WritesNoSubtreeControlWhenEverythingIsEnabled) {
  const auto mount = root_ / "cgroup2";
  // In a cgroup namespace the root has processes: writing its subtree_control would fail.
  make(mount / "cgroup.subtree_control", "cpu memory pids\n");
  make(mount / "nimbus/cgroup.subtree_control", "pids\n");
  make(mount / "nimbus/vmm-7/pids.max");
  std::filesystem::permissions(mount / "cgroup.subtree_control", std::filesystem::perms::owner_read);
  CgroupLimits limits;
  limits.pids_max = 100;
  VmmCgroup cgroup(limits, 7, {{mount, true, {"cpu", "memory", "pids"}, "/"}});
  EXPECT_EQ(read(mount / "cgroup.subtree_control"), "cpu memory pids\n");
  EXPECT_EQ(read(mount / "nimbus/cgroup.subtree_control"), "pids\n");
  EXPECT_EQ(read(mount / "nimbus/vmm-7/pids.max"), "100");
}

TEST_F(FakeCgroupfs, V1GroupsNestUnderOurOwnWithTheLimitsInV1Files) {
  const auto memory = root_ / "memory";
  const auto cpu = root_ / "cpu,cpuacct";
  const auto memory_group = memory / "ci/job-7/nimbus/vmm-99";
  const auto cpu_group = cpu / "nimbus/vmm-99";
  make(memory_group / "memory.limit_in_bytes");
  make(cpu_group / "cpu.cfs_period_us");
  make(cpu_group / "cpu.cfs_quota_us");
  // This host's empty v2 (hybrid): it holds nothing, so v1 is used.
  const std::vector<CgroupHierarchy> hierarchies = {
      {root_ / "unified", true, {}, "/"},
      {memory, false, {"memory"}, "/ci/job-7"},
      {cpu, false, {"cpu", "cpuacct"}, "/"},
  };
  CgroupLimits limits;
  limits.memory_max = 1ull << 30;
  limits.cpu_max_percent = 50;
  VmmCgroup cgroup(limits, 99, hierarchies);
  ASSERT_EQ(cgroup.groups().size(), 2u);
  EXPECT_EQ(read(memory_group / "memory.limit_in_bytes"), "1073741824");
  EXPECT_EQ(read(cpu_group / "cpu.cfs_period_us"), "100000");
  EXPECT_EQ(read(cpu_group / "cpu.cfs_quota_us"), "50000");
  EXPECT_FALSE(std::filesystem::exists(root_ / "unified"));
}

TEST_F(FakeCgroupfs, AMissingControllerOrLimitFileIsAClearError) {
  const auto mount = root_ / "cgroup2";
  make(mount / "cgroup.subtree_control");
  make(mount / "nimbus/cgroup.subtree_control");
  CgroupLimits pids;
  pids.pids_max = 64;
  try {
    VmmCgroup cgroup(pids, 5, {{mount, true, {"cpu", "memory"}, "/"}});
    FAIL() << "no pids controller, yet a group was made";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--jail-pids-max"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pids controller"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(mount / "nimbus/vmm-5")); // refused before making anything
  // The kernel gave the group no cpu.max (a controller it would not enable): the error names the
  // file, and the group made for it is removed again.
  CgroupLimits cpu;
  cpu.cpu_max_percent = 100;
  try {
    VmmCgroup cgroup(cpu, 6, {{mount, true, {"cpu"}, "/"}});
    FAIL() << "cpu.max is missing, yet the limit was set";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("nimbus/vmm-6/cpu.max"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(mount / "nimbus/vmm-6"));
}

} // namespace
} // namespace nimbus::cli

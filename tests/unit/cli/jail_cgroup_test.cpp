// Finding the cgroup hierarchies a jailed VMM's limits go into (jail_cgroup.hpp), on the
// layouts hosts really have: pure v2 (Debian 12 with systemd), hybrid v1 with an empty v2 (older
// hosts, many CI containers), and mount points with escaped blanks.
#include <gtest/gtest.h>

#include <sstream>

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

} // namespace
} // namespace nimbus::cli

// --jail's pure parts: the user it drops to, and the binds it makes (docs/security.md). The
// namespaces themselves are checked on a running VMM by tests/integration/test_vmm_jail.sh.
#include "cli/jail.hpp"

#include <gtest/gtest.h>
#include <pwd.h>

#include <stdexcept>

namespace nimbus::cli {
namespace {

TEST(JailUser, NamesAndNumbers) {
  const passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr) << "the test needs the usual 'nobody' user";
  const JailUser by_name = parse_jail_user("nobody");
  EXPECT_EQ(by_name.uid, nobody->pw_uid);
  EXPECT_EQ(by_name.gid, nobody->pw_gid);
  const JailUser by_number = parse_jail_user(std::to_string(nobody->pw_uid));
  EXPECT_EQ(by_number.uid, nobody->pw_uid);
  EXPECT_EQ(by_number.gid, nobody->pw_gid); // a known UID takes its primary group
  const JailUser both = parse_jail_user("4242:4343");
  EXPECT_EQ(both.uid, 4242u);
  EXPECT_EQ(both.gid, 4343u);
  EXPECT_EQ(parse_jail_user("4242").gid, ::getpwuid(4242) ? ::getpwuid(4242)->pw_gid : 4242u);
  EXPECT_EQ(parse_jail_user("nobody:4343").gid, 4343u);
}

TEST(JailUser, RefusesRootAndNonsense) {
  EXPECT_THROW(parse_jail_user("root"), std::invalid_argument);
  EXPECT_THROW(parse_jail_user("0"), std::invalid_argument);
  EXPECT_THROW(parse_jail_user("4242:0"), std::invalid_argument);
  EXPECT_THROW(parse_jail_user(""), std::invalid_argument);
  EXPECT_THROW(parse_jail_user("4242:"), std::invalid_argument);
  EXPECT_THROW(parse_jail_user("no-such-user-nimbus"), std::invalid_argument);
  EXPECT_THROW(parse_jail_user("nobody:no-such-group-nimbus"), std::invalid_argument);
  EXPECT_THROW(parse_jail_user("-5"), std::invalid_argument);
  EXPECT_THROW(parse_jail_user("99999999999"), std::invalid_argument);
  try {
    parse_jail_user("root");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("nobody"), std::string::npos) << "says what to choose instead";
  }
}

TEST(JailBinds, EachPathOnceWidestAccessParentsFirst) {
  JailSpec spec;
  add_jail_path(spec, "/srv/vm/state/", JailAccess::read_write, true);
  add_jail_path(spec, "/srv/vm/disk.img", JailAccess::read_only);
  add_jail_path(spec, "/srv/vm/disk.img", JailAccess::read_write); // the same disk, writable: rw wins
  add_jail_path(spec, "/srv/vm/state/snap", JailAccess::read_only);
  add_jail_path(spec, "/srv/vm/state", JailAccess::read_only);      // same directory, owned stays
  add_jail_path(spec, "/boot/../srv/kernel", JailAccess::read_only);
  add_jail_path(spec, "", JailAccess::read_only);                   // no initrd: nothing to bind
  add_jail_path(spec, "/dev/null", JailAccess::device);
  const auto plan = plan_jail_binds(spec.paths);
  ASSERT_EQ(plan.size(), 5u);
  EXPECT_EQ(plan[0].path, "/dev/null");
  EXPECT_EQ(plan[0].access, JailAccess::device);
  EXPECT_EQ(plan[1].path, "/srv/kernel");
  EXPECT_EQ(plan[2].path, "/srv/vm/disk.img");
  EXPECT_EQ(plan[2].access, JailAccess::read_write);
  EXPECT_FALSE(plan[2].owned);
  EXPECT_EQ(plan[3].path, "/srv/vm/state");
  EXPECT_EQ(plan[3].access, JailAccess::read_write);
  EXPECT_TRUE(plan[3].owned);
  EXPECT_EQ(plan[4].path, "/srv/vm/state/snap"); // after its parent, or the parent's bind would hide it
}

TEST(JailBinds, RelativePathsAreMadeAbsolute) {
  JailSpec spec;
  add_jail_path(spec, "disk.img", JailAccess::read_write);
  ASSERT_EQ(spec.paths.size(), 1u);
  EXPECT_TRUE(spec.paths[0].path.is_absolute());
  EXPECT_EQ(spec.paths[0].path.filename(), "disk.img");
}

} // namespace
} // namespace nimbus::cli

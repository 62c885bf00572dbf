#include "cli/jail.hpp"

#include "cli/jail_keeper.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>

namespace nimbus::cli {
namespace {

namespace fs = std::filesystem;

// Where the new root is built, inside the new mount namespace only (the host's /tmp is not
// touched: the tmpfs covers it in this namespace, and sources are reached through descriptors
// opened before).
constexpr const char* kJailRoot = "/tmp";

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(fmt::format("--jail: {}: {}", what, std::strerror(errno)));
}

std::optional<unsigned long> parse_id(const std::string& text) {
  unsigned long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 0xfffffffeul) return std::nullopt;
  return value;
}

// mkdir -p with mode 0755 whatever the umask: the jail user must be able to traverse.
void make_directories(const fs::path& path) {
  fs::path at;
  for (const auto& part : path) {
    at /= part;
    if (::mkdir(at.c_str(), 0755) == 0) {
      if (::chmod(at.c_str(), 0755) != 0) fail("chmod " + at.string());
    } else if (errno != EEXIST) {
      fail("mkdir " + at.string());
    }
  }
}

unsigned access_rank(JailAccess a) { return a == JailAccess::read_only ? 0 : a == JailAccess::read_write ? 1 : 2; }

} // namespace

JailUser parse_jail_user(const std::string& text) {
  if (text.empty()) throw std::invalid_argument("is empty (give a user name or UID[:GID], e.g. nobody)");
  const auto colon = text.find(':');
  const std::string user_part = text.substr(0, colon);
  const std::string group_part = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (colon != std::string::npos && group_part.empty()) throw std::invalid_argument("has an empty group after ':'");
  JailUser user;
  user.name = text;
  bool have_gid = false;
  if (const auto id = parse_id(user_part)) {
    user.uid = static_cast<uid_t>(*id);
    if (group_part.empty()) {
      // A bare UID: its group from the database, else the same number (as container runtimes do).
      const passwd* pw = ::getpwuid(user.uid);
      user.gid = pw ? pw->pw_gid : static_cast<gid_t>(*id);
      have_gid = true;
    }
  } else {
    const passwd* pw = ::getpwnam(user_part.c_str());
    if (!pw) throw std::invalid_argument(fmt::format("names no user '{}' (give an existing user or a UID)", user_part));
    user.uid = pw->pw_uid;
    user.gid = pw->pw_gid;
    have_gid = group_part.empty();
  }
  if (!have_gid) {
    if (const auto id = parse_id(group_part)) {
      user.gid = static_cast<gid_t>(*id);
    } else {
      const group* gr = ::getgrnam(group_part.c_str());
      if (!gr) throw std::invalid_argument(fmt::format("names no group '{}'", group_part));
      user.gid = gr->gr_gid;
    }
  }
  if (user.uid == 0 || user.gid == 0)
    throw std::invalid_argument("is root (uid or gid 0): the jail drops root, choose an unprivileged user such as nobody");
  return user;
}

void add_jail_path(JailSpec& spec, const std::string& path, JailAccess access, bool owned) {
  if (path.empty()) return;
  spec.paths.push_back({fs::absolute(path).lexically_normal(), access, owned});
}

std::vector<JailPath> plan_jail_binds(const std::vector<JailPath>& paths) {
  std::map<std::string, JailPath> by_path; // sorted: a parent sorts before its children
  for (JailPath p : paths) {
    std::string key = p.path.lexically_normal().string();
    while (key.size() > 1 && key.back() == '/') key.pop_back();
    p.path = key;
    auto [it, inserted] = by_path.emplace(key, p);
    if (!inserted) {
      if (access_rank(p.access) > access_rank(it->second.access)) it->second.access = p.access;
      it->second.owned = it->second.owned || p.owned;
    }
  }
  std::vector<JailPath> plan;
  for (auto& [key, p] : by_path) plan.push_back(p);
  // A parent's path is a prefix of its children's, so string order mounts parents first.
  return plan;
}

pid_t enter_jail(const JailSpec& spec) {
  if (::geteuid() != 0)
    throw std::runtime_error("--jail needs root: it makes namespaces and then drops to --jail-user (without --jail the "
                             "VMM still runs under its seccomp filter)");
  // First the PID namespace: the rest happens in the VMM, so its /proc is that namespace's.
  const pid_t host_pid = split_off_jail_keeper(spec.limits);
  struct Source {
    JailPath path;
    int fd;
    bool directory;
  };
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);

  const int namespaces = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (spec.host_network ? 0 : CLONE_NEWNET);
  if (::unshare(namespaces) != 0) {
    if (errno == EPERM) fail("new namespaces (needs CAP_SYS_ADMIN)");
    fail("new namespaces");
  }
  // Nothing mounted from here on propagates back to the host.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail("make mounts private");
  // Descriptors of every source, opened in the new namespace (a bind's source must be a mount of
  // the caller's namespace) and before the tmpfs covers kJailRoot, where sources may live.
  std::vector<Source> sources;
  for (const JailPath& p : plan_jail_binds(spec.paths)) {
    if (p.owned) {
      fs::create_directories(p.path, ec);
      if (ec) throw std::runtime_error(fmt::format("--jail: cannot create {}: {}", p.path.string(), ec.message()));
    }
    const int fd = ::open(p.path.c_str(), O_PATH | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      fail("open " + p.path.string());
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail("stat " + p.path.string());
    sources.push_back({p, fd, S_ISDIR(st.st_mode)});
  }
  if (::mount("nimbus-jail", kJailRoot, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") != 0)
    fail(fmt::format("tmpfs on {}", kJailRoot));
  for (const Source& s : sources) {
    const fs::path target = fs::path(kJailRoot) / s.path.path.relative_path();
    make_directories(target.parent_path());
    if (s.directory) {
      if (::mkdir(target.c_str(), 0755) != 0 && errno != EEXIST) fail("mkdir " + target.string());
    } else if (struct stat st {}; ::lstat(target.c_str(), &st) != 0) { // absent unless inside a bound parent
      const int fd = ::open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0) fail("create " + target.string());
      ::close(fd);
    }
    const std::string source = "/proc/self/fd/" + std::to_string(s.fd);
    if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) fail("bind " + s.path.path.string());
    unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC;
    if (s.path.access != JailAccess::device) flags |= MS_NODEV;
    if (s.path.access == JailAccess::read_only) flags |= MS_RDONLY;
    if (::mount(nullptr, target.c_str(), nullptr, flags, nullptr) != 0) fail("restrict " + s.path.path.string());
    ::close(s.fd);
  }
  // A /proc of its own: only processes its user may see, and no system-wide files
  // (the sandbox counts open descriptors in /proc/self/fd).
  const std::string proc = std::string(kJailRoot) + "/proc";
  make_directories(proc);
  if (::mount("proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible,subset=pid") != 0 &&
      ::mount("proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") != 0)
    fail("mount /proc");
  if (!cwd.empty()) make_directories(fs::path(kJailRoot) / cwd.relative_path());

  // The new root replaces the old one, which is detached: no path leads back to the host's files.
  if (::chdir(kJailRoot) != 0) fail("chdir to the new root");
  if (::syscall(SYS_pivot_root, ".", ".") != 0) fail("pivot_root");
  if (::umount2(".", MNT_DETACH) != 0) fail("detach the host's root");
  if (::chdir("/") != 0) fail("chdir /");
  if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
    fail("make the new root read-only");
  if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) fail("chdir " + cwd.string()); // relative paths keep working
  static constexpr char kHostname[] = "nimbus-jail";
  if (::sethostname(kHostname, sizeof kHostname - 1) != 0) fail("sethostname");
  return host_pid;
}

void drop_jail_privileges(const JailSpec& spec) {
  const JailUser& user = spec.user;
  for (const JailPath& p : spec.paths)
    if (p.owned && ::chown(p.path.c_str(), user.uid, user.gid) != 0) fail("give " + p.path.string() + " to the jail user");
  // glibc applies each of these to every thread of the process.
  if (::setgroups(0, nullptr) != 0) fail("drop supplementary groups");
  if (::setresgid(user.gid, user.gid, user.gid) != 0) fail(fmt::format("switch to group {}", user.gid));
  if (::setresuid(user.uid, user.uid, user.uid) != 0) fail(fmt::format("switch to user {}", user.uid));
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("no new privileges");
  // Leaving uid 0 clears the permitted and effective sets; check rather than trust.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) != 0) fail("read capabilities");
  for (const auto& d : data)
    if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0)
      throw std::runtime_error("--jail: capabilities survived the switch to the jail user; refusing to run");
  if (::getuid() == 0 || ::geteuid() == 0 || ::getgid() == 0 || ::getegid() == 0)
    throw std::runtime_error("--jail: still root after the switch; refusing to run");
  rearm_jail_keeper_death_signal();
}

} // namespace nimbus::cli

namespace nimbus::cli {

std::string prepare_directory_for_vmm(int control_socket, const std::filesystem::path& dir,
                                      const std::filesystem::path& state_dir) {
  ucred peer{};
  socklen_t length = sizeof peer;
  if (::getsockopt(control_socket, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) return ""; // not ours to judge
  std::error_code ec;
  const auto mount_namespace = [&ec](const std::string& process) {
    return std::filesystem::read_symlink("/proc/" + process + "/ns/mnt", ec).string();
  };
  const std::string theirs = mount_namespace(std::to_string(peer.pid));
  const bool jailed = !theirs.empty() && theirs != mount_namespace("self");
  if (jailed) {
    const auto inside = std::filesystem::absolute(dir, ec).lexically_normal().lexically_relative(
        std::filesystem::absolute(state_dir, ec).lexically_normal());
    if (inside.empty() || *inside.begin() == "..")
      return fmt::format("the VMM runs jailed (--jail) and sees only its state directory {}: choose a directory "
                         "under it",
                         state_dir.string());
  }
  // The user it runs as now: SO_PEERCRED gives the one it had when it listened (root, before the
  // jail dropped it).
  uid_t uid = peer.uid;
  gid_t gid = peer.gid;
  std::ifstream status("/proc/" + std::to_string(peer.pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    unsigned long real = 0;
    if (std::sscanf(line.c_str(), "Uid: %lu", &real) == 1) uid = static_cast<uid_t>(real);
    if (std::sscanf(line.c_str(), "Gid: %lu", &real) == 1) gid = static_cast<gid_t>(real);
  }
  if (uid != ::geteuid() && ::geteuid() == 0 && ::chown(dir.c_str(), uid, gid) != 0)
    return fmt::format("cannot give {} to the VMM's user {}: {}", dir.string(), uid, std::strerror(errno));
  return "";
}

} // namespace nimbus::cli

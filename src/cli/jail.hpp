#pragma once
// `nimbus run --jail`: the VMM confined in the spirit of Firecracker's jailer (docs/security.md).
// Two steps, because a process can only change its mount namespace for every thread while it has
// one thread, but must open its images as root:
//
//  1. enter_jail(), before the VMM exists (one thread): a PID namespace, whose first process
//     the VMM becomes while the caller's process stays outside as its keeper (jail_keeper.hpp),
//     with cgroups for its limits; new mount, network, IPC and UTS namespaces; a new root that is an empty read-only tmpfs holding only bind mounts of the
//     files and directories the VMM needs (kernel, initrd, firmware, disks, its state and log
//     directories, /dev/null, /dev/urandom) at their own paths, and a private /proc that shows
//     only processes of its own user; the host's root is detached. The VMM then sets up as root.
//  2. drop_jail_privileges(), after setup and before the seccomp filter: the state and log
//     directories are given to the jail user, then every thread drops to that user and group
//     with no supplementary groups and no capabilities (checked).
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli/jail_cgroup.hpp"

namespace nimbus::cli {

struct JailUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name; // as given or found, for messages
};

// "NAME", "NAME:GROUP", "UID" or "UID:GID"; a name is looked up in the user database (its
// primary group unless a group is given). Refuses root (uid or gid 0): the jail's point is to
// leave it. Throws std::invalid_argument with the reason.
JailUser parse_jail_user(const std::string& text);

enum class JailAccess { read_only, read_write, device };

struct JailPath {
  std::filesystem::path path; // absolute, lexically normal
  JailAccess access = JailAccess::read_only;
  bool owned = false;         // a directory given to the jail user (state, log directories)
};

struct JailSpec {
  JailUser user;
  bool host_network = false;  // keep the host's network namespace (network backends need it)
  CgroupLimits limits;        // --jail-memory-max, --jail-cpu-max, --jail-pids-max
  std::vector<JailPath> paths;
};

// Adds `path` (made absolute against the working directory); an empty path is ignored.
void add_jail_path(JailSpec& spec, const std::string& path, JailAccess access, bool owned = false);

// The binds to make, parents before children, each path once (the widest access wins).
std::vector<JailPath> plan_jail_binds(const std::vector<JailPath>& paths);

// Step 1. Needs root (CAP_SYS_ADMIN) and one thread. Returns in the VMM (pid 1 of its PID
// namespace) with its pid as the host sees it; the keeper never returns. Throws
// std::runtime_error naming the step and the path that failed. Paths that do not exist are
// skipped (a restored VM's kernel is not read again), except owned directories, which are
// created.
pid_t enter_jail(const JailSpec& spec);

// Step 2. Throws std::runtime_error when a step fails or a capability survived. Re-arms the
// keeper's parent-death signal, which the change of user clears.
void drop_jail_privileges(const JailSpec& spec);

} // namespace nimbus::cli

namespace nimbus::cli {

// For `nimbus snapshot` and `nimbus migrate`, which make a directory for the VMM at the other
// end of `control_socket` to write into. A jailed VMM (its mount namespace differs from ours)
// sees only its state directory, so `dir` must lie under `state_dir`; and it runs as its jail
// user, so a directory root made is given to that user. Returns what is wrong, or "" when the
// VMM can write there.
std::string prepare_directory_for_vmm(int control_socket, const std::filesystem::path& dir,
                                      const std::filesystem::path& state_dir);

} // namespace nimbus::cli

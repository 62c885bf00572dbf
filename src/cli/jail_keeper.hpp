#pragma once
// `nimbus run --jail` runs the VMM as pid 1 of a PID namespace of its own, so it sees no other
// process, and in cgroups of its own (jail_cgroup.hpp). Entering a PID namespace takes a fork:
// the process the caller started stays outside as the VMM's keeper, a small root process that
// only forwards signals to the VMM, waits for it, removes its cgroups and exits with its status,
// so callers (a shell, the host agent) see one process as before. The keeper runs under a
// seccomp filter of its own; if it dies, the kernel kills the VMM (parent-death signal).
#include <sys/types.h>

#include "cli/jail_cgroup.hpp"

namespace nimbus::cli {

// Forks while the process has one thread. Returns in the VMM only, with its pid as the host sees
// it (getpid() says 1 inside); the keeper never returns. Throws std::runtime_error when the
// kernel refuses before the fork; a failure to set up the cgroups after it ends both with a
// message and exit code 2.
pid_t split_off_jail_keeper(const CgroupLimits& limits);

// The parent-death signal is cleared when the VMM changes its user (drop_jail_privileges): sets
// it again, and ends the VMM if its keeper is already gone. Does nothing outside a keeper.
void rearm_jail_keeper_death_signal();

} // namespace nimbus::cli

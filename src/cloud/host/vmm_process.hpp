#pragma once
// One VM's VMM process, Firecracker-style: `nimbus run --vm FILE --state-dir DIR` forked and
// exec'd by the host agent, in its own process group, killed with the agent (PR_SET_PDEATHSIG).
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace nimbus::cloud::host {

struct VmmCommand {
  std::string executable;          // the nimbus binary (the agent's own: /proc/self/exe)
  std::vector<std::string> args;   // without argv[0]
  std::string log_file;            // the VMM's stdout and stderr
};

// Forks and execs. The child: its own process group (pgid = pid), PR_SET_PDEATHSIG(SIGKILL)
// (the VMM dies when the thread that started it, or the agent, dies), every signal unblocked and
// default, stdin /dev/null, stdout+stderr to log_file. Throws std::runtime_error when fork fails;
// an exec failure shows as the child exiting with 127 and the reason in its log.
pid_t spawn_vmm(const VmmCommand& command);

// The child's end, from waitpid's status.
struct VmmExit {
  bool signaled = false;
  int code = 0;  // exit code, or the signal number
};
// Non-blocking reap: nullopt while the process runs.
std::optional<VmmExit> try_reap(pid_t pid);
// Signals the whole process group (the VMM and anything it started).
void signal_group(pid_t pgid, int signal);

// Copies `from` to `to` sparsely (holes stay holes: SEEK_DATA/SEEK_HOLE, and all-zero blocks are
// skipped), creating `to`'s directory. Writes to a temporary file and renames, so a crash never
// leaves a half disk at `to`. Throws std::runtime_error naming the file and the failure.
void sparse_copy(const std::string& from, const std::string& to);

// From the VMM's stats.json: the first VM's cpu_seconds and state (nullopt if unreadable).
struct VmmStats {
  double cpu_seconds = 0;
  std::string state;
  long resident_bytes = 0;
};
std::optional<VmmStats> read_vmm_stats(const std::string& stats_file);

} // namespace nimbus::cloud::host

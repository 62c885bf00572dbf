#pragma once
// A child process whose combined stdout/stderr is read line by line with host timestamps, and
// whose memory can be sampled while it runs. Used by `nimbus bench` to drive Nimbus and QEMU
// the same way.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace nimbus::cli {

struct ProcessMemory {
  uint64_t total_rss = 0;     // bytes resident in the whole process, each shared page once
  uint64_t guest_ram_rss = 0; // bytes resident in the mapping that holds guest RAM
  uint64_t overhead() const { return total_rss - guest_ram_rss; }
};

// Reads /proc/<pid>/smaps; zeroes if the process is gone. Pages of a shared mapping that the
// process maps more than once (same file or memfd, offset and length) count once. Guest RAM is
// the mapping whose size is the RAM size (emulators may round it up by a little), the same rule
// for Nimbus and QEMU.
ProcessMemory sample_memory(pid_t pid, uint64_t guest_ram_bytes);
// The same from the text of an smaps file.
ProcessMemory parse_smaps(std::istream& smaps, uint64_t guest_ram_bytes);

class ChildProcess {
public:
  using Clock = std::chrono::steady_clock;
  // Called for every complete output line with the time since start; return false to stop
  // the child (it is killed).
  using LineHandler = std::function<bool(const std::string& line, Clock::duration since_start)>;
  // Called about every `sample_every` while the child runs.
  using Sampler = std::function<void(pid_t pid)>;

  struct Result {
    int exit_code = -1; // -1 when killed or on timeout
    bool timed_out = false;
    Clock::duration elapsed{};
  };

  // Runs argv[0] (searched in PATH) with stdin from /dev/null; throws std::runtime_error if it
  // cannot be started.
  static Result run(const std::vector<std::string>& argv, std::chrono::seconds timeout, const LineHandler& on_line,
                    const Sampler& sampler = {},
                    std::chrono::milliseconds sample_every = std::chrono::milliseconds(100));
};

} // namespace nimbus::cli

#pragma once
// Resource limits for a jailed VMM through cgroups (docs/security.md), cgroup v2 or v1 as the
// host mounts them: a group of its own per VMM with a memory ceiling, a CPU quota and a cap on
// its threads. The jail keeper (jail_keeper.hpp) makes the group, moves the VMM in before it
// sets up, and removes the group when the VMM has gone.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <vector>

namespace nimbus::cli {

struct CgroupLimits {
  std::optional<uint64_t> memory_max;      // bytes: memory.max (v2), memory.limit_in_bytes (v1)
  std::optional<uint32_t> cpu_max_percent; // 100 = one host core: cpu.max or cpu.cfs_quota_us
  std::optional<uint64_t> pids_max;        // threads and processes: pids.max
  bool any() const { return memory_max || cpu_max_percent || pids_max; }
};

// One mounted hierarchy that holds controllers we use.
struct CgroupHierarchy {
  std::filesystem::path mount;          // e.g. /sys/fs/cgroup or /sys/fs/cgroup/memory
  bool v2 = false;
  std::vector<std::string> controllers; // v1: from the mount options; v2: cgroup.controllers
  std::string own_path;                 // this process's group in it, from /proc/self/cgroup
};

// The hierarchies of /proc/self/mountinfo and /proc/self/cgroup (given as streams for tests);
// a v2 hierarchy's controllers are read from `read_controllers(mount)`.
std::vector<CgroupHierarchy> parse_cgroup_hierarchies(
    std::istream& mountinfo, std::istream& self_cgroup,
    const std::function<std::string(const std::filesystem::path&)>& read_controllers);

// The same for this process, from /proc.
std::vector<CgroupHierarchy> this_process_cgroup_hierarchies();
// Whether some mounted hierarchy holds `controller` ("memory", "cpu", "pids").
bool cgroup_controller_mounted(const std::string& controller);

// The groups made for one VMM, one per hierarchy that enforces a requested limit.
class VmmCgroup {
public:
  // Makes `<hierarchy>/<parent>/vmm-<pid>` where each requested limit lives and writes the
  // limits (parent: below this process's own group on v1, so the host's limits on us still
  // hold; "/nimbus" on v2, whose rule that a group with processes has no controlled children
  // forbids nesting under our own, as Firecracker's jailer does). Throws std::runtime_error
  // naming the limit and the file when a controller is missing or the kernel refuses.
  VmmCgroup(const CgroupLimits& limits, pid_t pid);
  // The same in the given hierarchies instead of this process's (unit tests point it at a
  // directory tree laid out as cgroupfs is).
  VmmCgroup(const CgroupLimits& limits, pid_t pid, const std::vector<CgroupHierarchy>& hierarchies);
  ~VmmCgroup();
  VmmCgroup(const VmmCgroup&) = delete;
  VmmCgroup& operator=(const VmmCgroup&) = delete;

  // Moves process `pid` (and all its threads) into every group.
  void add(pid_t pid) const;
  // Removes the groups (empty once the VMM was reaped); retries briefly, as the kernel empties
  // a group a moment after its last process is reaped. Safe to call twice.
  void remove();

  const std::vector<std::filesystem::path>& groups() const { return groups_; }

private:
  std::vector<std::filesystem::path> groups_;
};

} // namespace nimbus::cli

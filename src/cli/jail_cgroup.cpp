#include "cli/jail_cgroup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace nimbus::cli {
namespace {

namespace fs = std::filesystem;

// mountinfo escapes blanks, tabs, newlines and backslashes as \ooo.
std::string unescape_mount_path(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isdigit(static_cast<unsigned char>(text[i + 2])) && std::isdigit(static_cast<unsigned char>(text[i + 3]))) {
      out += static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 + (text[i + 3] - '0'));
      i += 3;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::vector<std::string> split(const std::string& text, char by) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, by))
    if (!part.empty()) parts.push_back(part);
  return parts;
}

// "cpu io memory\n" (cgroup.controllers, cgroup.subtree_control): the names.
std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool has(const std::vector<std::string>& list, const std::string& item) {
  for (const auto& x : list)
    if (x == item) return true;
  return false;
}

// Writes `value` to a cgroup file; the kernel's refusal (EINVAL, EBUSY, EPERM) is the message.
void write_file(const fs::path& file, const std::string& value) {
  // O_TRUNC as a shell's `echo VALUE > FILE` does: cgroupfs ignores it, a plain file (the unit
  // tests' fake hierarchies) then holds exactly the value.
  const int fd = ::open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("--jail: cannot open {}: {}", file.string(), std::strerror(errno)));
  const ssize_t n = ::write(fd, value.data(), value.size());
  const int error = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size()))
    throw std::runtime_error(fmt::format("--jail: cannot write '{}' to {}: {}", value, file.string(),
                                         n < 0 ? std::strerror(error) : "short write"));
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Wanted {
  const char* controller;
  const char* flag; // the option that asked for it, for messages
};

} // namespace

std::vector<CgroupHierarchy> parse_cgroup_hierarchies(
    std::istream& mountinfo, std::istream& self_cgroup,
    const std::function<std::string(const fs::path&)>& read_controllers) {
  // /proc/self/cgroup: "ID:CONTROLLERS:PATH"; v2's line is "0::PATH".
  std::map<std::string, std::string> own_v1; // controller -> path
  std::string own_v2;
  for (std::string line; std::getline(self_cgroup, line);) {
    const auto a = line.find(':');
    const auto b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (line.substr(0, a) == "0" && controllers.empty()) own_v2 = path;
    for (const auto& c : split(controllers, ',')) own_v1[c] = path;
  }
  std::vector<CgroupHierarchy> found;
  // mountinfo: ID PARENT MAJ:MIN ROOT MOUNT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
  for (std::string line; std::getline(mountinfo, line);) {
    std::istringstream in(line);
    std::vector<std::string> fields;
    for (std::string f; in >> f;) fields.push_back(f);
    size_t dash = 0;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (dash < 5 || dash + 3 > fields.size()) continue;
    const std::string& type = fields[dash + 1];
    if (type != "cgroup" && type != "cgroup2") continue;
    if (fields[3] != "/") continue; // a bind of a sub-group (containers): not the hierarchy's root
    CgroupHierarchy h;
    h.mount = unescape_mount_path(fields[4]);
    h.v2 = type == "cgroup2";
    if (h.v2) {
      h.controllers = words(read_controllers(h.mount));
      h.own_path = own_v2.empty() ? "/" : own_v2;
    } else {
      for (const auto& option : split(fields[dash + 3], ','))
        if (option != "rw" && option != "ro" && option.find('=') == std::string::npos && option.rfind("no", 0) != 0 &&
            option != "clone_children" && option != "xattr" && option != "relatime")
          h.controllers.push_back(option);
      h.own_path = h.controllers.empty() || !own_v1.count(h.controllers.front()) ? "/" : own_v1[h.controllers.front()];
    }
    if (!h.controllers.empty()) found.push_back(h);
  }
  return found;
}

std::vector<CgroupHierarchy> this_process_cgroup_hierarchies() {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::ifstream self("/proc/self/cgroup");
  return parse_cgroup_hierarchies(mountinfo, self,
                                  [](const fs::path& mount) { return read_text(mount / "cgroup.controllers"); });
}

bool cgroup_controller_mounted(const std::string& controller) {
  for (const auto& h : this_process_cgroup_hierarchies())
    if (has(h.controllers, controller)) return true;
  return false;
}

VmmCgroup::VmmCgroup(const CgroupLimits& limits, pid_t pid)
    : VmmCgroup(limits, pid, limits.any() ? this_process_cgroup_hierarchies() : std::vector<CgroupHierarchy>{}) {}

VmmCgroup::VmmCgroup(const CgroupLimits& limits, pid_t pid, const std::vector<CgroupHierarchy>& hierarchies) {
  if (!limits.any()) return;
  std::vector<Wanted> wanted;
  if (limits.memory_max) wanted.push_back({"memory", "--jail-memory-max"});
  if (limits.cpu_max_percent) wanted.push_back({"cpu", "--jail-cpu-max"});
  if (limits.pids_max) wanted.push_back({"pids", "--jail-pids-max"});
  // Prefer v2 where it holds a controller (a hybrid host mounts an empty v2 beside v1).
  std::map<const CgroupHierarchy*, std::vector<std::string>> plan;
  for (const Wanted& w : wanted) {
    const CgroupHierarchy* where = nullptr;
    for (const auto& h : hierarchies)
      if (has(h.controllers, w.controller) && (!where || (h.v2 && !where->v2))) where = &h;
    if (!where)
      throw std::runtime_error(fmt::format("{}: this host mounts no cgroup hierarchy with the {} controller (see "
                                           "/proc/self/mountinfo); leave the option out or mount it",
                                           w.flag, w.controller));
    plan[where].push_back(w.controller);
  }
  try {
    for (const auto& [h, controllers] : plan) {
      const fs::path parent = h->v2 ? h->mount / "nimbus" : h->mount / fs::path(h->own_path).relative_path() / "nimbus";
      std::error_code ec;
      fs::create_directories(parent, ec);
      if (ec) throw std::runtime_error(fmt::format("--jail: cannot create cgroup {}: {}", parent.string(), ec.message()));
      // Groups of VMMs whose keeper was killed are empty now: tidy them (a busy one stays).
      for (const auto& entry : fs::directory_iterator(parent, ec))
        if (entry.is_directory() && entry.path().filename().string().rfind("vmm-", 0) == 0) ::rmdir(entry.path().c_str());
      if (h->v2) {
        // Only what is not enabled yet: in a cgroup namespace the root has processes, and
        // writing its subtree_control would fail even for controllers systemd already gave it.
        for (const fs::path& at : {h->mount, parent}) {
          const auto enabled = words(read_text(at / "cgroup.subtree_control"));
          std::string enable;
          for (const auto& c : controllers)
            if (!has(enabled, c)) enable += (enable.empty() ? "+" : " +") + c;
          if (!enable.empty()) write_file(at / "cgroup.subtree_control", enable);
        }
      }
      const fs::path group = parent / fmt::format("vmm-{}", pid);
      if (::mkdir(group.c_str(), 0755) != 0 && errno != EEXIST)
        throw std::runtime_error(fmt::format("--jail: cannot create cgroup {}: {}", group.string(), std::strerror(errno)));
      groups_.push_back(group);
      for (const auto& c : controllers) {
        if (c == "memory") {
          write_file(group / (h->v2 ? "memory.max" : "memory.limit_in_bytes"), std::to_string(*limits.memory_max));
        } else if (c == "cpu") {
          constexpr uint64_t kPeriodUs = 100000;
          const uint64_t quota = uint64_t{*limits.cpu_max_percent} * kPeriodUs / 100;
          if (h->v2) {
            write_file(group / "cpu.max", fmt::format("{} {}", quota, kPeriodUs));
          } else {
            write_file(group / "cpu.cfs_period_us", std::to_string(kPeriodUs));
            write_file(group / "cpu.cfs_quota_us", std::to_string(quota));
          }
        } else if (c == "pids") {
          write_file(group / "pids.max", std::to_string(*limits.pids_max));
        }
      }
    }
  } catch (...) {
    remove();
    throw;
  }
}

VmmCgroup::~VmmCgroup() { remove(); }

void VmmCgroup::add(pid_t pid) const {
  for (const auto& group : groups_) write_file(group / "cgroup.procs", std::to_string(pid));
}

void VmmCgroup::remove() {
  for (const auto& group : groups_)
    for (int attempt = 0; attempt < 50 && ::rmdir(group.c_str()) != 0 && errno == EBUSY; ++attempt)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  groups_.clear();
}

} // namespace nimbus::cli

#include "cli/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <vector>

extern char** environ;

namespace nimbus::cli {

ProcessMemory sample_memory(pid_t pid, uint64_t guest_ram_bytes) {
  std::ifstream smaps("/proc/" + std::to_string(pid) + "/smaps");
  return parse_smaps(smaps, guest_ram_bytes);
}

ProcessMemory parse_smaps(std::istream& smaps, uint64_t guest_ram_bytes) {
  constexpr uint64_t kSlack = 4ull << 20;
  struct Mapping {
    std::string file;       // "dev inode" of a shared file mapping, else empty
    std::string shared_key; // file, offset and length
    uint64_t size = 0, rss = 0;
  };
  std::vector<Mapping> maps;
  std::string line;
  auto field_kib = [&](size_t prefix) {
    std::istringstream in(line.substr(prefix));
    uint64_t kib = 0;
    in >> kib;
    return kib * 1024;
  };
  while (std::getline(smaps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < line.find(' ')) {
      // "start-end perms offset dev inode [name]"
      std::istringstream in(line);
      std::string range, perms, offset, dev, inode;
      in >> range >> perms >> offset >> dev >> inode;
      const auto dash = range.find('-');
      const uint64_t length = std::stoull(range.substr(dash + 1), nullptr, 16) - std::stoull(range.substr(0, dash), nullptr, 16);
      Mapping m;
      if (perms.size() == 4 && perms[3] == 's' && inode != "0") {
        m.file = dev + " " + inode;
        m.shared_key = m.file + " " + offset + " " + std::to_string(length);
      }
      maps.push_back(m);
    } else if (!maps.empty() && line.rfind("Size:", 0) == 0) {
      maps.back().size = field_kib(5);
    } else if (!maps.empty() && line.rfind("Rss:", 0) == 0) {
      maps.back().rss = field_kib(4);
    }
  }
  ProcessMemory m;
  const Mapping* ram = nullptr;
  for (const Mapping& map : maps)
    if (map.size >= guest_ram_bytes && map.size <= guest_ram_bytes + kSlack && (ram == nullptr || map.rss > ram->rss)) ram = &map;
  if (ram != nullptr) m.guest_ram_rss = ram->rss;
  // A shared mapping of a file or memfd seen before at the same offset and size (a JIT's code
  // cache mapped once writable and once executable) holds the same pages: they count once. Other
  // mappings of guest RAM's own file (a hart's host-mapped window) hold guest RAM: none counts.
  std::map<std::string, uint64_t> shared_rss;
  for (const Mapping& map : maps) {
    uint64_t rss = map.rss;
    if (&map != ram && ram != nullptr && !ram->file.empty() && map.file == ram->file) continue;
    if (!map.shared_key.empty()) {
      uint64_t& seen = shared_rss[map.shared_key];
      const uint64_t more = rss > seen ? rss - seen : 0;
      seen = std::max(seen, rss);
      rss = more;
    }
    m.total_rss += rss;
  }
  return m;
}

ChildProcess::Result ChildProcess::run(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                                       const LineHandler& on_line, const Sampler& sampler,
                                       std::chrono::milliseconds sample_every) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const auto start = Clock::now();
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }

  Result result;
  std::string pending;
  bool stop = false;
  auto next_sample = start;
  for (;;) {
    const auto now = Clock::now();
    if (now - start > timeout) {
      result.timed_out = true;
      stop = true;
    }
    if (stop) break;
    if (sampler && now >= next_sample) {
      sampler(pid);
      next_sample = now + sample_every;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(sample_every.count()));
    if (ready <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break; // the child closed its output: it is exiting
    pending.append(buf, static_cast<size_t>(n));
    size_t eol;
    while (!stop && (eol = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, eol);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      pending.erase(0, eol + 1);
      if (!on_line(line, Clock::now() - start)) stop = true;
    }
  }
  close(fds[0]);
  int status = 0;
  if (stop) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  } else {
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  }
  result.elapsed = Clock::now() - start;
  return result;
}

} // namespace nimbus::cli

#include "cloud/host/vmm_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace nimbus::cloud::host {

namespace fs = std::filesystem;

pid_t spawn_vmm(const VmmCommand& command) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> args;
  args.push_back(command.executable);
  args.insert(args.end(), command.args.begin(), command.args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string exe = command.executable;
  const std::string log = command.log_file.empty() ? "/dev/null" : command.log_file;
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);  // the agent died between fork and prctl
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT}) ::signal(s, SIG_DFL);
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in >= 0) ::dup2(in, 0);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    // Close everything else (sockets of the agent's API and etcd connections).
    for (int fd = 3; fd < 1024; ++fd) ::close(fd);
    ::execv(exe.c_str(), argv.data());
    const char* err = std::strerror(errno);
    (void)!::write(2, "host agent: cannot exec ", 24);
    (void)!::write(2, exe.c_str(), exe.size());
    (void)!::write(2, ": ", 2);
    (void)!::write(2, err, std::strlen(err));
    (void)!::write(2, "\n", 1);
    ::_exit(127);
  }
  // Also from the parent, so the group exists before anyone signals it.
  ::setpgid(pid, pid);
  return pid;
}

std::optional<VmmExit> try_reap(pid_t pid) {
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == 0) return std::nullopt;
  if (r < 0) return VmmExit{true, SIGKILL};  // not our child any more (reaped elsewhere)
  if (WIFSIGNALED(status)) return VmmExit{true, WTERMSIG(status)};
  return VmmExit{false, WEXITSTATUS(status)};
}

void signal_group(pid_t pgid, int signal) {
  if (pgid <= 1) return;
  if (::kill(-pgid, signal) != 0) ::kill(pgid, signal);
}

void sparse_copy(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) throw std::runtime_error("disk template " + from + ": " + std::strerror(errno));
  struct stat st {};
  ::fstat(in, &st);
  std::error_code ec;
  fs::create_directories(fs::path(to).parent_path(), ec);
  const std::string tmp = to + ".partial";
  const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    throw std::runtime_error("disk " + tmp + ": " + std::strerror(err));
  }
  auto fail = [&](const std::string& what) {
    const int err = errno;
    ::close(in);
    ::close(out);
    ::unlink(tmp.c_str());
    throw std::runtime_error("copying disk template " + from + " to " + to + ": " + what + ": " + std::strerror(err));
  };
  std::vector<char> buf(1 << 20);
  static const std::vector<char> zeros(1 << 20, 0);
  off_t pos = 0;
  const off_t size = st.st_size;
  while (pos < size) {
    off_t data = ::lseek(in, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole is left
      data = pos;                 // no SEEK_DATA here: copy everything
    }
    off_t hole = ::lseek(in, data, SEEK_HOLE);
    if (hole < 0) hole = size;
    for (off_t p = data; p < hole;) {
      const size_t want = static_cast<size_t>(std::min<off_t>(static_cast<off_t>(buf.size()), hole - p));
      const ssize_t n = ::pread(in, buf.data(), want, p);
      if (n < 0) fail("read");
      if (n == 0) break;
      if (std::memcmp(buf.data(), zeros.data(), static_cast<size_t>(n)) != 0)
        if (::pwrite(out, buf.data(), static_cast<size_t>(n), p) != n) fail("write");
      p += n;
    }
    pos = hole;
  }
  if (::ftruncate(out, size) != 0) fail("truncate");
  if (::fsync(out) != 0) fail("fsync");
  ::close(in);
  ::close(out);
  if (::rename(tmp.c_str(), to.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("disk " + to + ": rename: " + std::strerror(err));
  }
}

std::optional<VmmStats> read_vmm_stats(const std::string& stats_file) {
  std::ifstream in(stats_file);
  if (!in) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(in);
    if (!j.contains("vms") || !j["vms"].is_array() || j["vms"].empty()) return std::nullopt;
    const auto& vm = j["vms"][0];
    VmmStats s;
    if (vm.contains("cpu_seconds") && vm["cpu_seconds"].is_number()) s.cpu_seconds = vm["cpu_seconds"].get<double>();
    if (vm.contains("state") && vm["state"].is_string()) s.state = vm["state"].get<std::string>();
    if (vm.contains("resident_bytes") && vm["resident_bytes"].is_number()) s.resident_bytes = vm["resident_bytes"].get<long>();
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

} // namespace nimbus::cloud::host

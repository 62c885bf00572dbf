#include "cli/jail_keeper.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace nimbus::cli {
namespace {

// The keeper's end of this pipe stays open for its whole life: the VMM's end reads EOF once the
// keeper is gone. Before that, the keeper writes the VMM's host pid once its cgroups hold it.
int g_keeper_pipe = -1;

// What a shell, the host agent or a user sends a VMM; SIGKILL needs no forwarding (the VMM gets
// the parent-death signal).
constexpr std::array kForwarded = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
constexpr int kExitSetup = 2;

void exit_on_signal(int signal) { ::_exit(128 + signal); }

// Everything the keeper does after setup: wait for signals and the VMM, forward, remove the
// cgroups, exit. Anything else kills it (and so the VMM).
void enter_keeper_sandbox() {
  scmp_filter_ctx ctx = ::seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (!ctx) throw std::runtime_error("seccomp_init failed");
  for (const char* name : {"rt_sigtimedwait", "rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "restart_syscall",
                           "wait4", "waitid", "kill", "tgkill", "getpid", "gettid", "rmdir", "nanosleep",
                           "clock_nanosleep", "write", "close", "brk", "munmap", "madvise", "exit", "exit_group"}) {
    const int number = ::seccomp_syscall_resolve_name(name);
    if (number != __NR_SCMP_ERROR && ::seccomp_rule_add(ctx, SCMP_ACT_ALLOW, number, 0) != 0) {
      ::seccomp_release(ctx);
      throw std::runtime_error(fmt::format("seccomp rule for {} failed", name));
    }
  }
  const int rc = ::seccomp_load(ctx);
  ::seccomp_release(ctx);
  if (rc != 0) throw std::runtime_error(fmt::format("seccomp_load failed: {}", std::strerror(-rc)));
}

[[noreturn]] void keep(pid_t vmm, int pipe_end, const CgroupLimits& limits, const sigset_t& waited) {
  // Nothing of the VMM's stays open here (an incoming migration's socket must close with it).
  const int keep_fd = 3;
  if (pipe_end != keep_fd) {
    ::dup2(pipe_end, keep_fd);
    ::close(pipe_end);
  }
  ::close_range(keep_fd + 1, ~0U, 0);
  std::optional<VmmCgroup> cgroup;
  try {
    cgroup.emplace(limits, vmm);
    cgroup->add(vmm);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw std::runtime_error("no new privileges for the keeper");
    enter_keeper_sandbox();
  } catch (const std::exception& e) {
    fmt::print(stderr, "nimbus run: {}\n", e.what());
    ::kill(vmm, SIGKILL);
    ::waitpid(vmm, nullptr, 0);
    if (cgroup) cgroup->remove();
    ::_exit(kExitSetup);
  }
  if (::write(keep_fd, &vmm, sizeof vmm) != sizeof vmm) {
    ::kill(vmm, SIGKILL);
    ::_exit(kExitSetup);
  }
  int status = 0;
  for (;;) {
    siginfo_t info{};
    const int signal = ::sigwaitinfo(&waited, &info);
    if (signal < 0) continue; // EINTR
    if (signal != SIGCHLD) {
      ::kill(vmm, signal);
      continue;
    }
    const pid_t reaped = ::waitpid(vmm, &status, WNOHANG);
    if (reaped == vmm) break;
  }
  cgroup->remove();
  if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
  // The same end as the VMM's, so whoever waits for us sees it.
  const int signal = WTERMSIG(status);
  ::signal(signal, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signal);
  ::sigprocmask(SIG_UNBLOCK, &one, nullptr);
  ::raise(signal);
  ::_exit(128 + signal);
}

} // namespace

pid_t split_off_jail_keeper(const CgroupLimits& limits) {
  if (::unshare(CLONE_NEWPID) != 0)
    throw std::runtime_error(fmt::format("--jail: new PID namespace: {}", std::strerror(errno)));
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("--jail: pipe: {}", std::strerror(errno)));
  sigset_t waited, before;
  sigemptyset(&waited);
  for (int s : kForwarded) sigaddset(&waited, s);
  sigaddset(&waited, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &waited, &before); // none is lost between the fork and the keeper's wait
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t child = ::fork();
  if (child < 0) {
    const int error = errno;
    ::sigprocmask(SIG_SETMASK, &before, nullptr);
    ::close(ready[0]);
    ::close(ready[1]);
    throw std::runtime_error(fmt::format("--jail: fork into the PID namespace: {}", std::strerror(error)));
  }
  if (child > 0) {
    ::close(ready[0]);
    keep(child, ready[1], limits, waited);
  }
  ::close(ready[1]);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // As pid 1 of its namespace, the VMM would ignore every signal it has no handler for; these
  // end it as they would end any process (the VMM installs its own for SIGINT and SIGTERM).
  for (int s : kForwarded) {
    struct sigaction now {};
    if (::sigaction(s, nullptr, &now) == 0 && now.sa_handler == SIG_DFL) std::signal(s, exit_on_signal);
  }
  ::sigprocmask(SIG_SETMASK, &before, nullptr);
  pid_t host_pid = 0;
  ssize_t got;
  while ((got = ::read(ready[0], &host_pid, sizeof host_pid)) < 0 && errno == EINTR) {
  }
  if (got != sizeof host_pid) ::_exit(kExitSetup); // the keeper failed and said why
  g_keeper_pipe = ready[0];
  return host_pid;
}

void rearm_jail_keeper_death_signal() {
  if (g_keeper_pipe < 0) return;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  pollfd p{g_keeper_pipe, POLLIN, 0};
  if (::poll(&p, 1, 0) > 0) { // the keeper wrote once; readable again only at its end
    fmt::print(stderr, "nimbus run: --jail: the VMM's keeper process is gone; stopping\n");
    ::_exit(kExitSetup);
  }
}

} // namespace nimbus::cli

#include "cli/sandbox.hpp"

#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace nimbus::cli {
namespace {

// Everything a running VMM does: guest I/O (pread/pwrite/fdatasync on disk images), console
// logs, the console sockets (accept, send, recv, poll/epoll, eventfd wake-ups), stats.json
// (open a temp file, write, rename), threads (worker harts, console I/O) and their futexes,
// sleeps and clocks, frame-pool memory (memfd mmap/munmap/madvise, fallocate punching freed
// frames and pages a balloon gave back, mincore counting what a VM's RAM holds), signals
// (SIGINT/SIGTERM, the terminal), and exit. The bare machine's reboot re-reads
// kernel and images (openat).
// Threads only: clone needs CLONE_THREAD (no fork), clone3 (whose flags sit behind a pointer
// the filter cannot read) fails with ENOSYS so glibc falls back to clone.
// Not allowed, among others: execve/execveat, fork/vfork, ptrace, socket/bind/listen/connect
// (console sockets are bound before), mount, memfd_create, process_vm_*, kill, setrlimit and
// prlimit64, bpf, perf_event_open. ioctl is limited to the terminal requests below.
constexpr std::array<unsigned long, 7> kIoctls = {TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, FIONREAD, FIONBIO};
constexpr std::array kAllowed = {
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "lseek",
    "openat", "close", "fstat", "newfstatat", "statx", "fsync", "fdatasync", "flock", "fcntl",
    "rename", "renameat", "renameat2", "unlink", "unlinkat", "ftruncate",
    "fallocate", "getdents64", "readlink", "readlinkat", "access", "faccessat", "faccessat2", "umask",
    "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "brk",
    "futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq", "sched_yield",
    "sched_getaffinity", "sched_setaffinity", "getcpu",
    "exit", "exit_group", "gettid", "getpid", "getppid", "tgkill",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "rt_sigtimedwait",
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "timerfd_create", "timerfd_settime", "timerfd_gettime",
    "poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
    "eventfd2", "pipe2", "dup", "dup3",
    "accept", "accept4", "shutdown", "sendto", "recvfrom",
    "sendmsg", "recvmsg", "getsockopt", "setsockopt", "getsockname",
    "getrandom", "uname", "getrusage", "getuid", "geteuid", "getgid", "getegid",
    "restart_syscall",
};

// Names by number for the SIGSYS handler, filled before the filter goes on (no allocation in
// the handler).
constexpr int kNames = 512;
const char* g_names[kNames];

void append(char*& out, const char* end, const char* text) {
  while (*text && out < end) *out++ = *text++;
}

void append_number(char*& out, const char* end, long value) {
  char digits[24];
  int n = 0;
  unsigned long v = value < 0 ? static_cast<unsigned long>(-value) : static_cast<unsigned long>(value);
  do digits[n++] = static_cast<char>('0' + v % 10); while ((v /= 10) != 0);
  if (value < 0 && out < end) *out++ = '-';
  while (n > 0 && out < end) *out++ = digits[--n];
}

void on_sigsys(int, siginfo_t* info, void*) {
  char message[256] = {};
  char* out = message;
  const char* end = message + sizeof message - 1;
  const int number = info->si_syscall;
  append(out, end, "\nnimbus run: sandbox: forbidden system call ");
  append(out, end, number >= 0 && number < kNames && g_names[number] ? g_names[number] : "?");
  append(out, end, " (number ");
  append_number(out, end, number);
  append(out, end, "); the VMM stops (exit code 159, see docs/security.md)\n");
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, message, static_cast<size_t>(out - message));
  ::_exit(kSandboxExitCode);
}

// Open descriptors now (after setup).
rlim_t open_descriptors() {
  rlim_t count = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(dir)) count += entry->d_name[0] != '.';
    ::closedir(dir);
  }
  return count;
}

void lower_limit(int resource, rlim_t value, const char* name) {
  struct rlimit limit {};
  if (::getrlimit(resource, &limit) != 0) return;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < value) value = limit.rlim_max;
  limit.rlim_cur = limit.rlim_max = value;
  if (::setrlimit(resource, &limit) != 0)
    throw std::runtime_error(std::string("sandbox: cannot set ") + name + ": " + std::strerror(errno));
}

} // namespace

void limit_resources() {
  // No core dumps: a dump would hold guest memory. Descriptors: what setup opened plus room for
  // console clients, stats.json's temp file and a bare-machine reboot. No new processes (threads
  // are counted against RLIMIT_NPROC too, so that one is left alone; clone without
  // CLONE_THREAD is refused by the filter instead).
  lower_limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
  lower_limit(RLIMIT_NOFILE, open_descriptors() + kSpareDescriptors, "RLIMIT_NOFILE");
}

const char* const* sandbox_allowed_syscalls(size_t& count) { // plus ioctl (terminal requests)
  count = kAllowed.size();
  return kAllowed.data();
}

void enter_sandbox(const std::function<void()>& last_privileged_step) {
  for (int i = 0; i < kNames; ++i) {
    if (g_names[i]) continue;
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, i);
    g_names[i] = name; // kept for the process's lifetime
  }
  struct sigaction action {};
  action.sa_sigaction = on_sigsys;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGSYS, &action, nullptr) != 0) throw std::runtime_error("sandbox: cannot handle SIGSYS");

  limit_resources();
  if (last_privileged_step) last_privileged_step();
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
  if (ctx == nullptr) throw std::runtime_error("sandbox: seccomp_init failed");
  struct Release {
    scmp_filter_ctx ctx;
    ~Release() { seccomp_release(ctx); }
  } release{ctx};
  for (const char* name : kAllowed) {
    const int number = seccomp_syscall_resolve_name(name);
    if (number == __NR_SCMP_ERROR) continue; // not on this architecture (e.g. time on arm64)
    if (const int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, number, 0); rc != 0)
      throw std::runtime_error(std::string("sandbox: cannot allow ") + name + ": " + std::strerror(-rc));
  }
  for (const unsigned long request : kIoctls)
    if (const int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, request)); rc != 0)
      throw std::runtime_error(std::string("sandbox: cannot allow ioctl: ") + std::strerror(-rc));
  if (const int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
      rc != 0)
    throw std::runtime_error(std::string("sandbox: cannot allow clone: ") + std::strerror(-rc));
  if (const int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0); rc != 0)
    throw std::runtime_error(std::string("sandbox: cannot refuse clone3: ") + std::strerror(-rc));
  // Every thread of the VMM (harts, console I/O) gets the filter, not just this one; libseccomp
  // sets PR_SET_NO_NEW_PRIVS (SCMP_FLTATR_CTL_NNP, default on) before loading.
  if (const int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1); rc != 0)
    throw std::runtime_error(std::string("sandbox: seccomp TSYNC: ") + std::strerror(-rc));
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    throw std::runtime_error(std::string("sandbox: PR_SET_NO_NEW_PRIVS: ") + std::strerror(errno));
  if (const int rc = seccomp_load(ctx); rc != 0)
    throw std::runtime_error(std::string("sandbox: cannot load the seccomp filter: ") + std::strerror(-rc));
  const char* hook = std::getenv("NIMBUS_TEST_FORBIDDEN_SYSCALL");
  if (hook != nullptr && std::strcmp(hook, "1") == 0) ::syscall(SYS_ptrace, 0, 0, 0, 0);
}

} // namespace nimbus::cli

#pragma once
// The VMM's seccomp sandbox (docs/security.md): once a `nimbus run` process has opened its
// images and devices and mapped guest memory, it sets PR_SET_NO_NEW_PRIVS and installs a
// seccomp filter on every thread (TSYNC) that allows only the system calls listed in
// sandbox.cpp. Any other system call raises SIGSYS; the handler writes
//   nimbus run: sandbox: forbidden system call NAME (number N); the VMM stops
// to stderr and ends the whole process with exit code kSandboxExitCode.
#include <functional>
#include <string>

namespace nimbus::cli {

inline constexpr int kSandboxExitCode = 159; // 128 + SIGSYS
// Descriptors a sandboxed VMM may open beyond those it had at the end of setup.
inline constexpr unsigned kSpareDescriptors = 256;

// Lowers the process's limits (soft and hard, so they cannot be raised again): RLIMIT_CORE 0,
// RLIMIT_NOFILE to the descriptors open now + kSpareDescriptors. Called by enter_sandbox.
void limit_resources();

// Lowers the limits, runs `last_privileged_step` (the jail's drop to its user: it needs setuid
// and /proc/self/fd is read before), then installs the filter; throws std::runtime_error when
// the kernel or libseccomp refuse it.
// Hidden test hook: with NIMBUS_TEST_FORBIDDEN_SYSCALL=1 in the environment, makes a forbidden
// system call (ptrace) right after installing, so tests can see the report and the exit code.
void enter_sandbox(const std::function<void()>& last_privileged_step = {});

// The allowed system calls' names, in the filter's order (for docs and tests).
const char* const* sandbox_allowed_syscalls(size_t& count);

} // namespace nimbus::cli

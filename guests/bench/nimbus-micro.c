/* nimbus-micro: what virtualization costs, measured from inside the guest, in the style of
 * Adams & Agesen, "A comparison of software and hardware techniques for x86 virtualization"
 * (ASPLOS 2006): each benchmark repeats one kernel operation whose cost is dominated by traps,
 * page-table updates or context switches, the things a VMM has to intervene in.
 *
 * Usage: nimbus-micro [SCALE [CPU-BENCH]]   (SCALE 1..100000, default 1: the iteration counts
 *        below are multiplied by it; CPU-BENCH, default /bin/nimbus-bench, is run with SCALE
 *        rounds as the last benchmark, skipped if it does not exist)
 *        nimbus-micro --exit                 (exits at once: the program the exec benchmark runs)
 *
 * Output, one line per benchmark, for `nimbus bench --workload micro` to parse:
 *   NIMBUS-MICRO: start name=NAME
 *   NIMBUS-MICRO: name=NAME iterations=N ns_per_op=X elapsed=Ys
 *   ...
 *   NIMBUS-MICRO: done
 * The start line is written (and drained from the console) after a warm-up and just before the
 * timed loop, so the host can time each benchmark by when the two lines reach it. ns_per_op and
 * elapsed are the guest's own CLOCK_MONOTONIC (guest time under `nimbus run --deterministic`). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

enum { PAGE = 4096, FAULT_REGION_PAGES = 256 }; /* 1 MiB: under a huge page, so every touch is a 4 KiB fault */

/* Iterations at SCALE 1: each about 0.1-0.5 s on an emulator, so CI can run them all quickly. */
enum {
  NULL_SYSCALL_N = 20000,
  PAGE_FAULT_ROUNDS = 8, /* of FAULT_REGION_PAGES faults */
  FORK_N = 100,
  EXEC_N = 50,
  PIPE_N = 2000,
};

static char self_path[4096];

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *bench, const char *what) {
  fprintf(stderr, "nimbus-micro: %s: %s: %s\n", bench, what, strerror(errno));
  exit(1);
}

/* After a warm-up, so the line's arrival on the host console marks the start of the timed loop:
 * tcdrain waits until the UART has sent it (fails harmlessly when stdout is not a terminal). */
static double start(const char *name) {
  printf("NIMBUS-MICRO: start name=%s\n", name);
  fflush(stdout);
  tcdrain(STDOUT_FILENO);
  return now_seconds();
}

static void report(const char *name, long n, double t0) {
  double elapsed = now_seconds() - t0;
  printf("NIMBUS-MICRO: name=%s iterations=%ld ns_per_op=%.1f elapsed=%.6fs\n", name, n, elapsed * 1e9 / (double)n,
         elapsed);
  fflush(stdout);
}

/* Warms up with a tenth of the calls, then times `calls` calls of `op`, each `ops_per_call`
 * operations. */
static void timed(const char *name, long calls, long ops_per_call, void (*op)(void)) {
  for (long i = 0; i < calls / 10 + 1; ++i) op();
  double t0 = start(name);
  for (long i = 0; i < calls; ++i) op();
  report(name, calls * ops_per_call, t0);
}

static void wait_ok(const char *bench, pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) die(bench, "waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "nimbus-micro: %s: child failed (status 0x%x)\n", bench, (unsigned)status);
    exit(1);
  }
}

/* fork, execv(path, {path, arg}) in the child, wait for it to exit with 0. */
static void run_program(const char *bench, const char *path, const char *arg) {
  pid_t pid = fork();
  if (pid < 0) die(bench, "fork");
  if (pid == 0) {
    char *args[] = {(char *)path, (char *)arg, NULL};
    execv(path, args);
    _exit(127);
  }
  wait_ok(bench, pid);
}

/* A trap into the kernel and back with almost no work: getppid through syscall(), which libc
 * cannot cache. */
static void null_syscall(void) { syscall(SYS_getppid); }

/* One write per fresh page of an anonymous mapping: each is a demand-zero fault (trap, page
 * allocation and zeroing, page-table update). munmap between rounds returns the pages, so its
 * cost is included, shared by FAULT_REGION_PAGES faults. */
static void fault_round(void) {
  char *region = mmap(NULL, FAULT_REGION_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) die("page_fault", "mmap");
  for (long p = 0; p < FAULT_REGION_PAGES; ++p) ((volatile char *)region)[p * PAGE] = (char)p;
  if (munmap(region, FAULT_REGION_PAGES * PAGE) != 0) die("page_fault", "munmap");
}


/* Process creation and teardown: copying the address space (copy-on-write), scheduling the
 * child, its exit, and reaping it. */
static void fork_exit_wait(void) {
  pid_t pid = fork();
  if (pid < 0) die("fork_exit_wait", "fork");
  if (pid == 0) _exit(0);
  wait_ok("fork_exit_wait", pid);
}

/* fork + execve of this static program with --exit + wait: a fresh address space built from an
 * ELF file, on top of fork_exit_wait. */
static void exec_self(void) { run_program("exec", self_path, "--exit"); }

/* Two processes bounce one byte through two pipes: per round trip two writes, two reads and two
 * context switches (on one hart), each a blocking wake-up. */
static void pipe_roundtrip(long n) {
  int to_child[2], to_parent[2];
  if (pipe(to_child) != 0 || pipe(to_parent) != 0) die("pipe_roundtrip", "pipe");
  pid_t pid = fork();
  if (pid < 0) die("pipe_roundtrip", "fork");
  if (pid == 0) {
    close(to_child[1]);
    close(to_parent[0]);
    char c;
    ssize_t got;
    while ((got = read(to_child[0], &c, 1)) == 1)
      if (write(to_parent[1], &c, 1) != 1) _exit(1);
    _exit(got == 0 ? 0 : 1);
  }
  close(to_child[0]);
  close(to_parent[1]);
  long warm = n / 10 + 1;
  double t0 = 0;
  for (long i = 0; i < warm + n; ++i) {
    if (i == warm) t0 = start("pipe_roundtrip");
    char c = (char)i;
    if (write(to_child[1], &c, 1) != 1) die("pipe_roundtrip", "write");
    if (read(to_parent[0], &c, 1) != 1) die("pipe_roundtrip", "read");
    if (c != (char)i) {
      fprintf(stderr, "nimbus-micro: pipe_roundtrip: got back %d, sent %d\n", c, (char)i);
      exit(1);
    }
  }
  report("pipe_roundtrip", n, t0);
  close(to_child[1]); /* the child reads end-of-file and exits */
  wait_ok("pipe_roundtrip", pid);
  close(to_parent[0]);
}

/* The CPU benchmark (integer, memory, floating point: little for a VMM to do) as a baseline;
 * it prints its own NIMBUS-BENCH line with the checksum between the two of ours. */
static void cpu(long rounds, const char *bench) {
  if (access(bench, X_OK) != 0) return;
  char arg[32];
  snprintf(arg, sizeof arg, "%ld", rounds);
  double t0 = start("cpu");
  run_program("cpu", bench, arg);
  report("cpu", rounds, t0);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--exit") == 0) return 0;
  long scale = 1;
  if (argc > 1) {
    char *end = NULL;
    scale = strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || scale < 1 || scale > 100000) {
      fprintf(stderr, "nimbus-micro: SCALE must be an integer in 1..100000, got '%s'\n", argv[1]);
      return 2;
    }
  }
  const char *bench = argc > 2 ? argv[2] : "/bin/nimbus-bench";
  ssize_t len = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
  if (len <= 0) die("exec", "readlink /proc/self/exe");
  self_path[len] = '\0';

  printf("NIMBUS-MICRO: scale=%ld\n", scale);
  timed("null_syscall", NULL_SYSCALL_N * scale, 1, null_syscall);
  timed("page_fault", PAGE_FAULT_ROUNDS * scale, FAULT_REGION_PAGES, fault_round);
  timed("fork_exit_wait", FORK_N * scale, 1, fork_exit_wait);
  timed("exec", EXEC_N * scale, 1, exec_self);
  pipe_roundtrip(PIPE_N * scale);
  cpu(scale, bench);
  printf("NIMBUS-MICRO: done\n");
  return 0;
}

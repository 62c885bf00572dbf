// `nimbus migrate NAME --to tcp:HOST:PORT`: live-migrates VM NAME, which a VMM on this host runs,
// to a VMM waiting with `nimbus run --incoming tcp:HOST:PORT` (docs/migration.md). This command
// opens the TCP connection itself and hands it to the VMM with the request over the VM's control
// socket (<state-dir>/<NAME>.control, SCM_RIGHTS), as `nimbus snapshot NAME --to DIR` sends its
// request: the sandboxed VMM never connects anywhere on its own.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "cli/vm_control_client.hpp"
#include "cli/jail.hpp"
#include "cli/tls_stream.hpp"
#include "hypervisor/migration.hpp"
#include "hypervisor/vm_control.hpp"
#include "hypervisor/vmm.hpp"

namespace nimbus::cli {
namespace {

struct MigrateOptions {
  std::string name;
  std::string to;
  uint64_t max_downtime_ms = 300;
  double timeout_seconds = 60;
  bool no_auto_converge = false;
  uint64_t max_bandwidth_mib = 0;
  std::string state_dir;
  std::string held_dir;
  bool json = false;
  bool with_disk = false;
  TlsFiles tls;   // --to tls:HOST:PORT
};

// A TCP connection to the destination within `timeout_ms`, or -1 with `error` set.
int connect_tcp(const StreamAddress& address, int timeout_ms, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  if (const int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    error = fmt::format("cannot resolve '{}': {}", address.host, ::gai_strerror(rc));
    return -1;
  }
  int connected = -1;
  error = "no address";
  for (addrinfo* a = found; a != nullptr && connected < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    pollfd p{fd, POLLOUT, 0};
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (::poll(&p, 1, timeout_ms) != 1 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0) {
      error = so_error != 0 ? std::strerror(so_error) : "timed out";
      ::close(fd);
      continue;
    }
    connected = fd;
  }
  ::freeaddrinfo(found);
  if (connected >= 0) {
    const int one = 1;
    ::setsockopt(connected, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return connected;
}

int run_migrate(const MigrateOptions& options) {
  StreamAddress address;
  try {
    address = parse_stream_address(options.to);
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "nimbus migrate: --to {}\n", e.what());
    return 2;
  }
  if (const std::string wrong = check_tls_options(address, options.tls, "--to"); !wrong.empty()) {
    fmt::print(stderr, "nimbus migrate: {}\n", wrong);
    return 2;
  }
  std::unique_ptr<TlsContext> tls;
  if (address.tls) {
    try {
      tls = std::make_unique<TlsContext>(options.tls, TlsRole::client);
    } catch (const TlsError& e) {
      fmt::print(stderr, "nimbus migrate: {}\n", e.what());
      return 2;
    }
  }
  if (options.max_downtime_ms == 0) {
    fmt::print(stderr, "nimbus migrate: --max-downtime must be at least 1 ms\n");
    return 2;
  }
  const std::filesystem::path state_dir =
      options.state_dir.empty() ? hypervisor::default_state_dir() : std::filesystem::path(options.state_dir);
  // Where a VM without a disk goes if the hand-off is lost (migration.hpp); the VMM's sandbox
  // cannot create directories, so this command does.
  std::error_code ec;
  const std::filesystem::path held = std::filesystem::absolute(
      options.held_dir.empty() ? state_dir / (options.name + ".migration-held") : std::filesystem::path(options.held_dir), ec);
  std::filesystem::create_directories(held, ec);
  if (ec || !std::filesystem::is_directory(held)) {
    fmt::print(stderr, "nimbus migrate: cannot create directory '{}'{}\n", held.string(), ec ? ": " + ec.message() : "");
    return 2;
  }

  const VmControlConnection connection = connect_vm_control(state_dir, options.name);
  if (connection.fd < 0) {
    fmt::print(stderr, "nimbus migrate: {}\n", connection.error);
    return connection.exit_code;
  }
  const int control = connection.fd;
  if (const std::string wrong = prepare_directory_for_vmm(control, held, state_dir); !wrong.empty()) {
    fmt::print(stderr, "nimbus migrate: --held-dir {}: {}; VM '{}' runs on here\n", held.string(), wrong, options.name);
    ::close(control);
    return 2;
  }
  std::string error;
  int destination = connect_tcp(address, 10'000, error);
  if (destination < 0) {
    fmt::print(stderr, "nimbus migrate: cannot connect to {}: {} (is `nimbus run --incoming {}` waiting there?); VM '{}' "
                       "runs on here\n",
               options.to, error, options.to, options.name);
    ::close(control);
    return 1;
  }
  if (tls) {
    // The VMM gets the plain end of a relay that this process runs until the migration ends
    // (tls_stream.hpp): the stream is the same above TLS, and the sandboxed VMM does no TLS.
    try {
      destination = tls->connect_relay(destination, address.host, std::chrono::seconds(10));
    } catch (const TlsError& e) {
      fmt::print(stderr, "nimbus migrate: {}; VM '{}' runs on here\n", e.what(), options.name);
      ::close(control);
      return 1;
    }
  }
  // The VMM's sandbox cannot set O_NONBLOCK on it for us; the stream code polls either way.
  std::string request =
      fmt::format("migrate {} max-downtime-ms={} timeout-ms={} max-bandwidth-mib={} auto-converge={} held-dir={} json={}\n",
                  options.to, options.max_downtime_ms, static_cast<uint64_t>(options.timeout_seconds * 1000),
                  options.max_bandwidth_mib,
                  options.no_auto_converge ? 0 : 1, held.lexically_normal().string(), options.json ? 1 : 0);
  // Only when asked, so the request stays what older VMMs parse.
  if (options.with_disk) request.insert(request.size() - 1, " with-disk=1");
  iovec io{const_cast<char*>(request.data()), request.size()};
  alignas(cmsghdr) char cmsg_buffer[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  message.msg_control = cmsg_buffer;
  message.msg_controllen = sizeof cmsg_buffer;
  cmsghdr* c = CMSG_FIRSTHDR(&message);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &destination, sizeof(int));
  const ssize_t sent = ::sendmsg(control, &message, MSG_NOSIGNAL);
  ::close(destination);   // the VMM has its own copy now
  if (sent != static_cast<ssize_t>(request.size())) {
    fmt::print(stderr, "nimbus migrate: cannot send the request: {}\n", std::strerror(errno));
    ::close(control);
    return 1;
  }
  std::string reply;
  char buffer[4096];
  const int wait_ms = static_cast<int>(options.timeout_seconds * 1000) + 300'000;
  for (;;) {
    pollfd pfd{control, POLLIN, 0};
    if (::poll(&pfd, 1, wait_ms) <= 0) break;
    const ssize_t n = ::recv(control, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    reply.append(buffer, static_cast<size_t>(n));
    if (reply.find('\n') != std::string::npos) break;
  }
  ::close(control);
  // The VMM closed its end of the relay: let the relay send what it still holds (an ABORT and
  // its reason) and TLS's close_notify before this process, and the relay with it, ends.
  if (tls) tls->wait_relays(std::chrono::seconds(2));
  if (const auto nl = reply.find('\n'); nl != std::string::npos) reply.resize(nl);
  if (reply.starts_with("ok ")) {
    fmt::print("{}\n", reply.substr(3));
    return 0;
  }
  fmt::print(stderr, "nimbus migrate: {}\n",
             reply.starts_with("error ") ? reply.substr(6) : reply.empty() ? "the VMM closed the connection" : reply);
  return 1;
}

void register_migrate(CLI::App& app) {
  auto options = std::make_shared<MigrateOptions>();
  auto* cmd = app.add_subcommand("migrate", "Live-migrate a running VM (any mode: emulate, trap, hw) to a VMM waiting with nimbus run --incoming");
  cmd->footer(
      "On the destination first: nimbus run --incoming tcp:HOST:PORT [--console-stdout] [--state-dir D]\n"
      "(or tls:HOST:PORT with --tls-cert/--tls-key/--tls-ca on both sides: TLS with mutual authentication)\n"
      "Then here: nimbus migrate NAME --to tcp:HOST:PORT. Pre-copy: the VM runs on while its memory is copied in\n"
      "rounds; it stops only for the last dirty pages and its state (--max-downtime), and runs on the destination\n"
      "afterwards. If the guest writes memory faster than the link copies, its vCPUs are throttled (auto-converge);\n"
      "after --timeout the migration gives up and the VM runs on here. Disks are on shared storage (the same\n"
      "path on both sides; the disk lock moves with the VM), or, with --with-disk, copied with the VM to the path\n"
      "the destination names with --incoming-disk. Every mode migrates (emulate, trap, hw). docs/migration.md\n"
      "describes the protocol.\n"
      "Exit status: 0 when the VM runs on the destination, 1 when the migration failed (the VM runs on here, or\n"
      "after a lost hand-off of a VM without a disk or with --with-disk, is held stopped with a snapshot: the\n"
      "message says which),\n"
      "2 for bad options.");
  cmd->add_option("NAME", options->name, "The VM's name (from its TOML file, or --name)")->required();
  cmd->add_option("--to", options->to,
                  "Destination: tcp:HOST:PORT where nimbus run --incoming waits, or tls:HOST:PORT for one that waits "
                  "with TLS (then --tls-cert, --tls-key and --tls-ca: both sides authenticate; the destination's "
                  "certificate must name HOST)")
      ->required();
  cmd->add_option("--tls-cert", options->tls.cert, "With --to tls:...: this side's certificate (PEM), signed by --tls-ca");
  cmd->add_option("--tls-key", options->tls.key, "With --to tls:...: the certificate's private key (PEM)");
  cmd->add_option("--tls-ca", options->tls.ca, "With --to tls:...: the CA (PEM) the destination's certificate must verify against");
  cmd->add_option("--max-downtime", options->max_downtime_ms,
                  "Downtime target in milliseconds: pre-copy ends when the rest can be copied within it")
      ->capture_default_str();
  cmd->add_option("--timeout", options->timeout_seconds,
                  "Give up after this many seconds of pre-copy that did not converge (the VM runs on here)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-bandwidth", options->max_bandwidth_mib,
                  "Pre-copy takes at most this many MiB/s of the link (0: no limit; the final copy with the VM "
                  "stopped is never limited)")
      ->capture_default_str();
  cmd->add_flag("--no-auto-converge", options->no_auto_converge,
                "Do not throttle a VM that dirties memory faster than the link copies it");
  cmd->add_option("--held-dir", options->held_dir,
                  "Where a VM without a disk (or migrated --with-disk) is snapshotted if the destination never confirms "
                  "the hand-off "
                  "(default: <state-dir>/NAME.migration-held)");
  cmd->add_option("--state-dir", options->state_dir,
                  "The VMM's state directory (default: $XDG_RUNTIME_DIR/nimbus or /tmp/nimbus-UID)");
  cmd->add_flag("--with-disk", options->with_disk,
                "Copy the VM's local disk with it: its blocks go in pre-copy rounds (the blocks the guest writes "
                "meanwhile again), the rest with the VM stopped; the destination must wait with "
                "nimbus run --incoming ADDRESS --incoming-disk PATH");
  cmd->add_flag("--json", options->json, "Print the report as JSON (rounds, pages, bytes, downtime, total time)");
  cmd->callback([options] { set_exit_code(run_migrate(*options)); });
}

NIMBUS_REGISTER_COMMAND(register_migrate);

} // namespace
} // namespace nimbus::cli

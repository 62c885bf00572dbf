#pragma once
// One VM's console on the host: what the guest writes to its UART (or SBI console) goes to a log
// file, to every client attached to the VM's UNIX socket (`nimbus console NAME`), and optionally
// to the VMM's stdout with the VM's name in front of each line; what clients type goes to the
// guest. A thread per console accepts clients and reads their input (poll on the socket and the
// clients), so input arrives even while the VM sleeps: on_input then wakes it.
//
// Threads: write/flush/read are called by whichever worker runs the VM (one at a time); the I/O
// thread only accepts, reads input and drops clients; a mutex guards the shared parts.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "machine/console_backend.hpp"

namespace nimbus::hypervisor {

struct VmConsoleOptions {
  std::string name;                           // the VM's name, for the stdout prefix
  std::filesystem::path log_file;             // empty: no log
  std::filesystem::path socket_path;          // empty: no socket
  bool echo_stdout = false;                   // copy output to stdout as "name| line"
  std::function<void()> on_input;             // called from the I/O thread when input arrived
};

class VmConsole final : public machine::ConsoleBackend {
public:
  // Clients attached at once. More are told so and disconnected: every client holds a
  // descriptor, and a flood of them must not use up the VMM's (RLIMIT_NOFILE is capped by the
  // sandbox), or its control socket and disks would stop working (docs/security.md).
  static constexpr size_t kMaxClients = 8;

  // Throws std::runtime_error if the log cannot be created or the socket cannot be bound (the
  // path is too long for a UNIX socket, or another VMM's VM of that name is alive there).
  explicit VmConsole(VmConsoleOptions options);
  ~VmConsole() override;   // stops the I/O thread, disconnects clients, removes the socket
  VmConsole(const VmConsole&) = delete;
  VmConsole& operator=(const VmConsole&) = delete;

  void write(uint8_t byte) override { out_.push_back(static_cast<char>(byte)); }
  void flush() override;
  std::optional<uint8_t> read() override;
  void wait_for_input(std::chrono::nanoseconds max) override;

  // Feeds input as if a client typed it (tests, and the VMM itself).
  void push_input(const std::string& bytes);
  size_t clients() const;
  // Clients turned away because kMaxClients were attached.
  uint64_t refused_clients() const {
    std::lock_guard lock(mutex_);
    return refused_clients_;
  }
  // Closes the socket and disconnects clients (the VM stopped); the log stays.
  void close_socket();

private:
  void serve();
  void accept_client();
  void echo(const std::string& bytes);

  VmConsoleOptions options_;
  int log_fd_ = -1;
  int listen_fd_ = -1;
  int wake_fd_ = -1;   // eventfd that stops the I/O thread
  std::string out_;     // written by the guest since the last flush (worker thread only)
  mutable std::mutex mutex_;
  std::condition_variable input_ready_;
  std::deque<uint8_t> input_;
  std::vector<int> clients_;
  uint64_t refused_clients_ = 0;
  std::thread io_thread_;
  std::atomic<bool> stopping_{false};
};

} // namespace nimbus::hypervisor

#include "hypervisor/vm_console.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace nimbus::hypervisor {

namespace {

// All VMs share the VMM's stdout. A VM may leave a line open (a shell prompt waits after "=> "
// for ever); another VM's output must not be glued onto it, or "name| " would no longer start
// every line. So the stdout records whose line is open, and anyone else ends it first.
std::mutex g_stdout_mutex;
const VmConsole* g_stdout_open_line = nullptr; // guarded by g_stdout_mutex

void write_all(int fd, const char* data, size_t len) {
  while (len > 0) {
    const ssize_t n = ::write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return; // a log on a full disk loses output; the guest must not stop for it
    data += n;
    len -= static_cast<size_t>(n);
  }
}

} // namespace

VmConsole::VmConsole(VmConsoleOptions options) : options_(std::move(options)) {
  if (!options_.log_file.empty()) {
    log_fd_ = ::open(options_.log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd_ < 0)
      throw std::runtime_error(fmt::format("console log {}: {}", options_.log_file.string(), std::strerror(errno)));
  }
  if (options_.socket_path.empty()) return;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = options_.socket_path.string();
  if (path.size() >= sizeof(address.sun_path)) {
    if (log_fd_ >= 0) ::close(log_fd_);
    throw std::runtime_error(fmt::format("console socket {}: path longer than {} bytes (choose a shorter --state-dir)",
                                         path, sizeof(address.sun_path) - 1));
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  // A socket file left by a VMM that died is stale: nobody accepts on it. A live one is refused.
  if (::connect(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    ::close(listen_fd_);
    if (log_fd_ >= 0) ::close(log_fd_);
    throw std::runtime_error(fmt::format("console socket {}: a running VMM already serves a VM named '{}'", path,
                                         options_.name));
  }
  ::close(listen_fd_);
  ::unlink(path.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listen_fd_, 4) != 0) {
    const std::string error = std::strerror(errno);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (log_fd_ >= 0) ::close(log_fd_);
    throw std::runtime_error(fmt::format("console socket {}: {}", path, error));
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  io_thread_ = std::thread([this] { serve(); });
}

VmConsole::~VmConsole() {
  flush();
  {
    std::lock_guard lock(g_stdout_mutex);
    if (g_stdout_open_line == this) { // end the line: another console may get this address
      write_all(STDOUT_FILENO, "\n", 1);
      g_stdout_open_line = nullptr;
    }
  }
  close_socket();
  if (log_fd_ >= 0) ::close(log_fd_);
}

void VmConsole::close_socket() {
  if (io_thread_.joinable()) {
    stopping_ = true;
    const uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof(one));
    io_thread_.join();
  }
  std::lock_guard lock(mutex_);
  for (const int fd : clients_) ::close(fd);
  clients_.clear();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(options_.socket_path.c_str());
    listen_fd_ = -1;
  }
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
    wake_fd_ = -1;
  }
}

void VmConsole::flush() {
  if (out_.empty()) return;
  if (log_fd_ >= 0) write_all(log_fd_, out_.data(), out_.size());
  if (options_.echo_stdout) echo(out_);
  {
    std::lock_guard lock(mutex_);
    for (int& fd : clients_) {
      // A client that cannot keep up loses output rather than stalling the guest.
      if (fd >= 0 && ::send(fd, out_.data(), out_.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN &&
          errno != EWOULDBLOCK) {
        ::shutdown(fd, SHUT_RDWR); // the I/O thread sees the hang-up and drops it
      }
    }
  }
  out_.clear();
}

void VmConsole::echo(const std::string& bytes) {
  std::lock_guard lock(g_stdout_mutex);
  std::string text;
  bool at_line_start = g_stdout_open_line != this; // another VM's line (or none) is on the stdout
  if (g_stdout_open_line != nullptr && g_stdout_open_line != this) text += '\n';
  for (const char c : bytes) {
    if (c == '\r') continue;
    if (at_line_start) text += options_.name + "| ";
    text += c;
    at_line_start = c == '\n';
  }
  if (!text.empty()) g_stdout_open_line = text.back() == '\n' ? nullptr : this;
  write_all(STDOUT_FILENO, text.data(), text.size());
}

std::optional<uint8_t> VmConsole::read() {
  std::lock_guard lock(mutex_);
  if (input_.empty()) return std::nullopt;
  const uint8_t byte = input_.front();
  input_.pop_front();
  return byte;
}

void VmConsole::wait_for_input(std::chrono::nanoseconds max) {
  std::unique_lock lock(mutex_);
  input_ready_.wait_for(lock, max, [this] { return !input_.empty(); });
}

void VmConsole::push_input(const std::string& bytes) {
  {
    std::lock_guard lock(mutex_);
    input_.insert(input_.end(), bytes.begin(), bytes.end());
  }
  input_ready_.notify_all();
  if (options_.on_input) options_.on_input();
}

size_t VmConsole::clients() const {
  std::lock_guard lock(mutex_);
  return clients_.size();
}

void VmConsole::accept_client() {
  const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) {
    // Out of descriptors (the sandbox caps RLIMIT_NOFILE): the connection stays pending and the
    // socket stays readable, so back off instead of spinning until a client leaves.
    if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return;
  }
  std::lock_guard lock(mutex_);
  if (clients_.size() >= kMaxClients) {
    const std::string full = fmt::format("nimbus: this console has {} clients attached, its most; try again when one "
                                         "has left\r\n",
                                         kMaxClients);
    [[maybe_unused]] const auto n = ::send(fd, full.data(), full.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    ++refused_clients_;
    return;
  }
  clients_.push_back(fd);
}

void VmConsole::serve() {
  std::vector<pollfd> fds;
  char buffer[1024];
  while (!stopping_) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    {
      std::lock_guard lock(mutex_);
      for (const int fd : clients_) fds.push_back({fd, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents) return;
    if (fds[1].revents & POLLIN) accept_client();
    for (size_t i = 2; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      const ssize_t n = ::recv(fds[i].fd, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n > 0) {
        push_input(std::string(buffer, static_cast<size_t>(n)));
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        std::lock_guard lock(mutex_);
        clients_.erase(std::remove(clients_.begin(), clients_.end(), fds[i].fd), clients_.end());
        ::close(fds[i].fd);
      }
    }
  }
}

} // namespace nimbus::hypervisor

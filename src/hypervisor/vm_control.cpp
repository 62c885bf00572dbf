#include "hypervisor/vm_control.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace nimbus::hypervisor {

namespace {
constexpr int kRequestTimeoutMs = 5000;
} // namespace

VmControl::VmControl(std::filesystem::path socket_path, std::string vm_name, Handler handler)
    : VmControl(std::move(socket_path), std::move(vm_name),
                FdHandler([handler = std::move(handler)](const std::string& request, int&) { return handler(request); })) {}

VmControl::VmControl(std::filesystem::path socket_path, std::string vm_name, FdHandler handler)
    : path_(std::move(socket_path)), name_(std::move(vm_name)), handler_(std::move(handler)) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = path_.string();
  if (path.size() >= sizeof(address.sun_path))
    throw std::runtime_error(fmt::format("control socket {}: path longer than {} bytes (choose a shorter --state-dir)",
                                         path, sizeof(address.sun_path) - 1));
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    ::close(probe);
    throw std::runtime_error(fmt::format("control socket {}: a running VMM already serves a VM named '{}'", path, name_));
  }
  if (probe >= 0) ::close(probe);
  ::unlink(path.c_str());   // stale, from a VMM that died
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listen_fd_, 4) != 0) {
    const std::string error = std::strerror(errno);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    throw std::runtime_error(fmt::format("control socket {}: {}", path, error));
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { serve(); });
}

VmControl::~VmControl() { close(); }

void VmControl::close() {
  if (thread_.joinable()) {
    stopping_ = true;
    const uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof(one));
    thread_.join();
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(path_.c_str());
    listen_fd_ = -1;
  }
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
    wake_fd_ = -1;
  }
}

void VmControl::serve() {
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    serve_client(client);
    ::close(client);
  }
}

void VmControl::serve_client(int fd) {
  auto reply = [fd](const std::string& line) {
    const std::string text = line + "\n";
    [[maybe_unused]] const auto n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  };
  std::string request;
  int passed_fd = -1;
  struct ClosePassed {
    int& fd;
    ~ClosePassed() {
      if (fd >= 0) ::close(fd);
    }
  } close_passed{passed_fd};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kRequestTimeoutMs);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return reply("error no complete request line within 5 s");
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return reply("error the VMM is shutting down");
    if (fds[0].revents == 0) continue;
    char buffer[512];
    // recvmsg: the client may pass one descriptor with its request (SCM_RIGHTS).
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    iovec io{buffer, sizeof buffer};
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd, &message, MSG_CMSG_CLOEXEC);
    if (n <= 0) return;   // the client went away
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int received;
        std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (passed_fd < 0) passed_fd = received;
        else ::close(received);   // one descriptor per request
      }
    }
    request.append(buffer, static_cast<size_t>(n));
    const auto newline = request.find('\n');
    if (newline != std::string::npos) {
      request.resize(newline);
      break;
    }
    if (request.size() > kMaxRequest) return reply(fmt::format("error request longer than {} bytes", kMaxRequest));
  }
  if (!request.empty() && request.back() == '\r') request.pop_back();
  std::string answer;
  try {
    answer = handler_(request, passed_fd);
  } catch (const std::exception& error) {
    answer = fmt::format("error {}", error.what());
  }
  for (char& c : answer)
    if (c == '\n') c = ' ';
  reply(answer);
}

} // namespace nimbus::hypervisor

#include "cli/vm_control_client.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "hypervisor/vm_control.hpp"

namespace nimbus::cli {

VmControlConnection connect_vm_control(const std::filesystem::path& state_dir, const std::string& vm) {
  VmControlConnection c;
  const std::string text = hypervisor::VmControl::path(state_dir, vm).string();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (text.size() >= sizeof(address.sun_path)) {
    c.error = fmt::format("{}: path too long", text);
    c.exit_code = 2;
    return c;
  }
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    c.error = fmt::format("no running VM '{}' ({}: {})", vm, text, std::strerror(errno));
    c.exit_code = 1;
    if (fd >= 0) ::close(fd);
    return c;
  }
  c.fd = fd;
  return c;
}

std::optional<std::string> send_control_request(int fd, const std::string& request, std::chrono::milliseconds timeout,
                                                std::string& error) {
  const std::string line = request + "\n";
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    error = fmt::format("cannot send the request: {}", std::strerror(errno));
    return std::nullopt;
  }
  std::string reply;
  char buffer[4096];
  for (;;) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) break;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    reply.append(buffer, static_cast<size_t>(n));
    if (reply.find('\n') != std::string::npos) break;
  }
  if (const auto nl = reply.find('\n'); nl != std::string::npos) reply.resize(nl);
  return reply;
}

std::string control_reply_error(const std::string& reply) {
  if (reply.starts_with("error ")) return reply.substr(6);
  return reply.empty() ? "the VMM closed the connection" : reply;
}

} // namespace nimbus::cli

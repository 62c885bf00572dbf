#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "machine/gdb/transport.hpp"

namespace nimbus::machine::gdb {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

int wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (r < 0 && errno == EINTR);
  return r;
}

} // namespace

TcpTransport::TcpTransport(const std::string& address) {
  std::string spec = address;
  if (spec.rfind("tcp:", 0) == 0) spec = spec.substr(4);
  const size_t colon = spec.rfind(':');
  if (colon == std::string::npos)
    fail(fmt::format("gdb address '{}' must be tcp:HOST:PORT (e.g. tcp:127.0.0.1:1234)", address));
  std::string host = spec.substr(0, colon);
  const std::string port_text = spec.substr(colon + 1);
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  unsigned long port = 0;
  if (port_text.empty() || port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos ||
      (port = std::stoul(port_text)) > 65535)
    fail(fmt::format("gdb address '{}': port '{}' must be a number from 0 to 65535", address, port_text));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1)
    fail(fmt::format("gdb address '{}': host '{}' must be an IPv4 address (e.g. 127.0.0.1)", address, host));
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener_ < 0) fail(fmt::format("gdb: cannot create a socket: {}", std::strerror(errno)));
  const int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || ::listen(listener_, 1) != 0) {
    const int e = errno;
    ::close(listener_);
    listener_ = -1;
    fail(fmt::format("gdb: cannot listen on {}:{}: {}{}", host, port, std::strerror(e),
                     e == EADDRINUSE ? " (choose another port)" : ""));
  }
  socklen_t len = sizeof(sa);
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&sa), &len);
  port_ = ntohs(sa.sin_port);
}

TcpTransport::~TcpTransport() {
  disconnect();
  if (listener_ >= 0) ::close(listener_);
}

bool TcpTransport::connected(std::chrono::milliseconds timeout) {
  if (client_ >= 0) return true;
  if (wait_readable(listener_, timeout) <= 0) return false;
  client_ = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
  if (client_ < 0) return false;
  const int one = 1; // replies are small and awaited one by one
  ::setsockopt(client_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return true;
}

long TcpTransport::receive(uint8_t* buffer, size_t cap, std::chrono::milliseconds timeout) {
  if (client_ < 0) return -1;
  const int ready = wait_readable(client_, timeout);
  if (ready == 0) return 0;
  ssize_t n;
  do {
    n = ::recv(client_, buffer, cap, 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    disconnect();
    return -1;
  }
  return n;
}

void TcpTransport::send(std::string_view bytes) {
  while (client_ >= 0 && !bytes.empty()) {
    const ssize_t n = ::send(client_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return; // the next receive sees the hang-up
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void TcpTransport::disconnect() {
  if (client_ >= 0) ::close(client_);
  client_ = -1;
}

} // namespace nimbus::machine::gdb

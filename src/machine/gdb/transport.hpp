#pragma once
// The byte pipe between the gdb stub and one debugger at a time. TcpTransport listens on a TCP
// address (QEMU's -gdb tcp:HOST:PORT); the unit tests use an in-memory one.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace nimbus::machine::gdb {

class Transport {
public:
  virtual ~Transport() = default;
  // True if a debugger is connected; if none is, waits up to `timeout` for one to connect.
  virtual bool connected(std::chrono::milliseconds timeout) = 0;
  // Bytes that arrived (up to `cap`), waiting up to `timeout` for the first. 0 on timeout, -1
  // when the debugger hung up (the transport is then disconnected).
  virtual long receive(uint8_t* buffer, size_t cap, std::chrono::milliseconds timeout) = 0;
  // A hang-up while sending surfaces at the next receive.
  virtual void send(std::string_view bytes) = 0;
  virtual void disconnect() = 0;
};

class TcpTransport final : public Transport {
public:
  // `address`: "tcp:HOST:PORT", "HOST:PORT" or ":PORT" (127.0.0.1), PORT 1-65535 (or 0: any
  // free port, see port()). Throws std::runtime_error saying what is wrong (a malformed address,
  // a port in use).
  explicit TcpTransport(const std::string& address);
  ~TcpTransport() override;
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  uint16_t port() const { return port_; }
  bool connected(std::chrono::milliseconds timeout) override;
  long receive(uint8_t* buffer, size_t cap, std::chrono::milliseconds timeout) override;
  void send(std::string_view bytes) override;
  void disconnect() override;

private:
  int listener_ = -1;
  int client_ = -1;
  uint16_t port_ = 0;
};

} // namespace nimbus::machine::gdb

#pragma once
// The host side of the machine's serial console: where UART output goes and input comes from.
// The CLI supplies a terminal-backed one; tests supply buffers.
#include <chrono>
#include <cstdint>
#include <optional>

namespace nimbus::machine {

class ConsoleBackend {
public:
  virtual ~ConsoleBackend() = default;
  virtual void write(uint8_t byte) = 0;
  // Makes written bytes visible (called at the end of every run-loop round).
  virtual void flush() {}
  // Next input byte if one is available now; never blocks.
  virtual std::optional<uint8_t> read() = 0;
  // Blocks until input may be available or `max` has passed; used when every hart is idle. Must
  // not touch output (callers flush first): harts on other threads may be writing meanwhile.
  virtual void wait_for_input(std::chrono::nanoseconds max) = 0;
  // The user asked to leave (Ctrl-A x on a terminal).
  virtual bool quit_requested() const { return false; }
};

} // namespace nimbus::machine

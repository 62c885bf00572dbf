#pragma once
// The serial console on the user's terminal, behaving like QEMU's `-nographic` stdio mux:
// raw input, Ctrl-A x quits, Ctrl-A Ctrl-A sends a literal Ctrl-A, Ctrl-A h prints help.
// When stdin is not a terminal (tests, CI) input is read as it is, and EOF just ends input.
#include <termios.h>

#include <string>

#include "machine/console_backend.hpp"

namespace nimbus::cli {

class TerminalConsole final : public machine::ConsoleBackend {
public:
  TerminalConsole(int in_fd, int out_fd);
  ~TerminalConsole() override;
  TerminalConsole(const TerminalConsole&) = delete;
  TerminalConsole& operator=(const TerminalConsole&) = delete;

  void write(uint8_t byte) override;
  void flush() override;
  std::optional<uint8_t> read() override;
  void wait_for_input(std::chrono::nanoseconds max) override;
  bool quit_requested() const override { return quit_; }

  // Prints a line to the terminal from the VMM itself (not the guest), e.g. a stop reason.
  void message(const std::string& text);

private:
  void fill();
  void handle_input_byte(uint8_t byte);

  int in_fd_;
  int out_fd_;
  bool is_tty_ = false;
  bool input_open_ = true;
  bool escape_pending_ = false;
  bool quit_ = false;
  termios saved_{};
  std::string out_buffer_;
  std::string in_buffer_;
  size_t in_pos_ = 0;
};

} // namespace nimbus::cli

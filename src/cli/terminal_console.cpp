#include "cli/terminal_console.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <csignal>

namespace nimbus::cli {

namespace {

constexpr uint8_t kCtrlA = 0x01;

// Restores the terminal if the process is killed while in raw mode.
termios g_restore_state{};
int g_restore_fd = -1;

void restore_terminal_on_signal(int sig) {
  if (g_restore_fd >= 0) tcsetattr(g_restore_fd, TCSANOW, &g_restore_state);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

} // namespace

TerminalConsole::TerminalConsole(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {
  is_tty_ = isatty(in_fd_) && tcgetattr(in_fd_, &saved_) == 0;
  if (is_tty_) {
    termios raw = saved_;
    // Raw input like QEMU's stdio chardev: no echo, no line editing, no signals from ^C/^Z
    // (they go to the guest); output post-processing stays on, as QEMU keeps it.
    raw.c_iflag &= ~static_cast<tcflag_t>(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    raw.c_cflag &= ~static_cast<tcflag_t>(CSIZE | PARENB);
    raw.c_cflag |= CS8;
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    tcsetattr(in_fd_, TCSANOW, &raw);
    g_restore_state = saved_;
    g_restore_fd = in_fd_;
    std::signal(SIGTERM, restore_terminal_on_signal);
    std::signal(SIGHUP, restore_terminal_on_signal);
  }
}

TerminalConsole::~TerminalConsole() {
  flush();
  if (is_tty_) {
    tcsetattr(in_fd_, TCSANOW, &saved_);
    g_restore_fd = -1;
  }
}

void TerminalConsole::write(uint8_t byte) {
  out_buffer_.push_back(static_cast<char>(byte));
  if (out_buffer_.size() >= 4096) flush();
}

void TerminalConsole::flush() {
  size_t done = 0;
  while (done < out_buffer_.size()) {
    const ssize_t n = ::write(out_fd_, out_buffer_.data() + done, out_buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{out_fd_, POLLOUT, 0};
      poll(&p, 1, 100);
      continue;
    }
    if (n <= 0) break; // output closed: drop, the guest keeps running
    done += static_cast<size_t>(n);
  }
  out_buffer_.clear();
}

void TerminalConsole::message(const std::string& text) {
  flush();
  const std::string line = (is_tty_ ? "\r\n" : "\n") + text + (is_tty_ ? "\r\n" : "\n");
  out_buffer_ = line;
  flush();
}

void TerminalConsole::fill() {
  if (!input_open_ || in_pos_ < in_buffer_.size()) return;
  in_buffer_.clear();
  in_pos_ = 0;
  pollfd p{in_fd_, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return;
  if (p.revents & (POLLIN | POLLHUP)) {
    uint8_t chunk[256];
    const ssize_t n = ::read(in_fd_, chunk, sizeof chunk);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
      input_open_ = false;
      return;
    }
    for (ssize_t i = 0; i < n; ++i) handle_input_byte(chunk[i]);
  } else if (p.revents & (POLLERR | POLLNVAL)) {
    input_open_ = false;
  }
}

void TerminalConsole::handle_input_byte(uint8_t byte) {
  if (escape_pending_) {
    escape_pending_ = false;
    switch (byte) {
    case 'x':
    case 'X': quit_ = true; message("nimbus: terminated (Ctrl-A x)"); return;
    case kCtrlA: in_buffer_.push_back(static_cast<char>(kCtrlA)); return;
    case 'h':
    case '?':
      message("C-a h    print this help\r\nC-a x    exit Nimbus\r\nC-a C-a  send C-a to the guest");
      return;
    default: return; // unknown escape: swallowed, as QEMU does
    }
  }
  if (byte == kCtrlA) {
    escape_pending_ = true;
    return;
  }
  in_buffer_.push_back(static_cast<char>(byte));
}

std::optional<uint8_t> TerminalConsole::read() {
  fill();
  if (in_pos_ >= in_buffer_.size()) return std::nullopt;
  return static_cast<uint8_t>(in_buffer_[in_pos_++]);
}

// No flush here: callers flush first, and with harts on their own threads this runs outside the
// LockedConsole's lock while harts write (a flush here raced their write() on out_buffer_).
void TerminalConsole::wait_for_input(std::chrono::nanoseconds max) {
  if (in_pos_ < in_buffer_.size()) return;
  // Sleep at most a second at a time so timeouts and quit requests are noticed.
  const auto capped = std::min<std::chrono::nanoseconds>(max, std::chrono::seconds(1));
  if (capped.count() <= 0) return;
  timespec ts{static_cast<time_t>(capped.count() / 1'000'000'000), static_cast<long>(capped.count() % 1'000'000'000)};
  if (!input_open_) {
    nanosleep(&ts, nullptr);
    return;
  }
  pollfd p{in_fd_, POLLIN, 0};
  ppoll(&p, 1, &ts, nullptr);
}

} // namespace nimbus::cli

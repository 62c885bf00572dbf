#pragma once
// A console backend shared by several threads: harts on their own host threads write UART and
// virtio-console output while the machine's loop flushes it and reads input. Writes, flushes and
// reads take one lock; waiting for input does not (it may block, and touches no output).
#include <mutex>

#include "machine/console_backend.hpp"

namespace nimbus::machine {

class LockedConsole final : public ConsoleBackend {
public:
  explicit LockedConsole(ConsoleBackend& inner) : inner_(inner) {}
  void write(uint8_t byte) override {
    std::lock_guard lock(mutex_);
    inner_.write(byte);
  }
  void flush() override {
    std::lock_guard lock(mutex_);
    inner_.flush();
  }
  std::optional<uint8_t> read() override {
    std::lock_guard lock(mutex_);
    return inner_.read();
  }
  void wait_for_input(std::chrono::nanoseconds max) override { inner_.wait_for_input(max); }
  bool quit_requested() const override { return inner_.quit_requested(); }

private:
  ConsoleBackend& inner_;
  std::mutex mutex_;
};

} // namespace nimbus::machine

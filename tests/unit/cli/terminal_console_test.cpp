// The terminal console shared by hart threads (docs/smp.md): harts write through a LockedConsole
// while the machine's loop thread flushes and waits for input, the wait outside the lock. Every
// byte written must come out once, in order (the wait used to flush the buffer the harts were
// appending to: bytes lost or repeated; ThreadSanitizer reports it at once).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "cli/terminal_console.hpp"
#include "machine/locked_console.hpp"

namespace nimbus::cli {
namespace {

// The contract that makes the wait safe outside the lock: it does not touch buffered output.
TEST(TerminalConsoleTest, WaitForInputLeavesBufferedOutputAlone) {
  int input[2], output[2];
  ASSERT_EQ(pipe(input), 0);
  ASSERT_EQ(pipe(output), 0);
  ASSERT_EQ(fcntl(output[0], F_SETFL, O_NONBLOCK), 0);
  {
    TerminalConsole terminal(input[0], output[1]);
    for (const char c : std::string("hello")) terminal.write(static_cast<uint8_t>(c));
    terminal.wait_for_input(std::chrono::microseconds(1));
    char byte;
    EXPECT_EQ(::read(output[0], &byte, 1), -1) << "wait_for_input wrote the buffered output";
    terminal.flush();
    char out[8] = {};
    EXPECT_EQ(::read(output[0], out, sizeof out), 5);
    EXPECT_EQ(std::string(out), "hello");
  }
  for (const int fd : {input[0], input[1], output[0], output[1]}) ::close(fd);
}

// Harts and the loop at once (ThreadSanitizer sees the old race at once; a plain build only when
// the two threads really run together).
TEST(TerminalConsoleTest, OutputWrittenOnOtherThreadsSurvivesTheLoopsWaits) {
  int input[2], output[2];
  ASSERT_EQ(pipe(input), 0);
  ASSERT_EQ(pipe(output), 0);
  std::string received;
  std::thread reader([&] {
    char chunk[4096];
    for (ssize_t n; (n = ::read(output[0], chunk, sizeof chunk)) > 0;) received.append(chunk, static_cast<size_t>(n));
  });
  std::string sent;
  {
    TerminalConsole terminal(input[0], output[1]);
    machine::LockedConsole console(terminal);
    std::atomic<bool> done{false};
    std::thread hart([&] {
      for (unsigned i = 0; i < 200000; ++i) console.write(static_cast<uint8_t>('a' + i % 26));
      done.store(true);
    });
    while (!done.load()) { // the machine loop: flush, then wait for input outside the lock
      console.flush();
      console.wait_for_input(std::chrono::microseconds(1));
    }
    hart.join();
    console.flush();
  }
  for (unsigned i = 0; i < 200000; ++i) sent.push_back(static_cast<char>('a' + i % 26));
  ::close(output[1]);
  reader.join();
  ::close(output[0]);
  ::close(input[0]);
  ::close(input[1]);
  EXPECT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent) << "console bytes lost, repeated or reordered";
}

} // namespace
} // namespace nimbus::cli

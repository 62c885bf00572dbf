// A VM's host console: output to the log and to socket clients, client input back to the guest
// (waking the VM through on_input), stale sockets replaced, live ones refused.
#include "hypervisor/vm_console.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace nimbus::hypervisor {
namespace {

namespace fs = std::filesystem;

class TempDir {
public:
  TempDir() {
    char name[] = "/tmp/nimbus-console-XXXXXX";
    path_ = mkdtemp(name);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

int connect_to(const fs::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Waits (bounded, by polling a condition, never by asserting on time) until `done` holds.
template <typename F> bool eventually(F done) {
  for (int i = 0; i < 2000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return done();
}

TEST(VmConsole, LogsOutputServesClientsAndTakesInput) {
  TempDir dir;
  std::atomic<int> wakes{0};
  VmConsoleOptions options;
  options.name = "web";
  options.log_file = dir.path() / "web.log";
  options.socket_path = dir.path() / "web.console";
  options.on_input = [&wakes] { ++wakes; };
  VmConsole console(options);

  const int client = connect_to(options.socket_path);
  ASSERT_GE(client, 0);
  ASSERT_TRUE(eventually([&] { return console.clients() == 1; }));

  for (const char c : std::string("boot ok\n")) console.write(static_cast<uint8_t>(c));
  console.flush();
  EXPECT_EQ(read_file(options.log_file), "boot ok\n");
  char buffer[64] = {};
  pollfd pfd{client, POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 10000), 1);
  EXPECT_EQ(::recv(client, buffer, sizeof(buffer), 0), 8);
  EXPECT_STREQ(buffer, "boot ok\n");

  ASSERT_EQ(::send(client, "ls\n", 3, 0), 3);
  ASSERT_TRUE(eventually([&] { return wakes.load() >= 1; }));
  std::string input;
  while (const auto byte = console.read()) input += static_cast<char>(*byte);
  EXPECT_EQ(input, "ls\n");

  ::close(client);
  EXPECT_TRUE(eventually([&] { return console.clients() == 0; }));
  console.close_socket();
  EXPECT_FALSE(fs::exists(options.socket_path));
}

// A flood of clients must not use up the VMM's descriptors: past kMaxClients each is told why
// and disconnected, the attached ones keep working, and a place that frees up is taken again.
TEST(VmConsole, ClientsPastTheMostAreToldAndDisconnected) {
  TempDir dir;
  VmConsoleOptions options;
  options.name = "web";
  options.socket_path = dir.path() / "web.console";
  VmConsole console(options);
  std::vector<int> attached;
  for (size_t i = 0; i < VmConsole::kMaxClients; ++i) {
    attached.push_back(connect_to(options.socket_path));
    ASSERT_GE(attached.back(), 0);
  }
  ASSERT_TRUE(eventually([&] { return console.clients() == VmConsole::kMaxClients; }));
  for (int extra = 0; extra < 3; ++extra) {
    const int client = connect_to(options.socket_path);
    ASSERT_GE(client, 0);
    std::string said;
    char buffer[256];
    pollfd pfd{client, POLLIN, 0};
    for (ssize_t n = 1; n > 0 && ::poll(&pfd, 1, 10000) == 1;) { // until EOF: it was disconnected
      n = ::recv(client, buffer, sizeof buffer, 0);
      if (n > 0) said.append(buffer, static_cast<size_t>(n));
    }
    EXPECT_NE(said.find("8 clients attached, its most"), std::string::npos) << said;
    ::close(client);
  }
  EXPECT_EQ(console.refused_clients(), 3u);
  EXPECT_EQ(console.clients(), VmConsole::kMaxClients);
  for (const char c : std::string("still here\n")) console.write(static_cast<uint8_t>(c));
  console.flush();
  char buffer[64] = {};
  pollfd pfd{attached.front(), POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 10000), 1);
  EXPECT_EQ(::recv(attached.front(), buffer, sizeof buffer, 0), 11);
  ::close(attached.back());
  attached.pop_back();
  ASSERT_TRUE(eventually([&] { return console.clients() == VmConsole::kMaxClients - 1; }));
  attached.push_back(connect_to(options.socket_path));
  EXPECT_TRUE(eventually([&] { return console.clients() == VmConsole::kMaxClients; }));
  EXPECT_EQ(console.refused_clients(), 3u);
  for (const int fd : attached) ::close(fd);
}

TEST(VmConsole, StaleSocketIsReplacedLiveOneRefused) {
  TempDir dir;
  VmConsoleOptions options;
  options.name = "db";
  options.socket_path = dir.path() / "db.console";
  {
    // A socket file nobody listens on, as a crashed VMM leaves behind.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, options.socket_path.c_str(), sizeof(address.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    ::close(fd);
  }
  VmConsole first(options);
  EXPECT_THROW(VmConsole second(options), std::runtime_error);
  const int client = connect_to(options.socket_path);
  EXPECT_GE(client, 0) << "the refused second console must not have removed the first one's socket";
  if (client >= 0) ::close(client);
}

TEST(VmConsole, SocketPathTooLongIsAnError) {
  VmConsoleOptions options;
  options.name = "x";
  options.socket_path = "/tmp/" + std::string(200, 'a') + ".console";
  EXPECT_THROW(VmConsole console(options), std::runtime_error);
}

// Several VMs echo to one stdout (nimbus run --console-stdout). A line one VM leaves open (a
// shell prompt) is ended before another VM writes, so "name| " starts every line; the VM that
// left it open is prefixed again when it goes on.
TEST(VmConsole, EchoedLinesEachStartWithTheirVmsName) {
  TempDir dir;
  const fs::path captured = dir.path() / "stdout";
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  const int file = ::open(captured.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(saved, 0);
  ASSERT_GE(file, 0);
  ASSERT_EQ(::dup2(file, STDOUT_FILENO), STDOUT_FILENO);
  ::close(file);
  {
    VmConsoleOptions a_options;
    a_options.name = "uboot";
    a_options.echo_stdout = true;
    VmConsoleOptions b_options;
    b_options.name = "mmode";
    b_options.echo_stdout = true;
    VmConsole a(a_options);
    VmConsole b(b_options);
    const auto say = [](VmConsole& console, const std::string& text) {
      for (const char c : text) console.write(static_cast<uint8_t>(c));
      console.flush();
    };
    say(a, "U-Boot\r\n=> ");
    say(b, "hello from M-mode\n");
    say(a, "help");
    say(a, "\r\n=> ");
    say(a, "");
    say(b, "bye");
  } // b's open line is ended when it goes away
  std::fflush(stdout);
  ASSERT_EQ(::dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
  ::close(saved);
  EXPECT_EQ(read_file(captured), "uboot| U-Boot\n"
                                 "uboot| => \n"
                                 "mmode| hello from M-mode\n"
                                 "uboot| help\n"
                                 "uboot| => \n"
                                 "mmode| bye\n");
}

} // namespace
} // namespace nimbus::hypervisor

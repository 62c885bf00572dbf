// The VMM's control socket: one request line in, the handler's reply line out; oversized or
// hostile requests are refused without reaching the handler; a second VMM cannot take the name.
#include "hypervisor/vm_control.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace nimbus::hypervisor {
namespace {

struct VmControlTest : ::testing::Test {
  std::filesystem::path dir;
  std::vector<std::string> seen;
  void SetUp() override {
    char name[] = "/tmp/nimbus-control-test.XXXXXX";
    ASSERT_NE(::mkdtemp(name), nullptr);
    dir = name;
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  std::string ask(const std::string& bytes) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = VmControl::path(dir, "vm").string();
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      ::close(fd);
      return "connect failed";
    }
    [[maybe_unused]] auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    std::string reply;
    char buffer[256];
    ssize_t got;
    while ((got = ::recv(fd, buffer, sizeof buffer, 0)) > 0) reply.append(buffer, static_cast<size_t>(got));
    ::close(fd);
    return reply;
  }
};

TEST_F(VmControlTest, HandsEachRequestLineToTheHandlerAndRepliesOneLine) {
  VmControl control(VmControl::path(dir, "vm"), "vm", [this](const std::string& request) {
    seen.push_back(request);
    return request == "boom" ? throw std::runtime_error("it broke\nbadly") : "ok " + request;
  });
  EXPECT_EQ(ask("snapshot /x\n"), "ok snapshot /x\n");
  EXPECT_EQ(ask("snapshot /y\r\n"), "ok snapshot /y\n");
  EXPECT_EQ(ask("boom\n"), "error it broke badly\n") << "an exception is an error line, newlines flattened";
  EXPECT_EQ(seen.size(), 3u);
}

TEST_F(VmControlTest, RefusesOversizedRequestsAndASecondServerOfTheName) {
  VmControl control(VmControl::path(dir, "vm"), "vm", [this](const std::string& request) {
    seen.push_back(request);
    return std::string("ok");
  });
  const std::string reply = ask(std::string(VmControl::kMaxRequest + 600, 'a'));
  EXPECT_NE(reply.find("error request longer than"), std::string::npos) << reply;
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(ask(""), "") << "a client that says nothing and leaves gets nothing";
  EXPECT_THROW(VmControl(VmControl::path(dir, "vm"), "vm", [](const std::string&) { return std::string(); }),
               std::runtime_error);
  control.close();
  EXPECT_FALSE(std::filesystem::exists(VmControl::path(dir, "vm"))) << "close removes the socket";
}

} // namespace
} // namespace nimbus::hypervisor

// The host agent's REST API in process (simulated VMs, no etcd): status codes and error
// messages, the token on TCP, and the UNIX socket listener cpp-httplib 0.11 does not have.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cloud/host/agent_api.hpp"
#include "cloud/host/host_agent.hpp"

namespace nimbus::cloud::host {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class AgentApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("nimbus-api-test-" + std::to_string(::getpid()));
    HostAgentOptions o;
    o.hosts = {"h1"};
    o.harts = 4;
    o.memory_mib = 1024;
    o.dir = dir_.string();
    o.simulate = true;
    agent_ = std::make_unique<HostAgent>(o);
    agent_->start();
    AgentApiOptions a;
    a.socket_path = (dir_ / "agent.sock").string();
    a.listen = "127.0.0.1:0";
    a.token = "t0ken";
    api_ = std::make_unique<AgentApi>(*agent_, a);
    api_->start();
    const std::string url = api_->tcp_url();
    ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
    client_ = std::make_unique<httplib::Client>(url);
    client_->set_default_headers({{"Authorization", "Bearer t0ken"}});
  }
  void TearDown() override {
    api_.reset();
    agent_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static std::string error_of(const httplib::Result& r) { return json::parse(r->body).value("error", ""); }

  fs::path dir_;
  std::unique_ptr<HostAgent> agent_;
  std::unique_ptr<AgentApi> api_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(AgentApiTest, CreateActionsDeleteAndErrors) {
  auto r = client_->Put("/v1/vms/a", R"({"kernel": "/k", "vcpus": 2})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(json::parse(r->body)["state"], "starting");
  r = client_->Put("/v1/vms/a", R"({"kernel": "/k", "vcpus": 2})", "application/json");
  EXPECT_EQ(r->status, 200);
  r = client_->Put("/v1/vms/a", R"({"kernel": "/k", "vcpus": 3})", "application/json");
  EXPECT_EQ(r->status, 409);
  r = client_->Put("/v1/vms/b", R"({"kernel": "/k", "vcpus": 3})", "application/json");
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(error_of(r).find("does not fit on host h1: 2 of 4 vCPUs"), std::string::npos) << r->body;
  r = client_->Put("/v1/vms/b", R"({"kernel": "/k", "vcpus": )", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r).rfind("malformed JSON: ", 0), 0u) << r->body;
  r = client_->Put("/v1/vms/b", R"({"kernal": "/k"})", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("unknown field 'kernal'"), std::string::npos);
  r = client_->Put("/v1/vms/b", "", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r), "the request needs a JSON body");

  r = client_->Get("/v1/vms/a");
  EXPECT_EQ(json::parse(r->body)["state"], "running");
  r = client_->Post("/v1/vms/a/actions", R"({"action": "stop"})", "application/json");
  EXPECT_EQ(r->status, 202);
  for (int i = 0; i < 50 && json::parse(client_->Get("/v1/vms/a")->body)["state"] != "stopped"; ++i) usleep(20000);
  EXPECT_EQ(json::parse(client_->Get("/v1/vms/a")->body)["state"], "stopped");
  r = client_->Post("/v1/vms/a/actions", R"({"action": "stop"})", "application/json");
  EXPECT_EQ(r->status, 409);
  r = client_->Post("/v1/vms/a/actions", R"({"action": "start", "force": true})", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r), "unknown field 'force' (known: action)");
  r = client_->Post("/v1/vms/a/load", R"({"load": 0.5})", "application/json");
  EXPECT_EQ(r->status, 200);
  r = client_->Post("/v1/vms/a/load", R"({"load": "high"})", "application/json");
  EXPECT_EQ(r->status, 400);
  r = client_->Get("/v1/vms/a/console");
  EXPECT_EQ(r->status, 409);
  EXPECT_EQ(error_of(r), "simulated VMs have no console");
  r = client_->Get("/v1/vms/zzz/stats");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_of(r), "no VM 'zzz' on this host");
  r = client_->Delete("/v1/vms/a");
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(client_->Get("/v1/vms/a")->status, 404);
  r = client_->Get("/v1/unknown");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_of(r), "no such endpoint: GET /v1/unknown");
  r = client_->Get("/metrics");
  EXPECT_NE(r->body.find("nimbus_host_vm_exits_total{kind=\"stopped\"} 1"), std::string::npos) << r->body;
}

TEST_F(AgentApiTest, TcpNeedsTheToken) {
  httplib::Client anonymous(api_->tcp_url());
  auto r = anonymous.Get("/v1/host");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = client_->Get("/v1/host");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["capacity"]["vcpus"], 4);
}

// Found by fuzz_api_requests: the 404 answer quoted a path that was not UTF-8, nlohmann's dump()
// threw from the error handler and std::terminate ended the agent. A number beyond a double's
// range was a 500 (nlohmann's out_of_range, not a parse_error) instead of a 400.
TEST_F(AgentApiTest, HostileBytesGetAnAnswerNotACrash) {
  auto r = client_->Get("/v1/%FF%FE");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_of(r), "no such endpoint: GET /v1/\xEF\xBF\xBD\xEF\xBF\xBD") << r->body;
  r = client_->Get("/v1/vms/%FF/stats");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_of(r), "no VM '\xEF\xBF\xBD' on this host");
  r = client_->Put("/v1/vms/b", R"({"kernel": "/k", "vcpus": 1e999})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r).rfind("malformed JSON: ", 0), 0u) << r->body;
  EXPECT_EQ(client_->Get("/v1/host")->status, 200);  // still serving
}

TEST_F(AgentApiTest, UnixSocketServesWithoutTokenAndIsPrivate) {
  const std::string path = (dir_ / "agent.sock").string();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string req = "GET /v1/hosts HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string reply;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) reply.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
  EXPECT_NE(reply.find("\"h1\""), std::string::npos) << reply;
  // A second agent on the same socket is refused while this one lives.
  AgentApiOptions again;
  again.socket_path = path;
  AgentApi second(*agent_, again);
  EXPECT_THROW(second.start(), std::runtime_error);
}

} // namespace
} // namespace nimbus::cloud::host

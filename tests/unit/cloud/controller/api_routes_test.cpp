// The controller's REST routes (api_routes.hpp) over a stub controller, served on loopback: what
// the fuzz target fuzz_api_requests found, as fixed answers.
#include "cloud/controller/api_routes.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

namespace nimbus::cloud::controller {
namespace {

using nlohmann::json;

struct StubCaller {
  bool admin = true;
  std::string tenant;
};

// Only what the tests below reach; every other operation refuses.
struct StubController {
  struct Options {
    std::string id = "ctl";
    std::string agent_token;
    std::string agent_ca;
  } options_;
  struct {
    uint64_t requests = 0;
  } metrics_;
  std::size_t last_limit = 0;
  const Options& options() const { return options_; }
  auto& metrics() { return metrics_; }
  bool is_leader() const { return true; }
  std::string metrics_text() { return ""; }
  std::optional<StubCaller> authenticate(const std::string& token) {
    if (token == "admin") return StubCaller{};
    return std::nullopt;
  }
  json list_events(const StubCaller&, std::size_t limit) {
    last_limit = limit;
    return json::array();
  }
  struct Target {
    std::string api, vm_id, host;
  };
  Target console_target(const StubCaller&, const std::string&, const std::string&) {
    // What a host record with an API URL of another scheme makes httplib::Client do.
    throw std::invalid_argument("invalid scheme");
  }
  [[noreturn]] json refuse() { throw ApiError(404, "not_found", "not in the stub"); }
  json create_tenant(const StubCaller&, const std::string&) { refuse(); }
  json list_tenants(const StubCaller&) { refuse(); }
  json show_tenant(const StubCaller&, const std::string& t) { throw ApiError(404, "not_found", "no tenant '" + t + "'"); }
  json set_quota(const StubCaller&, const std::string&, const std::string&) { refuse(); }
  json usage(const StubCaller&, const std::string&) { refuse(); }
  json list_flavors(const StubCaller&) { refuse(); }
  json create_flavor(const StubCaller&, const std::string&) { refuse(); }
  json list_images(const StubCaller&) { refuse(); }
  json create_image(const StubCaller&, const std::string&) { refuse(); }
  json create_network(const StubCaller&, const std::string&) { refuse(); }
  json list_networks(const StubCaller&, const std::string&) { refuse(); }
  json show_network(const StubCaller&, const std::string&, const std::string&) { refuse(); }
  json delete_network(const StubCaller&, const std::string&, const std::string&) { refuse(); }
  json create_vm(const StubCaller&, const std::string&) { refuse(); }
  json list_vms(const StubCaller&, const std::string&) { refuse(); }
  json show_vm(const StubCaller&, const std::string&, const std::string&) { refuse(); }
  json delete_vm(const StubCaller&, const std::string&, const std::string&) { refuse(); }
  json vm_action(const StubCaller&, const std::string&, const std::string&, const std::string&, const std::string&) { refuse(); }
  json list_hosts(const StubCaller&) { refuse(); }
  json drain_host(const StubCaller&, const std::string&, bool) { refuse(); }
};

class ApiRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    routes_.add_to(server_);
    const int port = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port);
    client_->set_default_headers({{"Authorization", "Bearer admin"}});
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }
  static json body(const httplib::Result& r) { return json::parse(r->body); }

  StubController controller_;
  ApiRoutes<StubController> routes_{controller_};
  httplib::Server server_;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

// Found by fuzz_api_requests (the agent's routes had the same): a 404 quoting a path that is not
// UTF-8 made nlohmann's dump() throw inside the error handler, and std::terminate ended the
// process. Such bytes now go out as U+FFFD.
TEST_F(ApiRoutesTest, PathsThatAreNotUtf8GetAJsonAnswer) {
  auto r = client_->Get("/v2/%FF");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(body(r)["code"], "no_route");
  EXPECT_EQ(body(r)["error"], "no route GET /v2/\xEF\xBF\xBD: see docs/api/controller.yaml");
  r = client_->Get("/v1/tenants/%FE");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(body(r)["error"], "no tenant '\xEF\xBF\xBD'");
}

// Found writing fuzz_api_requests's invariants: std::stoul took "-1" (as 2^64 - 1), "+5", " 5"
// and "5x" for the event limit the error calls a positive integer.
TEST_F(ApiRoutesTest, TheEventLimitIsAPositiveInteger) {
  for (const char* bad : {"-1", "0", "%2B5", "%205", "5x", "", "99999999999999999999999"}) {
    auto r = client_->Get(std::string("/v1/events?limit=") + bad);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_EQ(body(r)["code"], "bad_parameter") << bad;
  }
  auto r = client_->Get("/v1/events?limit=007");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(controller_.last_limit, 7u);
}

// Every route answers JSON errors; the console proxy let other exceptions out (httplib's bare 500).
TEST_F(ApiRoutesTest, TheConsoleProxyAnswersJsonOnAnyFailure) {
  auto r = client_->Get("/v1/vms/web1/console");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(body(r)["code"], "internal");
}

} // namespace
} // namespace nimbus::cloud::controller

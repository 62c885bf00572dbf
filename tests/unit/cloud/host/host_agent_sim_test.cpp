// The host agent with simulated VMs against a real etcd: registration, assignments started and
// removed, generation restarts, self-fencing when etcd freezes and re-registration after, many
// simulated hosts in one agent, and a clean shutdown revoking the lease.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cloud/etcd/etcd_client.hpp"
#include "cloud/etcd/etcd_process.hpp"
#include "cloud/host/host_agent.hpp"
#include "cloud/host/vmm_process.hpp"

namespace nimbus::cloud::host {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

template <typename F>
bool eventually(F&& f, std::chrono::milliseconds timeout = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

class HostAgentSim : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      etcd_.start();
    } catch (const std::exception& e) {
      GTEST_SKIP() << "etcd did not start: " << e.what();
    }
    etcd::ClientOptions o;
    o.endpoints = {etcd_.endpoint()};
    client_ = std::make_unique<etcd::Client>(o);
    dir_ = fs::temp_directory_path() / ("nimbus-agent-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    agent_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  HostAgentOptions options(std::vector<std::string> hosts = {"h1"}) {
    HostAgentOptions a;
    a.hosts = std::move(hosts);
    a.harts = 8;
    a.memory_mib = 4096;
    a.dir = dir_.string();
    a.etcd_endpoints = {etcd_.endpoint()};
    a.lease_ttl = 2;
    a.status_interval = 200ms;
    a.simulate = true;
    a.api = "http://127.0.0.1:1";
    return a;
  }
  std::string vm_state(const std::string& id) {
    try {
      return agent_->get_vm(id)["state"];
    } catch (const ApiError&) {
      return "absent";
    }
  }
  static std::string assign(const std::string& id, int generation) {
    return json{{"id", id}, {"generation", generation}, {"vcpus", 2}, {"memory_mib", 256}, {"kernel", "/k"}}.dump();
  }

  etcd::EtcdProcess etcd_;
  std::unique_ptr<etcd::Client> client_;
  std::unique_ptr<HostAgent> agent_;
  fs::path dir_;
};

TEST_F(HostAgentSim, RegistersRunsAssignmentsAndPublishesStatus) {
  client_->put("/nimbus/assign/h1/before", assign("before", 1));  // assigned before the agent came
  agent_ = std::make_unique<HostAgent>(options());
  agent_->start();
  ASSERT_TRUE(eventually([&] { return agent_->registered(); }));
  auto host = client_->get("/nimbus/hosts/h1");
  ASSERT_TRUE(host);
  EXPECT_NE(host->lease, 0);
  const json h = json::parse(host->value);
  EXPECT_EQ(h["capacity"]["vcpus"], 8);
  EXPECT_EQ(h["api"], "http://127.0.0.1:1");
  EXPECT_TRUE(eventually([&] { return vm_state("before") == "running"; }));

  client_->put("/nimbus/assign/h1/vm1", assign("vm1", 1));
  client_->put("/nimbus/assign/other/vm2", assign("vm2", 1));  // another host's
  ASSERT_TRUE(eventually([&] { return vm_state("vm1") == "running"; }));
  EXPECT_EQ(vm_state("vm2"), "absent");
  ASSERT_TRUE(eventually([&] {
    auto s = client_->get("/nimbus/vmstatus/vm1");
    return s && json::parse(s->value)["state"] == "running" && s->lease == host->lease;
  }));
  ASSERT_TRUE(eventually([&] {
    auto s = client_->get("/nimbus/hoststatus/h1");
    if (!s) return false;
    const json j = json::parse(s->value);
    return j["used"]["vcpus"] == 4 && j["vms"].contains("vm1") && j["vms"]["vm1"]["cpu_load"].get<double>() > 0;
  }));

  // A new generation restarts it; a deletion removes it and its status.
  client_->put("/nimbus/assign/h1/vm1", assign("vm1", 2));
  ASSERT_TRUE(eventually([&] { return agent_->get_vm("vm1")["generation"] == 2 && vm_state("vm1") == "running"; }));
  client_->del("/nimbus/assign/h1/vm1");
  ASSERT_TRUE(eventually([&] { return vm_state("vm1") == "absent"; }));
  ASSERT_TRUE(eventually([&] { return !client_->get("/nimbus/vmstatus/vm1"); }));
  // The API refuses to delete an assigned VM and accepts a settable load.
  EXPECT_THROW(agent_->delete_vm("before"), ApiError);
  agent_->set_load("before", 1.5);
  EXPECT_DOUBLE_EQ(agent_->get_vm("before")["cpu_load"].get<double>(), 1.5);

  // An invalid assignment shows as a failed VM with the reason.
  client_->put("/nimbus/assign/h1/bad", R"({"id":"bad","vcpus":0,"kernel":"/k"})");
  ASSERT_TRUE(eventually([&] { return vm_state("bad") == "failed"; }));
  EXPECT_NE(agent_->get_vm("bad")["reason"].get<std::string>().find("field 'vcpus'"), std::string::npos);

  // Shutdown revokes the lease: every leased key goes.
  agent_->shutdown();
  EXPECT_FALSE(client_->get("/nimbus/hosts/h1"));
  EXPECT_FALSE(client_->get("/nimbus/hoststatus/h1"));
  EXPECT_FALSE(client_->get("/nimbus/vmstatus/before"));
}

TEST_F(HostAgentSim, FencesWhenEtcdFreezesAndRegistersAgainAfter) {
  client_->put("/nimbus/assign/h1/vm1", assign("vm1", 1));
  agent_ = std::make_unique<HostAgent>(options());
  agent_->start();
  ASSERT_TRUE(eventually([&] { return vm_state("vm1") == "running"; }));
  const int64_t lease1 = client_->get("/nimbus/hosts/h1")->lease;
  etcd_.pause();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return vm_state("vm1") == "fenced"; }, 4000ms));
  // TTL 2 s: fenced within TTL - 1 s of the last good keepalive's send, so within 2 s of the freeze.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2100ms);
  EXPECT_TRUE(agent_->fenced());
  etcd_.resume();
  ASSERT_TRUE(eventually([&] { return agent_->registered() && vm_state("vm1") == "running"; }, 8000ms));
  auto host = client_->get("/nimbus/hosts/h1");
  ASSERT_TRUE(host);
  EXPECT_NE(host->lease, lease1);
  EXPECT_NE(agent_->metrics().find("nimbus_host_fences_total 1"), std::string::npos);
}

TEST_F(HostAgentSim, AVmMovedAwayWhileFencedIsNotRestarted) {
  client_->put("/nimbus/assign/h1/vm1", assign("vm1", 1));
  agent_ = std::make_unique<HostAgent>(options());
  agent_->start();
  ASSERT_TRUE(eventually([&] { return vm_state("vm1") == "running"; }));
  etcd_.pause();
  ASSERT_TRUE(eventually([&] { return vm_state("vm1") == "fenced"; }, 4000ms));
  etcd_.resume();
  // The controller moved it meanwhile (what it does once hosts/h1 is gone).
  client_->txn({}, {etcd::Op::del("/nimbus/assign/h1/vm1"), etcd::Op::put("/nimbus/assign/h2/vm1", assign("vm1", 2))});
  ASSERT_TRUE(eventually([&] { return agent_->registered(); }, 8000ms));
  EXPECT_TRUE(eventually([&] { return vm_state("vm1") == "absent"; }));
}

TEST_F(HostAgentSim, ManySimulatedHostsShareOneLease) {
  std::vector<std::string> hosts;
  for (int i = 0; i < 50; ++i) hosts.push_back("sim-" + std::to_string(1000 + i));
  agent_ = std::make_unique<HostAgent>(options(hosts));
  agent_->start();
  ASSERT_TRUE(eventually([&] { return client_->get_prefix("/nimbus/hosts/").kvs.size() == 50; }));
  client_->put("/nimbus/assign/sim-1007/x", assign("x", 1));
  ASSERT_TRUE(eventually([&] { return vm_state("x") == "running"; }));
  EXPECT_EQ(agent_->get_vm("x")["host"], "sim-1007");
  ASSERT_TRUE(eventually([&] { return client_->get_prefix("/nimbus/hoststatus/").kvs.size() == 50; }));
  agent_->shutdown();
  EXPECT_TRUE(client_->get_prefix("/nimbus/hosts/").kvs.empty());
}

TEST(SparseCopy, KeepsHolesAndBytes) {
  const fs::path dir = fs::temp_directory_path() / ("nimbus-sparse-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string from = (dir / "t.img").string(), to = (dir / "sub" / "d.img").string();
  {
    std::ofstream out(from, std::ios::binary);
    out.seekp(8 << 20);
    out << "hello";
    out.seekp((64 << 20) - 1);
    out << 'x';
  }
  sparse_copy(from, to);
  EXPECT_EQ(fs::file_size(to), 64u << 20);
  std::ifstream in(to, std::ios::binary);
  in.seekg(8 << 20);
  char buf[5];
  in.read(buf, 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
  struct stat st {};
  ::stat(to.c_str(), &st);
  EXPECT_LT(st.st_blocks * 512, 8 << 20);  // mostly holes
  EXPECT_THROW(sparse_copy((dir / "missing").string(), to), std::runtime_error);
  fs::remove_all(dir);
}

} // namespace
// Live moves over TLS (docs/migration.md, "TLS"): an agent with the cloud's certificates passes
// them to nimbus migrate for a tls: destination and never sends a VM in the clear; one without
// them cannot reach a tls: destination and says what to configure.
TEST(MigrateTransport, TlsOnlyWithCertificatesAndNeverDowngraded) {
  HostAgentOptions plain;
  EXPECT_TRUE(migrate_transport_args(plain, "tcp:10.0.0.2:4444").empty());
  try {
    migrate_transport_args(plain, "tls:10.0.0.2:4444");
    FAIL() << "a tls: destination without certificates";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--tls-cert, --tls-key and --tls-ca"), std::string::npos) << e.what();
  }
  HostAgentOptions tls;
  tls.migration_tls_cert = "/pki/h.crt";
  tls.migration_tls_key = "/pki/h.key";
  tls.migration_tls_ca = "/pki/ca.crt";
  EXPECT_EQ(migrate_transport_args(tls, "tls:10.0.0.2:4444"),
            (std::vector<std::string>{"--tls-cert", "/pki/h.crt", "--tls-key", "/pki/h.key", "--tls-ca", "/pki/ca.crt"}));
  EXPECT_THROW(migrate_transport_args(tls, "tcp:10.0.0.2:4444"), std::runtime_error);
  tls.migration_tls_ca.clear();   // a certificate for HTTPS only: moves stay as they were
  EXPECT_FALSE(tls.migration_tls());
  EXPECT_TRUE(migrate_transport_args(tls, "tcp:10.0.0.2:4444").empty());
}

} // namespace nimbus::cloud::host

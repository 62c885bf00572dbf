// The controller against a real etcd (EtcdProcess): concurrent creates from two replicas never
// overcommit a host or overrun a quota, a lost host's VMs move after the grace period (and stay
// when it comes back in time), one replica leads and another takes over.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "cloud/controller/controller.hpp"
#include "cloud/etcd/etcd_client.hpp"
#include "cloud/etcd/etcd_process.hpp"

namespace nimbus::cloud::controller {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class ControllerEtcdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    etcd_ = new etcd::EtcdProcess();
    try {
      etcd_->start();
    } catch (const std::exception& e) {
      start_error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete etcd_;
    etcd_ = nullptr;
  }
  void SetUp() override {
    if (!start_error_.empty()) GTEST_SKIP() << "etcd did not start: " << start_error_;
    etcd::ClientOptions o;
    o.endpoints = {etcd_->endpoint()};
    client_ = std::make_unique<etcd::Client>(o);
    prefix_ = std::string("/t/") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "/";
    keys_.prefix = prefix_;
  }
  ControllerOptions options(const std::string& id) {
    ControllerOptions o;
    o.etcd_endpoints = {etcd_->endpoint()};
    o.etcd_prefix = prefix_;
    o.id = id;
    o.admin_token = "admin-secret";
    o.grace = 300ms;
    o.reconcile_interval = 100ms;
    o.leader_ttl_seconds = 2;
    o.consolidate_interval = 0ms;
    return o;
  }
  // A host as an agent registers it: hosts/<name> bound to a lease.
  int64_t add_host(const std::string& name, int64_t vcpus, int64_t mem) {
    const int64_t lease = client_->lease_grant(60);
    HostInfo h{name, "http://127.0.0.1:1", {vcpus, mem, 100}, "", ""};
    client_->put(keys_.host(name), dump_record(h), lease);
    return lease;
  }
  template <typename F>
  bool wait_for(F&& f, std::chrono::milliseconds limit = 5000ms) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return f();
  }
  // An image 'linux' and a tenant 't' (8 vCPUs, 4 GiB, 8 VMs), once the controller has them.
  bool add_linux_and_tenant_t(Controller& c) {
    c.create_image(Caller{true, ""}, R"({"name":"linux","kernel":"/k"})");
    c.create_tenant(Caller{true, ""}, R"({"name":"t","quota":{"vcpus":8,"memory_mib":4096,"vms":8,"disk_gib":100}})");
    return wait_for([&] { return c.list_tenants(Caller{true, ""}).size() == 1 && c.list_images(Caller{true, ""}).size() == 1; });
  }
  Alloc alloc_of(const std::string& host) {
    Alloc a;
    if (auto kv = client_->get(keys_.alloc(host))) parse_record(kv->value, a);
    return a;
  }

  static etcd::EtcdProcess* etcd_;
  static std::string start_error_;
  std::unique_ptr<etcd::Client> client_;
  std::string prefix_;
  Keys keys_;
};

etcd::EtcdProcess* ControllerEtcdTest::etcd_ = nullptr;
std::string ControllerEtcdTest::start_error_;

const Caller kAdmin{true, ""};

int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e.status();
  }
  return 0;
}

TEST_F(ControllerEtcdTest, ConcurrentCreatesFromTwoReplicasNeverOvercommit) {
  add_host("h1", 4, 1024);
  add_host("h2", 4, 1024);
  Controller a(options("a")), b(options("b"));
  a.start();
  b.start();
  ASSERT_TRUE(wait_for([&] { return b.list_flavors(kAdmin).size() >= 5; }));
  a.create_image(kAdmin, R"({"name":"linux","kernel":"/k"})");
  // Tenant t1 may have 5 VMs, t2 10; the hosts hold 8 tiny VMs (4 vCPUs each, overcommit 1).
  a.create_tenant(kAdmin, R"({"name":"t1","quota":{"vcpus":100,"memory_mib":100000,"vms":5,"disk_gib":100}})");
  a.create_tenant(kAdmin, R"({"name":"t2","quota":{"vcpus":100,"memory_mib":100000,"vms":10,"disk_gib":100}})");
  ASSERT_TRUE(wait_for([&] { return b.list_tenants(kAdmin).size() == 2 && b.list_images(kAdmin).size() == 1; }));

  std::atomic<int> created{0}, quota{0}, capacity{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 24; ++i) {
    threads.emplace_back([&, i] {
      Controller& c = i % 2 ? a : b;
      const std::string tenant = i % 3 ? "t2" : "t1";
      try {
        c.create_vm(kAdmin, json{{"name", "vm" + std::to_string(i)}, {"flavor", "n1.tiny"}, {"image", "linux"}, {"tenant", tenant}}.dump());
        ++created;
      } catch (const ApiError& e) {
        if (e.code() == "quota_exceeded") ++quota;
        else if (e.code() == "no_capacity") ++capacity;
        else ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(created.load(), 8) << "quota " << quota << " capacity " << capacity;
  for (const char* h : {"h1", "h2"}) {
    const Alloc al = alloc_of(h);
    EXPECT_LE(al.vcpus, 4) << h;
    EXPECT_EQ(static_cast<int64_t>(al.vms.size()), al.vcpus) << h;
  }
  Usage u1, u2;
  parse_record(client_->get(keys_.usage("t1"))->value, u1);
  parse_record(client_->get(keys_.usage("t2"))->value, u2);
  EXPECT_LE(u1.vms, 5);
  EXPECT_LE(u2.vms, 10);
  EXPECT_EQ(u1.vms + u2.vms, 8);
  EXPECT_EQ(static_cast<int>(client_->get_prefix(keys_.assigns()).kvs.size()), 8);
  // A reused name is a 409 (checked before the quota), on either replica. Replica a sees the
  // creates b committed through its watch, a moment later (its list was still empty here once,
  // under load).
  ASSERT_TRUE(wait_for([&] { return a.list_vms(kAdmin, "").size() == 8; }));
  const json existing = a.list_vms(kAdmin, "").at(0);
  try {
    b.create_vm(kAdmin, json{{"name", existing["name"]}, {"flavor", "n1.tiny"}, {"image", "linux"}, {"tenant", existing["tenant"]}}.dump());
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 409);
  }
  a.stop();
  b.stop();
}

// Two create batches in flight (--max-batches-in-flight 2, one create per batch): the second is
// decided while the first commits, on the first's tentative state.
std::string create_status(Controller& c, const std::string& name) {
  try {
    c.create_vm(kAdmin, json{{"name", name}, {"flavor", "n1.tiny"}, {"image", "linux"}, {"tenant", "t1"}}.dump());
    return "created";
  } catch (const ApiError& e) {
    return e.code();
  }
}

uint64_t metric(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? 0 : std::stoull(text.substr(at + name.size() + 2));
}

TEST_F(ControllerEtcdTest, ABatchDecidedWhileAnotherCommitsSeesItsPlacementsEvenAfterARebuild) {
  const int64_t lease = add_host("h1", 1, 1024);  // room for one n1.tiny (1 vCPU)
  Controller* cp = nullptr;
  std::string second;
  std::atomic<bool> second_done{false};
  std::thread second_thread;
  auto o = options("a");
  o.max_batch = 1;
  o.max_batches_in_flight = 2;
  o.before_create_commit = [&](uint64_t seq, bool) {
    if (seq == 2) {
      // Only when wrongly placed on h1: its transaction goes out after the first committed (its
      // compares then hold, so only the decision can keep h1 from being overcommitted).
      wait_for([&] { return !alloc_of("h1").vms.empty(); }, 3000ms);
      return;
    }
    if (seq != 1) return;
    // While the first batch is in flight: the host registers again (the placement cache is
    // rebuilt from the cache of etcd, where the first VM is not yet), then a second create.
    client_->put(keys_.host("h1"), dump_record(HostInfo{"h1", "http://127.0.0.1:1", {1, 1024, 100}, "", ""}), lease);
    client_->put(keys_.tenant("marker"), dump_record(Tenant{"marker", {}, "", ""}));
    ASSERT_TRUE(wait_for([&] { return cp->list_tenants(kAdmin).size() == 2; }));  // the watch brought both
    second_thread = std::thread([&] {
      second = create_status(*cp, "second");
      second_done = true;
    });
    // Decided on the first's tentative placement it finds no room, and that refusal waits for
    // the first to commit; decided as if h1 were empty it would wait for the first to commit,
    // then commit on top of it.
    ASSERT_TRUE(wait_for([&] { return metric(cp->metrics_text(), "nimbus_placement_decision_seconds_count") == 2; }));
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(second_done.load()) << "a refusal decided on a batch in flight was answered before that batch committed";
  };
  Controller c(o);
  cp = &c;
  c.start();
  ASSERT_TRUE(wait_for([&] { return c.list_flavors(kAdmin).size() >= 5; }));
  c.create_image(kAdmin, R"({"name":"linux","kernel":"/k"})");
  c.create_tenant(kAdmin, R"({"name":"t1","quota":{"vcpus":100,"memory_mib":100000,"vms":10,"disk_gib":100}})");
  EXPECT_EQ(create_status(c, "first"), "created");
  ASSERT_TRUE(second_thread.joinable());
  second_thread.join();
  EXPECT_EQ(second, "no_capacity");  // placed on top of the first, it would overcommit h1
  const Alloc al = alloc_of("h1");
  EXPECT_EQ(al.vcpus, 1);
  EXPECT_EQ(al.vms.size(), 1u);
  EXPECT_GE(metric(c.metrics_text(), "nimbus_placement_cache_rebuilds_total"), 2u);
  c.stop();
}

TEST_F(ControllerEtcdTest, ABatchDecidedOnOneInFlightIsRefusedWhenThatOneIs) {
  add_host("h1", 2, 1024);  // room for two n1.tiny
  std::atomic<bool> first_waiting{false}, second_decided{false}, second_chained{false};
  auto o = options("a");
  o.max_batch = 1;
  o.max_batches_in_flight = 2;
  o.before_create_commit = [&](uint64_t seq, bool chained) {
    if (seq == 1) {
      first_waiting = true;
      ASSERT_TRUE(wait_for([&] { return second_decided.load(); }));
      // Another replica fills half of h1 first: this batch's revision compare fails, and so must
      // the second's (decided on this one's VM, it would put h1 = first + second over "other").
      Alloc other;
      other.add("other", {1, 64, 1});
      client_->put(keys_.alloc("h1"), dump_record(other));
    } else if (seq == 2) {
      second_chained = chained;
      second_decided = true;
      std::this_thread::sleep_for(200ms);  // let the first reach etcd first
    }
  };
  Controller c(o);
  c.start();
  ASSERT_TRUE(wait_for([&] { return c.list_flavors(kAdmin).size() >= 5; }));
  c.create_image(kAdmin, R"({"name":"linux","kernel":"/k"})");
  c.create_tenant(kAdmin, R"({"name":"t1","quota":{"vcpus":100,"memory_mib":100000,"vms":10,"disk_gib":100}})");
  std::string first, second;
  std::thread a([&] { first = create_status(c, "first"); });
  ASSERT_TRUE(wait_for([&] { return first_waiting.load(); }));
  std::thread b([&] { second = create_status(c, "second"); });
  a.join();
  b.join();
  EXPECT_TRUE(second_chained);
  // Decided again on what etcd holds: one fits beside "other", the other does not.
  EXPECT_EQ((first == "created") + (second == "created"), 1) << first << " " << second;
  EXPECT_EQ((first == "no_capacity") + (second == "no_capacity"), 1) << first << " " << second;
  const Alloc al = alloc_of("h1");
  EXPECT_EQ(al.vcpus, 2);
  ASSERT_EQ(al.vms.size(), 2u);
  EXPECT_EQ(al.vms.front(), "other");
  Usage u;
  parse_record(client_->get(keys_.usage("t1"))->value, u);
  EXPECT_EQ(u.vms, 1);
  EXPECT_GE(metric(c.metrics_text(), "nimbus_create_batches_refused_total"), 2u);
  c.stop();
}

// The odd answers of two in flight: a create decided on a batch in flight that is then refused
// (another replica wrote the tenant's usage) must not be answered from that batch's tentative
// seats. Here they make the model look full (503 no_capacity) while etcd's usage says the quota
// is what binds: the right answers are one create placed and one 403.
TEST_F(ControllerEtcdTest, ARefusalDecidedOnABatchInFlightWaitsForItAndIsDecidedAgainIfItFails) {
  add_host("h1", 1, 1024);  // one n1.tiny: "first" goes there
  Controller* cp = nullptr;
  std::string second;
  std::atomic<bool> second_done{false};
  std::thread second_thread;
  auto o = options("a");
  o.max_batch = 1;
  o.max_batches_in_flight = 2;
  o.before_create_commit = [&](uint64_t seq, bool) {
    if (seq != 1) return;
    // The first batch (t1's "first" on h1) is in flight. A host h2 of 2 vCPUs registers and
    // another replica commits two of t1's VMs on it: usage/t1 changes, so the first batch's
    // compare on it fails.
    add_host("h2", 2, 1024);
    Alloc other;
    other.add("o1", {1, 64, 1});
    other.add("o2", {1, 64, 1});
    Usage used;
    used.vcpus = 2;
    used.memory_mib = 128;
    used.vms = 2;
    used.disk_gib = 2;
    client_->put(keys_.alloc("h2"), dump_record(other));
    client_->put(keys_.usage("t1"), dump_record(used));
    ASSERT_TRUE(wait_for([&] { return cp->usage(kAdmin, "t1")["usage"].value("vcpus", 0) == 2; }));  // the watch brought it
    second_thread = std::thread([&] {
      second = create_status(*cp, "second");
      second_done = true;
    });
    // Decided now: t1's usage in flight is 1 (quota 3: passes), h1 holds "first" tentatively and
    // h2 is full: no room. That refusal rests on a batch about to be refused.
    ASSERT_TRUE(wait_for([&] { return metric(cp->metrics_text(), "nimbus_placement_decision_seconds_count") == 2; }));
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(second_done.load()) << "answered " << second << " on the tentative state of a batch in flight";
  };
  Controller c(o);
  cp = &c;
  c.start();
  ASSERT_TRUE(wait_for([&] { return c.list_flavors(kAdmin).size() >= 5; }));
  c.create_image(kAdmin, R"({"name":"linux","kernel":"/k"})");
  c.create_tenant(kAdmin, R"({"name":"t1","quota":{"vcpus":3,"memory_mib":100000,"vms":10,"disk_gib":100}})");
  const std::string first = create_status(c, "first");
  ASSERT_TRUE(second_thread.joinable());
  second_thread.join();
  // Decided again on etcd's state (t1 at 2 of 3 vCPUs, h1 free): one placed on h1, one over quota.
  EXPECT_EQ((first == "created") + (second == "created"), 1) << first << " " << second;
  EXPECT_EQ((first == "quota_exceeded") + (second == "quota_exceeded"), 1) << first << " " << second;
  const Alloc al = alloc_of("h1");
  EXPECT_EQ(al.vcpus, 1);
  Usage u;
  parse_record(client_->get(keys_.usage("t1"))->value, u);
  EXPECT_EQ(u.vcpus, 3);
  EXPECT_GE(metric(c.metrics_text(), "nimbus_create_batches_refused_total"), 1u);
  c.stop();
}

TEST_F(ControllerEtcdTest, LostHostVmsMoveAfterGraceAndTenantsAreIsolated) {
  const int64_t lease1 = add_host("h1", 8, 4096);
  Controller c(options("solo"));
  c.start();
  ASSERT_TRUE(wait_for([&] { return c.is_leader(); }));
  c.create_image(kAdmin, R"({"name":"linux","kernel":"/k"})");
  const json t1 = c.create_tenant(kAdmin, R"({"name":"t1","quota":{"vcpus":8,"memory_mib":4096,"vms":8,"disk_gib":100}})");
  c.create_tenant(kAdmin, R"({"name":"t2","quota":{"vcpus":8,"memory_mib":4096,"vms":8,"disk_gib":100}})");
  ASSERT_TRUE(wait_for([&] { return c.authenticate(t1["token"].get<std::string>()).has_value(); }));
  const Caller alice = *c.authenticate(t1["token"].get<std::string>());
  EXPECT_EQ(alice.tenant, "t1");
  const Caller bob{false, "t2"};
  for (int i = 0; i < 3; ++i) c.create_vm(alice, json{{"name", "a" + std::to_string(i)}, {"flavor", "n1.small"}, {"image", "linux"}}.dump());
  const json bvm = c.create_vm(bob, R"({"name":"b0","flavor":"n1.tiny","image":"linux"})");
  EXPECT_EQ(c.list_vms(alice, "").size(), 3u);
  EXPECT_EQ(c.list_vms(bob, "").size(), 1u);
  EXPECT_THROW(c.show_vm(alice, "b0", ""), ApiError);
  EXPECT_THROW(c.show_vm(alice, bvm["id"].get<std::string>(), ""), ApiError);
  EXPECT_THROW(c.delete_vm(alice, bvm["id"].get<std::string>(), ""), ApiError);
  EXPECT_THROW(c.list_hosts(alice), ApiError);
  EXPECT_EQ(alloc_of("h1").vms.size(), 4u);

  // h2 joins; h1's lease expires: after the grace period its VMs run on h2 with a new generation.
  add_host("h2", 8, 4096);
  ASSERT_TRUE(wait_for([&] { return c.list_hosts(kAdmin).size() == 2; }));
  const auto lost_at = std::chrono::steady_clock::now();
  client_->lease_revoke(lease1);
  ASSERT_TRUE(wait_for([&] { return alloc_of("h2").vms.size() == 4; }, 5000ms));
  const auto moved_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - lost_at).count();
  EXPECT_GE(moved_ms, 300);
  EXPECT_TRUE(alloc_of("h1").vms.empty());
  EXPECT_EQ(client_->get_prefix(keys_.assigns() + "h1/").kvs.size(), 0u);
  EXPECT_EQ(client_->get_prefix(keys_.assigns() + "h2/").kvs.size(), 4u);
  const json a0 = c.show_vm(alice, "a0", "");
  EXPECT_EQ(a0["host"], "h2");
  EXPECT_EQ(a0["generation"], 2);

  // Drain h2 after h3 joins: every VM moves to h3.
  add_host("h3", 8, 4096);
  ASSERT_TRUE(wait_for([&] { return c.list_hosts(kAdmin).size() >= 2; }));
  c.drain_host(kAdmin, "h2", true);
  ASSERT_TRUE(wait_for([&] { return alloc_of("h3").vms.size() == 4; }, 8000ms));
  EXPECT_TRUE(alloc_of("h2").vms.empty());
  // Delete frees quota and capacity.
  c.delete_vm(alice, "a0", "");
  EXPECT_EQ(c.list_vms(alice, "").size(), 2u);
  EXPECT_EQ(alloc_of("h3").vms.size(), 3u);
  c.stop();
}

TEST_F(ControllerEtcdTest, HostBackWithinGraceKeepsItsVms) {
  const int64_t lease1 = add_host("h1", 8, 4096);
  add_host("h2", 8, 4096);
  auto o = options("g");
  o.grace = 1500ms;
  Controller c(o);
  c.start();
  ASSERT_TRUE(wait_for([&] { return c.is_leader() && c.list_hosts(kAdmin).size() == 2; }));
  c.create_image(kAdmin, R"({"name":"linux","kernel":"/k"})");
  c.create_tenant(kAdmin, R"({"name":"t","quota":{"vcpus":8,"memory_mib":4096,"vms":8,"disk_gib":100}})");
  ASSERT_TRUE(wait_for([&] { return c.list_tenants(kAdmin).size() == 1; }));
  const json vm = c.create_vm(kAdmin, R"({"name":"x","flavor":"n1.tiny","image":"linux","tenant":"t"})");
  const std::string host = vm["host"];
  const int64_t lease = host == "h1" ? lease1 : 0;
  if (lease == 0) GTEST_SKIP() << "placed on h2";
  client_->lease_revoke(lease);
  std::this_thread::sleep_for(300ms);
  add_host("h1", 8, 4096);  // back before the grace period ended
  std::this_thread::sleep_for(2000ms);
  EXPECT_EQ(c.show_vm(kAdmin, "x", "t")["host"], "h1");
  EXPECT_EQ(c.show_vm(kAdmin, "x", "t")["generation"], 1);
  c.stop();
}

TEST_F(ControllerEtcdTest, OneLeaderAndTakeover) {
  Controller a(options("a"));
  a.start();
  ASSERT_TRUE(wait_for([&] { return a.is_leader(); }));
  Controller b(options("b"));
  b.start();
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(b.is_leader());
  a.stop();  // revokes its lease: the leader key vanishes at once
  ASSERT_TRUE(wait_for([&] { return b.is_leader(); }, 5000ms));
  LeaderRecord r;
  parse_record(client_->get(keys_.leader())->value, r);
  EXPECT_EQ(r.id, "b");
  b.stop();
}

// An agent that boots a VM again on its own (self-fencing killed it, say) says so with a higher
// start count in the VM's status: the owner gets a 'restarted' event naming how the run before
// ended, once; a restart the controller asked for (new generation) and a plain refresh get none.
TEST_F(ControllerEtcdTest, AnAgentsOwnRestartOfAVmIsReportedAsAnEvent) {
  add_host("h1", 4, 4096);
  Controller c(options("restart"));
  c.start();
  ASSERT_TRUE(wait_for([&] { return c.is_leader() && c.list_hosts(kAdmin).size() == 1; }));
  ASSERT_TRUE(add_linux_and_tenant_t(c));
  const json vm = c.create_vm(kAdmin, json{{"name", "a"}, {"flavor", "n1.tiny"}, {"image", "linux"}, {"tenant", "t"}}.dump());
  const std::string id = vm["id"];
  auto report = [&](int64_t generation, int64_t starts, const std::string& previous_end) {
    json s{{"host", "h1"}, {"generation", generation}, {"state", "running"}, {"starts", starts}};
    if (!previous_end.empty()) s["previous_end"] = previous_end;
    client_->put(keys_.vmstatus(id), s.dump());
  };
  auto restarted_events = [&] {
    std::vector<std::string> out;
    for (const auto& e : c.list_events(kAdmin, 100))
      if (e["kind"] == "restarted" && e["vm"] == "a") out.push_back(e["message"]);
    return out;
  };
  report(1, 1, "");
  ASSERT_TRUE(wait_for([&] { return c.show_vm(kAdmin, "a", "t")["state"] == "running"; }));
  report(1, 1, "");  // a refresh
  report(1, 2, "fenced: killed by self-fencing (no etcd lease renewal)");
  ASSERT_TRUE(wait_for([&] { return restarted_events().size() == 1; }));
  EXPECT_NE(restarted_events()[0].find("a booted again on h1 (start 2 there, generation 1); the run before ended fenced: "
                                       "killed by self-fencing"),
            std::string::npos)
      << restarted_events()[0];
  const json shown = c.show_vm(kAdmin, "a", "t");
  EXPECT_EQ(shown["observed"]["starts"], 2);
  EXPECT_EQ(shown["observed"]["previous_end"], "fenced: killed by self-fencing (no etcd lease renewal)");
  report(2, 3, "stopped");  // what the agent says after the controller's own restart: a new generation
  report(2, 3, "stopped");
  std::this_thread::sleep_for(400ms);  // several reconcile rounds
  EXPECT_EQ(restarted_events().size(), 1u);
  EXPECT_NE(c.metrics_text().find("nimbus_vm_restarts_total 1\n"), std::string::npos);
  c.stop();
}

// A drain of running VMs moves them live through etcd, the agents' part played here by hand:
// at most --moves-per-host in flight, the destination assigned `incoming`, its address passed
// to the source as `migrate_to`, then a result: ok switches over, a failure aborts (the VM stays).
TEST_F(ControllerEtcdTest, DrainMovesRunningVmsLiveThroughEtcd) {
  add_host("h1", 4, 4096);
  auto o = options("live");
  o.consolidation.moves_per_host = 2;
  Controller c(o);
  c.start();
  ASSERT_TRUE(wait_for([&] { return c.is_leader() && c.list_hosts(kAdmin).size() == 1; }));
  ASSERT_TRUE(add_linux_and_tenant_t(c));
  std::vector<std::string> ids;
  for (const char* n : {"a", "b", "c"}) {
    const json vm = c.create_vm(kAdmin, json{{"name", n}, {"flavor", "n1.tiny"}, {"image", "linux"}, {"tenant", "t"}}.dump());
    ids.push_back(vm["id"]);
    // What the agent on h1 would report: the VM runs.
    client_->put(keys_.vmstatus(vm["id"]), json{{"host", "h1"}, {"generation", 1}, {"state", "running"}}.dump());
  }
  add_host("h2", 4, 4096);
  ASSERT_TRUE(wait_for([&] { return c.list_hosts(kAdmin).size() == 2; }));
  ASSERT_TRUE(wait_for([&] { return c.show_vm(kAdmin, "a", "t")["state"] == "running"; }));
  c.drain_host(kAdmin, "h1", true);
  auto migrating = [&] {
    std::vector<std::string> out;
    for (const auto& vm : c.list_vms(kAdmin, "")) if (vm["state"] == "migrating") out.push_back(vm["id"]);
    return out;
  };
  ASSERT_TRUE(wait_for([&] { return migrating().size() == 2; }));
  std::this_thread::sleep_for(400ms);  // several reconcile rounds: the budget holds
  const auto moving = migrating();
  ASSERT_EQ(moving.size(), 2u);
  EXPECT_EQ(alloc_of("h2").vms.size(), 2u);  // the destination holds their room
  EXPECT_EQ(alloc_of("h1").vms.size(), 3u);  // and the source still runs them
  const std::string x = moving[0], y = moving[1];
  AssignSpec a;
  ASSERT_TRUE(client_->get(keys_.assign("h2", x)));
  parse_record(client_->get(keys_.assign("h2", x))->value, a);
  EXPECT_TRUE(a.incoming);
  EXPECT_EQ(a.generation, 1);

  // The destination listens: the source is told where to send.
  for (const auto& [id, port] : {std::pair{x, 4444}, std::pair{y, 5555}})
    client_->put(keys_.incoming(id), json{{"host", "h2"}, {"generation", 1}, {"address", "tcp:127.0.0.1:" + std::to_string(port)}}.dump());
  auto migrate_to = [&](const std::string& id) {
    AssignSpec s;
    if (auto kv = client_->get(keys_.assign("h1", id))) parse_record(kv->value, s);
    return s.migrate_to;
  };
  ASSERT_TRUE(wait_for([&] { return migrate_to(x) == "tcp:127.0.0.1:4444" && migrate_to(y) == "tcp:127.0.0.1:5555"; }));

  // x arrived: switch-over. y failed: it stays on h1.
  client_->put(keys_.migration(x), json{{"host", "h1"}, {"to", "tcp:127.0.0.1:4444"}, {"generation", 1}, {"ok", true},
                                        {"downtime_ms", 12.5}, {"total_ms", 300}, {"rounds", 2}}.dump());
  client_->put(keys_.migration(y), json{{"host", "h1"}, {"to", "tcp:127.0.0.1:5555"}, {"generation", 1}, {"ok", false},
                                        {"error", "connection lost: Connection reset by peer"}}.dump());
  auto host_of = [&](const std::string& id) {
    for (const auto& vm : c.list_vms(kAdmin, "")) if (vm["id"] == id) return std::make_pair(vm["host"].get<std::string>(), vm["desired"].get<std::string>());
    return std::make_pair(std::string(), std::string());
  };
  ASSERT_TRUE(wait_for([&] { return host_of(x) == std::make_pair(std::string("h2"), std::string("scheduled")); }));
  ASSERT_TRUE(wait_for([&] { return host_of(y) == std::make_pair(std::string("h1"), std::string("scheduled")); }));
  EXPECT_FALSE(client_->get(keys_.assign("h1", x)));
  parse_record(client_->get(keys_.assign("h2", x))->value, a);
  EXPECT_FALSE(a.incoming);
  EXPECT_EQ(a.generation, 1);  // no restart
  EXPECT_FALSE(client_->get(keys_.assign("h2", y)));
  EXPECT_EQ(migrate_to(y), "");
  EXPECT_FALSE(client_->get(keys_.incoming(x)));
  EXPECT_FALSE(client_->get(keys_.migration(y)));
  const auto h1 = alloc_of("h1").vms, h2 = alloc_of("h2").vms;
  EXPECT_EQ(std::count(h1.begin(), h1.end(), x), 0);
  EXPECT_EQ(std::count(h1.begin(), h1.end(), y), 1);
  EXPECT_EQ(std::count(h2.begin(), h2.end(), x), 1);
  EXPECT_EQ(std::count(h2.begin(), h2.end(), y), 0);
  const std::string m = c.metrics_text();
  EXPECT_NE(m.find("nimbus_moves_total{kind=\"live\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("nimbus_live_move_failures_total 1\n"), std::string::npos);
  bool failed_event = false, live_event = false;
  for (const auto& e : c.list_events(kAdmin, 100)) {
    failed_event = failed_event || (e["kind"] == "migration_failed" &&
                                    e["message"].get<std::string>().find("Connection reset by peer; the VM runs on h1") != std::string::npos);
    live_event = live_event || (e["kind"] == "moved" && e["message"].get<std::string>().find("moved live (downtime 12.5 ms") != std::string::npos);
  }
  EXPECT_TRUE(failed_event);
  EXPECT_TRUE(live_event);
  c.stop();
}

// The source host is lost mid-move: the VM restarts from its disk on the destination (new
// generation, so that agent stops its incoming VMM first), never on a third host.
TEST_F(ControllerEtcdTest, SourceLostMidMoveRestartsOnTheDestination) {
  const int64_t lease1 = add_host("h1", 4, 4096);
  Controller c(options("lost"));
  c.start();
  ASSERT_TRUE(wait_for([&] { return c.is_leader() && c.list_hosts(kAdmin).size() == 1; }));
  ASSERT_TRUE(add_linux_and_tenant_t(c));
  const std::string id = c.create_vm(kAdmin, R"({"name":"a","flavor":"n1.tiny","image":"linux","tenant":"t"})")["id"];
  client_->put(keys_.vmstatus(id), json{{"host", "h1"}, {"generation", 1}, {"state", "running"}}.dump());
  add_host("h2", 4, 4096);
  add_host("h3", 4, 4096);
  ASSERT_TRUE(wait_for([&] { return c.list_hosts(kAdmin).size() == 3 && c.show_vm(kAdmin, "a", "t")["state"] == "running"; }));
  EXPECT_EQ(c.vm_action(kAdmin, "a", "t", "migrate", R"({"host":"h2"})")["state"], "migrating");
  EXPECT_EQ(status_of([&] { c.vm_action(kAdmin, "a", "t", "stop", ""); }), 409);
  EXPECT_EQ(status_of([&] { c.delete_vm(kAdmin, "a", "t"); }), 409);
  client_->lease_revoke(lease1);
  ASSERT_TRUE(wait_for([&] {
    const json vm = c.show_vm(kAdmin, "a", "t");
    return vm["host"] == "h2" && vm["generation"] == 2 && vm["desired"] == "scheduled";
  }));
  EXPECT_FALSE(client_->get(keys_.assign("h1", id)));
  EXPECT_FALSE(client_->get(keys_.assign("h3", id)));
  AssignSpec a;
  parse_record(client_->get(keys_.assign("h2", id))->value, a);
  EXPECT_FALSE(a.incoming);
  EXPECT_EQ(a.generation, 2);
  const auto h2 = alloc_of("h2").vms;
  EXPECT_EQ(std::count(h2.begin(), h2.end(), id), 1);
  EXPECT_TRUE(alloc_of("h1").vms.empty());
  c.stop();
}

} // namespace
} // namespace nimbus::cloud::controller

// The controller's pure parts: request validation, quota arithmetic, decision -> transaction,
// the fleet model over the OnlineEngine and the consolidation choice. No etcd.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "cloud/controller/fleet.hpp"
#include "cloud/controller/logic.hpp"

namespace nimbus::cloud::controller {
namespace {

int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e.status();
  }
  return 0;
}

TEST(ControllerLogic, NetworksOfACreateAndOfANetworkRequest) {
  auto r = parse_create_vm(R"({"name":"web1","flavor":"n1.tiny","image":"linux","networks":["blue","green"]})", "acme");
  EXPECT_EQ(r.networks, (std::vector<std::string>{"blue", "green"}));
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"name":"a","flavor":"f","image":"x","networks":"blue"})", "acme"); }), 400);
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"name":"a","flavor":"f","image":"x","networks":["blue","blue"]})", "acme"); }), 400);
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"name":"a","flavor":"f","image":"x","networks":["a","b","c","d","e"]})", "acme"); }), 400);
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"name":"a","flavor":"f","image":"x","networks":["../x"]})", "acme"); }), 400);
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"name":"a","flavor":"f","image":"x","networks":[3]})", "acme"); }), 400);
  const auto n = parse_create_network(R"({"name":"blue"})", "acme");
  EXPECT_EQ(n.tenant, "acme");
  EXPECT_EQ(n.name, "blue");
  EXPECT_EQ(parse_create_network(R"({"name":"blue","tenant":"bob"})", "").tenant, "bob");
  EXPECT_EQ(status_of([] { parse_create_network(R"({"name":"blue"})", ""); }), 400);           // admin: whose?
  EXPECT_EQ(status_of([] { parse_create_network(R"({"name":"blue","tenant":"bob"})", "acme"); }), 403);
  EXPECT_EQ(status_of([] { parse_create_network(R"({"name":"Blue Net"})", "acme"); }), 400);
  EXPECT_EQ(status_of([] { parse_create_network(R"({"name":"blue","key":"x"})", "acme"); }), 400);
  // MACs: locally administered unicast, the NIC's index, the id's bytes.
  EXPECT_EQ(nic_mac("0a1b2c3d", 0), "02:00:0a:1b:2c:3d");
  EXPECT_EQ(nic_mac("0a1b2c3d", 3), "02:03:0a:1b:2c:3d");
  EXPECT_NE(nic_mac("0a1b2c3d", 0), nic_mac("0a1b2c3e", 0));
  EXPECT_EQ(nic_mac("0a1b2c3d4e5f6071", 1), "02:01:0a:1b:2c:3d");  // the controller's 16-digit ids
  EXPECT_EQ(nic_mac("not-hex!", 0), "");
}

TEST(ControllerLogic, CreateVmRequestValidation) {
  auto r = parse_create_vm(R"({"name":"web1","flavor":"n1.tiny","image":"linux","anti_affinity":"web"})", "acme");
  EXPECT_EQ(r.tenant, "acme");
  EXPECT_EQ(r.name, "web1");
  EXPECT_EQ(r.anti_affinity, "web");
  EXPECT_EQ(status_of([] { parse_create_vm("{not json", "acme"); }), 400);
  EXPECT_EQ(status_of([] { parse_create_vm("[1,2]", "acme"); }), 400);
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"flavor":"n1.tiny","image":"x"})", "acme"); }), 400);
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"name":"Bad Name","flavor":"n1.tiny","image":"x"})", "acme"); }), 400);
  // Found by the cloud_api fuzz target: the admin's "tenant", "flavor" and "image" were taken unchecked.
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"tenant":"*acme","name":"web1","flavor":"n1.tiny","image":"x"})", ""); }), 400);
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"name":"web1","flavor":"n1 tiny","image":"x"})", "acme"); }), 400);
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"name":"web1","flavor":"n1.tiny","image":""})", "acme"); }), 400);
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"name":"a","flavor":"n1.tiny","image":"x","colour":"red"})", "acme"); }), 400);
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"name":"a","flavor":7,"image":"x"})", "acme"); }), 400);
  // A tenant token cannot create in another tenant; the admin must name one.
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"name":"a","flavor":"f","image":"x","tenant":"other"})", "acme"); }), 403);
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"name":"a","flavor":"f","image":"x"})", ""); }), 400);
  EXPECT_EQ(parse_create_vm(R"({"name":"a","flavor":"f","image":"x","tenant":"t2"})", "").tenant, "t2");
  try {
    parse_create_vm("{\"name\": ", "acme");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_NE(std::string(e.what()).find("malformed JSON"), std::string::npos);
    EXPECT_EQ(e.body()["code"], "malformed_json");
  }
}

// Found by fuzz_cloud_api: a number beyond a double's range makes nlohmann throw out_of_range,
// not parse_error; it escaped parse_body and became a 500 instead of a 400.
TEST(ControllerLogic, ANumberBeyondADoubleIsA400) {
  try {
    parse_quota(R"({"vcpus": 1e999})");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.code(), "malformed_json");
  }
  EXPECT_EQ(status_of([] { parse_create_vm(R"({"name":"a","flavor":"f","image":"x","n":-2e400})", "acme"); }), 400);
}

// Stored records (what the controller reads back from etcd): an integer field holding a float
// such as 1e300 was converted to int64_t by nlohmann, undefined behaviour (found by
// fuzz_cloud_api); integers beyond 2^53 would overflow the controller's sums. Both make the record
// malformed (parse_record gives the default record and false).
TEST(ControllerRecords, IntegerFieldsTakeOnlyIntegersUpTo2To53) {
  VmRecord vm;
  EXPECT_FALSE(parse_record(R"({"id":"a","vcpus":1e300})", vm));
  EXPECT_EQ(vm.id, "");
  EXPECT_FALSE(parse_record(R"({"id":"a","vcpus":2.0})", vm));
  EXPECT_FALSE(parse_record(R"({"id":"a","generation":9007199254740993})", vm));
  EXPECT_FALSE(parse_record(R"({"id":"a","events_seq":18446744073709551615})", vm));
  EXPECT_FALSE(parse_record(R"({"id":"a","memory_mib":-9007199254740993})", vm));
  EXPECT_TRUE(parse_record(R"({"id":"a","generation":9007199254740992,"vcpus":2})", vm));
  EXPECT_EQ(vm.generation, int64_t{1} << 53);
  EXPECT_EQ(vm.vcpus, 2);
  HostInfo host;
  EXPECT_FALSE(parse_record(R"({"name":"h1","capacity":{"vcpus":1e19}})", host));
  Alloc alloc;
  EXPECT_FALSE(parse_record(R"({"vcpus":"4"})", alloc));
  EXPECT_FALSE(parse_record("[1]", alloc));
  // A host's status is read leniently: a bad field is skipped, not the record.
  HostStatusRecord status;
  EXPECT_TRUE(parse_record(R"({"vms":{"v1":{"state":"running","pid":1e300,"generation":3}}})", status));
  EXPECT_EQ(status.vms["v1"].pid, 0);
  EXPECT_EQ(status.vms["v1"].generation, 3);
}

TEST(ControllerLogic, UnknownFlavorListsChoices) {
  std::map<std::string, Flavor> flavors;
  for (const auto& f : default_flavors()) flavors[f.name] = f;
  try {
    find_flavor(flavors, "huge");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_NE(std::string(e.what()).find("'huge'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("n1.tiny"), std::string::npos);
    EXPECT_EQ(e.body()["choices"].size(), flavors.size());
  }
  EXPECT_EQ(find_flavor(flavors, "n1.tiny").memory_mib, 64);
}

TEST(ControllerLogic, QuotaArithmetic) {
  const Quota q{4, 256, 3, 10};
  Usage u{};
  const Resources tiny{1, 64, 1};
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(check_quota("t", q, u, tiny).has_value()) << i;
    u = usage_after(u, tiny, +1);
  }
  auto err = check_quota("t", q, u, tiny);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->status(), 403);
  EXPECT_EQ(err->body()["quota"], "vms");
  EXPECT_EQ(err->body()["usage"], 3);
  // Memory breaks first when the VM count still fits.
  err = check_quota("t", Quota{8, 100, 10, 10}, Usage{1, 64, 1, 1}, tiny);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->body()["quota"], "memory_mib");
  u = usage_after(u, tiny, -1);
  EXPECT_EQ(u.vms, 2);
  EXPECT_EQ(u.memory_mib, 128);
  EXPECT_EQ(usage_after(Usage{}, tiny, -1), Usage{});  // never negative
}

TEST(ControllerLogic, CreateTxnGuardsAllocUsageAndName) {
  Keys keys;
  VmRecord rec;
  rec.id = "abc";
  rec.tenant = "acme";
  rec.name = "web1";
  rec.host = "h1";
  Alloc alloc;
  alloc.add("abc", {1, 64, 1});
  const auto plan = create_vm_txn(keys, rec, AssignSpec{}, alloc, Usage{1, 64, 1, 1}, Revisions{17, 0});
  ASSERT_EQ(plan.compares.size(), 3u);
  EXPECT_EQ(plan.compares[0].key, "/nimbus/vms/acme/web1");
  EXPECT_EQ(plan.compares[0].target, etcd::Compare::Target::Version);
  EXPECT_EQ(plan.compares[1].key, "/nimbus/alloc/h1");
  EXPECT_EQ(plan.compares[1].number, 17);
  EXPECT_EQ(plan.compares[2].key, "/nimbus/usage/acme");
  EXPECT_EQ(plan.compares[2].number, 0);
  std::set<std::string> put;
  for (const auto& op : plan.ops) put.insert(op.key);
  EXPECT_TRUE(put.count("/nimbus/assign/h1/abc"));
  EXPECT_TRUE(put.count("/nimbus/alloc/h1"));
  EXPECT_TRUE(put.count("/nimbus/usage/acme"));
}

TEST(ControllerLogic, BatchedCreateTxnGuardsEveryKeyOnceAndPutsItOnce) {
  Keys keys;
  keys.prefix = "/n/";
  std::vector<BatchedCreate> creates;
  for (const char* name : {"a", "b", "c"}) {
    VmRecord r;
    r.id = std::string("id-") + name;
    r.tenant = "acme";
    r.name = name;
    r.host = std::string(name) == "c" ? "h2" : "h1";
    creates.push_back({r, AssignSpec{}});
  }
  std::map<std::string, KeyAfter<Alloc>> allocs{{"h1", {Alloc{2, 0, 0, {"id-a", "id-b"}}, 7}}, {"h2", {Alloc{1, 0, 0, {"id-c"}}, 0}}};
  std::map<std::string, KeyAfter<Usage>> usages{{"acme", {Usage{3, 0, 3, 0}, 9}}};
  const TxnPlan t = create_vms_txn(keys, creates, allocs, usages);
  // 3 names absent + 2 allocs + 1 usage, each compared once; no key put twice (etcd refuses that).
  EXPECT_EQ(t.compares.size(), 6u);
  std::set<std::string> put;
  for (const auto& op : t.ops) EXPECT_TRUE(put.insert(op.key).second) << op.key;
  EXPECT_EQ(put.size(), 3u * 2 + 2 + 1);
  EXPECT_TRUE(put.count("/n/alloc/h1") && put.count("/n/usage/acme") && put.count("/n/assign/h2/id-c"));
  int absent = 0, revs = 0;
  for (const auto& c : t.compares) {
    if (c.key == "/n/alloc/h1" || c.key == "/n/usage/acme") ++revs;
    if (c.key.rfind("/n/vms/acme/", 0) == 0) ++absent;
  }
  EXPECT_EQ(absent, 3);
  EXPECT_EQ(revs, 2);
  creates[0].rec.host = "h9";  // a host without an alloc value is a caller bug
  EXPECT_THROW(create_vms_txn(keys, creates, allocs, usages), std::invalid_argument);
}

TEST(ControllerLogic, BatchedDeleteTxnGuardsRecordsAllocsAndUsageOnce) {
  Keys keys;
  keys.prefix = "/n/";
  std::vector<BatchedDelete> deletes;
  int64_t rev = 40;
  for (const char* name : {"a", "b", "c"}) {
    VmRecord r;
    r.id = std::string("id-") + name;
    r.tenant = std::string(name) == "c" ? "beta" : "acme";
    r.name = name;
    r.host = std::string(name) == "b" ? "" : "h1";  // b was never placed: no alloc, no assignment
    deletes.push_back({r, ++rev});
  }
  std::map<std::string, KeyAfter<Alloc>> allocs{{"h1", {Alloc{}, 7}}};
  std::map<std::string, KeyAfter<Usage>> usages{{"acme", {Usage{}, 9}}, {"beta", {Usage{}, 0}}};
  const TxnPlan t = delete_vms_txn(keys, deletes, allocs, usages);
  // 3 records at their revisions + 1 alloc + 2 usages, each compared once.
  ASSERT_EQ(t.compares.size(), 6u);
  EXPECT_EQ(t.compares[0].key, "/n/vms/acme/a");
  EXPECT_EQ(t.compares[0].number, 41);
  EXPECT_EQ(t.compares[2].key, "/n/vms/beta/c");
  EXPECT_EQ(t.compares[2].number, 43);
  std::set<std::string> keys_seen, deleted;
  for (const auto& op : t.ops) {
    EXPECT_TRUE(keys_seen.insert(op.key).second) << op.key;  // etcd refuses a key twice in a txn
    if (op.kind == etcd::Op::Kind::Delete) deleted.insert(op.key);
  }
  EXPECT_EQ(deleted, (std::set<std::string>{"/n/vms/acme/a", "/n/vms/acme/b", "/n/vms/beta/c", "/n/assign/h1/id-a",
                                            "/n/assign/h1/id-c"}));
  EXPECT_TRUE(keys_seen.count("/n/alloc/h1") && keys_seen.count("/n/usage/acme") && keys_seen.count("/n/usage/beta"));
  deletes[0].rec.host = "h9";  // a host without an alloc value is a caller bug
  EXPECT_THROW(delete_vms_txn(keys, deletes, allocs, usages), std::invalid_argument);
}

TEST(ControllerLogic, BatchedMoveTxnGuardsRecordsAllocsAndLostHosts) {
  Keys keys;
  keys.prefix = "/n/";
  std::vector<BatchedMove> moves;
  for (const char* name : {"a", "b"}) {
    VmRecord r;
    r.id = std::string("id-") + name;
    r.tenant = "acme";
    r.name = name;
    r.host = "lost";
    r.generation = 3;
    moves.push_back({r, 11, std::string(name) == "a" ? "h1" : "h2", AssignSpec{}, vm_state::kScheduled});
  }
  moves[1].new_state = vm_state::kStopped;  // moves on paper: no assignment on h2
  std::map<std::string, KeyAfter<Alloc>> allocs{
      {"lost", {Alloc{}, 5}}, {"h1", {Alloc{1, 0, 0, {"id-a"}}, 6}}, {"h2", {Alloc{1, 0, 0, {"id-b"}}, 0}}};
  std::vector<VmRecord> afters;
  const TxnPlan t = move_vms_txn(keys, moves, allocs, {"lost"}, afters);
  ASSERT_EQ(afters.size(), 2u);
  EXPECT_EQ(afters[0].host, "h1");
  EXPECT_EQ(afters[0].generation, 4);
  EXPECT_EQ(afters[1].state, vm_state::kStopped);
  EXPECT_EQ(t.compares.size(), 2u + 3u + 1u);  // 2 records, 3 allocs, the lost host absent
  std::set<std::string> put, del;
  for (const auto& op : t.ops) {
    if (op.kind == etcd::Op::Kind::Put) {
      EXPECT_TRUE(put.insert(op.key).second) << op.key;
    } else if (op.kind == etcd::Op::Kind::Delete) {
      del.insert(op.key);
    }
  }
  EXPECT_TRUE(put.count("/n/assign/h1/id-a"));
  EXPECT_FALSE(put.count("/n/assign/h2/id-b"));
  EXPECT_TRUE(del.count("/n/assign/lost/id-a") && del.count("/n/assign/lost/id-b"));
  EXPECT_TRUE(put.count("/n/alloc/lost") && put.count("/n/alloc/h1") && put.count("/n/alloc/h2"));
  bool lost_absent = false;
  for (const auto& c : t.compares)
    if (c.key == "/n/hosts/lost") lost_absent = true;
  EXPECT_TRUE(lost_absent);
}

TEST(ControllerLogic, MoveTxnBumpsGenerationAndRequiresLostHostAbsent) {
  Keys keys;
  MoveTxnInput in;
  in.before.id = "v1";
  in.before.tenant = "t";
  in.before.name = "a";
  in.before.host = "old";
  in.before.generation = 3;
  in.record_revision = 9;
  in.to = "new";
  in.require_old_host_absent = true;
  VmRecord after;
  const auto plan = move_vm_txn(keys, in, after);
  EXPECT_EQ(after.generation, 4);
  EXPECT_EQ(after.host, "new");
  bool host_absent = false;
  for (const auto& c : plan.compares)
    if (c.key == "/nimbus/hosts/old" && c.target == etcd::Compare::Target::Version && c.number == 0) host_absent = true;
  EXPECT_TRUE(host_absent);
  bool deleted_old = false, put_new = false;
  for (const auto& op : plan.ops) {
    if (op.kind == etcd::Op::Kind::Delete && op.key == "/nimbus/assign/old/v1") deleted_old = true;
    if (op.kind == etcd::Op::Kind::Put && op.key == "/nimbus/assign/new/v1") {
      put_new = true;
      EXPECT_EQ(nlohmann::json::parse(op.value)["generation"], 4);
    }
  }
  EXPECT_TRUE(deleted_old);
  EXPECT_TRUE(put_new);
}

TEST(ControllerLogic, TokensAreHashed) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const auto a = random_hex(32), b = random_hex(32);
  EXPECT_EQ(a.size(), 64u);
  EXPECT_NE(a, b);
}

std::vector<FleetHost> hosts(int n, int64_t vcpus = 4, int64_t mem = 1024) {
  std::vector<FleetHost> out;
  for (int i = 0; i < n; ++i) out.push_back({"h" + std::to_string(i), {vcpus, mem, 100}, true, 0.0});
  return out;
}

TEST(FleetModel, RebuildsPlacementsAndPlacesWithinCapacity) {
  auto hs = hosts(2);
  std::vector<FleetVm> vms{{"a", "t", "h0", {2, 256, 1}, "", "", 0}, {"b", "t", "h1", {4, 256, 1}, "", "", 0}};
  FleetModel fleet(hs, vms, FleetOptions{});
  EXPECT_TRUE(fleet.unplaced().empty());
  EXPECT_EQ(fleet.active_hosts(), 2u);
  // h1 is full in vCPUs: a 2-vCPU VM goes to h0, a third does not fit anywhere.
  EXPECT_EQ(fleet.place({"c", "t", "", {2, 128, 1}, "", "", 0}), std::optional<std::string>("h0"));
  std::string reason;
  EXPECT_FALSE(fleet.place({"d", "t", "", {2, 128, 1}, "", "", 0}, &reason).has_value());
  EXPECT_EQ(reason, "no-capacity");
}

TEST(FleetModel, AHostWithoutCapacityInADimensionTakesNothingAndThrowsNothing) {
  // An agent started with --disk-gib 0 (or reporting nonsense) made every create an internal
  // error: the engine refuses a zero capacity. Such a host now takes no new VM.
  std::vector<FleetHost> hs{{"nodisk", {8, 4096, 0}, true, 0.0}, {"neg", {-4, 4096, 100}, true, 0.0}};
  FleetModel alone(hs, {}, FleetOptions{});
  std::string reason;
  EXPECT_FALSE(alone.place({"a", "t", "", {1, 64, 1}, "", "", 0}, &reason).has_value());
  EXPECT_EQ(reason, "no-capacity");
  hs.push_back({"good", {8, 4096, 100}, true, 0.0});
  FleetModel fleet(hs, {}, FleetOptions{});
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(fleet.place({"v" + std::to_string(i), "t", "", {1, 64, 1}, "", "", 0}), std::optional<std::string>("good"));
}

TEST(FleetModel, SeatAndReleaseKeepALongLivedModelInStep) {
  // The controller's placement cache mirrors commits made elsewhere by seating and releasing.
  auto hs = hosts(2);
  FleetModel fleet(hs, {}, FleetOptions{});
  EXPECT_TRUE(fleet.seat({"a", "t", "h1", {3, 256, 1}, "", "web", 0}));
  EXPECT_EQ(fleet.host_of("a"), std::optional<std::string>("h1"));
  EXPECT_EQ(fleet.vms_on("h1"), std::vector<std::string>{"a"});
  EXPECT_FALSE(fleet.seat({"b", "t", "h1", {2, 256, 1}, "", "", 0}));  // no room left on h1
  EXPECT_FALSE(fleet.seat({"a", "t", "h0", {1, 64, 1}, "", "", 0}));   // already seated
  EXPECT_FALSE(fleet.seat({"x", "t", "nope", {1, 64, 1}, "", "", 0})); // unknown host
  // The seated anti-affinity member keeps its peer off h1.
  EXPECT_EQ(fleet.place({"c", "t", "", {1, 64, 1}, "", "web", 0}), std::optional<std::string>("h0"));
  fleet.release("a");
  EXPECT_FALSE(fleet.has_vm("a"));
  EXPECT_TRUE(fleet.vms_on("h1").empty());
  EXPECT_TRUE(fleet.seat({"b", "t", "h1", {4, 256, 1}, "", "", 0}));
  EXPECT_EQ(fleet.active_hosts(), 2u);
}

TEST(FleetModel, PlacingASeatedVmAgainMovesItsSeatInsteadOfLeakingIt) {
  // One 4-vCPU host: a VM placed twice (a create decided again) holds one seat, and releasing it
  // frees the host entirely.
  FleetModel fleet(hosts(1), {}, FleetOptions{});
  EXPECT_EQ(fleet.place({"a", "t", "", {3, 64, 1}, "", "", 0}), std::optional<std::string>("h0"));
  EXPECT_EQ(fleet.place({"a", "t", "", {3, 64, 1}, "", "", 0}), std::optional<std::string>("h0"));
  EXPECT_EQ(fleet.vms_on("h0"), std::vector<std::string>{"a"});
  fleet.release("a");
  EXPECT_TRUE(fleet.vms_on("h0").empty());
  EXPECT_EQ(fleet.place({"b", "t", "", {4, 64, 1}, "", "", 0}), std::optional<std::string>("h0"));
}

TEST(FleetModel, AntiAffinitySpreadsAndCordonedHostsTakeNothing) {
  auto hs = hosts(3);
  hs[2].schedulable = false;
  FleetModel fleet(hs, {}, FleetOptions{});
  auto a = fleet.place({"a", "t", "", {1, 64, 1}, "", "web", 0});
  auto b = fleet.place({"b", "t", "", {1, 64, 1}, "", "web", 0});
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_FALSE(fleet.place({"c", "t", "", {1, 64, 1}, "", "web", 0}).has_value());  // h2 is cordoned
  // Same group name in another tenant is another group.
  EXPECT_TRUE(fleet.place({"d", "u", "", {1, 64, 1}, "", "web", 0}).has_value());
}

TEST(FleetModel, ConsolidationRespectsBudgetsAndApproachesTheBound) {
  // 6 hosts each holding one small VM: the bound is 1 host; one round moves at most 5 VMs and at
  // most 2 out of any host.
  auto hs = hosts(6);
  std::vector<FleetVm> vms;
  for (int i = 0; i < 6; ++i) vms.push_back({"v" + std::to_string(i), "t", "h" + std::to_string(i), {1, 64, 1}, "", "", 0.0});
  bool engaged = false;
  std::size_t rounds = 0, active = 6, bound = 0;
  while (rounds < 10) {
    FleetModel fleet(hs, vms, FleetOptions{});
    auto r = choose_consolidation(fleet, hs, vms, ConsolidationPolicy{}, engaged);
    engaged = r.engaged;
    bound = r.lower_bound;
    EXPECT_LE(r.moves.size(), 5u);
    std::map<std::string, int> per_host;
    for (const auto& m : r.moves) EXPECT_LE(++per_host[m.from], 2);
    for (const auto& m : r.moves)
      for (auto& vm : vms)
        if (vm.id == m.vm) vm.host = m.to;
    active = r.active_hosts;
    ++rounds;

    if (r.moves.empty()) break;
  }
  EXPECT_EQ(bound, 2u) << "4 vCPUs per host, 6 vCPUs of VMs";
  EXPECT_LE(active, 2u);
}

TEST(FleetModel, HotHostIsRelieved) {
  auto hs = hosts(2);
  hs[0].cpu_load = 3.9;  // 4 vCPUs, 97 % busy
  std::vector<FleetVm> vms{{"a", "t", "h0", {1, 64, 1}, "", "", 1.5}, {"b", "t", "h0", {1, 64, 1}, "", "", 1.2},
                           {"c", "t", "h0", {1, 64, 1}, "", "", 1.2}};
  FleetModel fleet(hs, vms, FleetOptions{});
  auto r = choose_consolidation(fleet, hs, vms, ConsolidationPolicy{}, false);
  ASSERT_FALSE(r.moves.empty());
  EXPECT_EQ(r.moves[0].vm, "a");
  EXPECT_EQ(r.moves[0].why, "relieve");
  EXPECT_EQ(r.moves[0].to, "h1");
}

TEST(RestartedInPlace, OnlyAHigherStartCountOnTheSameHostAndGenerationIsARestart) {
  VmObserved before;
  before.host = "h1";
  before.generation = 3;
  before.starts = 1;
  VmObserved after = before;
  EXPECT_FALSE(restarted_in_place(before, after));  // a status refresh
  after.starts = 2;
  EXPECT_TRUE(restarted_in_place(before, after));   // booted again by the agent
  after.generation = 4;
  EXPECT_FALSE(restarted_in_place(before, after));  // the controller's own start/reboot
  after = before;
  after.starts = 2;
  after.host = "h2";
  EXPECT_FALSE(restarted_in_place(before, after));  // a move (another agent's count)
  after = before;
  after.starts = 0;
  EXPECT_FALSE(restarted_in_place(before, after));  // an agent restarted (its count began again)
  VmObserved first;                                  // no report before this one
  after = before;
  after.starts = 2;
  EXPECT_FALSE(restarted_in_place(first, after));
}

} // namespace
} // namespace nimbus::cloud::controller

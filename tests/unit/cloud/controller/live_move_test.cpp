// The controller's live-move steps (live_move.hpp): what to do next for a VM in state
// `migrating`, and what each step's transaction guards and writes. No etcd.
#include <gtest/gtest.h>

#include <algorithm>

#include "cloud/controller/live_move.hpp"

namespace nimbus::cloud::controller {
namespace {

using nlohmann::json;

VmRecord migrating(const std::string& address = "") {
  VmRecord r;
  r.id = "id1";
  r.tenant = "t";
  r.name = "web";
  r.host = "h1";
  r.state = vm_state::kMigrating;
  r.generation = 4;
  r.vcpus = 1;
  r.memory_mib = 128;
  r.migration = MigrationInfo{"h2", address, "drain of h1", "2026-01-01T00:00:00.000Z"};
  return r;
}

LiveMoveView view_of(const VmRecord& r) {
  LiveMoveView v;
  v.rec = r;
  return v;
}

TEST(LiveMove, WaitsForTheDestinationThenDeliversItsAddress) {
  LiveMoveView v = view_of(migrating());
  EXPECT_EQ(decide_live_move(v).step, LiveStep::Wait);
  IncomingRecord in{"h2", 4, "tcp:10.0.0.2:4444"};
  v.incoming = &in;
  const LiveDecision d = decide_live_move(v);
  EXPECT_EQ(d.step, LiveStep::Deliver);
  EXPECT_EQ(d.address, "tcp:10.0.0.2:4444");
  // An incoming record of another host or generation (a previous attempt) is not this one's.
  IncomingRecord other_host{"h3", 4, "tcp:10.0.0.3:1"}, old{"h2", 3, "tcp:10.0.0.2:1"};
  v.incoming = &other_host;
  EXPECT_EQ(decide_live_move(v).step, LiveStep::Wait);
  v.incoming = &old;
  EXPECT_EQ(decide_live_move(v).step, LiveStep::Wait);
}

TEST(LiveMove, AbortsWhenTheDestinationIsLostOrSlowBeforeTheAddressWentOut) {
  LiveMoveView v = view_of(migrating());
  v.destination_up = false;
  LiveDecision d = decide_live_move(v);
  EXPECT_EQ(d.step, LiveStep::Abort);
  EXPECT_EQ(d.reason, "destination host h2 lost before it was ready");
  v.destination_up = true;
  v.seconds_since_start = 61;
  d = decide_live_move(v);
  EXPECT_EQ(d.step, LiveStep::Abort);
  EXPECT_EQ(d.reason, "destination host h2 did not get ready within 60 s");
}

TEST(LiveMove, OnceSendingOnlyTheSourcesResultOrItsLossEndsIt) {
  LiveMoveView v = view_of(migrating("tcp:10.0.0.2:4444"));
  v.destination_up = false;  // the source's `nimbus migrate` fails by itself and says so
  v.seconds_since_start = 120;
  EXPECT_EQ(decide_live_move(v).step, LiveStep::Wait);
  MigrationResult ok{"h1", "tcp:10.0.0.2:4444", 4, true, "", 12.5, 400, 2};
  v.result = &ok;
  EXPECT_EQ(decide_live_move(v).step, LiveStep::Finish);
  // A result for another attempt (address) or generation is ignored.
  MigrationResult stale = ok;
  stale.to = "tcp:10.0.0.2:1";
  v.result = &stale;
  EXPECT_EQ(decide_live_move(v).step, LiveStep::Wait);
  MigrationResult failed{"h1", "tcp:10.0.0.2:4444", 4, false, "cannot connect", 0, 0, 0};
  v.result = &failed;
  LiveDecision d = decide_live_move(v);
  EXPECT_EQ(d.step, LiveStep::Abort);
  EXPECT_EQ(d.reason, "cannot connect");
  EXPECT_FALSE(d.unsupported);
  MigrationResult unsupported = failed;
  unsupported.error = "live migration is not supported in hw mode yet (only emulate)";
  v.result = &unsupported;
  EXPECT_TRUE(decide_live_move(v).unsupported);
  // The VM stopped running on the source, or the source never answers.
  v.result = nullptr;
  for (const std::string state : {"stopped", "powered off", "failed", "fenced"}) {
    v.source_state = state;
    d = decide_live_move(v);
    EXPECT_EQ(d.step, LiveStep::Abort) << state;
    EXPECT_EQ(d.reason, "the VM stopped running on source host h1 before it was sent (" + state + ")");
  }
  v.source_state = "running";
  v.seconds_since_start = 601;
  EXPECT_EQ(decide_live_move(v).step, LiveStep::Abort);
}

// test_cloud_live_move step 5 (failed under load): g1 moved live h0 -> h1 and h1's drain moved it
// on at once, started from h1's fresh vmstatus (running) while h1's periodic hoststatus still
// said `incoming` (written before the switch-over). The controller took that report for "the VM
// stopped running on the source" and aborted the delivered move: the abort stops the
// destination's VMM, which may hold the VM already. A report that can be older than the move
// (or says the VM is on its way out) waits for the source's result instead.
TEST(LiveMove, AReportOlderThanTheMoveOrOfAVmOnItsWayOutDoesNotAbortIt) {
  LiveMoveView v = view_of(migrating("tcp:10.0.0.2:4444"));
  v.seconds_since_start = 1;
  for (const std::string state : {"", "incoming", "starting", "running", "stopping", "migrated"}) {
    v.source_state = state;
    EXPECT_EQ(decide_live_move(v).step, LiveStep::Wait) << state;
    EXPECT_FALSE(source_stopped(state)) << state;
  }
  // ...and the result decides.
  v.source_state = "incoming";
  MigrationResult ok{"h1", "tcp:10.0.0.2:4444", 4, true, "", 12.5, 400, 2};
  v.result = &ok;
  EXPECT_EQ(decide_live_move(v).step, LiveStep::Finish);
  v.source_state = "migrated";
  EXPECT_EQ(decide_live_move(v).step, LiveStep::Finish);
}

TEST(LiveMove, ALostSourceRestartsOnTheDestination) {
  for (const std::string address : {"", "tcp:10.0.0.2:4444"}) {
    LiveMoveView v = view_of(migrating(address));
    v.source_lost = true;
    LiveDecision d = decide_live_move(v);
    EXPECT_EQ(d.step, LiveStep::RestartOnDestination);
    EXPECT_EQ(d.reason, "source host h1 lost during the live move");
    v.destination_up = false;
    EXPECT_EQ(decide_live_move(v).step, LiveStep::Abort);
  }
  // But a result that says the VM arrived wins: it runs on the destination.
  LiveMoveView v = view_of(migrating("tcp:10.0.0.2:4444"));
  v.source_lost = true;
  MigrationResult ok{"h1", "tcp:10.0.0.2:4444", 4, true, "", 1, 1, 1};
  v.result = &ok;
  EXPECT_EQ(decide_live_move(v).step, LiveStep::Finish);
}

bool has_op(const TxnPlan& t, etcd::Op::Kind kind, const std::string& key) {
  return std::any_of(t.ops.begin(), t.ops.end(), [&](const etcd::Op& op) { return op.kind == kind && op.key == key; });
}
const etcd::Op& op_for(const TxnPlan& t, const std::string& key) {
  for (const auto& op : t.ops)
    if (op.key == key && op.kind == etcd::Op::Kind::Put) return op;
  throw std::runtime_error("no put of " + key);
}

TEST(LiveMove, TransactionsOfEachStep) {
  const Keys keys;
  VmRecord rec = migrating();
  rec.state = vm_state::kScheduled;
  rec.migration = {};
  AssignSpec spec;
  spec.id = rec.id;
  spec.kernel = "/k";
  Alloc to_after;
  to_after.add(rec.id, rec.resources());
  VmRecord after;
  // start: record migrating, destination alloc and incoming assignment, same generation.
  TxnPlan t = start_live_move_txn(keys, rec, 17, "h2", to_after, 5, spec, "drain of h1", "now", after);
  EXPECT_EQ(after.state, vm_state::kMigrating);
  EXPECT_EQ(after.host, "h1");
  EXPECT_EQ(after.migration.to, "h2");
  EXPECT_EQ(t.compares.size(), 3u);  // record, destination alloc, destination registered
  json a = json::parse(op_for(t, keys.assign("h2", rec.id)).value);
  EXPECT_EQ(a["incoming"], true);
  EXPECT_EQ(a["generation"], 4);
  EXPECT_FALSE(has_op(t, etcd::Op::Kind::Put, keys.assign("h1", rec.id)));
  EXPECT_TRUE(has_op(t, etcd::Op::Kind::Delete, keys.incoming(rec.id)));
  EXPECT_THROW(start_live_move_txn(keys, rec, 17, "h1", to_after, 5, spec, "", "", after), std::invalid_argument);

  // deliver: the source's assignment gets migrate_to; same generation (no restart).
  const VmRecord moving = migrating();
  t = deliver_live_move_txn(keys, moving, 18, "tcp:10.0.0.2:4444", spec, after);
  EXPECT_EQ(after.migration.address, "tcp:10.0.0.2:4444");
  a = json::parse(op_for(t, keys.assign("h1", rec.id)).value);
  EXPECT_EQ(a["migrate_to"], "tcp:10.0.0.2:4444");
  EXPECT_EQ(a["generation"], 4);
  EXPECT_FALSE(a.contains("incoming"));

  // finish: host is the destination, the source's assignment and alloc entry go.
  const VmRecord sent = migrating("tcp:10.0.0.2:4444");
  t = finish_live_move_txn(keys, sent, 19, Alloc{}, 7, spec, after);
  EXPECT_EQ(after.host, "h2");
  EXPECT_EQ(after.state, vm_state::kScheduled);
  EXPECT_EQ(after.generation, 4);
  EXPECT_TRUE(after.migration == MigrationInfo{});
  EXPECT_TRUE(has_op(t, etcd::Op::Kind::Delete, keys.assign("h1", rec.id)));
  a = json::parse(op_for(t, keys.assign("h2", rec.id)).value);
  EXPECT_FALSE(a.contains("incoming"));
  EXPECT_TRUE(has_op(t, etcd::Op::Kind::Put, keys.alloc("h1")));
  EXPECT_TRUE(has_op(t, etcd::Op::Kind::Delete, keys.migration(rec.id)));

  // abort: stays on the source, the destination's assignment and alloc entry go.
  t = abort_live_move_txn(keys, sent, 19, Alloc{}, 8, spec, after);
  EXPECT_EQ(after.host, "h1");
  EXPECT_EQ(after.state, vm_state::kScheduled);
  EXPECT_TRUE(has_op(t, etcd::Op::Kind::Delete, keys.assign("h2", rec.id)));
  a = json::parse(op_for(t, keys.assign("h1", rec.id)).value);
  EXPECT_FALSE(a.contains("migrate_to"));
  EXPECT_TRUE(has_op(t, etcd::Op::Kind::Put, keys.alloc("h2")));
}

TEST(LiveMove, RecordKeepsTheMigrationOnlyWhileMoving) {
  const VmRecord m = migrating("tcp:h:1");
  VmRecord back;
  ASSERT_TRUE(parse_record(dump_record(m), back));
  EXPECT_TRUE(back.migration == m.migration);
  VmRecord plain = m;
  plain.migration = {};
  EXPECT_FALSE(json::parse(dump_record(plain)).contains("migration"));
}

} // namespace
} // namespace nimbus::cloud::controller

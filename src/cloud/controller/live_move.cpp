#include "cloud/controller/live_move.hpp"

#include <fmt/format.h>

namespace nimbus::cloud::controller {

const char* to_string(LiveStep s) {
  switch (s) {
    case LiveStep::Wait: return "wait";
    case LiveStep::Deliver: return "deliver";
    case LiveStep::Finish: return "finish";
    case LiveStep::Abort: return "abort";
    case LiveStep::RestartOnDestination: return "restart-on-destination";
  }
  return "?";
}

bool source_stopped(const std::string& state) {
  return state == "stopped" || state == "powered off" || state == "failed" || state == "fenced";
}

LiveDecision decide_live_move(const LiveMoveView& v) {
  const VmRecord& rec = v.rec;
  const MigrationInfo& m = rec.migration;
  LiveDecision d;
  // 1. The source said how sending ended (for this generation and this destination address).
  if (v.result && !m.address.empty() && v.result->host == rec.host && v.result->generation == rec.generation &&
      v.result->to == m.address) {
    if (v.result->ok) {
      d.step = LiveStep::Finish;
      return d;
    }
    d.step = LiveStep::Abort;
    d.reason = v.result->error.empty() ? "the source's `nimbus migrate` failed" : v.result->error;
    d.unsupported = v.result->error.find("not supported in") != std::string::npos;
    return d;
  }
  // 2. The source is gone: its copy is lost either way; the destination restarts it from disk.
  if (v.source_lost) {
    if (v.destination_up) {
      d.step = LiveStep::RestartOnDestination;
      d.reason = fmt::format("source host {} lost during the live move", rec.host);
    } else {
      d.step = LiveStep::Abort;
      d.reason = fmt::format("source host {} and destination host {} both lost", rec.host, m.to);
    }
    return d;
  }
  // 3. Waiting for the destination to listen.
  if (m.address.empty()) {
    if (!v.destination_up) {
      d.step = LiveStep::Abort;
      d.reason = fmt::format("destination host {} lost before it was ready", m.to);
    } else if (v.incoming && v.incoming->host == m.to && v.incoming->generation == rec.generation &&
               !v.incoming->address.empty()) {
      d.step = LiveStep::Deliver;
      d.address = v.incoming->address;
    } else if (v.seconds_since_start > v.ready_timeout_seconds) {
      d.step = LiveStep::Abort;
      d.reason = fmt::format("destination host {} did not get ready within {:.0f} s", m.to, v.ready_timeout_seconds);
    }
    return d;
  }
  // 4. The source is sending: its own timeouts end it; only a VM that ended there (or an agent
  //    that never answers) ends the wait here. An abort deletes the destination's assignment, so
  //    its VMM is stopped: if it had received the VM, the VM is lost (and the source's agent,
  //    whose copy has left, reports it migrated). So a report that may just be older than the
  //    move (`incoming`, `starting`: the VM's state before it ran there) never aborts it.
  if (source_stopped(v.source_state)) {
    d.step = LiveStep::Abort;
    d.reason = fmt::format("the VM stopped running on source host {} before it was sent ({})", rec.host, v.source_state);
  } else if (v.seconds_since_start > v.send_timeout_seconds) {
    d.step = LiveStep::Abort;
    d.reason = fmt::format("source host {} reported no result within {:.0f} s", rec.host, v.send_timeout_seconds);
  }
  return d;
}

namespace {
void drop_leftovers(const Keys& keys, const std::string& id, TxnPlan& t) {
  t.ops.push_back(etcd::Op::del(keys.incoming(id)));
  t.ops.push_back(etcd::Op::del(keys.migration(id)));
}
} // namespace

TxnPlan start_live_move_txn(const Keys& keys, const VmRecord& rec, int64_t rec_revision, const std::string& to,
                            const Alloc& to_alloc_after, int64_t to_alloc_revision, AssignSpec assign,
                            const std::string& why, const std::string& now, VmRecord& after) {
  if (to.empty() || to == rec.host) throw std::invalid_argument("start_live_move_txn: the target host is empty or the VM's own");
  TxnPlan t;
  after = rec;
  after.state = vm_state::kMigrating;
  after.migration = MigrationInfo{to, "", why, now};
  assign.generation = rec.generation;
  assign.incoming = true;
  assign.migrate_to.clear();
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.vm(rec.tenant, rec.name), rec_revision));
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.alloc(to), to_alloc_revision));
  // The destination is registered (its lease alive) when the move starts.
  t.compares.push_back(etcd::Compare{keys.host(to), etcd::Compare::Target::Version, etcd::Compare::Result::Greater, 0, {}});
  t.ops.push_back(etcd::Op::put(keys.vm(rec.tenant, rec.name), dump_record(after)));
  t.ops.push_back(etcd::Op::put(keys.alloc(to), dump_record(to_alloc_after)));
  t.ops.push_back(etcd::Op::put(keys.assign(to, rec.id), dump_record(assign)));
  drop_leftovers(keys, rec.id, t);  // a previous attempt's, if any
  return t;
}

TxnPlan deliver_live_move_txn(const Keys& keys, const VmRecord& rec, int64_t rec_revision, const std::string& address,
                              AssignSpec assign, VmRecord& after) {
  TxnPlan t;
  after = rec;
  after.migration.address = address;
  assign.generation = rec.generation;
  assign.incoming = false;
  assign.migrate_to = address;
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.vm(rec.tenant, rec.name), rec_revision));
  t.ops.push_back(etcd::Op::put(keys.vm(rec.tenant, rec.name), dump_record(after)));
  t.ops.push_back(etcd::Op::put(keys.assign(rec.host, rec.id), dump_record(assign)));
  return t;
}

TxnPlan finish_live_move_txn(const Keys& keys, const VmRecord& rec, int64_t rec_revision, const Alloc& from_alloc_after,
                             int64_t from_alloc_revision, AssignSpec assign, VmRecord& after) {
  TxnPlan t;
  after = rec;
  after.host = rec.migration.to;
  after.state = vm_state::kScheduled;
  after.migration = {};
  assign.generation = rec.generation;
  assign.incoming = false;
  assign.migrate_to.clear();
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.vm(rec.tenant, rec.name), rec_revision));
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.alloc(rec.host), from_alloc_revision));
  t.ops.push_back(etcd::Op::put(keys.vm(rec.tenant, rec.name), dump_record(after)));
  t.ops.push_back(etcd::Op::del(keys.assign(rec.host, rec.id)));
  t.ops.push_back(etcd::Op::put(keys.assign(after.host, rec.id), dump_record(assign)));
  t.ops.push_back(etcd::Op::put(keys.alloc(rec.host), dump_record(from_alloc_after)));
  drop_leftovers(keys, rec.id, t);
  return t;
}

TxnPlan abort_live_move_txn(const Keys& keys, const VmRecord& rec, int64_t rec_revision, const Alloc& to_alloc_after,
                            int64_t to_alloc_revision, AssignSpec assign, VmRecord& after) {
  TxnPlan t;
  after = rec;
  after.state = vm_state::kScheduled;
  after.migration = {};
  assign.generation = rec.generation;
  assign.incoming = false;
  assign.migrate_to.clear();
  const std::string& to = rec.migration.to;
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.vm(rec.tenant, rec.name), rec_revision));
  t.compares.push_back(etcd::Compare::mod_revision_is(keys.alloc(to), to_alloc_revision));
  t.ops.push_back(etcd::Op::put(keys.vm(rec.tenant, rec.name), dump_record(after)));
  t.ops.push_back(etcd::Op::del(keys.assign(to, rec.id)));
  t.ops.push_back(etcd::Op::put(keys.assign(rec.host, rec.id), dump_record(assign)));
  t.ops.push_back(etcd::Op::put(keys.alloc(to), dump_record(to_alloc_after)));
  drop_leftovers(keys, rec.id, t);
  return t;
}

} // namespace nimbus::cloud::controller

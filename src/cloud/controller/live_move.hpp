#pragma once
// Live moves through etcd (docs/cloud.md "Moves"), the controller's side, pure: what to do next
// for a VM in state `migrating`, and the transactions of each step. No etcd, no clock.
//
// The steps, each one guarded transaction:
//   start    record -> migrating (migration.to = destination), the destination's alloc holds the
//            VM too, assign/<dst>/<id> = the spec with "incoming": true (same generation);
//   deliver  once the destination agent published incoming/<id> (its VMM's address): the
//            record keeps it, assign/<src>/<id> gets "migrate_to": that address;
//   finish   once the source agent published migration/<id> with ok: the record's host is the
//            destination, assign/<src> deleted, assign/<dst> without "incoming", the source's
//            alloc without the VM (switch-over: only the destination runs it);
//   abort    on a failed result, a lost destination or a timeout before the address went out:
//            assign/<dst> deleted, assign/<src> without "migrate_to", the destination's alloc
//            without the VM (it never stopped running on the source).
// A source lost mid-move restarts the VM on the destination from its disk (new generation: the
// destination's agent stops its incoming VMM first, so it never runs twice).
#include <cstdint>
#include <string>

#include "cloud/controller/logic.hpp"
#include "cloud/controller/model.hpp"

namespace nimbus::cloud::controller {

struct LiveMoveView {
  VmRecord rec;                  // state migrating
  bool source_lost = false;      // hosts/<src> gone for longer than the grace period
  bool destination_up = true;    // hosts/<dst> present
  // The source's last reported state of the VM (this generation), empty if it reported none.
  // Reports are periodic (hoststatus, every few seconds) and may predate the move: right after a
  // live move in, the new host's report can still say `incoming` or `starting` while the VM runs
  // there (the move out starts once it is seen running, from its fresher vmstatus). Only a state
  // in which the VM has ended there without being sent (source_stopped) ends the wait.
  std::string source_state;
  const IncomingRecord* incoming = nullptr;  // incoming/<id>, if any
  const MigrationResult* result = nullptr;   // migration/<id>, if any
  double seconds_since_start = 0;
  double ready_timeout_seconds = 60;   // destination: incoming VMM listening
  double send_timeout_seconds = 600;   // source: result of `nimbus migrate` (it gives up well before)
};

enum class LiveStep { Wait, Deliver, Finish, Abort, RestartOnDestination };
const char* to_string(LiveStep s);

struct LiveDecision {
  LiveStep step = LiveStep::Wait;
  std::string reason;        // Abort, RestartOnDestination: why (for the event)
  std::string address;       // Deliver: the destination VMM's tcp:HOST:PORT
  bool unsupported = false;  // Abort: the VMM cannot live-migrate this VM's mode (fall back to restart)
};
LiveDecision decide_live_move(const LiveMoveView& view);
// Whether a source's reported state says the VM ended there: stopped, powered off, failed or
// fenced. Not `starting`, `incoming` (reports older than the move), `running`, `stopping` or
// `migrated` (sent: the source's result says where it runs).
bool source_stopped(const std::string& state);

// Start: `to_alloc_after` is the destination's alloc with the VM; `assign` the VM's spec.
TxnPlan start_live_move_txn(const Keys& keys, const VmRecord& rec, int64_t rec_revision, const std::string& to,
                            const Alloc& to_alloc_after, int64_t to_alloc_revision, AssignSpec assign,
                            const std::string& why, const std::string& now, VmRecord& after);
// Deliver the destination's address to the source.
TxnPlan deliver_live_move_txn(const Keys& keys, const VmRecord& rec, int64_t rec_revision, const std::string& address,
                              AssignSpec assign, VmRecord& after);
// Switch-over: `from_alloc_after` is the source's alloc without the VM.
TxnPlan finish_live_move_txn(const Keys& keys, const VmRecord& rec, int64_t rec_revision, const Alloc& from_alloc_after,
                             int64_t from_alloc_revision, AssignSpec assign, VmRecord& after);
// Abort: `to_alloc_after` is the destination's alloc without the VM.
TxnPlan abort_live_move_txn(const Keys& keys, const VmRecord& rec, int64_t rec_revision, const Alloc& to_alloc_after,
                            int64_t to_alloc_revision, AssignSpec assign, VmRecord& after);

} // namespace nimbus::cloud::controller

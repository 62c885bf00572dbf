#pragma once
// The host agent's reconcile decision, pure: what the controller assigned to this host against
// what the agent has, to a list of actions. No I/O, so it is unit-tested exhaustively.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nimbus::cloud::host {

// Where a VM the agent knows is in its life.
enum class VmState {
  Starting,    // VMM being started
  Running,     // VMM running (simulated: at once)
  Stopping,    // SIGTERM sent, waiting for the VMM to exit
  Stopped,     // stopped by the agent (API stop, unassigned)
  PoweredOff,  // the guest powered off (VMM exit code 0)
  Failed,      // the VMM failed (non-zero exit, signal, could not start)
  Fenced,      // killed by self-fencing (the host lost etcd); restarted if still assigned after re-registration
  Incoming,    // live move in: a VMM waits for (or has received) the VM; the controller has not switched over yet
  Migrated,    // live move out: the VM left for another host; its VMM ended
};
const char* to_string(VmState s);
bool is_active(VmState s);  // Starting, Running, Stopping or Incoming: a VMM process may exist

// How an ended VMM's VM reads: `signaled` and `code` as waitpid said; `killed_by_fence`: the
// fence sent its group SIGKILL (it may have exited by itself just before, not yet reaped);
// `sent`: a live move out was under way or done (`nimbus migrate` ran against it);
// `stop_requested`: the agent asked it to stop.
// - sent and exit code 0: Migrated (the VMM exits 0 once its VM left, docs/migration.md), even
//   if the fence flagged it afterwards: it ended by itself, the VM runs at the destination, and
//   a Fenced copy would be started from its disk again (a second copy, a silent reboot);
// - else killed by the fence: Fenced; asked to stop: Stopped; exit code 0: PoweredOff; else Failed.
VmState exit_state(bool signaled, int code, bool killed_by_fence, bool sent, bool stop_requested);

struct Assigned {
  int64_t generation = 0;
  bool incoming = false;   // start a VMM that waits for the VM (live move in)
  std::string migrate_to;  // send the running VM there (live move out), empty: stay
};

struct Present {
  int64_t generation = 0;
  VmState state = VmState::Running;
  bool from_etcd = true;  // false: created through the agent's API (reconcile leaves it alone)
  bool incoming = false;  // this copy was started as an incoming VMM and not adopted yet
  std::string sent_to;    // the address this copy is being (or was) sent to
};

struct ReconcileAction {
  enum class Kind {
    Start,    // create and start (not present yet, or fenced)
    Restart,  // stop the running copy and start the new generation
    Remove,   // stop (if active) and forget: no longer assigned here
    Adopt,    // the controller switched a live move over to this host: the incoming copy is the VM now
    Send,     // live-migrate the running copy to the assignment's migrate_to
  };
  Kind kind;
  std::string id;
  bool operator==(const ReconcileAction&) const = default;
};

// Rules:
// - assigned, not present (or present but fenced): Start;
// - assigned with another generation than the present one: Restart (whatever its state);
// - assigned, same generation, present as an incoming copy, no longer assigned as incoming: Adopt;
// - assigned with a migrate_to, same generation, present Running (not an incoming copy) and not
//   yet sent there: Send (once per address);
// - assigned, same generation, any other state: nothing (a VM that powered off or failed is
//   reported, not restarted: the controller decides);
// - present from etcd, not assigned: Remove.
// A Start of an assignment marked incoming starts the waiting VMM (the agent reads the spec).
// Actions come in id order: Removes first (they free capacity), then Restarts, then Adopts,
// Sends, then Starts.
std::vector<ReconcileAction> reconcile(const std::map<std::string, Assigned>& assigned,
                                       const std::map<std::string, Present>& present);

} // namespace nimbus::cloud::host

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
};
const char* to_string(VmState s);
bool is_active(VmState s);  // Starting, Running or Stopping: a VMM process may exist

struct Assigned {
  int64_t generation = 0;
};

struct Present {
  int64_t generation = 0;
  VmState state = VmState::Running;
  bool from_etcd = true;  // false: created through the agent's API (reconcile leaves it alone)
};

struct ReconcileAction {
  enum class Kind {
    Start,    // create and start (not present yet, or fenced)
    Restart,  // stop the running copy and start the new generation
    Remove,   // stop (if active) and forget: no longer assigned here
  };
  Kind kind;
  std::string id;
  bool operator==(const ReconcileAction&) const = default;
};

// Rules:
// - assigned, not present (or present but fenced): Start;
// - assigned with another generation than the present one: Restart (whatever its state);
// - assigned, same generation, any other state: nothing (a VM that powered off or failed is
//   reported, not restarted: the controller decides);
// - present from etcd, not assigned: Remove.
// Actions come in id order: Removes first (they free capacity), then Restarts, then Starts.
std::vector<ReconcileAction> reconcile(const std::map<std::string, Assigned>& assigned,
                                       const std::map<std::string, Present>& present);

} // namespace nimbus::cloud::host

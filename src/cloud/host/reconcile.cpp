#include "cloud/host/reconcile.hpp"

namespace nimbus::cloud::host {

const char* to_string(VmState s) {
  switch (s) {
    case VmState::Starting: return "starting";
    case VmState::Running: return "running";
    case VmState::Stopping: return "stopping";
    case VmState::Stopped: return "stopped";
    case VmState::PoweredOff: return "powered off";
    case VmState::Failed: return "failed";
    case VmState::Fenced: return "fenced";
    case VmState::Incoming: return "incoming";
    case VmState::Migrated: return "migrated";
  }
  return "?";
}

bool is_active(VmState s) {
  return s == VmState::Starting || s == VmState::Running || s == VmState::Stopping || s == VmState::Incoming;
}

VmState exit_state(bool signaled, int code, bool killed_by_fence, bool sent, bool stop_requested) {
  const bool exited_zero = !signaled && code == 0;
  if (sent && exited_zero) return VmState::Migrated;
  if (killed_by_fence) return VmState::Fenced;
  if (stop_requested) return VmState::Stopped;
  if (exited_zero) return VmState::PoweredOff;
  return VmState::Failed;
}

std::vector<ReconcileAction> reconcile(const std::map<std::string, Assigned>& assigned,
                                       const std::map<std::string, Present>& present) {
  std::vector<ReconcileAction> removes, restarts, adopts, sends, starts;
  for (const auto& [id, p] : present) {
    if (!p.from_etcd) continue;
    if (!assigned.count(id)) removes.push_back({ReconcileAction::Kind::Remove, id});
  }
  for (const auto& [id, a] : assigned) {
    auto it = present.find(id);
    if (it == present.end()) {
      starts.push_back({ReconcileAction::Kind::Start, id});
    } else if (it->second.generation != a.generation) {
      restarts.push_back({ReconcileAction::Kind::Restart, id});
    } else if (it->second.state == VmState::Fenced) {
      starts.push_back({ReconcileAction::Kind::Start, id});
    } else if (it->second.incoming && !a.incoming) {
      adopts.push_back({ReconcileAction::Kind::Adopt, id});
    } else if (!a.migrate_to.empty() && !it->second.incoming && it->second.state == VmState::Running &&
               it->second.sent_to != a.migrate_to) {
      sends.push_back({ReconcileAction::Kind::Send, id});
    }
  }
  std::vector<ReconcileAction> out = std::move(removes);
  out.insert(out.end(), restarts.begin(), restarts.end());
  out.insert(out.end(), adopts.begin(), adopts.end());
  out.insert(out.end(), sends.begin(), sends.end());
  out.insert(out.end(), starts.begin(), starts.end());
  return out;
}

} // namespace nimbus::cloud::host

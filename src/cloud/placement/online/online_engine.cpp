#include "cloud/placement/online/online_engine.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "cloud/placement/online/policy_score.hpp"

namespace nimbus::cloud::placement::online {

namespace {

constexpr HostId kNoHost = std::numeric_limits<HostId>::max();
// Buckets examined closely per decision, and hosts walked from each end of one bucket before
// moving on. Hosts in one bucket differ by less than one quantization step per dimension.
constexpr std::size_t kBucketsExamined = 8;
constexpr std::size_t kWalkPerEnd = 16;

void add_group(std::vector<GroupId>& groups, GroupId g) {
  if (g != kNoGroup && std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
}

} // namespace

OnlineEngine::OnlineEngine(const EngineConfig& config) : config_(config) {
  if (config_.dimensions == 0 || config_.dimensions > kMaxDimensions)
    throw PlacementError(fmt::format("dimensions must be between 1 and {}, got {}", kMaxDimensions,
                                     config_.dimensions));
  for (std::size_t d = 0; d < config_.dimensions; ++d) {
    const double r = config_.overcommit[d];
    if (!(r > 0.0) || !std::isfinite(r) || r > 1000.0)
      throw PlacementError(fmt::format("overcommit ratio of dimension {} must be in (0, 1000], got {}", d, r));
  }
  if (config_.index_levels == 0) config_.index_levels = FreeCapacityIndex::default_levels(config_.dimensions);
  if (config_.index_levels < 1 || config_.index_levels > 4096)
    throw PlacementError(fmt::format("index levels must be in 1..4096, got {}", config_.index_levels));
  for (std::size_t d = 0; d < config_.dimensions; ++d) reference_[d] = 1;
  rebuild_indexes();
}

ResourceVector OnlineEngine::usable_of(const HostSpec& spec) const {
  ResourceVector usable;
  for (std::size_t d = 0; d < config_.dimensions; ++d) {
    const double scaled = std::floor(static_cast<double>(spec.capacity[d]) * config_.overcommit[d]);
    usable[d] = static_cast<int64_t>(scaled) - spec.reserved[d];
  }
  return usable;
}

void OnlineEngine::validate_demand(const ResourceVector& demand) const {
  for (std::size_t d = 0; d < kMaxDimensions; ++d) {
    if (demand[d] < 0) throw PlacementError(fmt::format("demand of dimension {} is negative ({})", d, demand[d]));
    if (d >= config_.dimensions && demand[d] != 0)
      throw PlacementError(fmt::format("demand has a value in dimension {} but the engine has {} dimensions", d,
                                       config_.dimensions));
  }
}

void OnlineEngine::reserve_reference(const ResourceVector& usable_capacity) {
  bool grew = false;
  for (std::size_t d = 0; d < config_.dimensions; ++d) {
    if (usable_capacity[d] > reference_[d]) {
      reference_[d] = usable_capacity[d];
      grew = true;
    }
  }
  if (grew) rebuild_indexes();
}

void OnlineEngine::rebuild_indexes() {
  active_index_.configure(config_.dimensions, config_.index_levels, reference_);
  empty_index_.configure(config_.dimensions, config_.index_levels, reference_);
  for (HostId id = 0; id < hosts_.size(); ++id) reindex(id);
}

HostId OnlineEngine::add_host(const HostSpec& spec) {
  for (std::size_t d = 0; d < kMaxDimensions; ++d) {
    if (d < config_.dimensions) {
      if (spec.capacity[d] <= 0)
        throw PlacementError(fmt::format("host capacity of dimension {} must be positive, got {}", d, spec.capacity[d]));
      if (spec.reserved[d] < 0)
        throw PlacementError(fmt::format("host reserve of dimension {} is negative ({})", d, spec.reserved[d]));
    } else if (spec.capacity[d] != 0 || spec.reserved[d] != 0) {
      throw PlacementError(fmt::format("host has a value in dimension {} but the engine has {} dimensions", d,
                                       config_.dimensions));
    }
  }
  const ResourceVector usable = usable_of(spec);
  for (std::size_t d = 0; d < config_.dimensions; ++d)
    if (usable[d] < 0)
      throw PlacementError(fmt::format("host reserve of dimension {} ({}) exceeds its overcommitted capacity",
                                       d, spec.reserved[d]));
  if (hosts_.size() >= kNoHost) throw PlacementError("too many hosts");
  const HostId id = static_cast<HostId>(hosts_.size());
  HostState h;
  h.spec = spec;
  h.usable = usable;
  hosts_.push_back(std::move(h));
  ++fleet_version_;
  bool grew = false;
  for (std::size_t d = 0; d < config_.dimensions; ++d) grew = grew || usable[d] > reference_[d];
  if (grew) {
    reserve_reference(usable);
  } else {
    reindex(id);
  }
  return id;
}

const HostState& OnlineEngine::host(HostId id) const {
  if (id >= hosts_.size()) throw PlacementError(fmt::format("unknown host {}", id));
  return hosts_[id];
}

HostState& OnlineEngine::host_mut(HostId id) {
  if (id >= hosts_.size()) throw PlacementError(fmt::format("unknown host {}", id));
  return hosts_[id];
}

const VmRecord* OnlineEngine::find_vm(VmId id) const {
  auto it = vms_.find(id);
  return it == vms_.end() ? nullptr : &it->second;
}

void OnlineEngine::reindex(HostId id) {
  const HostState& h = hosts_[id];
  active_index_.erase(id);
  empty_index_.erase(id);
  if (h.status != HostStatus::Schedulable) return;
  (h.vms.empty() ? empty_index_ : active_index_).insert(id, h.free());
}

void OnlineEngine::cordon(HostId id) {
  HostState& h = host_mut(id);
  if (h.status == HostStatus::Removed) throw PlacementError(fmt::format("host {} was removed", id));
  if (h.status == HostStatus::Draining) return;
  h.status = HostStatus::Draining;
  ++fleet_version_;
  reindex(id);
}

void OnlineEngine::uncordon(HostId id) {
  HostState& h = host_mut(id);
  if (h.status == HostStatus::Removed) throw PlacementError(fmt::format("host {} was removed", id));
  if (h.status == HostStatus::Schedulable) return;
  h.status = HostStatus::Schedulable;
  ++fleet_version_;
  reindex(id);
}

bool OnlineEngine::admits(HostId id, const ResourceVector& demand, const std::vector<GroupId>& anti,
                          HostId exclude) const {
  if (id == exclude) return false;
  const HostState& h = hosts_[id];
  if (!demand.fits_in(h.free())) return false;
  for (const auto& [group, count] : h.anti_affinity_members)
    if (count > 0 && std::find(anti.begin(), anti.end(), group) != anti.end()) return false;
  return true;
}

double OnlineEngine::exact_score(HostId id, const ResourceVector& demand) const {
  const HostState& h = hosts_[id];
  const ResourceVector free = h.free();
  return policy_score(config_.policy, ScoreInputs{&free, &demand, &reference_, &h.usable, config_.dimensions});
}

std::optional<OnlineEngine::Candidate> OnlineEngine::search(const FreeCapacityIndex& index,
                                                            const ResourceVector& demand,
                                                            const std::vector<GroupId>& anti,
                                                            HostId exclude) const {
  index.candidate_buckets(demand, scratch_buckets_);
  if (scratch_buckets_.empty()) return std::nullopt;
  // Rank buckets by the policy's score at a representative point of their range.
  scratch_ranked_.clear();
  for (uint32_t b : scratch_buckets_) {
    const auto& bucket = index.bucket(b);
    ResourceVector rep;
    for (std::size_t d = 0; d < config_.dimensions; ++d) {
      const int64_t lo = std::max(bucket.low[d], demand[d]);
      const int64_t hi = std::max(lo, std::min(bucket.high[d], reference_[d]));
      rep[d] = lo + (hi - lo) / 2;
    }
    const double s =
        policy_score(config_.policy, ScoreInputs{&rep, &demand, &reference_, &reference_, config_.dimensions});
    scratch_ranked_.emplace_back(s, b);
  }
  const auto better = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  // Whole-range buckets first, then boundary ones; the best few of each kind in rank order.
  const auto boundary_begin = std::partition(scratch_ranked_.begin(), scratch_ranked_.end(), [&](const auto& r) {
    return demand.fits_in(index.bucket(r.second).low);
  });
  const auto top_of = [&](auto first, auto last) {
    const auto n = std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(kBucketsExamined), last - first);
    std::partial_sort(first, first + n, last, better);
  };
  top_of(scratch_ranked_.begin(), boundary_begin);
  top_of(boundary_begin, scratch_ranked_.end());

  std::optional<Candidate> best;
  const auto consider = [&](HostId id) {
    const double s = exact_score(id, demand);
    if (!best || s > best->score || (s == best->score && id < best->host)) best = Candidate{s, id};
  };
  // Look closely at the best-ranked buckets of two kinds: those whose whole range holds the
  // demand (their first host fits unless an anti-affinity peer sits there) and boundary buckets
  // (some hosts fit). Walks are bounded, so a decision costs the same on any fleet size.
  const auto examine = [&](auto first, auto last) {
    for (std::size_t i = 0; first != last && i < kBucketsExamined; ++first, ++i) {
      const auto& hosts = index.bucket(first->second).hosts;
      std::size_t walked = 0;
      for (auto front = hosts.begin(); front != hosts.end() && walked < kWalkPerEnd; ++front, ++walked) {
        if (admits(front->second, demand, anti, exclude)) {
          consider(front->second);
          break;
        }
      }
      walked = 0;
      for (auto back = hosts.rbegin(); back != hosts.rend() && walked < kWalkPerEnd; ++back, ++walked) {
        if (admits(back->second, demand, anti, exclude)) {
          consider(back->second);
          break;
        }
      }
    }
  };
  examine(scratch_ranked_.begin(), boundary_begin);
  examine(boundary_begin, scratch_ranked_.end());
  if (best) return best;
  // Rare: the closely examined buckets had no admissible host near their ends (boundary buckets,
  // anti-affinity peers). Walk every candidate bucket in rank order so a VM is rejected only
  // when no host can take it.
  std::sort(scratch_ranked_.begin(), scratch_ranked_.end(), better);
  for (const auto& [score, b] : scratch_ranked_) {
    for (const auto& [key, id] : index.bucket(b).hosts) {
      if (admits(id, demand, anti, exclude)) {
        consider(id);
        return best;
      }
    }
  }
  return std::nullopt;
}

std::optional<HostId> OnlineEngine::find_host(const ResourceVector& demand, const std::vector<GroupId>& anti,
                                              HostId exclude, bool allow_empty_hosts) const {
  std::optional<Candidate> active = search(active_index_, demand, anti, exclude);
  if (!allow_empty_hosts) return active ? std::optional<HostId>(active->host) : std::nullopt;
  if (active && prefers_active_hosts(config_.policy)) return active->host;
  std::optional<Candidate> empty = search(empty_index_, demand, anti, exclude);
  if (!active && !empty) return std::nullopt;
  if (!active) return empty->host;
  if (!empty) return active->host;
  return empty->score > active->score ? empty->host : active->host;
}

void OnlineEngine::attach(VmId vm, VmRecord& rec, HostId to) {
  HostState& h = hosts_[to];
  const bool was_empty = h.vms.empty();
  rec.host = to;
  rec.slot = static_cast<uint32_t>(h.vms.size());
  h.vms.push_back(vm);
  h.used += rec.demand;
  if (rec.anti_affinity_group != kNoGroup) {
    auto it = std::find_if(h.anti_affinity_members.begin(), h.anti_affinity_members.end(),
                           [&](const auto& p) { return p.first == rec.anti_affinity_group; });
    if (it == h.anti_affinity_members.end()) {
      h.anti_affinity_members.emplace_back(rec.anti_affinity_group, 1);
    } else {
      ++it->second;
    }
  }
  if (was_empty) ++active_hosts_;
  total_demand_ += rec.demand;
  reindex(to);
}

void OnlineEngine::detach(VmId vm, VmRecord& rec) {
  HostState& h = hosts_[rec.host];
  const VmId last = h.vms.back();
  h.vms[rec.slot] = last;
  vms_.at(last).slot = rec.slot;
  h.vms.pop_back();
  (void)vm;
  h.used -= rec.demand;
  if (rec.anti_affinity_group != kNoGroup) {
    auto it = std::find_if(h.anti_affinity_members.begin(), h.anti_affinity_members.end(),
                           [&](const auto& p) { return p.first == rec.anti_affinity_group; });
    if (it != h.anti_affinity_members.end() && --it->second == 0) {
      *it = h.anti_affinity_members.back();
      h.anti_affinity_members.pop_back();
    }
  }
  if (h.vms.empty()) --active_hosts_;
  total_demand_ -= rec.demand;
  reindex(rec.host);
}

PlacementDecision OnlineEngine::place(const VmRequest& request) {
  validate_demand(request.demand);
  if (vms_.count(request.id)) throw PlacementError(fmt::format("VM {} is already placed", request.id));
  std::vector<GroupId> anti;
  add_group(anti, request.anti_affinity_group);

  HostId target = kNoHost;
  if (request.affinity_group != kNoGroup) {
    auto it = affinity_.find(request.affinity_group);
    if (it != affinity_.end()) {
      const HostId group_host = it->second.first;
      if (hosts_[group_host].status != HostStatus::Schedulable)
        return PlacementDecision{false, group_host, RejectReason::AffinityHostDraining};
      if (!admits(group_host, request.demand, anti, kNoHost))
        return PlacementDecision{false, group_host, RejectReason::AffinityHostFull};
      target = group_host;
    }
  }
  if (target == kNoHost) {
    const std::optional<HostId> found = find_host(request.demand, anti, kNoHost);
    if (!found) return PlacementDecision{false, 0, RejectReason::NoCapacity};
    target = *found;
  }
  VmRecord& rec = vms_[request.id];
  rec.demand = request.demand;
  rec.affinity_group = request.affinity_group;
  rec.anti_affinity_group = request.anti_affinity_group;
  attach(request.id, rec, target);
  if (request.affinity_group != kNoGroup) {
    auto& [group_host, members] = affinity_[request.affinity_group];
    group_host = target;
    ++members;
  }
  return PlacementDecision{true, target, RejectReason::None};
}

bool OnlineEngine::seat(const VmRequest& request, HostId host) {
  validate_demand(request.demand);
  if (vms_.count(request.id)) throw PlacementError(fmt::format("VM {} is already placed", request.id));
  const HostState& h = this->host(host);
  if (h.status == HostStatus::Removed || !request.demand.fits_in(h.free())) return false;
  GroupId affinity = request.affinity_group;
  if (affinity != kNoGroup) {
    auto it = affinity_.find(affinity);
    if (it != affinity_.end() && it->second.first != host) affinity = kNoGroup;
  }
  VmRecord& rec = vms_[request.id];
  rec.demand = request.demand;
  rec.affinity_group = affinity;
  rec.anti_affinity_group = request.anti_affinity_group;
  attach(request.id, rec, host);
  if (affinity != kNoGroup) {
    auto& [group_host, members] = affinity_[affinity];
    group_host = host;
    ++members;
  }
  return true;
}

void OnlineEngine::release(VmId vm) {
  auto it = vms_.find(vm);
  if (it == vms_.end()) throw PlacementError(fmt::format("VM {} is not placed", vm));
  VmRecord rec = it->second;
  detach(vm, it->second);
  vms_.erase(it);
  if (rec.affinity_group != kNoGroup) {
    auto g = affinity_.find(rec.affinity_group);
    if (g != affinity_.end() && --g->second.second == 0) affinity_.erase(g);
  }
}

std::vector<MigrationUnit> OnlineEngine::migration_units(HostId id) const {
  const HostState& h = host(id);
  std::vector<MigrationUnit> units;
  std::vector<std::pair<GroupId, std::size_t>> group_unit;  // affinity group -> index in units
  for (VmId vm : h.vms) {
    const GroupId g = vms_.at(vm).affinity_group;
    if (g == kNoGroup) {
      units.push_back({vm});
      continue;
    }
    auto it = std::find_if(group_unit.begin(), group_unit.end(), [&](const auto& p) { return p.first == g; });
    if (it == group_unit.end()) {
      group_unit.emplace_back(g, units.size());
      units.push_back({vm});
    } else {
      units[it->second].push_back(vm);
    }
  }
  return units;
}

std::optional<HostId> OnlineEngine::find_host_for_unit(const MigrationUnit& unit, HostId exclude,
                                                       bool allow_empty_hosts) const {
  ResourceVector demand;
  std::vector<GroupId> anti;
  for (VmId vm : unit) {
    const VmRecord* rec = find_vm(vm);
    if (!rec) throw PlacementError(fmt::format("VM {} is not placed", vm));
    demand += rec->demand;
    add_group(anti, rec->anti_affinity_group);
  }
  return find_host(demand, anti, exclude, allow_empty_hosts);
}

void OnlineEngine::move_unit(const MigrationUnit& unit, HostId to) {
  HostState& target = host_mut(to);
  if (target.status == HostStatus::Removed) throw PlacementError(fmt::format("host {} was removed", to));
  ResourceVector demand;
  std::vector<GroupId> anti;
  for (VmId vm : unit) {
    const VmRecord* rec = find_vm(vm);
    if (!rec) throw PlacementError(fmt::format("VM {} is not placed", vm));
    if (rec->host == to) throw PlacementError(fmt::format("VM {} is already on host {}", vm, to));
    demand += rec->demand;
    add_group(anti, rec->anti_affinity_group);
  }
  if (!admits(to, demand, anti, kNoHost))
    throw PlacementError(fmt::format("host {} cannot take the migrating VMs", to));
  for (VmId vm : unit) {
    VmRecord& rec = vms_.at(vm);
    detach(vm, rec);
    attach(vm, rec, to);
    if (rec.affinity_group != kNoGroup) affinity_.at(rec.affinity_group).first = to;
  }
}

EvacuationOutcome OnlineEngine::evacuate(HostId id) {
  EvacuationOutcome out;
  for (const MigrationUnit& unit : migration_units(id)) {
    const std::optional<HostId> to = find_host_for_unit(unit, id);
    if (!to) {
      out.stranded.insert(out.stranded.end(), unit.begin(), unit.end());
      continue;
    }
    move_unit(unit, *to);
    for (VmId vm : unit) out.migrations.push_back(Migration{vm, id, *to});
  }
  return out;
}

EvacuationOutcome OnlineEngine::drain_host(HostId id) {
  cordon(id);
  return evacuate(id);
}

EvacuationOutcome OnlineEngine::remove_host(HostId id) {
  cordon(id);
  EvacuationOutcome out = evacuate(id);
  for (VmId vm : out.stranded) release(vm);
  hosts_[id].status = HostStatus::Removed;
  ++fleet_version_;
  return out;
}

} // namespace nimbus::cloud::placement::online

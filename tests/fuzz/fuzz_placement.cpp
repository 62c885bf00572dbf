// Fuzz target: the placement input formats: bpp, vbp and JSON instances
// (cloud/placement/instance_formats.hpp) and the online trace CSV (simulator/trace_csv.hpp).
//
// The first byte picks the reader; the rest is the file. Beyond "no crash":
//  - an instance reader either throws InputError naming the file, or returns an instance the
//    solvers can rely on: 1..4 dimensions with one name each, at least one host type, every
//    item non-zero, within kMaxQuantity, fitting at least one host type, at most kFuzzMaxItems items,
//    names empty or one per item;
//  - the trace reader either throws InputError, or returns events in time order whose amounts
//    have the trace's dimension count, and writing the trace out and reading it back gives the
//    same events (groups renumbered one for one), and text that is stable from then on.
#include <cstddef>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <string_view>

#include "cloud/placement/input_error.hpp"
#include "cloud/placement/instance.hpp"
#include "cloud/placement/instance_formats.hpp"
#include "cloud/placement/simulator/trace_csv.hpp"
#include "fuzz_support.hpp"

using namespace nimbus::cloud::placement;

namespace {

// Instances read here hold at most this many items (the readers' kMaxItems is 100 times more):
// 20 million named VMs take seconds and gigabytes to read under ASan, more than an input may
// (scripts/fuzz.sh: 10 s, 2 GiB), and the limit's own check is what is fuzzed either way.
constexpr std::size_t kFuzzMaxItems = 200'000;

void check_instance(const Instance& in) {
  FUZZ_CHECK(in.dimensions >= 1 && in.dimensions <= kMaxDimensions);
  FUZZ_CHECK(in.dimension_names.size() == in.dimensions);
  FUZZ_CHECK(!in.host_types.empty());
  FUZZ_CHECK(in.item_count() <= kFuzzMaxItems);
  FUZZ_CHECK(in.item_names.empty() || in.item_names.size() == in.item_count());
  for (const HostType& h : in.host_types) {
    FUZZ_CHECK(h.cost >= 0);
    for (size_t d = 0; d < kMaxDimensions; ++d)
      FUZZ_CHECK(h.capacity.v[d] >= 0 && h.capacity.v[d] <= kMaxQuantity && (d < in.dimensions || h.capacity.v[d] == 0));
  }
  for (const ResourceVector& demand : in.demands) {
    bool any = false;
    for (size_t d = 0; d < kMaxDimensions; ++d) {
      FUZZ_CHECK(demand.v[d] >= 0 && demand.v[d] <= kMaxQuantity && (d < in.dimensions || demand.v[d] == 0));
      any |= demand.v[d] > 0;
    }
    FUZZ_CHECK(any);
    FUZZ_CHECK(cheapest_fitting_host_type(in, demand) >= 0);
  }
}

void instance(std::string_view text, InstanceFormat format) {
  try {
    check_instance(read_instance_text(text, "fuzz.in", format, kFuzzMaxItems));
  } catch (const InputError& e) {
    FUZZ_CHECK(e.file() == "fuzz.in");
  }
}

void trace(std::string_view text) {
  namespace sim = simulator;
  sim::Trace t;
  try {
    t = sim::parse_trace_csv("fuzz.csv", text);
  } catch (const InputError& e) {
    FUZZ_CHECK(e.file() == "fuzz.csv");
    return;
  }
  for (size_t i = 0; i < t.events.size(); ++i) {
    FUZZ_CHECK(i == 0 || t.events[i - 1].time <= t.events[i].time);
    for (size_t d = t.dimensions; d < kMaxDimensions; ++d) FUZZ_CHECK(t.events[i].amount.v[d] == 0);
  }
  std::ostringstream first;
  sim::write_trace_csv(t, first);
  sim::Trace again;
  try {
    again = sim::parse_trace_csv("written.csv", first.str());
  } catch (const InputError& e) {
    std::fprintf(stderr, "write_trace_csv wrote what parse_trace_csv refuses: %s\n%s", e.what(), first.str().c_str());
    FUZZ_CHECK(false);
  }
  // The same events; group ids may be renumbered (the reader numbers groups in the order it
  // meets them, the writer puts aff: before anti:), but consistently, one for one.
  FUZZ_CHECK(again.dimensions == t.dimensions && again.events.size() == t.events.size());
  std::map<online::GroupId, online::GroupId> forward, backward;
  auto same_group = [&](online::GroupId a, online::GroupId b) {
    if ((a == online::kNoGroup) != (b == online::kNoGroup)) return false;
    return forward.emplace(a, b).first->second == b && backward.emplace(b, a).first->second == a;
  };
  for (size_t i = 0; i < t.events.size(); ++i) {
    const sim::TraceEvent &a = t.events[i], &b = again.events[i];
    FUZZ_CHECK(a.time == b.time && a.kind == b.kind && a.subject == b.subject);
    for (size_t d = 0; d < kMaxDimensions; ++d) FUZZ_CHECK(a.amount.v[d] == b.amount.v[d]);
    FUZZ_CHECK(same_group(a.affinity_group, b.affinity_group) && same_group(a.anti_affinity_group, b.anti_affinity_group));
  }
  // Written once more, the text is stable.
  std::ostringstream second;
  sim::write_trace_csv(again, second);
  const sim::Trace third = sim::parse_trace_csv("written.csv", second.str());
  std::ostringstream fourth;
  sim::write_trace_csv(third, fourth);
  FUZZ_CHECK(fourth.str() == second.str());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
  case 0: instance(text, InstanceFormat::Bpp); break;
  case 1: instance(text, InstanceFormat::Vbp); break;
  case 2: instance(text, InstanceFormat::Json); break;
  case 3: instance(text, InstanceFormat::Auto); break;
  default: trace(text); break;
  }
  return 0;
}

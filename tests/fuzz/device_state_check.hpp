#pragma once
// Checks every MMIO device fuzz target makes after its operations: the device's snapshot state
// restores into a fresh device and saves back to the same bytes, and reset() gives exactly the
// power-on state (the state a fresh device saves).
#include <cstdint>
#include <functional>
#include <vector>

#include "fuzz_support.hpp"
#include "machine/snapshot_format.hpp"

namespace nimbus::fuzz {

template <typename Device>
std::vector<uint8_t> saved(const Device& device) {
  machine::snapshot::Writer w;
  device.save_state(w);
  return w.take();
}

// `fresh` is a newly built device of the same configuration, modified by this check;
// `before_reset` puts the device's inputs back to their power-on levels.
template <typename Device>
void check_state_round_trip(Device& device, Device& fresh, const std::function<void()>& before_reset = {}) {
  const std::vector<uint8_t> power_on = saved(fresh);
  const std::vector<uint8_t> state = saved(device);
  machine::snapshot::Reader in(state, "fuzzed device");
  fresh.restore_state(in); // a state the device saved must restore
  in.expect_end();
  FUZZ_CHECK(saved(fresh) == state);
  if (before_reset) before_reset();
  device.reset();
  FUZZ_CHECK(saved(device) == power_on);
}

} // namespace nimbus::fuzz

#pragma once
// A VM's balloon as JSON, for the VMM's stats file and its control socket's `balloon` request
// (docs/board.md, "virtio-balloon"): the host's target, the driver's size, what was given back
// and the guest's last memory statistics.
#include <nlohmann/json.hpp>

#include "machine/devices/virtio_balloon.hpp"

namespace nimbus::hypervisor {

nlohmann::json balloon_to_json(const machine::VirtioBalloon& balloon);

// One line for people: "target 64 MiB, balloon 64 MiB (actual), 180 MiB given back ...".
std::string balloon_summary(const nlohmann::json& balloon);

} // namespace nimbus::hypervisor

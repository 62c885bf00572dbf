#pragma once
// The client side of a VMM's control socket (<state-dir>/<NAME>.control, hypervisor/vm_control.hpp),
// shared by `nimbus snapshot`, `nimbus balloon` and `nimbus migrate`: connect, send one request
// line, read one reply line ("ok ..." or "error ...").
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace nimbus::cli {

struct VmControlConnection {
  int fd = -1;          // -1: not connected; `error` says why and `exit_code` is the command's exit status
  std::string error;
  int exit_code = 0;    // 2: a path too long for a UNIX socket; 1: no running VM answers there
};

// Connects to the control socket of VM `vm` under `state_dir`.
VmControlConnection connect_vm_control(const std::filesystem::path& state_dir, const std::string& vm);

// Sends `request` (one line; the newline is added) and waits up to `timeout` for the reply line,
// returned without its newline. std::nullopt (and `error`) when sending failed; "" when the VMM
// closed the connection or stayed silent.
std::optional<std::string> send_control_request(int fd, const std::string& request, std::chrono::milliseconds timeout,
                                                std::string& error);

// A failed reply as a message: the text after "error ", or what happened.
std::string control_reply_error(const std::string& reply);

} // namespace nimbus::cli

#pragma once
// The VMM's control socket for one VM, <state-dir>/<name>.control (`nimbus snapshot NAME --to
// DIR` talks to it). One request per connection, one line each way:
//   "snapshot /absolute/dir\n"  ->  "ok <what was done>\n"  or  "error <why not>\n"
//   "balloon [target=BYTES]\n"  ->  "ok {JSON}\n" (the balloon's state; `nimbus balloon`)
// A thread accepts clients one at a time and hands each request line to the handler, which may
// block (a snapshot waits for the VM's next round boundary). Requests are untrusted: a line is
// at most kMaxRequest bytes and must arrive within a few seconds.
#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

namespace nimbus::hypervisor {

class VmControl {
public:
  static constexpr size_t kMaxRequest = 4096;
  // Returns the reply line without its newline ("ok ..." or "error ...").
  using Handler = std::function<std::string(const std::string& request)>;
  // A handler that may also receive a file descriptor the client passed with its request
  // (SCM_RIGHTS; `nimbus migrate` passes its connection to the destination, so the sandboxed
  // VMM never has to connect anywhere itself). `fd` is -1 without one; a handler that keeps it
  // sets it to -1, otherwise it is closed after the handler returns.
  using FdHandler = std::function<std::string(const std::string& request, int& fd)>;

  // Binds the socket (throws std::runtime_error: path too long, a live VMM serves the name).
  VmControl(std::filesystem::path socket_path, std::string vm_name, Handler handler);
  VmControl(std::filesystem::path socket_path, std::string vm_name, FdHandler handler);
  ~VmControl();   // close()
  VmControl(const VmControl&) = delete;
  VmControl& operator=(const VmControl&) = delete;

  // Stops the thread and removes the socket file.
  void close();

  static std::filesystem::path path(const std::filesystem::path& state_dir, const std::string& vm) {
    return state_dir / (vm + ".control");
  }

private:
  void serve();
  void serve_client(int fd);

  std::filesystem::path path_;
  std::string name_;
  FdHandler handler_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

} // namespace nimbus::hypervisor

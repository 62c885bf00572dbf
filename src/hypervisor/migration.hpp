#pragma once
// Live migration of a running VM (docs/migration.md, "Live migration"): pre-copy over one TCP
// connection carrying the frames of migration_stream.hpp.
//
// Source (send_vm, on the VMM's control thread while the VM runs on its worker):
//   HELLO (configuration) -> ACCEPT; dirty logging on; round 0 sends every touched non-zero
//   page; each further round takes the dirty log and sends what was written since, until what
//   is left fits the downtime target at the bandwidth measured so far. If the guest dirties
//   faster than the link copies, the VM is throttled through its scheduler cap (auto-converge);
//   after the timeout the migration gives up and the VM runs on here. Then, on the VM's own
//   thread at a round boundary (the VM is stopped): the last dirty pages, STATE, END ->
//   READY; the disk lock is released; GO -> STARTED, and this copy of the VM ends.
// Destination (Incoming): accept, HELLO, build the VM (unbooted, disk unlocked), ACCEPT,
//   PAGES... STATE END -> restore, READY; GO -> take the disk lock, STARTED, run.
//
// Failure safety: until the source sends GO, any failure (a refused or corrupt stream, a dead
// or silent destination, a timeout) leaves the VM running on the source and the destination
// exits without running it. GO is sent only after the disk lock is released, and the
// destination runs the VM only after it took the lock; if STARTED does not come back, the
// source tries to take the lock again: if it can, the destination is not running the VM (it
// would hold the lock) and the source resumes it; if it cannot, the destination runs it. A VM
// without a disk has no such arbiter: the source then keeps the VM stopped and writes a
// snapshot of it into the held directory, to be restored only if the destination does not run.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hypervisor/migration_stream.hpp"
#include "hypervisor/vm.hpp"
#include "hypervisor/vm_config.hpp"

namespace nimbus::hypervisor::migration {

class MigrationError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// A connected stream socket carrying frames, with a sequence number each way. Owns the fd.
class Channel {
public:
  explicit Channel(int fd);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Throws MigrationError when the peer is gone or does not take the bytes within `timeout`.
  void send(FrameType type, std::span<const uint8_t> payload = {},
            std::chrono::milliseconds timeout = std::chrono::seconds(30));
  struct Received {
    FrameType type{};
    std::vector<uint8_t> payload;
  };
  // The next frame within `timeout`. Throws StreamError (a bad frame, a sequence gap) or
  // MigrationError (closed, timeout, an ABORT from the peer with its reason).
  Received receive(std::chrono::milliseconds timeout);
  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t bytes_received() const { return bytes_received_; }

private:
  void read_exact(uint8_t* out, size_t len, std::chrono::steady_clock::time_point deadline);
  int fd_;
  uint32_t next_out_ = 0;
  uint32_t next_in_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
};

struct SendOptions {
  std::string destination;                                // for messages ("tcp:host:port")
  std::chrono::milliseconds max_downtime{300};
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};   // pre-copy gives up after this
  bool auto_converge = true;
  double max_bandwidth = 0;   // bytes per second the pages may take of the link; 0: no limit
  std::filesystem::path held_dir;                         // existing directory (no-disk ambiguity)
  std::function<void()> wake;                             // wakes the VM if it sleeps
  std::function<uint32_t(uint32_t)> set_cap;              // sets the VM's cap (percent), returns the old one
  std::function<void(const std::string&)> log;
  // --with-disk: copy the VM's disk image with it (a local disk: the destination writes it to
  // its own path, nimbus run --incoming-disk): every block in round 0, then the blocks written
  // since each round, the rest with the VM stopped.
  bool with_disk = false;
};

struct SendReport {
  uint32_t rounds = 0;              // pre-copy rounds, round 0 included, plus the final one
  uint64_t pages_sent = 0;          // page records (data and zero), all rounds
  uint64_t bytes_sent = 0;          // on the wire, frames and headers
  uint64_t final_pages = 0;         // sent while the VM was stopped
  uint32_t throttle_percent = 0;    // the last auto-converge cap (0: never throttled)
  double total_ms = 0;              // from HELLO to STARTED
  double downtime_ms = 0;           // VM stopped here until the destination said STARTED
  double expected_downtime_ms = 0;  // the estimate that ended pre-copy
  uint64_t disk_blocks_sent = 0;    // --with-disk: 4 KiB disk block records, all rounds
  uint64_t final_disk_blocks = 0;   // of those, sent while the VM was stopped
  std::string summary() const;
  std::string json() const;
};

// Migrates `vm` (which must be running, in a mode with dirty logging) over the connected socket
// `fd` (taken over). On success the VM has State::migrated. Throws MigrationError when the
// migration failed and the VM runs on here, or, after a lost hand-off of a VM without a disk,
// when it is held stopped (the message says which).
SendReport send_vm(Vm& vm, int fd, const SendOptions& options);

// The destination's side.
class Incoming {
public:
  // Takes over a connected socket.
  explicit Incoming(int fd);
  // Reads HELLO (within `timeout`): the VM's configuration. Throws StreamError/MigrationError.
  const Hello& hello(std::chrono::milliseconds timeout);
  // After hello(), for a source that copies its disk (nimbus migrate --with-disk): reads
  // DISK_INFO and creates `path` (which must not exist, or be empty) as a sparse file of the
  // disk's size, locked until the hand-off; the VM is then built with `path` as its disk.
  // Returns the disk's size. Throws StreamError/MigrationError (a source that does not copy its
  // disk sends no DISK_INFO: the wait ends after `timeout`) or std::runtime_error for the file.
  uint64_t expect_disk(const std::filesystem::path& path, std::chrono::milliseconds timeout);
  ~Incoming();
  // Tells the source this VMM cannot take the VM (best effort).
  void refuse(const std::string& reason);
  struct Report {
    uint64_t pages = 0;
    uint32_t rounds = 0;
    uint64_t bytes = 0;
    uint64_t disk_blocks = 0;   // --with-disk: block records written to the disk copy
  };
  // With `vm` built from hello().config with VmOptions::incoming: receives memory and state,
  // takes the disk lock at the hand-off. When it returns the VM is this VMM's to run; when it
  // throws, the VM must not run (the source keeps it) and the caller ends it.
  Report receive(Vm& vm, std::chrono::milliseconds idle_timeout = std::chrono::seconds(60));

private:
  void drop_disk(bool remove);
  Channel channel_;
  std::optional<Hello> hello_;
  int disk_fd_ = -1;                 // --incoming-disk: the copy being written
  std::filesystem::path disk_path_;
  uint64_t disk_bytes_ = 0;
};

// "tcp:HOST:PORT" -> host and port. Throws std::invalid_argument with a message for the user.
struct TcpAddress {
  std::string host;
  uint16_t port = 0;
};
TcpAddress parse_tcp_address(const std::string& text);
// The HOST:PORT after the 4-character scheme of `text` ("tcp:", "tls:"), `form` naming the
// accepted forms in the error. Shared by parse_tcp_address and the CLI's tls: addresses.
TcpAddress parse_host_port(const std::string& text, std::string_view form);

} // namespace nimbus::hypervisor::migration

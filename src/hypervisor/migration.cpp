#include "hypervisor/migration.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>

#include "hypervisor/auto_converge.hpp"
#include "machine/clock.hpp"

namespace nimbus::hypervisor::migration {

namespace {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::duration<double, std::milli>;

int poll_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 1000));
}

int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

bool page_is_zero(const uint8_t* page) {
  uint64_t acc = 0;
  for (size_t i = 0; i < kPageSize; i += 64) {
    uint64_t words[8];
    std::memcpy(words, page + i, 64);
    for (uint64_t w : words) acc |= w;
    if (acc != 0) return false;
  }
  return true;
}

} // namespace

// ---- Channel

Channel::Channel(int fd) : fd_(fd) {}

Channel::~Channel() {
  if (fd_ >= 0) ::close(fd_);
}

void Channel::send(FrameType type, std::span<const uint8_t> payload, std::chrono::milliseconds timeout) {
  const std::vector<uint8_t> frame = encode_frame(type, next_out_, payload);
  const auto deadline = Clock::now() + timeout;
  size_t done = 0;
  while (done < frame.size()) {
    const ssize_t n = ::send(fd_, frame.data() + done, frame.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (Clock::now() >= deadline)
        throw MigrationError(fmt::format("the other side took no data for {} ms (sending {})", timeout.count(), to_string(type)));
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, poll_ms(deadline));
      continue;
    }
    throw MigrationError(fmt::format("connection lost while sending {}: {}", to_string(type),
                                     n < 0 ? std::strerror(errno) : "closed"));
  }
  ++next_out_;
  bytes_sent_ += frame.size();
}

void Channel::read_exact(uint8_t* out, size_t len, Clock::time_point deadline) {
  size_t done = 0;
  while (done < len) {
    const ssize_t n = ::recv(fd_, out + done, len - done, MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) throw MigrationError(done == 0 ? "the other side closed the connection" : "the stream ended inside a frame (truncated)");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) throw MigrationError(fmt::format("connection lost: {}", std::strerror(errno)));
    if (Clock::now() >= deadline) throw MigrationError("timed out waiting for the other side");
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, poll_ms(deadline));
  }
  bytes_received_ += len;
}

Channel::Received Channel::receive(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  uint8_t header_bytes[kHeaderSize];
  read_exact(header_bytes, kHeaderSize, deadline);
  const FrameHeader header = decode_header(header_bytes);
  if (header.sequence != next_in_)
    throw StreamError(fmt::format("{} frame numbered {} where frame {} was due (lost, repeated or injected frames)",
                                  to_string(header.type), header.sequence, next_in_));
  Received received;
  received.type = header.type;
  received.payload.resize(header.length);   // bounded by max_payload(type)
  read_exact(received.payload.data(), header.length, deadline);
  check_payload(header, received.payload);
  ++next_in_;
  if (received.type == FrameType::abort || received.type == FrameType::refuse)
    throw MigrationError(fmt::format("the other side {}: {}", received.type == FrameType::abort ? "aborted" : "refused",
                                     decode_reason(received.payload)));
  return received;
}

// ---- the source

namespace {

// Runs `work` on the VM's thread at its next round boundary and waits for it. A work that has
// not begun when the wait for the boundary ends (`timeout`, or the VM stopped) never runs: the
// caller reports what happened and a late run cannot contradict it (a round's work may stop the
// VM and hand it over). Once begun, the work is waited for to its end (its own frames have
// timeouts), so the caller always learns what it did.
template <typename R>
R on_vm_thread(Vm& vm, const SendOptions& options, std::function<R()> work,
               std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  enum : int { queued, begun, abandoned };
  auto promise = std::make_shared<std::promise<R>>();
  auto future = promise->get_future();
  auto stage = std::make_shared<std::atomic<int>>(queued);
  vm.run_at_boundary([promise, stage, work = std::move(work)] {
    int expected = queued;
    if (!stage->compare_exchange_strong(expected, begun)) return;   // the waiter gave up on it
    try {
      if constexpr (std::is_void_v<R>) {
        work();
        promise->set_value();
      } else {
        promise->set_value(work());
      }
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  });
  if (options.wake) options.wake();
  const auto deadline = Clock::now() + timeout;
  auto give_up = [&](const std::string& why) {
    int expected = queued;
    if (stage->compare_exchange_strong(expected, abandoned)) throw MigrationError(why);
  };
  while (future.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
    if (stage->load(std::memory_order_acquire) == begun) continue;   // running: wait for its end
    if (vm.state() != Vm::State::running) give_up(fmt::format("VM '{}' stopped during the migration", vm.name()));
    else if (Clock::now() > deadline) give_up("the VM did not reach a round boundary in time");
    else if (options.wake) options.wake();
  }
  return future.get();
}

struct Sender {
  Vm& vm;
  const SendOptions& options;
  Channel channel;
  SendReport report;
  uint64_t ram_pages;
  uint32_t round = 0;
  double max_bandwidth = 0;   // 0 while the VM is stopped

  Sender(Vm& v, int fd, const SendOptions& o)
      : vm(v), options(o), channel(fd), ram_pages(v.config().memory_bytes / kPageSize), max_bandwidth(o.max_bandwidth) {}

  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  // Sends, as `type` frames, one record per set bit of `bits` below `limit`; `bytes(index)`
  // gives the record's 4 KiB (nullptr: skip it, never written). A record of zeros is skipped in
  // round 0 (the destination starts zeroed) and sent as a zero record later. Keeps to
  // --max-bandwidth while the VM runs. Returns the records sent.
  template <class Bytes>
  uint64_t send_records(FrameType type, const std::vector<uint64_t>& bits, uint64_t limit, bool first_round, Bytes bytes) {
    PageBatchWriter batch(round);
    uint64_t sent = 0;
    const auto began = Clock::now();
    const uint64_t bytes_before = channel.bytes_sent();
    auto flush = [&] {
      if (batch.count() == 0) return;
      sent += batch.count();
      const std::vector<uint8_t> payload = batch.take();
      channel.send(type, payload);
      // --max-bandwidth: never ahead of the allowed rate (not while the VM is stopped).
      if (max_bandwidth > 0) {
        const auto due = began + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                     static_cast<double>(channel.bytes_sent() - bytes_before) / max_bandwidth));
        std::this_thread::sleep_until(due);
      }
    };
    for (uint64_t word = 0; word < bits.size(); ++word) {
      uint64_t w = bits[word];
      while (w != 0) {
        const uint64_t index = word * 64 + static_cast<uint64_t>(std::countr_zero(w));
        w &= w - 1;
        if (index >= limit) break;
        const uint8_t* data = bytes(index);
        if (data == nullptr) continue;
        const bool zero = page_is_zero(data);
        if (zero && first_round) continue;
        batch.add(index, zero ? nullptr : data);
        if (batch.full()) flush();
      }
    }
    flush();
    return sent;
  }

  // The RAM pages of `bits` (4 KiB pages from the start of RAM).
  uint64_t send_pages(const std::vector<uint64_t>& bits, bool first_round) {
    GuestMemory& memory = vm.memory();
    const uint64_t sent = send_records(FrameType::pages, bits, ram_pages, first_round, [&](uint64_t page) {
      // Never touched: zeros on both sides (a frame appears only on first touch, which the log
      // sees as a write if it is one).
      return memory.page_backed(page) ? memory.page_bytes(page) : nullptr;
    });
    report.pages_sent += sent;
    return sent;
  }

  std::vector<uint64_t> all_pages() const {
    std::vector<uint64_t> bits((ram_pages + 63) / 64, ~uint64_t{0});
    if (ram_pages % 64) bits.back() = (uint64_t{1} << (ram_pages % 64)) - 1;
    return bits;
  }

  // --with-disk: the image (read with pread on the device's own descriptor while the guest
  // writes it: a block written during its read is marked again and goes in a later round).
  int disk_fd = -1;
  uint64_t disk_bytes = 0;
  uint64_t disk_block_count = 0;

  // The disk blocks of `bits` (the copy starts as a sparse file of zeros at the destination).
  uint64_t send_disk(const std::vector<uint64_t>& bits, bool first_round) {
    std::array<uint8_t, kDiskBlock> block{};
    const uint64_t sent = send_records(FrameType::disk, bits, disk_block_count, first_round, [&](uint64_t index) {
      const uint64_t offset = index * kDiskBlock;
      const uint64_t length = std::min<uint64_t>(kDiskBlock, disk_bytes - offset);
      block.fill(0);
      uint64_t done = 0;
      while (done < length) {
        const ssize_t n = ::pread(disk_fd, block.data() + done, length - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw MigrationError(fmt::format("reading the disk image at byte {}: {}", offset + done, std::strerror(errno)));
        if (n == 0) break;   // the image is shorter than its capacity: zeros
        done += static_cast<uint64_t>(n);
      }
      return static_cast<const uint8_t*>(block.data());
    });
    report.disk_blocks_sent += sent;
    return sent;
  }

  // Round 0 of the disk: the blocks that hold data (SEEK_DATA skips the image's holes).
  std::vector<uint64_t> disk_data_blocks() const {
    std::vector<uint64_t> bits((disk_block_count + 63) / 64, 0);
    auto mark = [&](uint64_t from, uint64_t to) {
      for (uint64_t b = from / kDiskBlock; b < disk_block_count && b * kDiskBlock < to; ++b) bits[b / 64] |= uint64_t{1} << (b % 64);
    };
    off_t at = 0;
    while (static_cast<uint64_t>(at) < disk_bytes) {
      const off_t data = ::lseek(disk_fd, at, SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break;   // no data after `at`
        mark(static_cast<uint64_t>(at), disk_bytes);   // no SEEK_DATA here: everything
        break;
      }
      off_t hole = ::lseek(disk_fd, data, SEEK_HOLE);
      if (hole < 0) hole = static_cast<off_t>(disk_bytes);
      mark(static_cast<uint64_t>(data), static_cast<uint64_t>(hole));
      at = hole;
    }
    return bits;
  }
};

uint64_t count_bits(const std::vector<uint64_t>& bits) {
  uint64_t n = 0;
  for (uint64_t w : bits) n += static_cast<uint64_t>(std::popcount(w));
  return n;
}

} // namespace

std::string SendReport::summary() const {
  return fmt::format("{} rounds, {} pages ({} MiB on the wire), {} pages with the VM stopped, downtime {:.1f} ms "
                     "(estimated {:.1f} ms), total {:.0f} ms{}",
                     rounds, pages_sent, bytes_sent >> 20, final_pages, downtime_ms, expected_downtime_ms, total_ms,
                     throttle_percent ? fmt::format(", throttled to {} %", throttle_percent) : std::string()) +
         (disk_blocks_sent ? fmt::format("; disk copied: {} blocks of 4 KiB, {} with the VM stopped", disk_blocks_sent,
                                         final_disk_blocks)
                           : std::string());
}

std::string SendReport::json() const {
  return fmt::format("{{\"rounds\": {}, \"pages_sent\": {}, \"bytes_sent\": {}, \"final_pages\": {}, "
                     "\"throttle_percent\": {}, \"total_ms\": {:.3f}, \"downtime_ms\": {:.3f}, "
                     "\"expected_downtime_ms\": {:.3f}, \"disk_blocks_sent\": {}, \"final_disk_blocks\": {}}}",
                     rounds, pages_sent, bytes_sent, final_pages, throttle_percent, total_ms, downtime_ms,
                     expected_downtime_ms, disk_blocks_sent, final_disk_blocks);
}

SendReport send_vm(Vm& vm, int fd, const SendOptions& options) {
  const auto began = Clock::now();
  if (vm.state() != Vm::State::running) {
    ::close(fd);
    throw MigrationError(fmt::format("VM '{}' is not running", vm.name()));
  }
  if (!vm.dirty_logging_supported()) {
    ::close(fd);
    throw MigrationError(fmt::format("live migration is not supported in {} mode: its vCPUs do not track dirty pages",
                                     to_string(vm.config().mode)));
  }
  if (options.with_disk && vm.disk() == nullptr) {
    ::close(fd);
    throw MigrationError(fmt::format("--with-disk: VM '{}' has no disk", vm.name()));
  }
  auto sender = std::make_shared<Sender>(vm, fd, options);
  Sender& s = *sender;
  if (options.with_disk) {
    s.disk_fd = vm.disk()->image_fd();
    s.disk_bytes = vm.disk()->capacity_bytes();
    s.disk_block_count = disk_blocks(s.disk_bytes);
  }
  bool logging = false;
  // Auto-converge: the VM's share before it is throttled is its own cap, or a whole host hart per
  // vCPU; it is never cut below its reservation (the scheduler refuses that) or 1 %.
  const VmConfig& shape = vm.config();
  AutoConverge converge(shape.cap_percent != 0 ? shape.cap_percent : 100 * shape.vcpus,
                        std::max<uint32_t>(shape.reservation_percent, 1));
  uint32_t original_cap = 0;
  bool throttled = false;
  bool throttle_stuck = false;   // the scheduler refused a cut: leave the share as it is
  auto throttle = [&](uint32_t percent, uint64_t dirtied) {
    try {
      const uint32_t old = options.set_cap(percent);
      if (!throttled) {
        original_cap = old;
        throttled = true;
        // The scheduler held a lower cap than assumed (the configuration's is clamped to what
        // the host gives a VM): cut from that one instead, never above it.
        if (old != 0 && old < converge.full()) {
          percent = converge.rebase(old);
          options.set_cap(percent);
        }
      }
    } catch (const std::exception& error) {
      throttle_stuck = true;
      s.log(fmt::format("migration of VM '{}': cannot throttle it further: {}", vm.name(), error.what()));
      return;
    }
    s.report.throttle_percent = percent;
    s.log(fmt::format("migration of VM '{}': {} pages dirtied in round {}, throttling it to {} % of a hart", vm.name(),
                      dirtied, s.round, percent));
  };
  // Any failure before the hand-off: the VM runs on here, unthrottled, without the log.
  auto undo = [&] {
    if (throttled && options.set_cap) {
      try {
        options.set_cap(original_cap);
      } catch (const std::exception&) {
      }
    }
    throttled = false;
    if (logging) {
      try {
        on_vm_thread<void>(vm, options, [&vm, disk = options.with_disk] {
          vm.stop_dirty_log();
          if (disk) vm.stop_disk_log();
        });
      } catch (const std::exception&) {
      }
      logging = false;
    }
  };
  try {
    s.channel.send(FrameType::hello, encode_hello(vm.config()));
    if (options.with_disk) s.channel.send(FrameType::disk_info, encode_disk_info(s.disk_bytes));
    const auto accepted = s.channel.receive(std::chrono::seconds(30));
    if (accepted.type != FrameType::accept)
      throw StreamError(fmt::format("expected ACCEPT, the destination sent {}", to_string(accepted.type)));

    on_vm_thread<void>(vm, options, [&vm, disk = options.with_disk] {
      vm.start_dirty_log();
      if (disk) vm.start_disk_log();
    });
    logging = true;

    // Round 0: everything the VM has touched (and the disk's data blocks).
    auto round_began = Clock::now();
    uint64_t bytes_before = s.channel.bytes_sent();
    s.send_pages(s.all_pages(), true);
    if (options.with_disk) s.send_disk(s.disk_data_blocks(), true);
    double bandwidth = 0;   // bytes per second, of the last round
    auto measure = [&] {
      const double seconds = std::chrono::duration<double>(Clock::now() - round_began).count();
      const uint64_t bytes = s.channel.bytes_sent() - bytes_before;
      if (bytes >= (256u << 10) && seconds > 0) bandwidth = static_cast<double>(bytes) / seconds;
      else if (bandwidth == 0) bandwidth = 200e6;   // too little sent to tell: a modest guess
    };
    measure();
    ++s.round;

    // Stop-and-copy, on the VM's thread: the VM is stopped while this runs. `carried` and
    // `carried_disk`: what the last take found, not sent yet.
    struct Outcome {
      bool migrated = false;
      bool held = false;
      std::string message;
    };
    const std::string destination = options.destination;
    const std::filesystem::path held_dir = options.held_dir;
    const bool with_disk = options.with_disk;
    auto stop_and_copy = [sender, destination, held_dir, began, with_disk](const std::vector<uint64_t>& carried,
                                                                           const std::vector<uint64_t>& carried_disk) {
      Sender& out = *sender;
      Vm& stopped = out.vm;
      const auto paused = Clock::now();
      const int64_t paused_realtime = realtime_ns();
      out.max_bandwidth = 0;   // the VM is stopped: as fast as the link goes
      // The state (its clock reading above all) as of the stop: the destination adds the real
      // time since paused_realtime, the page copy below included.
      const auto sections = stopped.save_state_sections();
      if (with_disk) {
        // No request is in flight at a round boundary: every block the guest wrote is in the
        // image and marked.
        std::vector<uint64_t> blocks = stopped.take_disk_log();
        for (size_t i = 0; i < blocks.size() && i < carried_disk.size(); ++i) blocks[i] |= carried_disk[i];
        out.report.final_disk_blocks = out.send_disk(blocks, false);
        out.channel.send(FrameType::disk_end, encode_disk_end(out.report.disk_blocks_sent));
      }
      std::vector<uint64_t> bits = stopped.take_dirty_log();
      for (size_t i = 0; i < bits.size() && i < carried.size(); ++i) bits[i] |= carried[i];
      out.report.final_pages = out.send_pages(bits, false);
      ++out.round;
      out.channel.send(FrameType::state, encode_state(paused_realtime, sections, snapshot_format_version(stopped.config())));
      out.channel.send(FrameType::end, encode_end(EndMessage{out.report.pages_sent, out.round}));
      const auto ready = out.channel.receive(std::chrono::seconds(30));
      if (ready.type != FrameType::ready)
        throw StreamError(fmt::format("expected READY, the destination sent {}", to_string(ready.type)));
      // The point of no return: the disk is released, then GO. A disk copied with the VM is
      // another file on the destination: its lock cannot arbitrate a lost STARTED, so such a VM
      // is handled as one without a disk (held stopped, with a snapshot).
      machine::VirtioBlock* disk = with_disk ? nullptr : stopped.disk();
      if (disk != nullptr) disk->unlock();
      try {
        out.channel.send(FrameType::go);
      } catch (const std::exception&) {
        // GO never left: the destination cannot run the VM.
        if (disk != nullptr) disk->lock();
        throw;
      }
      Outcome result;
      try {
        const auto started = out.channel.receive(std::chrono::seconds(30));
        if (started.type != FrameType::started)
          throw StreamError(fmt::format("expected STARTED, the destination sent {}", to_string(started.type)));
      } catch (const std::exception& error) {
        if (disk != nullptr) {
          try {
            disk->lock();
          } catch (const std::exception&) {
            // The destination holds the disk: it runs the VM.
            result.migrated = true;
            result.message = fmt::format("the destination's STARTED was lost ({}) but it holds the disk: the VM runs there",
                                         error.what());
          }
          if (!result.migrated)
            throw MigrationError(fmt::format("no STARTED from the destination ({}); the disk lock came back: the VM "
                                             "runs on here",
                                             error.what()));
        } else {
          // No arbiter: keep the VM stopped, and not lost.
          result.held = true;
          std::string saved;
          try {
            stopped.save_snapshot(held_dir);
            saved = fmt::format("a snapshot of it is in {}: restore it (nimbus run --restore {}) only if the "
                                "destination does not run it",
                                held_dir.string(), held_dir.string());
          } catch (const std::exception& snap_error) {
            saved = fmt::format("its snapshot into {} failed too: {}", held_dir.string(), snap_error.what());
          }
          result.message = fmt::format("no STARTED from the destination after GO ({}): the VM may run there; it is "
                                       "stopped here and {}",
                                       error.what(), saved);
          stopped.migrated_away("migration hand-off unacknowledged: " + result.message);
          return result;
        }
      }
      const auto now = Clock::now();
      out.report.downtime_ms = Ms(now - paused).count();
      out.report.total_ms = Ms(now - began).count();
      out.report.rounds = out.round;
      out.report.bytes_sent = out.channel.bytes_sent();
      stopped.stop_dirty_log();
      if (with_disk) stopped.stop_disk_log();
      stopped.migrated_away(fmt::format("migrated to {}", destination));
      result.migrated = true;
      return result;
    };

    // Each round takes the logs on the VM's thread and, when what they hold fits the downtime
    // target, stops the VM right there: the pages the estimate counted are the pages the final
    // copy sends (a throttled guest that waited out its cap during the round would otherwise
    // run its next slice between the take and the stop and dirty far more than was estimated).
    struct Round {
      std::vector<uint64_t> dirty, dirty_disk;
      uint64_t pages = 0;
      double expected = 0;   // seconds
      std::optional<Outcome> outcome;   // set when the VM stopped and moved (or is held)
    };
    uint64_t last_sent = 0;
    const double max_downtime_s = std::chrono::duration<double>(options.max_downtime).count();
    Outcome outcome;
    for (;;) {
      const uint32_t round = s.round;
      Round taken = on_vm_thread<Round>(
          vm, options,
          [sender, stop_and_copy, with_disk, bandwidth, last_sent, round, max_downtime_s] {
            Vm& v = sender->vm;
            Round r;
            r.dirty = v.take_dirty_log();
            if (with_disk) r.dirty_disk = v.take_disk_log();
            // Disk blocks count as pages: both are 4 KiB records.
            r.pages = count_bits(r.dirty) + count_bits(r.dirty_disk);
            // What the stop-and-copy would cost now: the pages at the measured bandwidth, plus a
            // fixed allowance for the state, the hand-off round trips and the destination's restore.
            r.expected = static_cast<double>(r.pages * (kPageSize + 9)) / bandwidth + 0.005;
            // Within the target: stop, unless another round still pays off (the dirty set more
            // than halved since the last round and is over 1 MiB), for a shorter downtime.
            const bool shrinking = last_sent != 0 && r.pages * 2 < last_sent && r.pages > 256 && round < 8;
            if (r.expected <= max_downtime_s && !shrinking) {
              sender->report.expected_downtime_ms = r.expected * 1000;
              r.outcome = stop_and_copy(r.dirty, r.dirty_disk);
            }
            return r;
          });
      if (taken.outcome) {
        outcome = std::move(*taken.outcome);
        break;
      }
      const uint64_t pages = taken.pages;
      if (Clock::now() - began > options.timeout) {
        throw MigrationError(fmt::format("did not converge within {} s ({} pages still dirty after {} rounds, about "
                                         "{:.0f} ms to copy at {:.0f} MB/s, the target is {} ms)",
                                         std::chrono::duration<double>(options.timeout).count(), pages, s.round,
                                         taken.expected * 1000, bandwidth / 1e6, options.max_downtime.count()));
      }
      // Auto-converge (auto_converge.hpp): the guest dirtied more than half of what the last
      // round copied: after two such rounds, and every one after, cut its share of the host.
      if (options.auto_converge && options.set_cap && !throttle_stuck)
        if (const auto next = converge.after_round(pages, last_sent)) throttle(*next, pages);
      round_began = Clock::now();
      bytes_before = s.channel.bytes_sent();
      last_sent = s.send_pages(taken.dirty, false);
      if (options.with_disk) last_sent += s.send_disk(taken.dirty_disk, false);
      measure();
      ++s.round;
    }
    if (outcome.held) throw MigrationError(outcome.message);
    if (!outcome.message.empty()) s.log(fmt::format("migration of VM '{}': {}", vm.name(), outcome.message));
    return s.report;
  } catch (const std::exception& error) {
    if (vm.state() == Vm::State::migrated) throw MigrationError(error.what());
    try {
      s.channel.send(FrameType::abort, encode_reason(error.what()), std::chrono::milliseconds(200));
    } catch (const std::exception&) {
    }
    undo();
    if (vm.state() != Vm::State::running)
      throw MigrationError(fmt::format("{} ({}); it did not move", error.what(), vm.reason()));
    throw MigrationError(fmt::format("{}; VM '{}' runs on here", error.what(), vm.name()));
  }
}

// ---- the destination

Incoming::Incoming(int fd) : channel_(fd) {}

Incoming::~Incoming() { drop_disk(false); }

void Incoming::drop_disk(bool remove) {
  if (disk_fd_ >= 0) {
    ::close(disk_fd_);   // and its lock
    disk_fd_ = -1;
    if (remove) ::unlink(disk_path_.c_str());
  }
}

uint64_t Incoming::expect_disk(const std::filesystem::path& path, std::chrono::milliseconds timeout) {
  if (!hello_) throw std::logic_error("Incoming::expect_disk before hello");
  Channel::Received frame;
  try {
    frame = channel_.receive(timeout);
  } catch (const MigrationError& error) {
    throw MigrationError(fmt::format("no DISK_INFO from the source ({}): with --incoming-disk the source must copy "
                                     "its disk (nimbus migrate --with-disk)",
                                     error.what()));
  }
  if (frame.type != FrameType::disk_info)
    throw StreamError(fmt::format("{} frame where DISK_INFO was due: with --incoming-disk the source must copy its "
                                  "disk (nimbus migrate --with-disk)",
                                  to_string(frame.type)));
  const uint64_t bytes = decode_disk_info(frame.payload);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw std::runtime_error(fmt::format("--incoming-disk {}: {}", path.string(), std::strerror(errno)));
  try {
    machine::lock_disk_image(fd, path.string(), false);   // e.g. the source's own image on this host
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
      throw std::runtime_error(fmt::format("--incoming-disk {}: not a regular file", path.string()));
    if (st.st_size != 0)
      throw std::runtime_error(fmt::format("--incoming-disk {}: the file exists and is not empty; give a new path "
                                           "(the copied disk is written there)",
                                           path.string()));
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0)
      throw std::runtime_error(fmt::format("--incoming-disk {}: cannot make it {} bytes: {}", path.string(), bytes,
                                           std::strerror(errno)));
  } catch (...) {
    ::close(fd);
    throw;
  }
  disk_fd_ = fd;
  disk_path_ = path;
  disk_bytes_ = bytes;
  return bytes;
}

const Hello& Incoming::hello(std::chrono::milliseconds timeout) {
  if (!hello_) {
    const auto frame = channel_.receive(timeout);
    if (frame.type != FrameType::hello)
      throw StreamError(fmt::format("the stream starts with {}, not HELLO", to_string(frame.type)));
    hello_ = decode_hello(frame.payload);
  }
  return *hello_;
}

void Incoming::refuse(const std::string& reason) {
  try {
    channel_.send(FrameType::refuse, encode_reason(reason), std::chrono::milliseconds(500));
  } catch (const std::exception&) {
  }
}

Incoming::Report Incoming::receive(Vm& vm, std::chrono::milliseconds idle_timeout) {
  if (!hello_) throw std::logic_error("Incoming::receive before hello");
  Report report;
  try {
    channel_.send(FrameType::accept);
    const uint64_t ram_pages = hello_->ram_size / kPageSize;
    GuestMemory& memory = vm.memory();
    std::optional<StateMessage> state;
    uint32_t last_round = 0;
    static const std::array<uint8_t, kPageSize> zeros{};
    const uint64_t disk_block_count = disk_fd_ >= 0 ? disk_blocks(disk_bytes_) : 0;
    bool disk_done = disk_fd_ < 0;
    for (;;) {
      auto frame = channel_.receive(idle_timeout);
      if (frame.type == FrameType::disk_info && disk_fd_ < 0) {
        throw MigrationError("the source copies its disk (nimbus migrate --with-disk): start the destination with "
                             "nimbus run --incoming ADDRESS --incoming-disk PATH");
      } else if (frame.type == FrameType::disk && !disk_done) {
        const PageBatch batch = decode_pages(frame.payload, disk_block_count);
        for (const auto& block : batch.pages) {
          const uint64_t offset = block.page * kDiskBlock;
          const uint64_t length = std::min<uint64_t>(kDiskBlock, disk_bytes_ - offset);
          const uint8_t* data = block.data.empty() ? zeros.data() : block.data.data();
          uint64_t done = 0;
          while (done < length) {
            const ssize_t n = ::pwrite(disk_fd_, data + done, length - done, static_cast<off_t>(offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0)
              throw MigrationError(fmt::format("writing the disk copy {} at byte {}: {}", disk_path_.string(),
                                               offset + done, n < 0 ? std::strerror(errno) : "no progress"));
            done += static_cast<uint64_t>(n);
          }
        }
        report.disk_blocks += batch.pages.size();
      } else if (frame.type == FrameType::disk_end && !disk_done) {
        const uint64_t sent = decode_disk_end(frame.payload);
        if (sent != report.disk_blocks)
          throw StreamError(fmt::format("DISK_END counts {} disk blocks, {} arrived", sent, report.disk_blocks));
        if (::fdatasync(disk_fd_) != 0)
          throw MigrationError(fmt::format("fdatasync of the disk copy {}: {}", disk_path_.string(), std::strerror(errno)));
        disk_done = true;
      } else if (frame.type == FrameType::pages && !state) {
        const PageBatch batch = decode_pages(frame.payload, ram_pages);
        if (batch.round < last_round) throw StreamError(fmt::format("PAGES of round {} after round {}", batch.round, last_round));
        last_round = batch.round;
        for (const auto& page : batch.pages) {
          const uint64_t gpa = memory.ram_base() + page.page * kPageSize;
          if (page.data.empty()) {
            // A page that became zeros on the source (often memory its balloon gave back): give
            // it back here too rather than write zeros the host would then hold.
            if (memory.page_backed(page.page) && !memory.discard(page.page * kPageSize, kPageSize))
              memory.write(gpa, zeros.data(), kPageSize);
          } else if (const auto status = memory.write(gpa, page.data.data(), kPageSize); status != GuestMemoryStatus::ok) {
            throw MigrationError(memory.describe(status, gpa, kPageSize));
          }
        }
        report.pages += batch.pages.size();
      } else if (frame.type == FrameType::state && !state) {
        if (!disk_done) throw StreamError("STATE frame before the disk copy's DISK_END");
        state = decode_state(frame.payload);
      } else if (frame.type == FrameType::end && state) {
        const EndMessage end = decode_end(frame.payload);
        if (end.pages_sent != report.pages)
          throw StreamError(fmt::format("END counts {} pages, {} arrived", end.pages_sent, report.pages));
        report.rounds = end.rounds;
        break;
      } else {
        throw StreamError(fmt::format("unexpected {} frame{}", to_string(frame.type), state ? " after STATE" : ""));
      }
    }
    vm.restore_state_sections(state->sections, "migration stream");
    channel_.send(FrameType::ready);
    const auto go = channel_.receive(std::chrono::seconds(30));
    if (go.type != FrameType::go) throw StreamError(fmt::format("expected GO, the source sent {}", to_string(go.type)));
    // The source has stopped for good and released the disk (or, --with-disk, the copy here is
    // complete: its writer's lock goes, the VM's own takes over).
    drop_disk(false);
    if (machine::VirtioBlock* disk = vm.disk()) disk->lock();
    // The guest's clocks follow real time across the hand-off (as a machine that kept running).
    vm.catch_up_clock_at_start(state->paused_at_realtime_ns);
    try {
      channel_.send(FrameType::started, {}, std::chrono::seconds(5));
    } catch (const std::exception&) {
      // The source decided at GO; it finds out through the disk lock or holds a snapshot.
    }
    report.bytes = channel_.bytes_received();
    return report;
  } catch (const std::exception& error) {
    try {
      channel_.send(FrameType::abort, encode_reason(error.what()), std::chrono::milliseconds(200));
    } catch (const std::exception&) {
    }
    drop_disk(true);   // a partial copy of the disk: the VM never ran here
    throw;
  }
}

TcpAddress parse_tcp_address(const std::string& text) {
  if (!text.starts_with("tcp:"))
    throw std::invalid_argument(fmt::format("'{}' is not an address of the form tcp:HOST:PORT", text));
  return parse_host_port(text, "tcp:HOST:PORT");
}

TcpAddress parse_host_port(const std::string& text, std::string_view form) {
  const std::string rest = text.substr(4);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size())
    throw std::invalid_argument(fmt::format("'{}' is not an address of the form {}", text, form));
  TcpAddress address;
  address.host = rest.substr(0, colon);
  if (address.host.size() > 2 && address.host.front() == '[' && address.host.back() == ']')
    address.host = address.host.substr(1, address.host.size() - 2);
  unsigned port = 0;
  const char* first = rest.data() + colon + 1;
  const char* last = rest.data() + rest.size();
  auto [p, ec] = std::from_chars(first, last, port);
  if (ec != std::errc() || p != last || port > 65535)
    throw std::invalid_argument(fmt::format("'{}': port '{}' is not a number from 0 to 65535", text, rest.substr(colon + 1)));
  address.port = static_cast<uint16_t>(port);
  return address;
}

} // namespace nimbus::hypervisor::migration

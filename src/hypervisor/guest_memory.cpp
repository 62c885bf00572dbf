#include "hypervisor/guest_memory.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace nimbus::hypervisor {

GuestMemory::GuestMemory(FramePool& pool, std::string vm_name, uint64_t ram_base, uint64_t ram_size)
    : pool_(pool), vm_name_(std::move(vm_name)), ram_base_(ram_base), ram_size_(ram_size),
      frame_shift_(pool.frame_shift()) {
  if (ram_size == 0 || ram_size % kFrameSize != 0 || ram_base % kFrameSize != 0)
    throw FramePoolError(fmt::format("VM '{}': guest RAM 0x{:x}+0x{:x} must be a non-empty run of whole 4 KiB pages",
                                     vm_name_, ram_base, ram_size));
  if (ram_base + ram_size < ram_base)
    throw FramePoolError(fmt::format("VM '{}': guest RAM 0x{:x}+0x{:x} wraps past the end of the address space",
                                     vm_name_, ram_base, ram_size));
  const uint64_t frame = uint64_t{1} << frame_shift_;
  pages_ = (ram_size + frame - 1) >> frame_shift_;
  view_bytes_ = pages_ << frame_shift_;
  // Reserve the view without access; frames are mapped into it as they are handed out.
  void* view = mmap(nullptr, view_bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (view == MAP_FAILED)
    throw FramePoolError(fmt::format("VM '{}': cannot reserve {} bytes of address space for its RAM: {}", vm_name_,
                                     view_bytes_, std::strerror(errno)));
  view_ = static_cast<uint8_t*>(view);
  page_frame_.reset(new std::atomic<FrameNumber>[pages_]);
  for (uint64_t i = 0; i < pages_; ++i) page_frame_[i].store(kNoFrame, std::memory_order_relaxed);
  id_ = pool_.register_vm();
}

GuestMemory::~GuestMemory() {
  munmap(view_, view_bytes_);   // no alias of a frame survives its return to the pool
  for (uint64_t i = 0; i < pages_; ++i) {
    FrameNumber frame = page_frame_[i].load(std::memory_order_relaxed);
    if (frame != kNoFrame) pool_.release(frame, id_);
  }
  for (const FrameNumber frame : attached_)
    if (frame != kNoFrame) pool_.release(frame, id_);
  if (attached_fd_ >= 0) ::close(attached_fd_);
}

GuestMemoryStatus GuestMemory::fill(uint64_t page) {
  std::lock_guard lock(fill_mutex_);
  if (page_frame_[page].load(std::memory_order_relaxed) != kNoFrame) return GuestMemoryStatus::ok;
  if (!attached_.empty() && attached_[page] != kNoFrame) {
    fill_attached(page);
    return GuestMemoryStatus::ok;
  }
  auto fresh = pool_.allocate(id_);
  if (!fresh) {
    if (!exhausted_.load(std::memory_order_relaxed)) {
      exhausted_gpa_ = ram_base_ + (page << frame_shift_);
      exhausted_.store(true, std::memory_order_release);
    }
    return GuestMemoryStatus::frames_exhausted;
  }
  const uint64_t frame_bytes = uint64_t{1} << frame_shift_;
  void* at = mmap(view_ + (page << frame_shift_), frame_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                  pool_.fd(), static_cast<off_t>(pool_.frame_offset(*fresh)));
  if (at == MAP_FAILED) {
    // Out of host mappings: this VM cannot grow, like an exhausted pool.
    pool_.release(*fresh, id_);
    return GuestMemoryStatus::frames_exhausted;
  }
  page_frame_[page].store(*fresh, std::memory_order_release);
  resident_.fetch_add(1, std::memory_order_relaxed);
  return GuestMemoryStatus::ok;
}

GuestMemoryStatus GuestMemory::host_page(uint64_t gpa, uint8_t*& host) {
  if (!contains(gpa)) return GuestMemoryStatus::outside_ram;
  const uint64_t page = (gpa - ram_base_) >> frame_shift_;
  if (page_frame_[page].load(std::memory_order_acquire) == kNoFrame) {
    const GuestMemoryStatus status = fill(page);
    if (status != GuestMemoryStatus::ok) return status;
  }
  host = view_ + (gpa - ram_base_);
  return GuestMemoryStatus::ok;
}

GuestMemoryStatus GuestMemory::machine_address(uint64_t gpa, uint64_t& machine) {
  // Frames under a snapshot mapping are not where the view's bytes are.
  if (snapshot_mapped_) throw std::logic_error("machine_address on RAM restored from a snapshot (emulate mode only)");
  uint8_t* unused = nullptr;
  const GuestMemoryStatus status = host_page(gpa, unused);
  if (status != GuestMemoryStatus::ok) return status;
  const uint64_t offset = gpa - ram_base_;
  const FrameNumber frame = page_frame_[offset >> frame_shift_].load(std::memory_order_acquire);
  machine = pool_.frame_offset(frame) + (offset & ((uint64_t{1} << frame_shift_) - 1));
  return GuestMemoryStatus::ok;
}

GuestMemoryStatus GuestMemory::secure(uint64_t gpa, size_t len) {
  if (len == 0) return contains(gpa, 0) ? GuestMemoryStatus::ok : GuestMemoryStatus::outside_ram;
  if (!contains(gpa, len)) return GuestMemoryStatus::outside_ram;
  const uint64_t first = (gpa - ram_base_) >> frame_shift_;
  const uint64_t last = (gpa - ram_base_ + len - 1) >> frame_shift_;
  for (uint64_t page = first; page <= last; ++page) {
    if (page_frame_[page].load(std::memory_order_acquire) != kNoFrame) continue;
    const GuestMemoryStatus status = fill(page);
    if (status != GuestMemoryStatus::ok) return status;
  }
  return GuestMemoryStatus::ok;
}

bool GuestMemory::commit(uint64_t offset, uint64_t len) {
  // The common case (a TLB fill of a backed page) is one atomic load.
  if (len != 0 && offset < ram_size_ &&
      page_frame_[offset >> frame_shift_].load(std::memory_order_acquire) != kNoFrame &&
      ((offset + len - 1) >> frame_shift_) == (offset >> frame_shift_))
    return true;
  return secure(ram_base_ + offset, len) == GuestMemoryStatus::ok;
}

bool GuestMemory::discard(uint64_t offset, uint64_t len) {
  if (len == 0 || offset > ram_size_ || len > ram_size_ - offset) return false;
  const uint64_t frame_bytes = uint64_t{1} << frame_shift_;
  uint64_t done = 0;
  for (uint64_t at = offset; at < offset + len;) {
    const uint64_t page = at >> frame_shift_;
    const uint64_t within = at & (frame_bytes - 1);
    const uint64_t piece = std::min(frame_bytes - within, offset + len - at);
    if (attached_waiting_.load(std::memory_order_relaxed) != 0 &&
        page_frame_[page].load(std::memory_order_acquire) == kNoFrame) {
      // A frame still waiting for its saved pages: fill it first, or the guest would read the
      // snapshot's bytes again where it gave memory back (it must read zeros).
      std::lock_guard lock(fill_mutex_);
      if (attached_[page] != kNoFrame) fill_attached(page);
    }
    const FrameNumber frame = page_frame_[page].load(std::memory_order_acquire);
    if (frame != kNoFrame) {
      if (snapshot_mapped_) {
        // A private copy-on-write mapping of the snapshot file: releasing it would read the
        // file's bytes again, not zeros. Zero the pages that are not zero already.
        for (uint64_t p = 0; p < piece; p += kSnapshotPage) {
          uint8_t* bytes = view_ + at + p;
          const auto* words = reinterpret_cast<const uint64_t*>(bytes);
          bool zero = true;
          for (size_t i = 0; i < kSnapshotPage / 8 && zero; ++i) zero = words[i] == 0;
          if (!zero) std::memset(bytes, 0, kSnapshotPage);
        }
      } else if (fallocate(pool_.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                           static_cast<off_t>(pool_.frame_offset(frame) + within), static_cast<off_t>(piece)) != 0) {
        std::memset(view_ + at, 0, piece); // the kernel refused: zeros at least
      } else {
        done += piece;
        if (release_given_back_ && dirty_log_ == nullptr && frame_is_hole(frame)) {
          std::lock_guard lock(given_back_mutex_);
          if (given_back_pending_.size() < pages_ && (given_back_pending_.empty() || given_back_pending_.back() != page)) {
            given_back_pending_.push_back(page);
            given_back_queued_.store(true, std::memory_order_release);
          }
        }
      }
    }
    at += piece;
  }
  discarded_.fetch_add(done, std::memory_order_relaxed);
  return true;
}

bool GuestMemory::frame_is_hole(FrameNumber frame) const {
  // SEEK_DATA finds the first byte the memfd holds at or after the frame: none before the
  // frame's end means every 4 KiB of it is a hole. An error other than "no data" cannot tell.
  const uint64_t start = pool_.frame_offset(frame);
  const off_t data = ::lseek(pool_.fd(), static_cast<off_t>(start), SEEK_DATA);
  if (data < 0) return errno == ENXIO;
  return static_cast<uint64_t>(data) >= start + (uint64_t{1} << frame_shift_);
}

uint64_t GuestMemory::release_given_back() {
  std::vector<uint64_t> pending;
  {
    std::lock_guard lock(given_back_mutex_);
    pending.swap(given_back_pending_);
    given_back_queued_.store(false, std::memory_order_release);
  }
  // A migration reads backed pages from its sender thread while the log is on; a snapshot's
  // file pages are not in machine memory. Those frames simply stay the VM's.
  if (dirty_log_ != nullptr || snapshot_mapped_) return 0;
  const uint64_t frame_bytes = uint64_t{1} << frame_shift_;
  uint64_t released = 0;
  std::lock_guard lock(fill_mutex_);
  for (const uint64_t page : pending) {
    const FrameNumber frame = page_frame_[page].load(std::memory_order_relaxed);
    // Gone already (listed twice), or touched again since the report: it stays.
    if (frame == kNoFrame || !frame_is_hole(frame)) continue;
    // The view's range goes back to a reservation without access before the frame leaves, so
    // no alias of it survives in this VM once another VM may be handed it.
    void* at = mmap(view_ + (page << frame_shift_), frame_bytes, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (at == MAP_FAILED) continue;   // keep it mapped and ours: nothing else to undo
    page_frame_[page].store(kNoFrame, std::memory_order_release);
    resident_.fetch_sub(1, std::memory_order_relaxed);
    pool_.release(frame, id_);
    ++released;
  }
  frames_given_back_.fetch_add(released, std::memory_order_relaxed);
  return released;
}

void GuestMemory::release_all() {
  std::lock_guard lock(fill_mutex_);
  const uint64_t frame_bytes = uint64_t{1} << frame_shift_;
  for (uint64_t page = 0; page < pages_; ++page) {
    const FrameNumber frame = page_frame_[page].load(std::memory_order_relaxed);
    if (frame == kNoFrame) continue;
    if (mmap(view_ + (page << frame_shift_), frame_bytes, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
      continue;   // still mapped: it stays ours until the destructor
    page_frame_[page].store(kNoFrame, std::memory_order_release);
    resident_.fetch_sub(1, std::memory_order_relaxed);
    pool_.release(frame, id_);
  }
  for (FrameNumber& frame : attached_) {
    if (frame == kNoFrame) continue;
    pool_.release(frame, id_);
    frame = kNoFrame;
    resident_.fetch_sub(1, std::memory_order_relaxed);
  }
  attached_waiting_.store(0, std::memory_order_relaxed);
  if (attached_fd_ >= 0) ::close(attached_fd_);
  attached_fd_ = -1;
}

std::optional<std::string> GuestMemory::take_exhaustion() {
  if (!exhausted_.exchange(false, std::memory_order_acq_rel)) return std::nullopt;
  std::lock_guard lock(fill_mutex_);
  return describe(GuestMemoryStatus::frames_exhausted, exhausted_gpa_);
}

uint64_t GuestMemory::host_resident_bytes() const {
  const uint64_t os_page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  // In pieces of one frame (a few hundred bytes of answer each), however large the VM; frames
  // never backed cost nothing to skip.
  const uint64_t frame_bytes = uint64_t{1} << frame_shift_;
  std::vector<unsigned char> resident((frame_bytes + os_page - 1) / os_page);
  uint64_t pages = 0;
  for (uint64_t frame = 0; frame < pages_; ++frame) {
    if (page_frame_[frame].load(std::memory_order_acquire) == kNoFrame) continue;
    if (::mincore(view_ + frame * frame_bytes, frame_bytes, resident.data()) != 0) continue;
    for (unsigned char r : resident) pages += r & 1;
  }
  return pages * os_page;
}

GuestMemoryStatus GuestMemory::read(uint64_t gpa, void* data, size_t len) {
  const GuestMemoryStatus status = secure(gpa, len);
  if (status != GuestMemoryStatus::ok) return status;
  if (len != 0) std::memcpy(data, view_ + (gpa - ram_base_), len);
  return GuestMemoryStatus::ok;
}

GuestMemoryStatus GuestMemory::write(uint64_t gpa, const void* data, size_t len) {
  const GuestMemoryStatus status = secure(gpa, len);
  if (status != GuestMemoryStatus::ok) return status;
  if (len != 0) std::memcpy(view_ + (gpa - ram_base_), data, len);
  if (dirty_log_ != nullptr) dirty_log_->mark(gpa - ram_base_, len);
  return GuestMemoryStatus::ok;
}

std::string GuestMemory::describe(GuestMemoryStatus status, uint64_t gpa, size_t len) const {
  switch (status) {
  case GuestMemoryStatus::ok: return fmt::format("VM '{}': access to 0x{:x}+{} is fine", vm_name_, gpa, len);
  case GuestMemoryStatus::outside_ram:
    return fmt::format("VM '{}': guest-physical access 0x{:x}+{} lies outside its RAM [0x{:x}, 0x{:x})", vm_name_, gpa,
                       len, ram_base_, ram_base_ + ram_size_);
  case GuestMemoryStatus::frames_exhausted:
    return fmt::format("VM '{}': no machine frame left for guest-physical 0x{:x}: all {} frames of the machine pool "
                       "are in use ({} held by this VM)",
                       vm_name_, gpa, pool_.total_frames(), resident_pages());
  }
  return "unknown guest memory status";
}

std::vector<FrameNumber> GuestMemory::frames() const {
  std::vector<FrameNumber> held;
  for (uint64_t i = 0; i < pages_; ++i) {
    FrameNumber frame = page_frame_[i].load(std::memory_order_relaxed);
    if (frame == kNoFrame && !attached_.empty()) frame = attached_[i];
    if (frame != kNoFrame) held.push_back(frame);
  }
  return held;
}

} // namespace nimbus::hypervisor

namespace nimbus::hypervisor {

std::vector<GuestMemory::PageRun> GuestMemory::save_pages(int fd, const std::string& what) {
  load_attached_snapshot();   // pages still only in the file are RAM too
  if (::ftruncate(fd, 0) != 0 || ::ftruncate(fd, static_cast<off_t>(ram_size_)) != 0)
    throw std::runtime_error(fmt::format("{}: cannot size to {} bytes: {}", what, ram_size_, std::strerror(errno)));
  std::vector<PageRun> runs;
  auto write_run = [&](const PageRun& run) {
    const uint8_t* data = view_ + run.first * kSnapshotPage;
    uint64_t left = run.count * kSnapshotPage;
    uint64_t offset = run.first * kSnapshotPage;
    while (left > 0) {
      const ssize_t n = ::pwrite(fd, data, left, static_cast<off_t>(offset));
      if (n <= 0)
        throw std::runtime_error(fmt::format("{}: write at offset {} failed: {}", what, offset,
                                             n < 0 ? std::strerror(errno) : "no progress"));
      data += n, offset += static_cast<uint64_t>(n), left -= static_cast<uint64_t>(n);
    }
  };
  const uint64_t subpages = (uint64_t{1} << frame_shift_) / kSnapshotPage;
  const uint64_t ram_pages = ram_size_ / kSnapshotPage;
  PageRun current;
  for (uint64_t frame_page = 0; frame_page < pages_; ++frame_page) {
    const FrameNumber frame = page_frame_[frame_page].load(std::memory_order_acquire);
    if (frame == kNoFrame) continue;
    // Holes in machine memory (4 KiB pages of the frame never touched, or given back by a
    // balloon) are zeros: skip them without reading, which would make the host back them again.
    // SEEK_DATA/SEEK_HOLE, not mincore: a swapped-out page is data, though not resident.
    const uint64_t frame_start = pool_.frame_offset(frame);
    const uint64_t frame_end = frame_start + (uint64_t{1} << frame_shift_);
    uint64_t data_start = frame_start, data_end = frame_start; // the data run known so far
    for (uint64_t sub = 0; sub < subpages; ++sub) {
      const uint64_t page = frame_page * subpages + sub;
      if (page >= ram_pages) break;
      if (!snapshot_mapped_) {
        const uint64_t at = frame_start + sub * kSnapshotPage;
        if (at >= data_end) {
          const off_t data = ::lseek(pool_.fd(), static_cast<off_t>(at), SEEK_DATA);
          if (data < 0 && errno == ENXIO) break;   // no data from here to the end of the memfd
          if (data < 0) { data_start = at, data_end = frame_end; }   // cannot tell: read it all
          else if (static_cast<uint64_t>(data) >= frame_end) break;
          else {
            const off_t hole = ::lseek(pool_.fd(), data, SEEK_HOLE);
            data_start = static_cast<uint64_t>(data);
            data_end = hole < 0 ? frame_end : std::min<uint64_t>(static_cast<uint64_t>(hole), frame_end);
          }
        }
        if (at < data_start) continue;   // a hole before the next data
      }
      const auto* words = reinterpret_cast<const uint64_t*>(view_ + page * kSnapshotPage);
      bool zero = true;
      for (size_t i = 0; i < kSnapshotPage / 8 && zero; ++i) zero = words[i] == 0;
      if (zero) continue;
      if (current.count != 0 && current.first + current.count == page) {
        ++current.count;
      } else {
        if (current.count != 0) {
          write_run(current);
          runs.push_back(current);
        }
        current = PageRun{page, 1};
      }
    }
  }
  if (current.count != 0) {
    write_run(current);
    runs.push_back(current);
  }
  return runs;
}

namespace {
// Size and order checks shared by both restores: the file is exactly the RAM, the runs are
// non-empty, in increasing order and inside RAM.
void check_snapshot_runs(int fd, const std::vector<GuestMemory::PageRun>& runs, uint64_t ram_size,
                         const std::string& what) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
  if (static_cast<uint64_t>(st.st_size) != ram_size)
    throw std::runtime_error(fmt::format("{}: {} bytes, but the VM's RAM is {} bytes (truncated or not this "
                                         "snapshot's memory file)",
                                         what, st.st_size, ram_size));
  const uint64_t ram_pages = ram_size / GuestMemory::kSnapshotPage;
  uint64_t previous_end = 0;
  for (const auto& run : runs) {
    if (run.count == 0 || run.first < previous_end || run.first >= ram_pages || run.count > ram_pages - run.first)
      throw std::runtime_error(fmt::format("{}: page run {}+{} is empty, out of order or outside the {} pages of RAM",
                                           what, run.first, run.count, ram_pages));
    previous_end = run.first + run.count;
  }
}
} // namespace

void GuestMemory::load_snapshot(int fd, const std::vector<PageRun>& runs, const std::string& what) {
  check_snapshot_runs(fd, runs, ram_size_, what);
  for (const auto& run : runs) {
    const uint64_t offset = run.first * kSnapshotPage;
    const uint64_t length = run.count * kSnapshotPage;
    const GuestMemoryStatus status = secure(ram_base_ + offset, length);
    if (status != GuestMemoryStatus::ok) throw std::runtime_error(fmt::format("{}: {}", what, describe(status, ram_base_ + offset, length)));
    uint64_t done = 0;
    while (done < length) {
      const ssize_t n = ::pread(fd, view_ + offset + done, length - done, static_cast<off_t>(offset + done));
      if (n <= 0)
        throw std::runtime_error(fmt::format("{}: read at offset {} failed: {}", what, offset + done,
                                             n < 0 ? std::strerror(errno) : "end of file"));
      done += static_cast<uint64_t>(n);
    }
  }
}

void GuestMemory::map_snapshot(int fd, const std::vector<PageRun>& runs, const std::string& what) {
  check_snapshot_runs(fd, runs, ram_size_, what);
  struct stat st{};
  if (::fstat(fd, &st) != 0) throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
  if (static_cast<uint64_t>(st.st_size) != ram_size_)
    throw std::runtime_error(fmt::format("{}: {} bytes, but the VM's RAM is {} bytes (truncated or not this "
                                         "snapshot's memory file)",
                                         what, st.st_size, ram_size_));
  if (resident_pages() != 0) throw std::logic_error("map_snapshot on a VM that touched its RAM");
  const uint64_t ram_pages = ram_size_ / kSnapshotPage;
  const uint64_t subpages = (uint64_t{1} << frame_shift_) / kSnapshotPage;
  std::vector<bool> wanted(pages_, false);
  uint64_t previous_end = 0;
  for (const PageRun& run : runs) {
    if (run.count == 0 || run.first < previous_end || run.first >= ram_pages || run.count > ram_pages - run.first)
      throw std::runtime_error(fmt::format("{}: page run {}+{} is empty, out of order or outside the {} pages of RAM",
                                           what, run.first, run.count, ram_pages));
    previous_end = run.first + run.count;
    for (uint64_t fp = run.first / subpages; fp <= (previous_end - 1) / subpages; ++fp) wanted[fp] = true;
  }
  std::lock_guard lock(fill_mutex_);
  const uint64_t frame_bytes = uint64_t{1} << frame_shift_;
  for (uint64_t fp = 0; fp < pages_;) {
    if (!wanted[fp]) {
      ++fp;
      continue;
    }
    uint64_t end = fp;
    while (end < pages_ && wanted[end]) {
      auto frame = pool_.allocate(id_);
      if (!frame)
        throw std::runtime_error(fmt::format("{}: {}", what, describe(GuestMemoryStatus::frames_exhausted,
                                                                      ram_base_ + (end << frame_shift_))));
      page_frame_[end].store(*frame, std::memory_order_release);
      resident_.fetch_add(1, std::memory_order_relaxed);
      ++end;
    }
    // The last frame may run past the end of the file (RAM not a whole number of frames): map
    // only what the file has; the rest of that frame stays PROT_NONE beyond ram_size anyway.
    const uint64_t offset = fp * frame_bytes;
    const uint64_t length = std::min(end * frame_bytes, ram_size_) - offset;
    void* at = mmap(view_ + offset, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
                    static_cast<off_t>(offset));
    if (at == MAP_FAILED)
      throw std::runtime_error(fmt::format("{}: cannot map {} bytes at offset {}: {}", what, length, offset,
                                           std::strerror(errno)));
    snapshot_mapped_ = true;
    fp = end;
  }
}

void GuestMemory::attach_snapshot(int fd, const std::vector<PageRun>& runs, const std::string& what) {
  check_snapshot_runs(fd, runs, ram_size_, what);
  if (resident_pages() != 0) throw std::logic_error("attach_snapshot on a VM that touched its RAM");
  const uint64_t subpages = (uint64_t{1} << frame_shift_) / kSnapshotPage;
  std::lock_guard lock(fill_mutex_);
  std::vector<FrameNumber> attached(pages_, kNoFrame);
  uint64_t waiting = 0;
  auto give_back = [&] {
    for (const FrameNumber frame : attached)
      if (frame != kNoFrame) pool_.release(frame, id_);
  };
  for (const PageRun& run : runs) {
    for (uint64_t fp = run.first / subpages; fp <= (run.first + run.count - 1) / subpages; ++fp) {
      if (attached[fp] != kNoFrame) continue;
      const auto frame = pool_.allocate(id_);
      if (!frame) {
        give_back();
        throw std::runtime_error(fmt::format("{}: {}", what, describe(GuestMemoryStatus::frames_exhausted,
                                                                      ram_base_ + (fp << frame_shift_))));
      }
      attached[fp] = *frame;
      ++waiting;
    }
  }
  const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) {
    give_back();
    throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
  }
  attached_ = std::move(attached);
  attached_runs_ = runs;
  attached_fd_ = own;
  attached_what_ = what;
  attached_waiting_.store(waiting, std::memory_order_relaxed);
  resident_.fetch_add(waiting, std::memory_order_relaxed);
  if (waiting == 0) {
    ::close(attached_fd_);
    attached_fd_ = -1;
  }
}

void GuestMemory::fill_attached(uint64_t page) {
  const FrameNumber frame = attached_[page];
  const uint64_t frame_bytes = uint64_t{1} << frame_shift_;
  const uint64_t start = page << frame_shift_;
  void* at = mmap(view_ + start, frame_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, pool_.fd(),
                  static_cast<off_t>(pool_.frame_offset(frame)));
  if (at == MAP_FAILED)
    throw std::runtime_error(fmt::format("{}: cannot map guest frame at 0x{:x}: {}", attached_what_, ram_base_ + start,
                                         std::strerror(errno)));
  // The saved pages of this frame (runs are sorted and disjoint): read into the frame, which is
  // zeros elsewhere. A read error is the VM's end, not a page of wrong bytes.
  const uint64_t end = std::min(start + frame_bytes, ram_size_);
  auto run = std::upper_bound(attached_runs_.begin(), attached_runs_.end(), start / kSnapshotPage,
                              [](uint64_t p, const PageRun& r) { return p < r.first + r.count; });
  for (; run != attached_runs_.end() && run->first * kSnapshotPage < end; ++run) {
    const uint64_t from = std::max(run->first * kSnapshotPage, start);
    const uint64_t to = std::min((run->first + run->count) * kSnapshotPage, end);
    for (uint64_t done = from; done < to;) {
      const ssize_t n = ::pread(attached_fd_, view_ + done, to - done, static_cast<off_t>(done));
      if (n <= 0)
        throw std::runtime_error(fmt::format("{}: read at offset {} failed: {}", attached_what_, done,
                                             n < 0 ? std::strerror(errno) : "end of file"));
      done += static_cast<uint64_t>(n);
    }
  }
  attached_[page] = kNoFrame;
  page_frame_[page].store(frame, std::memory_order_release);   // only now can other threads see it
  if (attached_waiting_.fetch_sub(1, std::memory_order_relaxed) == 1) {
    ::close(attached_fd_);
    attached_fd_ = -1;
    attached_runs_.clear();
  }
}

void GuestMemory::load_attached_snapshot() {
  if (attached_waiting_.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard lock(fill_mutex_);
  for (uint64_t page = 0; page < attached_.size() && attached_waiting_.load(std::memory_order_relaxed) != 0; ++page)
    if (attached_[page] != kNoFrame) fill_attached(page);
}

} // namespace nimbus::hypervisor

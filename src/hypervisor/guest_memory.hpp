#pragma once
// One VM's guest-physical RAM: a map from guest page to machine frame, filled on first touch
// from the machine-wide FramePool and emptied back into it when the VM goes away. Guest-physical
// addresses are not machine addresses: the only way to reach a frame is through its owner's map,
// and an access outside [ram_base, ram_base + ram_size) is refused, never wrapped. Running out of
// frames is reported to this VM's caller as an error; other VMs are unaffected.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hypervisor/frame_pool.hpp"
#include "machine/bus.hpp"
#include "machine/dirty_log.hpp"

namespace nimbus::hypervisor {

enum class GuestMemoryStatus {
  ok,
  outside_ram,        // some byte lies outside the VM's guest-physical RAM
  frames_exhausted,   // the machine frame pool has no frame left for a first touch
};

// GuestMemory is also the VM's RAM as its bus sees it (machine::RamBacking): one contiguous host
// view of the guest-physical RAM, into which each frame is mapped (a MAP_SHARED alias of machine
// memory) when its guest page range is first touched. Until then the view is PROT_NONE, so even
// a VMM bug cannot read another VM's frame through it.
class GuestMemory final : public machine::RamBacking {
public:
  // Throws FramePoolError if the RAM window is empty, not page aligned, or wraps around.
  GuestMemory(FramePool& pool, std::string vm_name, uint64_t ram_base, uint64_t ram_size);
  ~GuestMemory() override;   // every frame goes back to the pool
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  const std::string& vm_name() const { return vm_name_; }
  // The machine-wide pool its frames come from (trap and hw modes carve their tables from it).
  FramePool& pool() const { return pool_; }
  VmId vm_id() const { return id_; }
  uint64_t ram_base() const { return ram_base_; }
  uint64_t ram_size() const { return ram_size_; }
  bool contains(uint64_t gpa, uint64_t len = 1) const {
    return gpa >= ram_base_ && len <= ram_size_ && gpa - ram_base_ <= ram_size_ - len;
  }

  // Host pointer to the byte at `gpa`, valid up to the end of its frame (and, through the
  // contiguous view, to the end of the secured range); the page gets a frame if it has none yet.
  // On error `host` is left untouched.
  GuestMemoryStatus host_page(uint64_t gpa, uint8_t*& host);

  // Machine-physical address (offset in the pool's machine memory) of guest-physical `gpa`,
  // backing it first: what shadow page tables and G-stage tables point at.
  GuestMemoryStatus machine_address(uint64_t gpa, uint64_t& machine);
  // The same for a page that already has a frame, without giving it one; false otherwise (also
  // outside RAM, or while a snapshot is mapped). Safe from any thread.
  bool machine_address_if_backed(uint64_t gpa, uint64_t& machine) const {
    if (snapshot_mapped_ || gpa < ram_base_ || gpa - ram_base_ >= ram_size_) return false;
    const uint64_t offset = gpa - ram_base_;
    const FrameNumber frame = page_frame_[offset >> frame_shift_].load(std::memory_order_acquire);
    if (frame == kNoFrame) return false;
    machine = pool_.frame_offset(frame) + (offset & ((uint64_t{1} << frame_shift_) - 1));
    return true;
  }

  // Secures [gpa, gpa + len): every frame of the range is allocated and mapped into the view.
  GuestMemoryStatus secure(uint64_t gpa, size_t len);

  // machine::RamBacking: the view (offset 0 = ram_base) and on-demand commit.
  uint8_t* view() override { return view_; }
  bool commit(uint64_t offset, uint64_t len) override;
  // Memory the guest gave back (a balloon): the host memory behind the backed frames' part of
  // [offset, offset + len) is punched out of machine memory, so it reads as zeros through every
  // mapping (the view, trap and hw modes' machine-physical tables) and costs the host nothing
  // until touched again. The frames stay this VM's (their mappings stay valid: no hart or table
  // needs to hear of it). Pages never touched are already zeros and are left alone; RAM restored
  // copy-on-write from a snapshot file is zeroed instead.
  bool discard(uint64_t offset, uint64_t len) override;
  // Bytes discard() punched out (guest RAM given back) since the VM started.
  uint64_t discarded_bytes() const { return discarded_.load(std::memory_order_relaxed); }

  // Frames given back to the pool (docs/board.md, "Memory given back"). With this on, a frame
  // whose whole 2 MiB a discard() left as holes is queued to leave the VM; release_given_back()
  // then returns each queued frame that is still all holes to the pool (free for any VM) and
  // unmaps it from the view, so the guest's next touch takes a fresh frame through the ordinary
  // first-touch path. Only for modes where nothing but the view, the harts' soft TLBs and their
  // decoded code can reach a frame (emulate): trap and hw point shadow and G-stage leaves at
  // machine frames, so there a given-back frame stays the VM's (its host memory is still freed).
  void set_release_given_back(bool on) { release_given_back_ = on; }
  // Whether frames are queued for release_given_back().
  bool given_back_pending() const { return given_back_queued_.load(std::memory_order_acquire); }
  // Call on the VM's thread at a round boundary, after every vCPU dropped its cached host
  // pointers into RAM (GuestCpu::flush_guest_code), and never while a dirty log is on (a
  // migration's sender reads backed pages from another thread): then nothing still points into
  // the frames it unmaps. Returns the frames given back.
  uint64_t release_given_back();
  // A VM that will never run again (stopped because the pool had no frame for it) gives every
  // frame back at once, on its own thread, rather than hold them until the VMM exits. Its RAM
  // reads as unbacked from then on.
  void release_all();
  // Frames this VM gave back to the pool since it started.
  uint64_t frames_given_back() const { return frames_given_back_.load(std::memory_order_relaxed); }
  // The first failed first touch (the pool had no frame) since the last call, or nullopt: the
  // VM that asks for memory the machine does not have stops with this error (docs/board.md).
  std::optional<std::string> take_exhaustion();
  // Whether take_exhaustion() has something to say (cheap: one atomic load).
  bool exhaustion_pending() const { return exhausted_.load(std::memory_order_acquire); }
  // Bytes of this VM's RAM the host really holds now (mincore over its view): what falls when
  // the guest gives memory back.
  uint64_t host_resident_bytes() const;

  // Copies that may span pages. Either the whole range is in RAM and backed, or nothing is
  // copied (frames for the range are secured before the first byte moves).
  GuestMemoryStatus read(uint64_t gpa, void* data, size_t len);
  GuestMemoryStatus write(uint64_t gpa, const void* data, size_t len);

  // The error as a sentence naming this VM and the address, for logs and exits.
  std::string describe(GuestMemoryStatus status, uint64_t gpa, size_t len = 1) const;

  // Snapshots (docs/migration.md, "Memory file"). A run of 4 KiB pages, in page numbers from
  // ram_base.
  struct PageRun {
    uint64_t first = 0;
    uint64_t count = 0;
  };
  static constexpr uint64_t kSnapshotPage = 4096;
  // Writes every non-zero 4 KiB page of the RAM this VM touched into `fd` at its offset; the
  // file is sized to ram_size, everything else a hole. Returns the pages written, in order.
  // Throws std::runtime_error (naming `what`) on a write error.
  std::vector<PageRun> save_pages(int fd, const std::string& what);
  // Restore, on a VM that has not touched its RAM yet: maps `fd` (a memory file of exactly
  // ram_size bytes) copy-on-write (MAP_PRIVATE) over every frame that holds one of `runs`; those
  // frames are charged to the VM as if touched, pages fault in from the file on first access.
  // Throws std::runtime_error for runs outside RAM, a file of the wrong size, or a failed map.
  void map_snapshot(int fd, const std::vector<PageRun>& runs, const std::string& what);
  // The same restore by copying `runs` from the file into frames of the pool (for modes whose
  // harts address frames by machine address: hw). Reads every saved page now.
  void load_snapshot(int fd, const std::vector<PageRun>& runs, const std::string& what);
  // The same restore on demand, for hw and trap modes (whose harts address frames by machine
  // address, so a file mapping in the view is not where they look): the frames that hold saved
  // pages are charged to the VM now, as map_snapshot does, but each is filled from the file
  // (only its saved pages; the rest stays zeros) by the first touch of any of its pages, through
  // the same path as any first touch: a shadow or G-stage fill, a device's DMA, the VMM. Keeps a
  // descriptor of its own to the file until every such frame is in. Throws as map_snapshot does.
  void attach_snapshot(int fd, const std::vector<PageRun>& runs, const std::string& what);
  // Fills every frame attach_snapshot left waiting (before a snapshot or a migration reads RAM
  // page by page). Throws std::runtime_error if the file cannot be read.
  void load_attached_snapshot();
  // Frames attach_snapshot charged that no touch has filled yet.
  uint64_t snapshot_frames_waiting() const { return attached_waiting_.load(std::memory_order_relaxed); }
  // Whether map_snapshot put file pages in the view (machine_address then refuses: trap and hw
  // modes address frames directly and cannot see them).
  bool snapshot_mapped() const { return snapshot_mapped_; }

  // Live migration: writes through write() mark this log too (the VMM writing guest memory).
  void set_dirty_log(machine::DirtyLog* log) { dirty_log_ = log; }
  // The log while one is on (hw and trap vCPUs map pages writable only through a fault then).
  machine::DirtyLog* dirty_log() const { return dirty_log_; }
  // Marks [gpa, gpa + len) in the log if one is on: a write the VMM or a mode's own tables let
  // through without GuestMemory::write (a guest PTE's A/D bits, a page mapped writable).
  void mark_dirty(uint64_t gpa, uint64_t len) {
    if (dirty_log_ != nullptr && gpa >= ram_base_) dirty_log_->mark(gpa - ram_base_, len);
  }
  // Whether 4 KiB page `page` (numbered from ram_base) has a frame; safe from any thread. A page
  // without one reads as zeros.
  bool page_backed(uint64_t page) const {
    const uint64_t offset = page * kSnapshotPage;
    return offset < ram_size_ && page_frame_[offset >> frame_shift_].load(std::memory_order_acquire) != kNoFrame;
  }
  // The bytes of a backed page (valid while the VM exists).
  const uint8_t* page_bytes(uint64_t page) const { return view_ + page * kSnapshotPage; }

  uint64_t resident_pages() const { return resident_.load(std::memory_order_relaxed); }
  // The frames this VM holds, for audits and tests (a snapshot).
  std::vector<FrameNumber> frames() const;

private:
  static constexpr FrameNumber kNoFrame = ~FrameNumber{0};
  GuestMemoryStatus fill(uint64_t page);
  // Whether the whole of `frame` is a hole in machine memory (nothing the guest can read but zeros).
  bool frame_is_hole(FrameNumber frame) const;

  FramePool& pool_;
  std::string vm_name_;
  VmId id_;
  uint64_t ram_base_;
  uint64_t ram_size_;
  unsigned frame_shift_;
  uint64_t pages_;   // frames' worth of guest RAM (the last may be partly beyond ram_size)
  uint8_t* view_ = nullptr;
  uint64_t view_bytes_ = 0;
  std::unique_ptr<std::atomic<FrameNumber>[]> page_frame_;   // per guest page; kNoFrame until touched
  std::mutex fill_mutex_;                                      // serializes first touches of this VM
  std::atomic<uint64_t> resident_{0};
  std::atomic<uint64_t> discarded_{0};
  bool release_given_back_ = false;
  // Frame-sized guest pages: queued by discard() (a balloon's request, on whichever vCPU thread
  // or the housekeeper polled it), taken at a round boundary.
  std::mutex given_back_mutex_;
  std::vector<uint64_t> given_back_pending_;   // under given_back_mutex_
  std::atomic<bool> given_back_queued_{false};
  std::atomic<uint64_t> frames_given_back_{0};
  std::atomic<bool> exhausted_{false};
  uint64_t exhausted_gpa_ = 0;                 // under fill_mutex_
  bool snapshot_mapped_ = false;
  // attach_snapshot: per guest frame page, the charged frame still waiting for its saved pages
  // (kNoFrame otherwise); the file and its runs. Under fill_mutex_.
  std::vector<FrameNumber> attached_;
  std::vector<PageRun> attached_runs_;
  int attached_fd_ = -1;
  std::string attached_what_;
  std::atomic<uint64_t> attached_waiting_{0};
  // Moves the waiting frame of `page` into the view and reads its saved pages (fill_mutex_ held).
  void fill_attached(uint64_t page);
  machine::DirtyLog* dirty_log_ = nullptr;
};

} // namespace nimbus::hypervisor

#pragma once
// The live-migration stream (docs/migration.md, "The stream"): a sequence of frames over one
// TCP connection, both ways. Every frame has a 24-byte header (magic, version, type, sequence
// number, payload length, payload CRC-32, header CRC-32) and a payload whose layout its type
// fixes. The stream is untrusted input: everything here is a pure function over bytes that
// checks every length before it reads and throws StreamError with a message that says what is
// wrong, never crashes and never allocates more than a frame type allows (so it can be fuzzed).
//
// The VM's state travels as a NIMBSNAP container (machine/snapshot_format.hpp) inside a STATE
// frame: the same sections, checks and version rules as a snapshot's state file.
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hypervisor/vm_config.hpp"
#include "machine/snapshot_format.hpp"

namespace nimbus::hypervisor::migration {

class StreamError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

inline constexpr char kMagic[4] = {'N', 'M', 'I', 'G'};
// The protocol version this build speaks; a peer with another one is refused (a HELLO of a
// newer version says so and names both).
inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kHeaderSize = 24;
inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint32_t kMaxPagesPerFrame = 256;   // 1 MiB of page data per PAGES frame

enum class FrameType : uint16_t {
  hello = 1,     // source -> destination: configuration and RAM size
  accept = 2,    // destination: the VM is built, send its memory
  refuse = 3,    // destination: cannot take it (reason)
  pages = 4,     // source: a batch of pages (data or zero)
  state = 5,     // source: the stopped VM's state (a NIMBSNAP container)
  end = 6,       // source: totals, nothing more before the hand-off
  ready = 7,     // destination: RAM and state complete and checked, ready to run
  go = 8,        // source: it has stopped for good and released the disk; run it
  started = 9,   // destination: took the disk and runs the VM
  abort = 10,    // either side: giving up (reason); the VM stays on the source
  // --with-disk (a local disk copied with the VM); a destination older than these types refuses
  // the stream with "unknown frame type 11".
  disk_info = 11,  // source, right after HELLO: the disk image's size in bytes
  disk = 12,       // source: a batch of 4 KiB disk blocks (the PAGES layout, block numbers)
  disk_end = 13,   // source, with the VM stopped, before STATE: disk blocks sent in all
};
inline constexpr uint64_t kDiskBlock = 4096;
// The largest disk image --with-disk copies (the destination creates a file of this size).
inline constexpr uint64_t kMaxDiskBytes = uint64_t{1} << 44;
std::string_view to_string(FrameType type);
// The largest payload a frame of this type may declare (checked before a byte of it is read).
uint32_t max_payload(FrameType type);

struct FrameHeader {
  FrameType type{};
  uint32_t sequence = 0;
  uint32_t length = 0;
  uint32_t payload_crc = 0;
};

// Checks and decodes a header (exactly kHeaderSize bytes): magic, version, header CRC, a known
// type, the length against the type's limit. Throws StreamError.
FrameHeader decode_header(std::span<const uint8_t> bytes);
// Throws StreamError when the payload's CRC is not the header's.
void check_payload(const FrameHeader& header, std::span<const uint8_t> payload);
std::vector<uint8_t> encode_frame(FrameType type, uint32_t sequence, std::span<const uint8_t> payload);

struct Frame {
  FrameType type{};
  uint32_t sequence = 0;
  std::span<const uint8_t> payload;   // into the buffer given to parse_frame
};
// One frame from the front of `bytes`: nullopt if more bytes are needed (`needed` says how many
// in all), else the frame and `consumed`. Throws StreamError for a bad header or payload CRC.
std::optional<Frame> parse_frame(std::span<const uint8_t> bytes, size_t& consumed, size_t& needed);

// ---- payloads

struct Hello {
  uint64_t ram_size = 0;
  VmConfig config;   // from its VMCF section
};
std::vector<uint8_t> encode_hello(const VmConfig& config);
Hello decode_hello(std::span<const uint8_t> payload);

// A reason string (REFUSE, ABORT): at most 4096 bytes of text.
std::vector<uint8_t> encode_reason(std::string_view reason);
std::string decode_reason(std::span<const uint8_t> payload);

struct PageRecord {
  uint64_t page = 0;                 // 4 KiB page number from the start of RAM
  std::span<const uint8_t> data;     // 4096 bytes, or empty for a page of zeros
};
struct PageBatch {
  uint32_t round = 0;
  std::vector<PageRecord> pages;
};
// Builds a PAGES payload incrementally.
class PageBatchWriter {
public:
  explicit PageBatchWriter(uint32_t round);
  void add(uint64_t page, const uint8_t* data);   // data == nullptr: a zero page
  uint32_t count() const { return count_; }
  bool full() const { return count_ == kMaxPagesPerFrame; }
  // The payload; the writer is empty afterwards (same round).
  std::vector<uint8_t> take();

private:
  uint32_t round_;
  uint32_t count_ = 0;
  std::vector<uint8_t> bytes_;
};
// Pages must lie below `ram_pages`; at most kMaxPagesPerFrame; kinds 0 (zero) or 1 (data).
PageBatch decode_pages(std::span<const uint8_t> payload, uint64_t ram_pages);

struct StateMessage {
  int64_t paused_at_realtime_ns = 0;    // the source's CLOCK_REALTIME when the VM stopped
  std::vector<machine::snapshot::Section> sections;
};
std::vector<uint8_t> encode_state(int64_t paused_at_realtime_ns, const std::vector<machine::snapshot::Section>& sections,
                                  uint32_t format_version = machine::snapshot::kVersion);
// The container must hold none of VMCF and MEMR (configuration and memory came before).
StateMessage decode_state(std::span<const uint8_t> payload);

// DISK_INFO: a size in bytes, a multiple of 512, from 512 to kMaxDiskBytes.
std::vector<uint8_t> encode_disk_info(uint64_t disk_bytes);
uint64_t decode_disk_info(std::span<const uint8_t> payload);
// DISK: decode_pages over `disk_blocks` blocks (the last may be partial: its data past the end of
// the image is ignored). DISK_END: the block records of every DISK frame.
uint64_t disk_blocks(uint64_t disk_bytes);
std::vector<uint8_t> encode_disk_end(uint64_t blocks_sent);
uint64_t decode_disk_end(std::span<const uint8_t> payload);

struct EndMessage {
  uint64_t pages_sent = 0;   // page records of every PAGES frame, data and zero
  uint32_t rounds = 0;
};
std::vector<uint8_t> encode_end(const EndMessage& end);
EndMessage decode_end(std::span<const uint8_t> payload);

// The destination's side of a whole stream as bytes, for tests and fuzzing: parses every frame
// the source sends in order (HELLO, [DISK_INFO], PAGES and DISK..., [DISK_END], STATE, END, GO),
// checking sequence numbers, the
// order of types and every payload, without building a VM; a stream that stops before GO (or
// an ABORT) is refused too. Throws StreamError.
void check_source_stream(std::span<const uint8_t> bytes);

} // namespace nimbus::hypervisor::migration

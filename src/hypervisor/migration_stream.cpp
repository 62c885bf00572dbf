#include "hypervisor/migration_stream.hpp"

#include <fmt/format.h>

#include <cstring>

#include "hypervisor/vm_snapshot.hpp"

namespace nimbus::hypervisor::migration {

using machine::snapshot::crc32;
using machine::snapshot::Reader;
using machine::snapshot::Writer;

namespace {

uint32_t get_u32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

constexpr size_t kPageRecordHeader = 9;   // page u64, kind u8
constexpr uint32_t kMaxReason = 4096;
constexpr uint32_t kMaxState = 16u << 20;

// A FormatError from a payload reader, as a StreamError naming the frame.
template <typename F>
auto payload_of(FrameType type, F&& parse) {
  try {
    return parse();
  } catch (const machine::snapshot::FormatError& error) {
    throw StreamError(fmt::format("{} frame: {}", to_string(type), error.what()));
  }
}

} // namespace

std::string_view to_string(FrameType type) {
  switch (type) {
  case FrameType::hello: return "HELLO";
  case FrameType::accept: return "ACCEPT";
  case FrameType::refuse: return "REFUSE";
  case FrameType::pages: return "PAGES";
  case FrameType::state: return "STATE";
  case FrameType::end: return "END";
  case FrameType::ready: return "READY";
  case FrameType::go: return "GO";
  case FrameType::started: return "STARTED";
  case FrameType::abort: return "ABORT";
  case FrameType::disk_info: return "DISK_INFO";
  case FrameType::disk: return "DISK";
  case FrameType::disk_end: return "DISK_END";
  }
  return "unknown";
}

uint32_t max_payload(FrameType type) {
  switch (type) {
  case FrameType::hello: return 64 * 1024;
  case FrameType::refuse:
  case FrameType::abort: return kMaxReason + 4;
  case FrameType::pages:
  case FrameType::disk: return 8 + kMaxPagesPerFrame * static_cast<uint32_t>(kPageRecordHeader + kPageSize);
  case FrameType::disk_info:
  case FrameType::disk_end: return 8;
  case FrameType::state: return kMaxState;
  case FrameType::end: return 12;
  case FrameType::accept:
  case FrameType::ready:
  case FrameType::go:
  case FrameType::started: return 0;
  }
  return 0;
}

FrameHeader decode_header(std::span<const uint8_t> b) {
  if (b.size() != kHeaderSize) throw StreamError(fmt::format("frame header of {} bytes (expected {})", b.size(), kHeaderSize));
  if (std::memcmp(b.data(), kMagic, 4) != 0)
    throw StreamError("not a nimbus migration stream (bad frame magic): is the other end a nimbus of this kind?");
  const uint16_t version = get_u16(b.data() + 4);
  // Magic and version come before the checksum test so that a peer of another version is named.
  if (version != kVersion)
    throw StreamError(fmt::format("migration protocol version {} (this nimbus speaks version {}): use the same nimbus "
                                  "version on both hosts",
                                  version, kVersion));
  if (crc32(b.data(), 20) != get_u32(b.data() + 20)) throw StreamError("corrupt frame header (checksum mismatch)");
  FrameHeader h;
  const uint16_t type = get_u16(b.data() + 6);
  if (type < static_cast<uint16_t>(FrameType::hello) || type > static_cast<uint16_t>(FrameType::disk_end))
    throw StreamError(fmt::format("unknown frame type {}", type));
  h.type = static_cast<FrameType>(type);
  h.sequence = get_u32(b.data() + 8);
  h.length = get_u32(b.data() + 12);
  h.payload_crc = get_u32(b.data() + 16);
  if (h.length > max_payload(h.type))
    throw StreamError(fmt::format("{} frame {} declares {} bytes of payload, more than such a frame holds ({})",
                                  to_string(h.type), h.sequence, h.length, max_payload(h.type)));
  return h;
}

void check_payload(const FrameHeader& header, std::span<const uint8_t> payload) {
  if (payload.size() != header.length)
    throw StreamError(fmt::format("{} frame {}: {} bytes of payload, the header says {}", to_string(header.type),
                                  header.sequence, payload.size(), header.length));
  if (crc32(payload.data(), payload.size()) != header.payload_crc)
    throw StreamError(fmt::format("corrupt {} frame {} (payload checksum mismatch)", to_string(header.type), header.sequence));
}

std::vector<uint8_t> encode_frame(FrameType type, uint32_t sequence, std::span<const uint8_t> payload) {
  if (payload.size() > max_payload(type))
    throw std::logic_error(fmt::format("{} payload of {} bytes is over the limit", to_string(type), payload.size()));
  std::vector<uint8_t> frame(kHeaderSize + payload.size());
  std::memcpy(frame.data(), kMagic, 4);
  put_u16(frame.data() + 4, kVersion);
  put_u16(frame.data() + 6, static_cast<uint16_t>(type));
  put_u32(frame.data() + 8, sequence);
  put_u32(frame.data() + 12, static_cast<uint32_t>(payload.size()));
  put_u32(frame.data() + 16, crc32(payload.data(), payload.size()));
  put_u32(frame.data() + 20, crc32(frame.data(), 20));
  if (!payload.empty()) std::memcpy(frame.data() + kHeaderSize, payload.data(), payload.size());
  return frame;
}

std::optional<Frame> parse_frame(std::span<const uint8_t> bytes, size_t& consumed, size_t& needed) {
  consumed = 0;
  if (bytes.size() < kHeaderSize) {
    needed = kHeaderSize;
    return std::nullopt;
  }
  const FrameHeader header = decode_header(bytes.first(kHeaderSize));
  needed = kHeaderSize + header.length;
  if (bytes.size() < needed) return std::nullopt;
  const auto payload = bytes.subspan(kHeaderSize, header.length);
  check_payload(header, payload);
  consumed = needed;
  return Frame{header.type, header.sequence, payload};
}

std::vector<uint8_t> encode_hello(const VmConfig& config) {
  Writer w;
  w.u64(config.memory_bytes);
  const auto vmcf = encode_config(config);
  w.u32(static_cast<uint32_t>(vmcf.payload.size()));
  w.bytes(vmcf.payload.data(), vmcf.payload.size());
  return w.take();
}

Hello decode_hello(std::span<const uint8_t> payload) {
  return payload_of(FrameType::hello, [&] {
    Reader r(payload, "payload");
    Hello hello;
    hello.ram_size = r.u64();
    const uint32_t length = r.u32();
    if (length > r.remaining()) r.fail(fmt::format("configuration of {} bytes, {} left", length, r.remaining()));
    machine::snapshot::Section vmcf{snapshot_tags::kConfig, 0, std::vector<uint8_t>(length)};
    r.bytes(vmcf.payload.data(), length);
    r.expect_end();
    hello.config = decode_config(vmcf);
    hello.config.source = "migration";
    if (hello.config.memory_bytes != hello.ram_size)
      r.fail(fmt::format("RAM size {} differs from the configuration's {}", hello.ram_size, hello.config.memory_bytes));
    return hello;
  });
}

std::vector<uint8_t> encode_reason(std::string_view reason) {
  Writer w;
  w.string(reason.substr(0, kMaxReason));
  return w.take();
}

std::string decode_reason(std::span<const uint8_t> payload) {
  return payload_of(FrameType::abort, [&] {
    Reader r(payload, "reason");
    std::string text = r.string(kMaxReason);
    r.expect_end();
    for (char& c : text)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';   // no terminal control from a peer
    return text;
  });
}

PageBatchWriter::PageBatchWriter(uint32_t round) : round_(round) {
  bytes_.reserve(8 + kMaxPagesPerFrame * (kPageRecordHeader + kPageSize));
  bytes_.resize(8);
}

void PageBatchWriter::add(uint64_t page, const uint8_t* data) {
  if (full()) throw std::logic_error("PageBatchWriter: batch full");
  const size_t at = bytes_.size();
  bytes_.resize(at + kPageRecordHeader + (data ? kPageSize : 0));
  for (int i = 0; i < 8; ++i) bytes_[at + i] = static_cast<uint8_t>(page >> (8 * i));
  bytes_[at + 8] = data ? 1 : 0;
  if (data) std::memcpy(bytes_.data() + at + kPageRecordHeader, data, kPageSize);
  ++count_;
}

std::vector<uint8_t> PageBatchWriter::take() {
  put_u32(bytes_.data(), round_);
  put_u32(bytes_.data() + 4, count_);
  std::vector<uint8_t> out = std::move(bytes_);
  bytes_ = {};
  bytes_.reserve(8 + kMaxPagesPerFrame * (kPageRecordHeader + kPageSize));
  bytes_.resize(8);
  count_ = 0;
  return out;
}

PageBatch decode_pages(std::span<const uint8_t> payload, uint64_t ram_pages) {
  if (payload.size() < 8) throw StreamError(fmt::format("PAGES frame: {} bytes, too short for its count", payload.size()));
  PageBatch batch;
  batch.round = get_u32(payload.data());
  const uint32_t count = get_u32(payload.data() + 4);
  if (count > kMaxPagesPerFrame)
    throw StreamError(fmt::format("PAGES frame: {} pages, more than {}", count, kMaxPagesPerFrame));
  batch.pages.reserve(count);
  size_t at = 8;
  for (uint32_t i = 0; i < count; ++i) {
    if (payload.size() - at < kPageRecordHeader)
      throw StreamError(fmt::format("PAGES frame: record {} of {} truncated at byte {}", i, count, at));
    uint64_t page = 0;
    for (int k = 0; k < 8; ++k) page |= uint64_t(payload[at + k]) << (8 * k);
    const uint8_t kind = payload[at + 8];
    at += kPageRecordHeader;
    if (page >= ram_pages)
      throw StreamError(fmt::format("PAGES frame: page {} lies outside the VM's {} pages of RAM", page, ram_pages));
    PageRecord record{page, {}};
    if (kind == 1) {
      if (payload.size() - at < kPageSize)
        throw StreamError(fmt::format("PAGES frame: data of page {} truncated at byte {}", page, at));
      record.data = payload.subspan(at, kPageSize);
      at += kPageSize;
    } else if (kind != 0) {
      throw StreamError(fmt::format("PAGES frame: page {} has unknown kind {}", page, kind));
    }
    batch.pages.push_back(record);
  }
  if (at != payload.size())
    throw StreamError(fmt::format("PAGES frame: {} bytes left over after {} pages", payload.size() - at, count));
  return batch;
}

std::vector<uint8_t> encode_state(int64_t paused_at_realtime_ns, const std::vector<machine::snapshot::Section>& sections,
                                  uint32_t format_version) {
  Writer w;
  w.u64(static_cast<uint64_t>(paused_at_realtime_ns));
  const std::vector<uint8_t> container = machine::snapshot::encode(sections, format_version);
  w.bytes(container.data(), container.size());
  return w.take();
}

StateMessage decode_state(std::span<const uint8_t> payload) {
  return payload_of(FrameType::state, [&] {
    if (payload.size() < 8) throw StreamError(fmt::format("STATE frame: {} bytes, too short", payload.size()));
    StateMessage message;
    uint64_t at = 0;
    for (int k = 0; k < 8; ++k) at |= uint64_t(payload[k]) << (8 * k);
    message.paused_at_realtime_ns = static_cast<int64_t>(at);
    message.sections = machine::snapshot::decode(payload.subspan(8));
    for (const auto& s : message.sections)
      if (s.tag == snapshot_tags::kConfig || s.tag == snapshot_tags::kMemory)
        throw StreamError(fmt::format("STATE frame: unexpected section {}", machine::snapshot::tag_name(s.tag)));
    return message;
  });
}

std::vector<uint8_t> encode_disk_info(uint64_t disk_bytes) {
  Writer w;
  w.u64(disk_bytes);
  return w.take();
}

uint64_t decode_disk_info(std::span<const uint8_t> payload) {
  return payload_of(FrameType::disk_info, [&] {
    Reader r(payload, "DISK_INFO frame");
    const uint64_t bytes = r.u64();
    r.expect_end();
    if (bytes == 0 || bytes % 512 != 0 || bytes > kMaxDiskBytes)
      r.fail(fmt::format("disk size {} is not a whole number of 512-byte sectors from 512 bytes to {} TiB", bytes,
                         kMaxDiskBytes >> 40));
    return bytes;
  });
}

uint64_t disk_blocks(uint64_t disk_bytes) { return (disk_bytes + kDiskBlock - 1) / kDiskBlock; }

std::vector<uint8_t> encode_disk_end(uint64_t blocks_sent) {
  Writer w;
  w.u64(blocks_sent);
  return w.take();
}

uint64_t decode_disk_end(std::span<const uint8_t> payload) {
  return payload_of(FrameType::disk_end, [&] {
    Reader r(payload, "DISK_END frame");
    const uint64_t blocks = r.u64();
    r.expect_end();
    return blocks;
  });
}

std::vector<uint8_t> encode_end(const EndMessage& end) {
  Writer w;
  w.u64(end.pages_sent);
  w.u32(end.rounds);
  return w.take();
}

EndMessage decode_end(std::span<const uint8_t> payload) {
  return payload_of(FrameType::end, [&] {
    Reader r(payload, "END frame");
    EndMessage end;
    end.pages_sent = r.u64();
    end.rounds = r.u32();
    r.expect_end();
    return end;
  });
}

void check_source_stream(std::span<const uint8_t> bytes) {
  enum class Expect { hello, body, go, done } expect = Expect::hello;
  uint32_t sequence = 0;
  uint64_t ram_pages = 0, pages = 0;
  uint32_t last_round = 0;
  bool have_state = false;
  bool after_hello = false;     // the frame right after HELLO (where DISK_INFO may come)
  uint64_t disk_block_count = 0;   // 0: no disk copied
  uint64_t disk_sent = 0;
  bool disk_done = false;
  while (!bytes.empty()) {
    size_t consumed = 0, needed = 0;
    const auto frame = parse_frame(bytes, consumed, needed);
    if (!frame) throw StreamError(fmt::format("stream truncated: {} bytes of a frame that needs {}", bytes.size(), needed));
    bytes = bytes.subspan(consumed);
    if (frame->sequence != sequence)
      throw StreamError(fmt::format("frame {} arrived where frame {} was due", frame->sequence, sequence));
    ++sequence;
    if (frame->type == FrameType::abort) {
      decode_reason(frame->payload);
      expect = Expect::done;
      continue;
    }
    switch (expect) {
    case Expect::hello: {
      if (frame->type != FrameType::hello) throw StreamError(fmt::format("{} frame before HELLO", to_string(frame->type)));
      ram_pages = decode_hello(frame->payload).ram_size / kPageSize;
      expect = Expect::body;
      after_hello = true;
      continue;
    }
    case Expect::body:
      if (frame->type == FrameType::disk_info && after_hello) {
        disk_block_count = disk_blocks(decode_disk_info(frame->payload));
      } else if (frame->type == FrameType::disk && disk_block_count != 0 && !disk_done) {
        disk_sent += decode_pages(frame->payload, disk_block_count).pages.size();
      } else if (frame->type == FrameType::disk_end && disk_block_count != 0 && !disk_done) {
        if (decode_disk_end(frame->payload) != disk_sent)
          throw StreamError(fmt::format("DISK_END frame counts other than the {} disk blocks that arrived", disk_sent));
        disk_done = true;
      } else if (frame->type == FrameType::pages && !have_state) {
        const PageBatch batch = decode_pages(frame->payload, ram_pages);
        if (batch.round < last_round) throw StreamError("PAGES frame of an earlier round");
        last_round = batch.round;
        pages += batch.pages.size();
      } else if (frame->type == FrameType::state && !have_state) {
        if (disk_block_count != 0 && !disk_done) throw StreamError("STATE frame before the disk copy's DISK_END");
        decode_state(frame->payload);
        have_state = true;
      } else if (frame->type == FrameType::end && have_state) {
        const EndMessage end = decode_end(frame->payload);
        if (end.pages_sent != pages)
          throw StreamError(fmt::format("END frame counts {} pages, {} arrived", end.pages_sent, pages));
        expect = Expect::go;
      } else {
        throw StreamError(fmt::format("unexpected {} frame", to_string(frame->type)));
      }
      after_hello = false;
      break;
    case Expect::go:
      if (frame->type != FrameType::go) throw StreamError(fmt::format("unexpected {} frame after END", to_string(frame->type)));
      expect = Expect::done;
      break;
    case Expect::done: throw StreamError(fmt::format("{} frame after the end of the stream", to_string(frame->type)));
    }
  }
  if (expect != Expect::done)
    throw StreamError(expect == Expect::hello ? "empty stream: no HELLO"
                                              : "the stream ended before the hand-off (no GO): the source keeps the VM");
}

} // namespace nimbus::hypervisor::migration

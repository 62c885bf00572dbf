#include "machine/snapshot_format.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <array>
#include <cstring>
#include <set>
#include <utility>

namespace nimbus::machine::snapshot {

namespace {

void put_le(std::vector<uint8_t>& out, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint64_t get_le(const uint8_t* p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

} // namespace

// zlib's CRC-32 (the same polynomial and conventions as a table-driven one, several times faster:
// a byte-at-a-time table loop was a third of a migrating VMM's CPU).
uint32_t crc32(const void* data, size_t len, uint32_t crc) {
  if (len == 0) return crc; // zlib reads a null buffer (an empty vector's data()) as "start over"
  return static_cast<uint32_t>(::crc32_z(crc, static_cast<const Bytef*>(data), len));
}

std::string tag_name(uint32_t tag) {
  std::string name;
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>(tag >> (8 * i));
    if (c < 0x20 || c > 0x7e) return fmt::format("0x{:08x}", tag);
    name.push_back(c);
  }
  return name;
}

std::vector<uint8_t> encode(const std::vector<Section>& sections, uint32_t version) {
  if (version < kOldestReadableVersion || version > kVersion)
    throw std::invalid_argument(fmt::format("snapshot format version {} cannot be written", version));
  uint64_t total = kHeaderSize;
  for (const auto& s : sections) total += kSectionHeaderSize + s.payload.size();
  std::vector<uint8_t> out;
  out.reserve(total);
  for (const char c : kMagic) out.push_back(static_cast<uint8_t>(c));
  put_le(out, version, 4);
  put_le(out, sections.size(), 4);
  put_le(out, total, 8);
  put_le(out, crc32(out.data(), out.size()), 4);
  put_le(out, 0, 4);
  for (const auto& s : sections) {
    const size_t header = out.size();
    put_le(out, s.tag, 4);
    put_le(out, s.instance, 4);
    put_le(out, s.payload.size(), 8);
    // The checksum covers tag, instance and length too: a damaged tag must not rename a section.
    put_le(out, crc32(s.payload.data(), s.payload.size(), crc32(out.data() + header, 16)), 4);
    put_le(out, 0, 4);
    out.insert(out.end(), s.payload.begin(), s.payload.end());
  }
  return out;
}

std::vector<Section> decode(std::span<const uint8_t> file) {
  if (file.size() < sizeof kMagic || std::memcmp(file.data(), kMagic, sizeof kMagic) != 0)
    throw FormatError("not a nimbus snapshot (bad magic: expected \"NIMBSNAP\" at offset 0)");
  if (file.size() < kHeaderSize)
    throw FormatError(fmt::format("truncated snapshot: {} bytes, shorter than the {}-byte header", file.size(),
                                  kHeaderSize));
  const uint8_t* p = file.data();
  const auto version = static_cast<uint32_t>(get_le(p + 8, 4));
  if (version > kVersion)
    throw FormatError(fmt::format("snapshot format version {} is newer than this nimbus reads (versions {} to {}): "
                                  "restore it with a newer nimbus",
                                  version, kOldestReadableVersion, kVersion));
  if (version < kOldestReadableVersion)
    throw FormatError(fmt::format("snapshot format version {} is not supported (this nimbus reads versions {} to {})",
                                  version, kOldestReadableVersion, kVersion));
  const uint32_t stored_crc = static_cast<uint32_t>(get_le(p + 24, 4));
  if (crc32(p, 24) != stored_crc) throw FormatError("corrupt snapshot: header checksum mismatch");
  if (get_le(p + 28, 4) != 0) throw FormatError("corrupt snapshot: the header's reserved field is not zero");
  const auto count = static_cast<uint32_t>(get_le(p + 12, 4));
  const uint64_t total = get_le(p + 16, 8);
  if (count > kMaxSections) throw FormatError(fmt::format("corrupt snapshot: {} sections (at most {})", count, kMaxSections));
  if (file.size() < total)
    throw FormatError(fmt::format("truncated snapshot: {} bytes, the header says {}", file.size(), total));
  if (file.size() > total)
    throw FormatError(fmt::format("corrupt snapshot: {} bytes of trailing data after the {} the header says",
                                  file.size() - total, total));
  std::vector<Section> sections;
  std::set<std::pair<uint32_t, uint32_t>> seen;
  uint64_t at = kHeaderSize;
  for (uint32_t i = 0; i < count; ++i) {
    if (total - at < kSectionHeaderSize)
      throw FormatError(fmt::format("truncated snapshot: section {} of {} header at offset {} runs past the end", i + 1,
                                    count, at));
    Section s;
    s.tag = static_cast<uint32_t>(get_le(p + at, 4));
    s.instance = static_cast<uint32_t>(get_le(p + at + 4, 4));
    const uint64_t length = get_le(p + at + 8, 8);
    const auto crc = static_cast<uint32_t>(get_le(p + at + 16, 4));
    const std::string name = fmt::format("section {} {} (offset {})", tag_name(s.tag), s.instance, at);
    if (get_le(p + at + 20, 4) != 0) throw FormatError(fmt::format("corrupt snapshot: {} reserved field is not zero", name));
    at += kSectionHeaderSize;
    if (length > total - at)
      throw FormatError(fmt::format("truncated snapshot: {} is {} bytes long but only {} remain", name, length,
                                    total - at));
    if (crc32(p + at, length, crc32(p + at - kSectionHeaderSize, 16)) != crc) throw FormatError(fmt::format("corrupt snapshot: {} checksum mismatch", name));
    if (!seen.insert({s.tag, s.instance}).second)
      throw FormatError(fmt::format("corrupt snapshot: {} appears twice", name));
    s.payload.assign(p + at, p + at + length);
    at += length;
    sections.push_back(std::move(s));
  }
  if (at != total)
    throw FormatError(fmt::format("corrupt snapshot: {} bytes after the last section", total - at));
  return sections;
}

void Writer::bytes(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  data_.insert(data_.end(), p, p + len);
}

void Writer::string(std::string_view s) {
  u32(static_cast<uint32_t>(s.size()));
  bytes(s.data(), s.size());
}

Reader::Reader(const Section& section)
    : data_(section.payload), what_(fmt::format("section {} {}", tag_name(section.tag), section.instance)) {}

void Reader::fail(std::string_view message) const { throw FormatError(fmt::format("{}: {}", what_, message)); }

uint64_t Reader::le(unsigned n) {
  if (remaining() < n) fail(fmt::format("truncated at byte {} (needs {} more)", offset_, n));
  const uint64_t v = get_le(data_.data() + offset_, n);
  offset_ += n;
  return v;
}

bool Reader::boolean() {
  const uint8_t v = u8();
  if (v > 1) fail(fmt::format("byte {} should be a boolean but is {}", offset_ - 1, v));
  return v == 1;
}

void Reader::bytes(void* out, size_t len) {
  if (remaining() < len) fail(fmt::format("truncated at byte {} (needs {} more)", offset_, len));
  if (len == 0) return; // an empty payload has no data pointer, and memcpy may not be given null
  std::memcpy(out, data_.data() + offset_, len);
  offset_ += len;
}

std::string Reader::string(size_t max) {
  const uint32_t len = u32();
  if (len > max) fail(fmt::format("a string of {} bytes at byte {} (at most {})", len, offset_ - 4, max));
  std::string s(len, '\0');
  bytes(s.data(), len);
  return s;
}

uint32_t Reader::count(uint32_t max, std::string_view field) {
  const uint32_t n = u32();
  if (n > max) fail(fmt::format("{} is {}, at most {}", field, n, max));
  return n;
}

void Reader::expect_end() const {
  if (remaining() != 0) fail(fmt::format("{} unexpected bytes at the end", remaining()));
}

} // namespace nimbus::machine::snapshot

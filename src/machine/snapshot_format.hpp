#pragma once
// The snapshot container (docs/migration.md, "State file"): a fixed header (magic, format
// version, section count, total length, header checksum) followed by tagged sections, each with
// its own length and CRC-32. Everything is little-endian. A snapshot is untrusted input: decode()
// checks every length against what is left before it reads a byte, and every failure is a
// FormatError whose message says what is wrong and where, never a crash.
//
// Writer and Reader serialize one section's payload field by field; a Reader that runs past its
// section's end, or a section with bytes left over, is an error naming the section.
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nimbus::machine::snapshot {

class FormatError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

inline constexpr char kMagic[8] = {'N', 'I', 'M', 'B', 'S', 'N', 'A', 'P'};
// The version this build writes. Readers accept [kOldestReadableVersion, kVersion]; a newer file
// is refused with a message saying so (an older nimbus cannot know what it added).
// Version 2 added the network interfaces of a VM (docs/migration.md): a file without them is
// written as version 1, byte for byte as before, so an older nimbus still reads it.
inline constexpr uint32_t kVersion = 2;
inline constexpr uint32_t kOldestReadableVersion = 1;
inline constexpr size_t kHeaderSize = 32;
inline constexpr size_t kSectionHeaderSize = 24;
inline constexpr uint32_t kMaxSections = 1u << 16;

// A section tag is four ASCII characters, stored as their little-endian uint32.
constexpr uint32_t make_tag(const char (&name)[5]) {
  return uint32_t(uint8_t(name[0])) | uint32_t(uint8_t(name[1])) << 8 | uint32_t(uint8_t(name[2])) << 16 |
         uint32_t(uint8_t(name[3])) << 24;
}
// "HART", or "0x..." for a tag that is not printable.
std::string tag_name(uint32_t tag);

// CRC-32 (IEEE 802.3, as zlib's crc32), continuing from `crc` (0 to start).
uint32_t crc32(const void* data, size_t len, uint32_t crc = 0);

struct Section {
  uint32_t tag = 0;
  uint32_t instance = 0;   // which one of several (the hart index, the virtio slot)
  std::vector<uint8_t> payload;
};

// The whole file, sections in the given order.
// `version`: kOldestReadableVersion..kVersion, what the sections need (see kVersion).
std::vector<uint8_t> encode(const std::vector<Section>& sections, uint32_t version = kVersion);
// Parses and checks a file; throws FormatError (magic, version, header checksum, lengths,
// section checksums, duplicate sections).
std::vector<Section> decode(std::span<const uint8_t> file);

class Writer {
public:
  void u8(uint8_t v) { data_.push_back(v); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void u16(uint16_t v) { le(v, 2); }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void bytes(const void* data, size_t len);
  // A u32 length, then the bytes.
  void string(std::string_view s);
  const std::vector<uint8_t>& data() const { return data_; }
  std::vector<uint8_t> take() { return std::move(data_); }

private:
  void le(uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; ++i) data_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> data_;
};

class Reader {
public:
  // `what` names the section in errors ("section HART 0").
  Reader(std::span<const uint8_t> data, std::string what) : data_(data), what_(std::move(what)) {}
  explicit Reader(const Section& section);

  uint8_t u8() { return static_cast<uint8_t>(le(1)); }
  bool boolean();
  uint16_t u16() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  void bytes(void* out, size_t len);
  // A string of at most `max` bytes.
  std::string string(size_t max = 4096);
  // A count that must not exceed `max` (for vectors whose size the snapshot gives).
  uint32_t count(uint32_t max, std::string_view field);
  size_t remaining() const { return data_.size() - offset_; }
  // Every byte must have been read.
  void expect_end() const;
  // Throws FormatError "<what>: <message>".
  [[noreturn]] void fail(std::string_view message) const;
  const std::string& what() const { return what_; }

private:
  uint64_t le(unsigned n);
  std::span<const uint8_t> data_;
  size_t offset_ = 0;
  std::string what_;
};

} // namespace nimbus::machine::snapshot

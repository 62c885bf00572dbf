#include "machine/snapshot_format.hpp"

#include <gtest/gtest.h>

#include <random>

namespace nimbus::machine::snapshot {
namespace {

std::vector<Section> sample() {
  Writer a;
  a.u8(7);
  a.boolean(true);
  a.u16(0xbeef);
  a.u32(0xdeadbeef);
  a.u64(0x0123456789abcdefull);
  a.string("hello");
  Writer b;
  for (int i = 0; i < 1000; ++i) b.u32(static_cast<uint32_t>(i * 2654435761u));
  return {Section{make_tag("AAAA"), 0, a.take()}, Section{make_tag("BBBB"), 3, b.take()},
          Section{make_tag("EMPT"), 0, {}}};
}

std::string decode_error(const std::vector<uint8_t>& file) {
  try {
    decode(file);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

TEST(SnapshotFormat, RoundTripsSectionsAndFields) {
  const auto file = encode(sample());
  const auto sections = decode(file);
  ASSERT_EQ(sections.size(), 3u);
  EXPECT_EQ(tag_name(sections[0].tag), "AAAA");
  EXPECT_EQ(sections[1].instance, 3u);
  EXPECT_TRUE(sections[2].payload.empty());
  Reader r(sections[0]);
  EXPECT_EQ(r.u8(), 7);
  EXPECT_TRUE(r.boolean());
  EXPECT_EQ(r.u16(), 0xbeef);
  EXPECT_EQ(r.u32(), 0xdeadbeefu);
  EXPECT_EQ(r.u64(), 0x0123456789abcdefull);
  EXPECT_EQ(r.string(), "hello");
  r.expect_end();
  Reader b(sections[1]);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(b.u32(), static_cast<uint32_t>(i * 2654435761u));
  b.expect_end();
}

TEST(SnapshotFormat, Crc32MatchesZlib) {
  EXPECT_EQ(crc32("123456789", 9), 0xcbf43926u);
  EXPECT_EQ(crc32("", 0), 0u);
}

TEST(SnapshotFormat, RefusesBadMagic) {
  auto file = encode(sample());
  file[0] = 'X';
  EXPECT_NE(decode_error(file).find("not a nimbus snapshot"), std::string::npos);
  EXPECT_NE(decode_error({}).find("not a nimbus snapshot"), std::string::npos);
}

TEST(SnapshotFormat, RefusesNewerVersionClearly) {
  auto file = encode(sample());
  file[8] = static_cast<uint8_t>(kVersion + 1);
  const std::string error = decode_error(file);
  EXPECT_NE(error.find("version " + std::to_string(kVersion + 1) + " is newer than this nimbus reads (versions 1 to " +
                       std::to_string(kVersion) + ")"),
            std::string::npos)
      << error;
  // Version 1 (a VM without network interfaces) is still written and read.
  const auto old = encode(sample(), 1);
  EXPECT_EQ(old[8], 1);
  EXPECT_EQ(decode(old).size(), sample().size());
  EXPECT_THROW(encode(sample(), kVersion + 1), std::invalid_argument);
  file[8] = 0;
  EXPECT_NE(decode_error(file).find("version 0 is not supported"), std::string::npos);
}

TEST(SnapshotFormat, RefusesEveryTruncation) {
  const auto file = encode(sample());
  for (size_t len = 0; len < file.size(); ++len) {
    std::vector<uint8_t> cut(file.begin(), file.begin() + static_cast<long>(len));
    const std::string error = decode_error(cut);
    ASSERT_FALSE(error.empty()) << "length " << len;
    if (len >= kHeaderSize) {
      EXPECT_NE(error.find("truncated snapshot"), std::string::npos) << error;
    }
  }
}

TEST(SnapshotFormat, RefusesTrailingData) {
  auto file = encode(sample());
  file.push_back(0);
  EXPECT_NE(decode_error(file).find("trailing data"), std::string::npos);
}

TEST(SnapshotFormat, NamesTheSectionWithABadChecksum) {
  auto file = encode(sample());
  file[file.size() - kSectionHeaderSize - 1] ^= 0x40; // BBBB's last payload byte (EMPT is empty)
  const std::string error = decode_error(file);
  EXPECT_NE(error.find("section BBBB 3"), std::string::npos) << error;
  EXPECT_NE(error.find("checksum mismatch"), std::string::npos) << error;
}

TEST(SnapshotFormat, RefusesACorruptHeader) {
  auto file = encode(sample());
  file[12] ^= 1; // section count
  EXPECT_NE(decode_error(file).find("header checksum"), std::string::npos);
}

TEST(SnapshotFormat, ChecksumCoversTheSectionsTagAndInstance) {
  auto file = encode(sample());
  file[kHeaderSize] = 'C'; // AAAA -> CAAA
  EXPECT_NE(decode_error(file).find("checksum mismatch"), std::string::npos);
  file = encode(sample());
  file[kHeaderSize + 4] = 9; // instance 0 -> 9
  EXPECT_NE(decode_error(file).find("checksum mismatch"), std::string::npos);
}

TEST(SnapshotFormat, RefusesNonZeroReservedFields) {
  auto file = encode(sample());
  file.back() ^= 1; // EMPT's section header, reserved word
  EXPECT_NE(decode_error(file).find("section EMPT 0"), std::string::npos);
}

TEST(SnapshotFormat, RefusesDuplicateSections) {
  auto sections = sample();
  sections.push_back(sections[0]);
  EXPECT_NE(decode_error(encode(sections)).find("appears twice"), std::string::npos);
}

TEST(SnapshotFormat, ReaderRefusesOverrunsAndLeftovers) {
  Writer w;
  w.u32(5);
  Section s{make_tag("TEST"), 1, w.take()};
  Reader r(s);
  EXPECT_THROW(r.u64(), FormatError);
  Reader r2(s);
  r2.u16();
  try {
    r2.expect_end();
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("section TEST 1: 2 unexpected bytes"), std::string::npos) << e.what();
  }
  Writer big;
  big.u32(1u << 30); // a string length far beyond the payload
  Section s2{make_tag("STR_"), 0, big.take()};
  Reader r3(s2);
  EXPECT_THROW(r3.string(), FormatError);
  Writer flag;
  flag.u8(2);
  Section s3{make_tag("BOOL"), 0, flag.take()};
  Reader r4(s3);
  EXPECT_THROW(r4.boolean(), FormatError);
}

// Random corruption (bit flips, byte overwrites, cuts, garbage lengths) is always refused with a
// FormatError or, when it happens to hit nothing checked, decodes: never a crash or another
// exception type. Run under the sanitizer build too.
TEST(SnapshotFormat, RandomCorruptionNeverCrashes) {
  const auto file = encode(sample());
  std::mt19937_64 rng(42);
  int refused = 0, unchanged = 0;
  for (int round = 0; round < 20000; ++round) {
    auto bad = file;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 4) {
      case 0: bad[rng() % bad.size()] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
      case 1: bad[rng() % bad.size()] = static_cast<uint8_t>(rng()); break;
      case 2: bad.resize(rng() % (bad.size() + 1)); if (bad.empty()) bad.push_back(0); break;
      case 3: bad.insert(bad.begin() + static_cast<long>(rng() % bad.size()), static_cast<uint8_t>(rng())); break;
      }
    }
    if (bad == file) { // an overwrite with the same byte
      ++unchanged;
      continue;
    }
    try {
      decode(bad);
      size_t first = 0;
      while (first < std::min(bad.size(), file.size()) && bad[first] == file[first]) ++first;
      ADD_FAILURE() << "a corrupt file was accepted: " << bad.size() << " bytes, first difference at " << first;
    } catch (const FormatError&) {
      ++refused;
    }
  }
  EXPECT_EQ(refused + unchanged, 20000) << "every corruption is caught by a length, checksum or reserved-field check";
}

} // namespace
} // namespace nimbus::machine::snapshot

namespace nimbus::machine::snapshot {
namespace {

// Found by fuzz_snapshot: a zero-length read from an empty section (a device with no state of
// its own) passed a null pointer to memcpy, undefined behaviour that UBSan reports.
TEST(SnapshotFormat, ZeroLengthReadsFromAnEmptySectionAreFine) {
  const Section empty{make_tag("EMPT"), 0, {}};
  Reader in(empty);
  uint8_t out[1] = {0x5a};
  in.bytes(out, 0);
  EXPECT_EQ(out[0], 0x5a);
  in.expect_end();
  Reader none(std::span<const uint8_t>{}, "nothing");
  none.bytes(out, 0);
  EXPECT_THROW(none.u8(), FormatError);
}

} // namespace
} // namespace nimbus::machine::snapshot

// The live-migration stream is untrusted input (migration_stream.hpp): a valid stream passes,
// and every truncation, corruption or hostile field is refused with StreamError naming the
// problem, never a crash or an allocation beyond a frame type's limit.
#include "hypervisor/migration_stream.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "hypervisor/migration.hpp"
#include "hypervisor/vm_snapshot.hpp"

namespace nimbus::hypervisor::migration {
namespace {

using machine::snapshot::Section;

VmConfig config() {
  VmConfig c;
  c.name = "vm1";
  c.mode = VirtMode::emulate;
  c.vcpus = 2;
  c.memory_bytes = 64ull << 20;
  c.kernel = "/boot/Image";
  c.append = "console=ttyS0";
  return c;
}

std::vector<Section> state_sections() {
  machine::snapshot::Writer w;
  w.u64(123456);
  w.u64(7);
  w.boolean(false);
  w.u64(99);
  return {Section{snapshot_tags::kVm, 0, w.take()}, Section{machine::snapshot::make_tag("CPU_"), 0, {1, 2, 3}}};
}

void append(std::vector<uint8_t>& out, FrameType type, uint32_t& seq, const std::vector<uint8_t>& payload) {
  const auto frame = encode_frame(type, seq++, payload);
  out.insert(out.end(), frame.begin(), frame.end());
}

// HELLO, two PAGES frames (data and zero pages, rounds 0 and 1), STATE, END, GO.
std::vector<uint8_t> valid_stream() {
  std::vector<uint8_t> out;
  uint32_t seq = 0;
  append(out, FrameType::hello, seq, encode_hello(config()));
  std::vector<uint8_t> page(kPageSize);
  for (size_t i = 0; i < page.size(); ++i) page[i] = static_cast<uint8_t>(i * 7);
  PageBatchWriter round0(0);
  round0.add(0, page.data());
  round0.add(5, page.data());
  append(out, FrameType::pages, seq, round0.take());
  PageBatchWriter round1(1);
  round1.add(5, nullptr);
  round1.add(16383, page.data());
  append(out, FrameType::pages, seq, round1.take());
  append(out, FrameType::state, seq, encode_state(1'700'000'000'000'000'000, state_sections()));
  append(out, FrameType::end, seq, encode_end(EndMessage{4, 2}));
  append(out, FrameType::go, seq, {});
  return out;
}

std::string stream_error(const std::vector<uint8_t>& bytes) {
  try {
    check_source_stream(bytes);
  } catch (const StreamError& e) {
    return e.what();
  }
  return "";
}

TEST(MigrationStream, ValidStreamPassesAndPayloadsRoundTrip) {
  const auto bytes = valid_stream();
  EXPECT_NO_THROW(check_source_stream(bytes));
  size_t consumed = 0, needed = 0;
  auto frame = parse_frame(bytes, consumed, needed);
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->type, FrameType::hello);
  const Hello hello = decode_hello(frame->payload);
  EXPECT_EQ(hello.config.name, "vm1");
  EXPECT_EQ(hello.config.vcpus, 2u);
  EXPECT_EQ(hello.ram_size, 64ull << 20);
  frame = parse_frame(std::span(bytes).subspan(consumed), consumed, needed);
  ASSERT_TRUE(frame);
  const PageBatch batch = decode_pages(frame->payload, 16384);
  ASSERT_EQ(batch.pages.size(), 2u);
  EXPECT_EQ(batch.pages[1].page, 5u);
  EXPECT_EQ(batch.pages[1].data[1], 7);
  const StateMessage state = decode_state(encode_state(42, state_sections()));
  EXPECT_EQ(state.paused_at_realtime_ns, 42);
  EXPECT_EQ(state.sections.size(), 2u);
  EXPECT_EQ(decode_reason(encode_reason("disk\x1b[2Jgone")), "disk?[2Jgone");
}

TEST(MigrationStream, EveryTruncationIsRefused) {
  const auto bytes = valid_stream();
  for (size_t len = 0; len < bytes.size(); ++len) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(len));
    EXPECT_NE(stream_error(cut), "") << "cut at " << len;
  }
}

TEST(MigrationStream, RandomCorruptionsAreRefused) {
  const auto bytes = valid_stream();
  std::mt19937_64 random(20261203);
  int refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<uint8_t> bad = bytes;
    switch (random() % 4) {
    case 0:   // 1 to 4 bit flips
      for (unsigned i = 0, n = 1 + random() % 4; i < n; ++i) bad[random() % bad.size()] ^= uint8_t(1u << (random() % 8));
      break;
    case 1: {   // overwrite a run
      const size_t at = random() % bad.size();
      for (size_t i = at; i < std::min(bad.size(), at + 1 + random() % 16); ++i) bad[i] = static_cast<uint8_t>(random());
      break;
    }
    case 2: bad.insert(bad.begin() + static_cast<long>(random() % bad.size()), static_cast<uint8_t>(random())); break;
    case 3: bad.erase(bad.begin() + static_cast<long>(random() % bad.size())); break;
    }
    if (bad == bytes) continue;
    EXPECT_NE(stream_error(bad), "") << "trial " << trial;
    ++refused;
  }
  EXPECT_GT(refused, 2900);
}

TEST(MigrationStream, HostileHeadersAreRefusedBeforeTheirPayload) {
  // A PAGES frame that claims 4 GiB: refused from its header alone.
  auto frame = encode_frame(FrameType::pages, 0, std::vector<uint8_t>(8, 0));
  frame[12] = frame[13] = frame[14] = frame[15] = 0xff;
  const uint32_t crc = machine::snapshot::crc32(frame.data(), 20);
  for (int i = 0; i < 4; ++i) frame[20 + i] = static_cast<uint8_t>(crc >> (8 * i));
  try {
    decode_header(std::span(frame).first(kHeaderSize));
    FAIL() << "accepted";
  } catch (const StreamError& e) {
    EXPECT_NE(std::string(e.what()).find("more than such a frame holds"), std::string::npos) << e.what();
  }
  // Another protocol version is named.
  auto other = encode_frame(FrameType::hello, 0, {});
  other[4] = 2;
  try {
    decode_header(std::span(other).first(kHeaderSize));
    FAIL() << "accepted";
  } catch (const StreamError& e) {
    EXPECT_NE(std::string(e.what()).find("version 2"), std::string::npos) << e.what();
  }
  // Not a migration stream at all.
  std::vector<uint8_t> http(kHeaderSize, 'x');
  std::memcpy(http.data(), "GET / HTTP/1.1\r\n", 16);
  EXPECT_THROW(decode_header(http), StreamError);
}

TEST(MigrationStream, HostilePayloadsAreRefused) {
  PageBatchWriter outside(0);
  std::vector<uint8_t> page(kPageSize, 1);
  outside.add(16384, page.data());   // one past a 64 MiB VM
  EXPECT_THROW(decode_pages(outside.take(), 16384), StreamError);
  std::vector<uint8_t> many(8, 0);
  many[4] = 0xff;   // 255 pages announced, none there
  EXPECT_THROW(decode_pages(many, 16384), StreamError);
  many[5] = 0xff;   // 65535 pages: more than a frame may hold
  EXPECT_THROW(decode_pages(many, 16384), StreamError);
  PageBatchWriter kind(0);
  kind.add(1, nullptr);
  auto bytes = kind.take();
  bytes[8 + 8] = 7;   // unknown kind
  EXPECT_THROW(decode_pages(bytes, 16384), StreamError);
  bytes[8 + 8] = 0;
  bytes.push_back(0);   // left over
  EXPECT_THROW(decode_pages(bytes, 16384), StreamError);
  // A configuration that makes no sense, or a RAM size that disagrees with it.
  VmConfig c = config();
  c.vcpus = 0;
  EXPECT_THROW(decode_hello(encode_hello(c)), StreamError);
  auto hello = encode_hello(config());
  hello[3] ^= 1;
  EXPECT_THROW(decode_hello(hello), StreamError);
  // A STATE that smuggles a configuration or memory section.
  auto sections = state_sections();
  sections.push_back(Section{snapshot_tags::kMemory, 0, {}});
  EXPECT_THROW(decode_state(encode_state(0, sections)), StreamError);
  EXPECT_THROW(decode_end(std::vector<uint8_t>(11)), StreamError);
}

TEST(MigrationStream, FramesOutOfOrderAreRefused) {
  std::vector<uint8_t> out;
  uint32_t seq = 0;
  append(out, FrameType::pages, seq, PageBatchWriter(0).take());
  EXPECT_NE(stream_error(out).find("before HELLO"), std::string::npos) << stream_error(out);

  out.clear();
  seq = 0;
  append(out, FrameType::hello, seq, encode_hello(config()));
  seq = 5;   // a gap in the numbering
  append(out, FrameType::pages, seq, PageBatchWriter(0).take());
  EXPECT_NE(stream_error(out).find("where frame 1 was due"), std::string::npos) << stream_error(out);

  out.clear();
  seq = 0;
  append(out, FrameType::hello, seq, encode_hello(config()));
  append(out, FrameType::state, seq, encode_state(0, state_sections()));
  append(out, FrameType::end, seq, encode_end(EndMessage{3, 1}));   // no pages came
  EXPECT_NE(stream_error(out).find("END frame counts 3 pages, 0 arrived"), std::string::npos) << stream_error(out);

  out.clear();
  seq = 0;
  append(out, FrameType::hello, seq, encode_hello(config()));
  append(out, FrameType::end, seq, encode_end(EndMessage{0, 1}));   // END before STATE
  EXPECT_NE(stream_error(out).find("unexpected END"), std::string::npos) << stream_error(out);
}

// --with-disk: HELLO, DISK_INFO, DISK frames, PAGES, DISK_END, STATE, END, GO.
std::vector<uint8_t> disk_stream(uint64_t disk_end_count = 3, bool disk_end = true, bool info = true) {
  std::vector<uint8_t> out;
  uint32_t seq = 0;
  append(out, FrameType::hello, seq, encode_hello(config()));
  if (info) append(out, FrameType::disk_info, seq, encode_disk_info(1 << 20));   // 256 blocks
  std::vector<uint8_t> block(kDiskBlock, 0x5a);
  PageBatchWriter disk0(0);
  disk0.add(0, block.data());
  disk0.add(255, block.data());
  append(out, FrameType::disk, seq, disk0.take());
  PageBatchWriter pages(0);
  pages.add(1, block.data());
  append(out, FrameType::pages, seq, pages.take());
  PageBatchWriter disk1(1);
  disk1.add(7, nullptr);
  append(out, FrameType::disk, seq, disk1.take());
  if (disk_end) append(out, FrameType::disk_end, seq, encode_disk_end(disk_end_count));
  append(out, FrameType::state, seq, encode_state(1, state_sections()));
  append(out, FrameType::end, seq, encode_end(EndMessage{1, 2}));
  append(out, FrameType::go, seq, {});
  return out;
}

TEST(MigrationStream, DiskFramesAreCheckedLikePages) {
  EXPECT_EQ(stream_error(disk_stream()), "");
  EXPECT_EQ(decode_disk_info(encode_disk_info(512)), 512u);
  EXPECT_EQ(disk_blocks(4097), 2u);
  EXPECT_NE(stream_error(disk_stream(2)).find("DISK_END frame counts"), std::string::npos) << stream_error(disk_stream(2));
  EXPECT_NE(stream_error(disk_stream(3, false)).find("STATE frame before the disk copy's DISK_END"), std::string::npos);
  EXPECT_NE(stream_error(disk_stream(3, true, false)).find("unexpected DISK frame"), std::string::npos);
  for (const uint64_t bad : {uint64_t{0}, uint64_t{511}, uint64_t{1000}, kMaxDiskBytes + 512})
    EXPECT_THROW(decode_disk_info(encode_disk_info(bad)), StreamError) << bad;
  // A block outside the image.
  PageBatchWriter outside(0);
  std::vector<uint8_t> block(kDiskBlock, 1);
  outside.add(256, block.data());
  EXPECT_THROW(decode_pages(outside.take(), disk_blocks(1 << 20)), StreamError);
  // Every truncation of a stream with a disk is refused too.
  const auto bytes = disk_stream();
  for (size_t cut = 0; cut < bytes.size(); cut += 97)
    EXPECT_THROW(check_source_stream(std::span(bytes).first(cut)), StreamError) << cut;
}

TEST(MigrationStream, TcpAddresses) {
  const TcpAddress a = parse_tcp_address("tcp:127.0.0.1:4444");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 4444);
  EXPECT_EQ(parse_tcp_address("tcp:[::1]:0").host, "::1");
  for (const char* bad : {"127.0.0.1:4444", "tcp:host", "tcp::44", "tcp:h:", "tcp:h:65536", "tcp:h:4x"})
    EXPECT_THROW(parse_tcp_address(bad), std::invalid_argument) << bad;
}

} // namespace
} // namespace nimbus::hypervisor::migration

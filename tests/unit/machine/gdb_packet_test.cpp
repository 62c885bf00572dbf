// The RSP framing layer: packets, acks, interrupts, escapes, and every malformed input gets a
// precise error event rather than a crash or a silently wrong packet.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "machine/gdb/packet.hpp"

namespace nimbus::machine::gdb {
namespace {

std::vector<Event> feed(PacketReader& reader, std::string_view bytes) {
  std::vector<Event> out;
  reader.feed(bytes, out);
  return out;
}

TEST(GdbPacket, EncodesWithChecksum) {
  EXPECT_EQ(encode_packet(""), "$#00");
  EXPECT_EQ(encode_packet("OK"), "$OK#9a");
  EXPECT_EQ(encode_packet("qSupported"), "$qSupported#37");
}

TEST(GdbPacket, EncodeEscapesSpecialBytesAndChecksumsTheEscapedForm) {
  const std::string framed = encode_packet("a#b$c}d*e");
  EXPECT_EQ(framed.substr(0, 14), "$a}\x03" "b}\x04" "c}]d}\x0a" "e");
  PacketReader reader;
  const auto events = feed(reader, framed);
  ASSERT_EQ(events.size(), 1u);
  ASSERT_EQ(events[0].kind, Event::Kind::packet) << events[0].error;
  EXPECT_EQ(unescape_binary(events[0].payload), std::optional<std::string>("a#b$c}d*e"));
}

TEST(GdbPacket, ReadsPacketsAcksAndInterruptsInOrder) {
  PacketReader reader;
  const auto events = feed(reader, "+$g#67-\x03$?#3f");
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].kind, Event::Kind::ack);
  EXPECT_EQ(events[1].kind, Event::Kind::packet);
  EXPECT_EQ(events[1].payload, "g");
  EXPECT_EQ(events[2].kind, Event::Kind::nack);
  EXPECT_EQ(events[3].kind, Event::Kind::interrupt);
  EXPECT_EQ(events[4].payload, "?");
}

TEST(GdbPacket, APacketSplitAcrossReadsIsReassembled) {
  PacketReader reader;
  const std::string framed = encode_packet("m80000000,40");
  std::vector<Event> out;
  for (const char c : framed) reader.feed(std::string_view(&c, 1), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "m80000000,40");
}

TEST(GdbPacket, BadChecksumIsAnErrorNamingBothSums) {
  PacketReader reader;
  const auto events = feed(reader, "$g#00");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::error);
  EXPECT_NE(events[0].error.find("bad checksum: packet says 00, payload sums to 67"), std::string::npos);
  // The reader recovers: the next packet is fine.
  const auto next = feed(reader, "$g#67");
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].kind, Event::Kind::packet);
}

TEST(GdbPacket, NonHexChecksumIsAnError) {
  PacketReader reader;
  const auto events = feed(reader, "$g#zz$g#6G");
  ASSERT_EQ(events.size(), 2u);
  for (const Event& e : events) {
    EXPECT_EQ(e.kind, Event::Kind::error);
    EXPECT_EQ(e.error, "checksum is not two hex digits");
  }
}

TEST(GdbPacket, OversizedPacketIsDroppedWholeAndTheStreamRecovers) {
  PacketReader reader(16);
  std::string big(1 << 20, 'A'); // a megabyte of payload: never buffered beyond the limit
  uint8_t sum = 0;
  for (const char c : big) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(c));
  char cs[3];
  snprintf(cs, sizeof(cs), "%02x", sum);
  const auto events = feed(reader, "$" + big + "#" + cs + "$g#67");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Event::Kind::error);
  EXPECT_EQ(events[0].error, "packet longer than 16 bytes dropped");
  EXPECT_EQ(events[1].payload, "g");
}

TEST(GdbPacket, DollarInsidePacketRestartsIt) {
  PacketReader reader;
  const auto events = feed(reader, "$m1,2$g#67");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Event::Kind::error);
  EXPECT_EQ(events[1].kind, Event::Kind::packet);
  EXPECT_EQ(events[1].payload, "g");
}

TEST(GdbPacket, StrayBytesAreReportedOnceBeforeTheNextPacket) {
  PacketReader reader;
  const auto events = feed(reader, "hello$g#67");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Event::Kind::error);
  EXPECT_EQ(events[0].error, "5 stray byte(s) outside a packet ignored");
  EXPECT_EQ(events[1].payload, "g");
}

TEST(GdbPacket, UnescapeRejectsATrailingEscape) {
  EXPECT_EQ(unescape_binary("ab}"), std::nullopt);
  EXPECT_EQ(unescape_binary("}]"), std::optional<std::string>("}"));
}

TEST(GdbPacket, HexParsingIsStrict) {
  uint64_t v = 0;
  EXPECT_TRUE(parse_hex("ffffffffffffffff", v));
  EXPECT_EQ(v, ~uint64_t{0});
  EXPECT_FALSE(parse_hex("1ffffffffffffffff", v)); // 65 bits
  EXPECT_FALSE(parse_hex("", v));
  EXPECT_FALSE(parse_hex("-1", v));
  EXPECT_FALSE(parse_hex("0x10", v));
  std::vector<uint8_t> bytes;
  EXPECT_FALSE(from_hex("abc", bytes));
  EXPECT_FALSE(from_hex("zz", bytes));
  ASSERT_TRUE(from_hex("00ff7F", bytes));
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0, 0xff, 0x7f}));
  EXPECT_EQ(to_hex_le(0x1122334455667788, 8), "8877665544332211");
  EXPECT_EQ(to_hex_le(0x11223344, 4), "44332211");
  EXPECT_TRUE(from_hex_le("8877665544332211", 8, v));
  EXPECT_EQ(v, 0x1122334455667788u);
  EXPECT_FALSE(from_hex_le("887766", 4, v)); // wrong width
}

} // namespace
} // namespace nimbus::machine::gdb

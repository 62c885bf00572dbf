#pragma once
// The framing layer of the GDB Remote Serial Protocol: the byte stream between gdb and a stub is
// packets ("$payload#cs", cs the modulo-256 sum of the payload in two hex digits), single-byte
// acknowledgements ('+', '-') and the interrupt byte 0x03 (Ctrl-C). PacketReader turns arriving
// bytes into those events, with a precise error for anything else (bad checksum, oversized
// packet, stray bytes), never trusting the stream; encode_packet frames a reply.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nimbus::machine::gdb {

struct Event {
  enum class Kind {
    packet,    // payload holds the (still escaped) contents
    ack,       // '+'
    nack,      // '-': resend the last reply
    interrupt, // 0x03
    error,     // a malformed packet: the stub answers '-' (error says what was wrong)
  };
  Kind kind = Kind::packet;
  std::string payload;
  std::string error;
};

class PacketReader {
public:
  // Packets longer than `max_payload` bytes are dropped whole and reported as an error.
  explicit PacketReader(size_t max_payload = 16384) : max_payload_(max_payload) {}

  // Consumes `len` bytes, appending every event they complete to `out`; a packet cut between two
  // calls is kept until its end arrives.
  void feed(const uint8_t* data, size_t len, std::vector<Event>& out);
  void feed(std::string_view bytes, std::vector<Event>& out) {
    feed(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), out);
  }

private:
  enum class State { idle, payload, checksum_high, checksum_low };
  void error(std::vector<Event>& out, std::string message);
  size_t max_payload_;
  State state_ = State::idle;
  std::string payload_;
  uint8_t sum_ = 0;
  uint8_t received_ = 0; // the checksum as sent
  bool oversized_ = false;
  bool bad_digit_ = false;
  std::string stray_; // bytes between packets that belong to none (reported once, at the next event)
};

// "$payload#cs" with '#', '$', '}' and '*' escaped ('}' then the byte xor 0x20).
std::string encode_packet(std::string_view payload);
// Undoes the escaping of a binary payload (X packets); nullopt if it ends in a lone '}'.
std::optional<std::string> unescape_binary(std::string_view data);
// Escapes binary data for a reply (qXfer) without framing it.
std::string escape_binary(std::string_view data);

// Hex helpers. parse_hex accepts 1 to 16 hex digits (no sign, no prefix); anything else, or a
// value that would not fit 64 bits, is false.
bool parse_hex(std::string_view text, uint64_t& value);
std::string to_hex(const uint8_t* data, size_t len);
// Two hex digits per byte; false for an odd length or a non-hex digit.
bool from_hex(std::string_view text, std::vector<uint8_t>& out);
// A register value in target byte order (little-endian), `bytes` long.
std::string to_hex_le(uint64_t value, unsigned bytes);
bool from_hex_le(std::string_view text, unsigned bytes, uint64_t& value);

} // namespace nimbus::machine::gdb

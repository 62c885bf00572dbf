#include "machine/gdb/packet.hpp"

#include <fmt/format.h>

namespace nimbus::machine::gdb {

namespace {

int hex_digit(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char kDigits[] = "0123456789abcdef";

bool needs_escape(char c) { return c == '#' || c == '$' || c == '}' || c == '*'; }

} // namespace

void PacketReader::error(std::vector<Event>& out, std::string message) {
  Event e;
  e.kind = Event::Kind::error;
  e.error = std::move(message);
  out.push_back(std::move(e));
}

void PacketReader::feed(const uint8_t* data, size_t len, std::vector<Event>& out) {
  for (size_t i = 0; i < len; ++i) {
    const uint8_t c = data[i];
    switch (state_) {
    case State::idle:
      if (c == '$') {
        state_ = State::payload;
        payload_.clear();
        sum_ = 0;
        oversized_ = bad_digit_ = false;
        if (!stray_.empty()) {
          error(out, fmt::format("{} stray byte(s) outside a packet ignored", stray_.size()));
          stray_.clear();
        }
      } else if (c == '+' || c == '-' || c == 0x03) {
        out.push_back(Event{c == '+' ? Event::Kind::ack : c == '-' ? Event::Kind::nack : Event::Kind::interrupt, {}, {}});
      } else if (stray_.size() < 64) {
        stray_.push_back(static_cast<char>(c));
      }
      break;
    case State::payload:
      if (c == '#') {
        state_ = State::checksum_high;
      } else if (c == '$') { // a new packet before this one ended: this one is lost
        error(out, "packet restarted by '$' before its '#'");
        payload_.clear();
        sum_ = 0;
        oversized_ = false;
      } else {
        sum_ = static_cast<uint8_t>(sum_ + c);
        if (payload_.size() < max_payload_)
          payload_.push_back(static_cast<char>(c));
        else
          oversized_ = true;
      }
      break;
    case State::checksum_high: {
      const int d = hex_digit(c);
      bad_digit_ = d < 0;
      received_ = static_cast<uint8_t>((d < 0 ? 0 : d) << 4);
      state_ = State::checksum_low;
      break;
    }
    case State::checksum_low: {
      const int d = hex_digit(c);
      state_ = State::idle;
      if (bad_digit_ || d < 0) {
        error(out, "checksum is not two hex digits");
      } else if (oversized_) {
        error(out, fmt::format("packet longer than {} bytes dropped", max_payload_));
      } else if ((received_ | d) != sum_) {
        error(out, fmt::format("bad checksum: packet says {:02x}, payload sums to {:02x}", received_ | d, sum_));
      } else {
        Event e;
        e.kind = Event::Kind::packet;
        e.payload = std::move(payload_);
        out.push_back(std::move(e));
      }
      payload_.clear();
      break;
    }
    }
  }
}

std::string encode_packet(std::string_view payload) {
  std::string out = "$";
  uint8_t sum = 0;
  for (const char c : payload) {
    if (needs_escape(c)) {
      out.push_back('}');
      sum = static_cast<uint8_t>(sum + '}');
      const char e = static_cast<char>(c ^ 0x20);
      out.push_back(e);
      sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(e));
    } else {
      out.push_back(c);
      sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(c));
    }
  }
  out.push_back('#');
  out.push_back(kDigits[sum >> 4]);
  out.push_back(kDigits[sum & 15]);
  return out;
}

std::optional<std::string> unescape_binary(std::string_view data) {
  std::string out;
  out.reserve(data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '}') {
      if (++i == data.size()) return std::nullopt;
      out.push_back(static_cast<char>(data[i] ^ 0x20));
    } else {
      out.push_back(data[i]);
    }
  }
  return out;
}

std::string escape_binary(std::string_view data) {
  std::string out;
  out.reserve(data.size());
  for (const char c : data) {
    if (needs_escape(c)) {
      out.push_back('}');
      out.push_back(static_cast<char>(c ^ 0x20));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool parse_hex(std::string_view text, uint64_t& value) {
  if (text.empty() || text.size() > 16) return false;
  uint64_t v = 0;
  for (const char c : text) {
    const int d = hex_digit(static_cast<uint8_t>(c));
    if (d < 0) return false;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  value = v;
  return true;
}

std::string to_hex(const uint8_t* data, size_t len) {
  std::string out;
  out.reserve(2 * len);
  for (size_t i = 0; i < len; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  return out;
}

bool from_hex(std::string_view text, std::vector<uint8_t>& out) {
  if (text.size() % 2 != 0) return false;
  out.clear();
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    const int high = hex_digit(static_cast<uint8_t>(text[i]));
    const int low = hex_digit(static_cast<uint8_t>(text[i + 1]));
    if (high < 0 || low < 0) return false;
    out.push_back(static_cast<uint8_t>(high << 4 | low));
  }
  return true;
}

std::string to_hex_le(uint64_t value, unsigned bytes) {
  uint8_t raw[8];
  for (unsigned i = 0; i < 8; ++i) raw[i] = static_cast<uint8_t>(value >> (8 * i));
  return to_hex(raw, bytes > 8 ? 8 : bytes);
}

bool from_hex_le(std::string_view text, unsigned bytes, uint64_t& value) {
  std::vector<uint8_t> raw;
  if (bytes > 8 || text.size() != 2 * size_t{bytes} || !from_hex(text, raw)) return false;
  uint64_t v = 0;
  for (unsigned i = 0; i < bytes; ++i) v |= uint64_t{raw[i]} << (8 * i);
  value = v;
  return true;
}

} // namespace nimbus::machine::gdb

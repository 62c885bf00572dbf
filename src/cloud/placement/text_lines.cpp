#include "cloud/placement/text_lines.hpp"

#include <fmt/format.h>

#include <limits>

#include "cloud/placement/instance.hpp"

namespace nimbus::cloud::placement {

bool parse_int64(std::string_view token, int64_t& value) {
  if (token.empty()) return false;
  std::size_t i = 0;
  bool negative = false;
  if (token[0] == '-' || token[0] == '+') {
    negative = token[0] == '-';
    i = 1;
  }
  if (i == token.size()) return false;
  uint64_t magnitude = 0;
  for (; i < token.size(); ++i) {
    const char c = token[i];
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
    if (magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  }
  value = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
  return true;
}

TextLineReader::TextLineReader(std::string file_name, std::string_view text)
    : file_(std::move(file_name)), text_(text) {}

bool TextLineReader::read_line(TextLine& out) {
  while (pos_ < text_.size()) {
    std::size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) end = text_.size();
    std::string_view line = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    ++line_no_;
    last_line_ = line_no_;
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    out.tokens.clear();
    out.number = line_no_;
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      const std::size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
      if (i > start) out.tokens.push_back(line.substr(start, i - start));
    }
    if (!out.tokens.empty()) return true;
  }
  return false;
}

bool TextLineReader::at_end() {
  if (has_pending_) return false;
  has_pending_ = read_line(pending_);
  return !has_pending_;
}

TextLine TextLineReader::next(std::string_view expecting) {
  if (!has_pending_ && !read_line(pending_)) fail(end_line(), fmt::format("truncated file: expected {}", expecting));
  has_pending_ = false;
  return pending_;
}

void TextLineReader::fail(std::size_t line, const std::string& message) const { throw InputError(file_, line, message); }

int64_t TextLineReader::integer(const TextLine& line, std::size_t token, std::string_view what, int64_t min) const {
  const std::string_view text = line.tokens.at(token);
  int64_t value = 0;
  if (!parse_int64(text, value)) {
    // Distinguish a number that is merely too large from text that is not a number.
    bool digits = !text.empty();
    for (std::size_t i = (text[0] == '-' || text[0] == '+') ? 1 : 0; i < text.size(); ++i)
      digits = digits && text[i] >= '0' && text[i] <= '9';
    if (digits) fail(line.number, fmt::format("{} '{}' is too large (at most {})", what, text, kMaxQuantity));
    fail(line.number, fmt::format("{} '{}' is not an integer", what, text));
  }
  if (value < 0) fail(line.number, fmt::format("{} {} is negative", what, value));
  if (value < min) fail(line.number, fmt::format("{} {} must be at least {}", what, value, min));
  if (value > kMaxQuantity) fail(line.number, fmt::format("{} {} is too large (at most {})", what, value, kMaxQuantity));
  return value;
}

void TextLineReader::expect_tokens(const TextLine& line, std::size_t count, std::string_view what) const {
  if (line.tokens.size() < count)
    fail(line.number, fmt::format("expected {} ({} field{}), found {} field{}", what, count, count == 1 ? "" : "s",
                                  line.tokens.size(), line.tokens.size() == 1 ? "" : "s"));
  if (line.tokens.size() > count)
    fail(line.number, fmt::format("expected {} ({} field{}), found {} fields: unexpected '{}'", what, count,
                                  count == 1 ? "" : "s", line.tokens.size(), line.tokens[count]));
}

} // namespace nimbus::cloud::placement

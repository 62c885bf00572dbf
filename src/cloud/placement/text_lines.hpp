#pragma once
// Reads the whitespace-separated numeric text formats line by line, keeping line numbers so
// every error names the file and line. Blank lines and '#' comments are skipped.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cloud/placement/input_error.hpp"

namespace nimbus::cloud::placement {

struct TextLine {
  std::size_t number = 0;             // 1-based
  std::vector<std::string_view> tokens;
};

class TextLineReader {
public:
  TextLineReader(std::string file_name, std::string_view text);

  // The next line with at least one token; throws "truncated file" naming `expecting` at EOF.
  TextLine next(std::string_view expecting);
  bool at_end();
  // Line number just past the last line (where a missing line would have been).
  std::size_t end_line() const { return last_line_ + 1; }

  [[noreturn]] void fail(std::size_t line, const std::string& message) const;
  // Parses a token as a non-negative integer in [min, kMaxQuantity]; `what` names the field.
  int64_t integer(const TextLine& line, std::size_t token, std::string_view what, int64_t min) const;
  // Requires exactly `count` tokens on the line.
  void expect_tokens(const TextLine& line, std::size_t count, std::string_view what) const;

  const std::string& file_name() const { return file_; }

private:
  std::string file_;
  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_no_ = 0;
  std::size_t last_line_ = 0;
  bool has_pending_ = false;
  TextLine pending_;
  bool read_line(TextLine& out);
};

// Strict integer parse of a decimal token ("12", "-3"); false on anything else or overflow.
bool parse_int64(std::string_view token, int64_t& value);

} // namespace nimbus::cloud::placement

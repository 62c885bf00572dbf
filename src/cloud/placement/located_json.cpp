#include "cloud/placement/located_json.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <tuple>

#include "cloud/placement/input_error.hpp"

namespace nimbus::cloud::placement {

const char* LocatedJson::kind_name(Kind kind) {
  switch (kind) {
  case Kind::Null: return "null";
  case Kind::Bool: return "a boolean";
  case Kind::Number: return "a number";
  case Kind::String: return "a string";
  case Kind::Array: return "an array";
  case Kind::Object: return "an object";
  }
  return "?";
}

namespace {

// Deep nesting is bad input, not a reason to overflow the stack.
constexpr int kMaxDepth = 64;

class Parser {
public:
  Parser(std::string_view text, const std::string& file) : text_(text), file_(file) {}

  LocatedJson document() {
    LocatedJson v = value(0);
    skip_space();
    if (pos_ < text_.size()) fail(fmt::format("unexpected '{}' after the JSON document", text_[pos_]));
    return v;
  }

private:
  std::string_view text_;
  const std::string& file_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;

  [[noreturn]] void fail(const std::string& message) const { throw InputError(file_, line_, message); }

  void skip_space() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '\n') ++line_;
      else if (c != ' ' && c != '\t' && c != '\r') return;
      ++pos_;
    }
  }

  char peek() {
    skip_space();
    if (pos_ >= text_.size()) fail("truncated file: unexpected end of JSON");
    return text_[pos_];
  }

  void expect(char c, const char* where) {
    if (peek() != c) fail(fmt::format("expected '{}' {}, found '{}'", c, where, text_[pos_]));
    ++pos_;
  }

  LocatedJson value(int depth) {
    if (depth > kMaxDepth) fail("JSON nested too deeply");
    const char c = peek();
    LocatedJson v;
    v.line = line_;
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') {
      v.kind = LocatedJson::Kind::String;
      v.text = string();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    for (const auto& [word, kind, b] : {std::tuple{"true", LocatedJson::Kind::Bool, true},
                                        std::tuple{"false", LocatedJson::Kind::Bool, false},
                                        std::tuple{"null", LocatedJson::Kind::Null, false}}) {
      const std::string_view w(word);
      if (text_.substr(pos_, w.size()) == w) {
        pos_ += w.size();
        v.kind = kind;
        v.boolean = b;
        return v;
      }
    }
    fail(fmt::format("unexpected '{}': expected a JSON value", c));
  }

  LocatedJson object(int depth) {
    LocatedJson v;
    v.kind = LocatedJson::Kind::Object;
    v.line = line_;
    ++pos_;
    if (peek() == '}') {
      ++pos_;
      return v;
    }
    for (;;) {
      if (peek() != '"') fail(fmt::format("expected a member name in quotes, found '{}'", text_[pos_]));
      std::string key = string();
      expect(':', "after a member name");
      v.members.push_back(LocatedJson::Member{std::move(key), value(depth + 1)});
      const char c = peek();
      ++pos_;
      if (c == '}') return v;
      if (c != ',') fail(fmt::format("expected ',' or '}}' in an object, found '{}'", c));
    }
  }

  LocatedJson array(int depth) {
    LocatedJson v;
    v.kind = LocatedJson::Kind::Array;
    v.line = line_;
    ++pos_;
    if (peek() == ']') {
      ++pos_;
      return v;
    }
    for (;;) {
      v.elements.push_back(value(depth + 1));
      const char c = peek();
      ++pos_;
      if (c == ']') return v;
      if (c != ',') fail(fmt::format("expected ',' or ']' in an array, found '{}'", c));
    }
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= text_.size()) fail("truncated file: unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (c == '\n') fail("unterminated string (newline inside quotes)");
      if (static_cast<unsigned char>(c) < 0x20) fail("control character inside a string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) fail("truncated file: unterminated string");
      const char e = text_[pos_++];
      switch (e) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '/': out.push_back('/'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
        unsigned code = 0;
        for (int i = 0; i < 4; ++i) {
          const char h = text_[pos_++];
          code <<= 4;
          if (h >= '0' && h <= '9') code |= static_cast<unsigned>(h - '0');
          else if (h >= 'a' && h <= 'f') code |= static_cast<unsigned>(h - 'a' + 10);
          else if (h >= 'A' && h <= 'F') code |= static_cast<unsigned>(h - 'A' + 10);
          else fail("bad hex digit in \\u escape");
        }
        // Names are informational: encode the code unit as UTF-8 (surrogates kept as is).
        if (code < 0x80) out.push_back(static_cast<char>(code));
        else if (code < 0x800) {
          out.push_back(static_cast<char>(0xC0 | (code >> 6)));
          out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        } else {
          out.push_back(static_cast<char>(0xE0 | (code >> 12)));
          out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
          out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        }
        break;
      }
      default: fail(fmt::format("bad escape '\\{}' in a string", e));
      }
    }
  }

  LocatedJson number() {
    LocatedJson v;
    v.kind = LocatedJson::Kind::Number;
    v.line = line_;
    const std::size_t start = pos_;
    bool integer = true;
    if (text_[pos_] == '-') ++pos_;
    auto digits = [&] {
      const std::size_t s = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > s;
    };
    if (!digits()) fail("bad number: expected digits");
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      integer = false;
      if (!digits()) fail("bad number: expected digits after '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      integer = false;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digits()) fail("bad number: expected digits in the exponent");
    }
    v.text = std::string(text_.substr(start, pos_ - start));
    v.number = std::strtod(v.text.c_str(), nullptr);
    v.is_integer = integer;
    return v;
  }
};

} // namespace

LocatedJson parse_located_json(std::string_view text, const std::string& file_name) {
  return Parser(text, file_name).document();
}

} // namespace nimbus::cloud::placement

#pragma once
// A small JSON reader that remembers the line of every value, so that errors found after
// parsing (a negative demand, a VM too large for every host) still name the exact line.
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nimbus::cloud::placement {

struct LocatedJson {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  std::size_t line = 0;
  bool boolean = false;
  std::string text;  // string value, or the number's literal text
  double number = 0;
  bool is_integer = false;  // number literal without fraction or exponent
  std::vector<LocatedJson> elements;
  struct Member;  // a key and its value (not std::pair: a pair of this still incomplete type does
                  // not compile with clang's checks of libstdc++)
  std::vector<Member> members;  // object members in file order

  // The member named `key`, or nullptr.
  const LocatedJson* find(std::string_view key) const;
  static const char* kind_name(Kind kind);
};

struct LocatedJson::Member {
  std::string key;
  LocatedJson value;
};

inline const LocatedJson* LocatedJson::find(std::string_view key) const {
  for (const auto& [k, v] : members)
    if (k == key) return &v;
  return nullptr;
}

// Parses `text`; throws InputError naming the file and line of a syntax error.
LocatedJson parse_located_json(std::string_view text, const std::string& file_name);

} // namespace nimbus::cloud::placement

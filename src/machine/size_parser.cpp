#include "machine/size_parser.hpp"

#include <cctype>
#include <charconv>

namespace nimbus::machine {

std::optional<uint64_t> parse_size(std::string_view text) {
  uint64_t number = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, number);
  if (ec != std::errc() || ptr == begin) return std::nullopt;
  std::string_view suffix(ptr, static_cast<size_t>(end - ptr));
  // Accept "M", "MB", "MiB" in any case, as QEMU users do.
  if (suffix.size() == 3 && (suffix[1] == 'i' || suffix[1] == 'I') && (suffix[2] == 'b' || suffix[2] == 'B'))
    suffix = suffix.substr(0, 1);
  else if (suffix.size() == 2 && (suffix[1] == 'b' || suffix[1] == 'B'))
    suffix = suffix.substr(0, 1);
  unsigned shift = 0;
  if (suffix.empty()) shift = 0;
  else if (suffix.size() != 1) return std::nullopt;
  else {
    switch (std::toupper(static_cast<unsigned char>(suffix[0]))) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return std::nullopt;
    }
  }
  if (shift && number > (~uint64_t{0} >> shift)) return std::nullopt;
  return number << shift;
}

} // namespace nimbus::machine

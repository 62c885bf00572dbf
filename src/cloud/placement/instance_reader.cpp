// Format detection and file reading for the three instance formats.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cloud/placement/input_error.hpp"
#include "cloud/placement/instance_formats.hpp"

namespace nimbus::cloud::placement {

namespace {
bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
} // namespace

bool parse_instance_format(std::string_view name, InstanceFormat& format) {
  if (name == "auto") format = InstanceFormat::Auto;
  else if (name == "bpp") format = InstanceFormat::Bpp;
  else if (name == "vbp") format = InstanceFormat::Vbp;
  else if (name == "json") format = InstanceFormat::Json;
  else return false;
  return true;
}

InstanceFormat detect_instance_format(std::string_view text, const std::string& file_name) {
  if (ends_with(file_name, ".json")) return InstanceFormat::Json;
  if (ends_with(file_name, ".vbp")) return InstanceFormat::Vbp;
  if (ends_with(file_name, ".bpp") || ends_with(file_name, ".txt")) return InstanceFormat::Bpp;
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] == '{') return InstanceFormat::Json;
  // From the third content line on, the classic format has one weight per line while the
  // vector format has demands and a count: two or more fields means vector.
  std::istringstream in{std::string(text)};
  std::string line;
  int content_lines = 0;
  while (std::getline(in, line)) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    int n = 0;
    std::string f;
    while (fields >> f) ++n;
    if (n == 0) continue;
    if (++content_lines >= 3 && n >= 2) return InstanceFormat::Vbp;
    if (content_lines == 2 && n >= 2) return InstanceFormat::Vbp;
  }
  return InstanceFormat::Bpp;
}

Instance read_instance_text(std::string_view text, const std::string& file_name, InstanceFormat format,
                            std::size_t max_items) {
  if (format == InstanceFormat::Auto) format = detect_instance_format(text, file_name);
  switch (format) {
  case InstanceFormat::Bpp: return read_bpp_instance(text, file_name, max_items);
  case InstanceFormat::Vbp: return read_vbp_instance(text, file_name, max_items);
  case InstanceFormat::Json: return read_json_instance(text, file_name, max_items);
  case InstanceFormat::Auto: break;
  }
  throw InputError(file_name, 0, "unknown instance format");
}

Instance read_instance_file(const std::string& path, InstanceFormat format) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, 0, fmt::format("cannot open: {}", std::strerror(errno)));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw InputError(path, 0, "read error");
  const std::string text = buffer.str();
  return read_instance_text(text, path, format);
}

} // namespace nimbus::cloud::placement

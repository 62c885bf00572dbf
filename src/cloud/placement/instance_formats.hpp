#pragma once
// Readers for the three instance formats. Each takes the file's text and a name to put in
// errors, and throws InputError ("file:line: message") on any bad input.
//
//  bpp    classic one-dimensional (BPPLIB / OR-Library style):
//           n            item count
//           C            capacity
//           w1 .. wn     one weight per line
//  vbp    vector (vpsolver style):
//           D            dimensions (1..4)
//           C1 .. CD     host capacity
//           m            number of item types
//           d1 .. dD k   m lines: demands, then how many items of that type
//  json   {"dimensions": ["vcpu", "mem"], "host_types": [{"name", "capacity", "cost"}],
//          "vms": [{"name", "demand", "count"}]}   (see docs/placement.md)
#include <string>
#include <string_view>

#include "cloud/placement/instance.hpp"

namespace nimbus::cloud::placement {

enum class InstanceFormat { Auto, Bpp, Vbp, Json };

// `max_items`: the most items (after expanding counts) accepted, kMaxItems unless a caller
// wants less (a fuzzer, whose inputs must each take well under its time limit).
Instance read_bpp_instance(std::string_view text, const std::string& file_name, std::size_t max_items = kMaxItems);
Instance read_vbp_instance(std::string_view text, const std::string& file_name, std::size_t max_items = kMaxItems);
Instance read_json_instance(std::string_view text, const std::string& file_name, std::size_t max_items = kMaxItems);

// Picks the format from the extension (.bpp/.txt, .vbp, .json) or else from the content.
InstanceFormat detect_instance_format(std::string_view text, const std::string& file_name);
Instance read_instance_text(std::string_view text, const std::string& file_name, InstanceFormat format,
                            std::size_t max_items = kMaxItems);
// Reads a file; an unreadable file is an InputError at line 0.
Instance read_instance_file(const std::string& path, InstanceFormat format);

// "bpp", "vbp", "json", "auto" <-> enum; false for an unknown name.
bool parse_instance_format(std::string_view name, InstanceFormat& format);

} // namespace nimbus::cloud::placement

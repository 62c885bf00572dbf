#pragma once
// Parses memory sizes as users write them on QEMU's command line: 256M, 1G, 65536K, 512MiB, or a
// plain byte count. Returns nullopt for anything else (the caller says what was wrong).
#include <cstdint>
#include <optional>
#include <string_view>

namespace nimbus::machine {

std::optional<uint64_t> parse_size(std::string_view text);

} // namespace nimbus::machine

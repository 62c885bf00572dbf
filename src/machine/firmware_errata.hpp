#pragma once
// Known bugs of firmware images the board loads, fixed in place when the exact faulty code is
// found (docs/smp.md, "OpenSBI 1.1's hart_start race").
//
// Debian's OpenSBI 1.1 (`--bios opensbi`, fw_dynamic.bin and fw_jump.bin) publishes a hart's
// START_PENDING state in sbi_hsm_hart_start before it writes the start address, argument and
// mode into that hart's scratch area. The hart it starts spins in its warm-boot wait (its
// cold-boot IPI is still pending, so WFI does not stop it) and may leave with the stale values,
// which send it to the kernel's primary entry. Real harts never see the few instructions between
// the two apart; harts on host threads do when the host deschedules the caller's thread there.
// Upstream OpenSBI later moved the stores before the compare-and-swap; so does this fix.
#include <cstdint>
#include <string>
#include <vector>

#include "machine/bus.hpp"

namespace nimbus::machine {

// Looks for the faulty code in RAM [start, end) (a firmware image just loaded there) and fixes
// it. Returns the names of the fixes applied (none for any other firmware).
std::vector<std::string> fix_firmware_errata(Bus& bus, uint64_t start, uint64_t end);

} // namespace nimbus::machine

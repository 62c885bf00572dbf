#pragma once
// Loads firmware, kernels, initrds and extra files into guest RAM, and computes where each goes
// the way QEMU 7.2's virt board does. Bad files are reported with a BootError naming the file
// and the problem; nothing is written outside RAM.
#include <cstdint>
#include <stdexcept>
#include <functional>
#include <string>
#include <vector>

#include "machine/bus.hpp"

namespace nimbus::machine {

class BootError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct LoadedImage {
  uint64_t entry = 0; // physical address execution starts at
  uint64_t start = 0; // lowest physical address written
  uint64_t end = 0;   // one past the highest address the image occupies (incl. BSS / image_size)
  bool elf = false;
  bool linux_image = false; // a raw RISC-V Linux `Image` recognised by its header
};

// The whole file; throws BootError if it cannot be read.
std::vector<uint8_t> read_boot_file(const std::string& path);

// Copies the file into guest RAM at `address` a piece at a time, so the host never holds a copy
// of all of it (a 40 MiB initramfs would otherwise cost the VMM 40 MiB beyond guest RAM while it
// boots). `check(size)` runs before any byte is written and throws to refuse the placement (a
// pipe, which has no size, is read whole first). Returns the size. Throws BootError if the file
// cannot be read.
uint64_t copy_boot_file_to_ram(Bus& bus, const std::string& path, uint64_t address,
                               const std::function<void(uint64_t size)>& check);

bool looks_like_elf(const std::vector<uint8_t>& bytes);
// True for a RISC-V Linux `Image` (magic "RISCV" at 0x30 or "RSC\x05" at 0x38).
bool looks_like_linux_image(const std::vector<uint8_t>& bytes);

// A 64-bit little-endian RISC-V ELF, loaded at its segments' physical addresses.
LoadedImage load_elf(Bus& bus, const std::string& path, const std::vector<uint8_t>& bytes);
// A raw binary at `address` (a Linux Image reserves its header's image_size).
LoadedImage load_raw(Bus& bus, const std::string& path, const std::vector<uint8_t>& bytes, uint64_t address);
// ELF if the file is one, otherwise raw at `raw_address`.
LoadedImage load_image(Bus& bus, const std::string& path, uint64_t raw_address);

// Placement rules of QEMU 7.2's virt board.
constexpr uint64_t kMiB = 1024 * 1024;
// The kernel goes at the first 2 MiB boundary at or after the firmware's end.
uint64_t kernel_address_after_firmware(uint64_t firmware_end);
// The initrd goes min(ram / 2, 128 MiB) past the kernel so a decompressing kernel won't clobber it.
uint64_t initrd_address(uint64_t kernel_start, uint64_t ram_size);
// The DTB goes at the top of RAM (but below 3 GiB) aligned down to 2 MiB.
uint64_t dtb_address(uint64_t ram_base, uint64_t ram_size, uint64_t dtb_size);

} // namespace nimbus::machine

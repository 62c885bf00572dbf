#include "machine/boot_loader.hpp"

#include <elf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

namespace nimbus::machine {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw BootError(path + ": " + problem);
}

void place(Bus& bus, const std::string& path, uint64_t address, const uint8_t* data, uint64_t len, uint64_t span) {
  if (!bus.is_ram(address, std::max<uint64_t>(span, 1)))
    fail(path, fmt::format("{} bytes at {:#x} do not fit in RAM [{:#x}, {:#x})", span, address, bus.ram_base(),
                           bus.ram_base() + bus.ram_size()));
  if (len) bus.copy_to_ram(address, data, len);
}

std::ifstream open_boot_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, fmt::format("cannot open: {}", std::strerror(errno)));
  return in;
}

// The file's size with the stream back at its start, or -1 when it cannot seek (a pipe).
std::streamoff seekable_size(std::ifstream& in) {
  const std::streamoff size = in.seekg(0, std::ios::end) ? std::streamoff(in.tellg()) : -1;
  if (size < 0 || !in.seekg(0)) {
    in.clear();
    return -1;
  }
  return size;
}

// What is left of a stream that has no size, read to its end.
std::vector<uint8_t> read_stream(std::ifstream& in, const std::string& path) {
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(path, "read error");
  return bytes;
}

} // namespace

std::vector<uint8_t> read_boot_file(const std::string& path) {
  std::ifstream in = open_boot_file(path);
  // One allocation of the file's size: growing a vector byte by byte left the freed doublings
  // (up to twice a kernel image) in the VMM's heap for as long as it ran.
  const std::streamoff size = seekable_size(in);
  if (size < 0) return read_stream(in, path);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size) || in.gcount() != size) fail(path, "read error");
  return bytes;
}

uint64_t copy_boot_file_to_ram(Bus& bus, const std::string& path, uint64_t address,
                               const std::function<void(uint64_t size)>& check) {
  std::ifstream in = open_boot_file(path);
  const std::streamoff size = seekable_size(in);
  if (size < 0) { // a pipe: no size until it is read (from the same stream: a pipe is read once)
    const std::vector<uint8_t> bytes = read_stream(in, path);
    check(bytes.size());
    if (!bytes.empty()) bus.copy_to_ram(address, bytes.data(), bytes.size());
    return bytes.size();
  }
  const auto total = static_cast<uint64_t>(size);
  check(total);
  std::vector<char> piece(std::min<uint64_t>(total, kMiB));
  for (uint64_t done = 0; done < total;) {
    const auto n = static_cast<std::streamsize>(std::min<uint64_t>(piece.size(), total - done));
    if (!in.read(piece.data(), n) || in.gcount() != n) fail(path, "read error (did the file shrink?)");
    bus.copy_to_ram(address + done, piece.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  return total;
}

bool looks_like_elf(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= SELFMAG && std::memcmp(bytes.data(), ELFMAG, SELFMAG) == 0;
}

bool looks_like_linux_image(const std::vector<uint8_t>& bytes) {
  if (bytes.size() < 0x40) return false;
  return std::memcmp(bytes.data() + 0x30, "RISCV\0\0\0", 8) == 0 || std::memcmp(bytes.data() + 0x38, "RSC\x05", 4) == 0;
}

LoadedImage load_elf(Bus& bus, const std::string& path, const std::vector<uint8_t>& bytes) {
  if (!looks_like_elf(bytes)) fail(path, "not an ELF file (bad magic)");
  if (bytes.size() < EI_NIDENT) fail(path, "truncated ELF identification");
  if (bytes[EI_CLASS] != ELFCLASS64) fail(path, fmt::format("not a 64-bit ELF (class {})", bytes[EI_CLASS]));
  if (bytes[EI_DATA] != ELFDATA2LSB) fail(path, "not a little-endian ELF");
  if (bytes.size() < sizeof(Elf64_Ehdr)) fail(path, "truncated ELF header");
  Elf64_Ehdr eh{};
  std::memcpy(&eh, bytes.data(), sizeof eh);
  if (eh.e_machine != EM_RISCV)
    fail(path, fmt::format("ELF machine {} is not RISC-V (expected {})", eh.e_machine, EM_RISCV));
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
    fail(path, fmt::format("ELF type {} is not an executable", eh.e_type));
  if (eh.e_phnum == 0) fail(path, "ELF has no program headers");
  if (eh.e_phentsize != sizeof(Elf64_Phdr)) fail(path, fmt::format("ELF program header size {} is wrong", eh.e_phentsize));
  const uint64_t ph_bytes = uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
  if (eh.e_phoff > bytes.size() || ph_bytes > bytes.size() - eh.e_phoff)
    fail(path, "truncated: program headers extend past the end of the file");

  LoadedImage image;
  image.elf = true;
  image.start = ~uint64_t{0};
  bool entry_translated = false;
  image.entry = eh.e_entry;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    std::memcpy(&ph, bytes.data() + eh.e_phoff + i * sizeof(Elf64_Phdr), sizeof ph);
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    if (ph.p_filesz > ph.p_memsz) fail(path, fmt::format("segment {} has file size larger than memory size", i));
    if (ph.p_offset > bytes.size() || ph.p_filesz > bytes.size() - ph.p_offset)
      fail(path, fmt::format("truncated: segment {} extends past the end of the file", i));
    if (!bus.is_ram(ph.p_paddr, ph.p_memsz))
      fail(path, fmt::format("segment {} at {:#x} ({} bytes) is outside RAM [{:#x}, {:#x})", i, ph.p_paddr, ph.p_memsz,
                             bus.ram_base(), bus.ram_base() + bus.ram_size()));
    bus.copy_to_ram(ph.p_paddr, bytes.data() + ph.p_offset, ph.p_filesz);
    std::memset(bus.ram_pointer(ph.p_paddr, ph.p_memsz) + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    image.start = std::min(image.start, ph.p_paddr);
    image.end = std::max(image.end, ph.p_paddr + ph.p_memsz);
    // A kernel linked at a virtual address enters at the physical copy of its entry point.
    if (!entry_translated && eh.e_entry >= ph.p_vaddr && eh.e_entry - ph.p_vaddr < ph.p_memsz) {
      image.entry = ph.p_paddr + (eh.e_entry - ph.p_vaddr);
      entry_translated = true;
    }
  }
  if (image.end == 0) fail(path, "ELF has no loadable segments");
  if (!bus.is_ram(image.entry, 2)) fail(path, fmt::format("entry point {:#x} is outside RAM", image.entry));
  return image;
}

LoadedImage load_raw(Bus& bus, const std::string& path, const std::vector<uint8_t>& bytes, uint64_t address) {
  if (bytes.empty()) fail(path, "file is empty");
  LoadedImage image;
  image.entry = image.start = address;
  uint64_t span = bytes.size();
  // A RISC-V Linux Image starts with its 64-byte header (and, with the EFI stub, "MZ"); a file
  // that begins like one but ends inside the header is a truncated kernel, not a raw program.
  const bool image_magic_cut = bytes.size() >= 0x38 && bytes.size() < 0x40 &&
                               std::memcmp(bytes.data() + 0x30, "RISCV\0\0\0", 8) == 0;
  const bool efi_stub_cut = bytes.size() >= 2 && bytes.size() < 0x40 && bytes[0] == 'M' && bytes[1] == 'Z';
  if (image_magic_cut || efi_stub_cut)
    fail(path, fmt::format("truncated Linux Image: {} bytes, shorter than its 64-byte header", bytes.size()));
  if (looks_like_linux_image(bytes)) {
    image.linux_image = true;
    uint64_t image_size = 0;
    std::memcpy(&image_size, bytes.data() + 0x10, 8);
    if (image_size > bus.ram_size()) fail(path, fmt::format("Linux Image header claims {} bytes, more than RAM", image_size));
    span = std::max(span, image_size);
  }
  place(bus, path, address, bytes.data(), bytes.size(), span);
  image.end = address + span;
  return image;
}

LoadedImage load_image(Bus& bus, const std::string& path, uint64_t raw_address) {
  const std::vector<uint8_t> bytes = read_boot_file(path);
  if (looks_like_elf(bytes)) return load_elf(bus, path, bytes);
  return load_raw(bus, path, bytes, raw_address);
}

uint64_t kernel_address_after_firmware(uint64_t firmware_end) {
  const uint64_t align = 2 * kMiB;
  return (firmware_end + align - 1) & ~(align - 1);
}

uint64_t initrd_address(uint64_t kernel_start, uint64_t ram_size) {
  return kernel_start + std::min(ram_size / 2, 128 * kMiB);
}

uint64_t dtb_address(uint64_t ram_base, uint64_t ram_size, uint64_t dtb_size) {
  const uint64_t limit = 3072 * kMiB;
  const uint64_t ram_end = ram_base + ram_size;
  const uint64_t top = ram_base < limit ? std::min(ram_end, limit) : ram_end;
  return (top - dtb_size) & ~(2 * kMiB - 1);
}

} // namespace nimbus::machine

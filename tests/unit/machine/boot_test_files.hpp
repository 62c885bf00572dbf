#pragma once
// Temporary files and synthetic boot images (ELF, Linux Image) for the boot loader tests.
#include <elf.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace nimbus::machine::testing {

class TempFile {
public:
  explicit TempFile(const std::vector<uint8_t>& bytes) {
    char name[] = "/tmp/nimbus-boot-XXXXXX";
    const int fd = mkstemp(name);
    if (fd < 0) std::abort();
    if (!bytes.empty() && write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) std::abort();
    close(fd);
    path_ = name;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

struct ElfSegment {
  uint64_t vaddr;
  uint64_t paddr;
  std::vector<uint8_t> data;
  uint64_t memsz; // >= data.size(); the rest is BSS
};

// A little-endian ELF64 executable with the given machine and PT_LOAD segments.
inline std::vector<uint8_t> make_elf(uint16_t machine, uint64_t entry, const std::vector<ElfSegment>& segments,
                                     unsigned char elf_class = ELFCLASS64) {
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = elf_class;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = machine;
  eh.e_version = EV_CURRENT;
  eh.e_entry = entry;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = static_cast<uint16_t>(segments.size());
  std::vector<uint8_t> out(sizeof eh + segments.size() * sizeof(Elf64_Phdr));
  std::memcpy(out.data(), &eh, sizeof eh);
  for (size_t i = 0; i < segments.size(); ++i) {
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = PF_R | PF_X;
    ph.p_offset = out.size();
    ph.p_vaddr = segments[i].vaddr;
    ph.p_paddr = segments[i].paddr;
    ph.p_filesz = segments[i].data.size();
    ph.p_memsz = segments[i].memsz;
    ph.p_align = 8;
    std::memcpy(out.data() + sizeof eh + i * sizeof ph, &ph, sizeof ph);
    out.insert(out.end(), segments[i].data.begin(), segments[i].data.end());
  }
  return out;
}

// A raw RISC-V Linux `Image`: the 64-byte header then `body`.
inline std::vector<uint8_t> make_linux_image(uint64_t image_size, const std::vector<uint8_t>& body) {
  std::vector<uint8_t> out(64, 0);
  out[0] = 0x4d; // "MZ"-style code0, as real Images start with a jump
  out[1] = 0x5a;
  const uint64_t text_offset = 0x200000;
  std::memcpy(out.data() + 0x08, &text_offset, 8);
  std::memcpy(out.data() + 0x10, &image_size, 8);
  std::memcpy(out.data() + 0x30, "RISCV\0\0\0", 8);
  std::memcpy(out.data() + 0x38, "RSC\x05", 4);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

} // namespace nimbus::machine::testing

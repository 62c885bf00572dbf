#include "cli/vmm_exec.hpp"

#include <elf.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

namespace nimbus::cli {

std::string read_vmm_stamp(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  const auto read_at = [&file](void* to, size_t size, uint64_t offset) {
    file.seekg(static_cast<std::streamoff>(offset));
    return static_cast<bool>(file.read(static_cast<char*>(to), static_cast<std::streamsize>(size)));
  };
  Elf64_Ehdr header;
  if (!file || !read_at(&header, sizeof header, 0)) return {};
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
      header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shnum == 0 || header.e_shnum > 4096 ||
      header.e_shstrndx >= header.e_shnum)
    return {};
  std::vector<Elf64_Shdr> sections(header.e_shnum);
  if (!read_at(sections.data(), sections.size() * sizeof(Elf64_Shdr), header.e_shoff)) return {};
  const Elf64_Shdr& names_section = sections[header.e_shstrndx];
  if (names_section.sh_size == 0 || names_section.sh_size > (1u << 20)) return {};
  std::string names(names_section.sh_size, '\0');
  if (!read_at(names.data(), names.size(), names_section.sh_offset)) return {};
  names.back() = '\0';
  for (const Elf64_Shdr& section : sections) {
    if (section.sh_name >= names.size() || std::strcmp(names.c_str() + section.sh_name, kVmmStampSection) != 0)
      continue;
    if (section.sh_size == 0 || section.sh_size > 256 || section.sh_type == SHT_NOBITS) return {};
    std::string stamp(section.sh_size, '\0');
    if (!read_at(stamp.data(), stamp.size(), section.sh_offset)) return {};
    return stamp.substr(0, stamp.find('\0'));
  }
  return {};
}

std::string vmm_executable() {
  if (const char* env = std::getenv("NIMBUS_VMM_IN_PROCESS"); env != nullptr && std::strcmp(env, "1") == 0) return {};
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  std::string vmm = (self.parent_path() / "nimbus-vmm").string();
  if (::access(vmm.c_str(), X_OK) != 0) return {};
  return vmm;
}

void exec_vmm_for_run(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "run") != 0) return;
  const std::string vmm = vmm_executable();
  if (vmm.empty()) return;
  // A nimbus-vmm of another build would run other code than the user built: run it here instead.
  if (const std::string stamp = read_vmm_stamp(vmm); stamp != kVmmBuildStamp) {
    std::fprintf(stderr,
                 "nimbus: %s is from another build (VMM build %.12s, not %.12s): running the VM in this "
                 "process; rebuild both (ninja nimbus) or copy them together\n",
                 vmm.c_str(), stamp.empty() ? "unknown" : stamp.c_str(), kVmmBuildStamp);
    return;
  }
  ::execv(vmm.c_str(), argv);  // argv[0] stays: `ps` and pgrep -f see the command that was typed
  // Not reached unless exec failed (e.g. a broken file): the command still runs, in this process.
}

} // namespace nimbus::cli

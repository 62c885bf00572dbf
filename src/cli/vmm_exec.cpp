#include "cli/vmm_exec.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

namespace nimbus::cli {

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
  ::execv(vmm.c_str(), argv);  // argv[0] stays: `ps` and pgrep -f see the command that was typed
  // Not reached unless exec failed (e.g. a broken file): the command still runs, in this process.
}

} // namespace nimbus::cli

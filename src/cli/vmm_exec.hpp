#pragma once

#include <string>

// The stamp of the VMM's code this executable was built with (cmake/build_stamp.cmake): the
// SHA-256 of the VMM's libraries and sources in hex, the same in `nimbus` and `nimbus-vmm` of one
// build, kept in an ELF section of its own (kVmmStampSection) so another executable's can be read.
extern const char kVmmBuildStamp[];

namespace nimbus::cli {

inline constexpr const char* kVmmStampSection = ".nimbus_vmm_stamp";

// The VMM build stamp held by the executable at `path` (its kVmmStampSection), or empty when it
// has none (not an ELF file, or built before stamps).
std::string read_vmm_stamp(const std::string& path);

// The nimbus-vmm that `nimbus run` execs (beside this executable), or empty when `nimbus run`
// runs the VMM in this process: none there, or NIMBUS_VMM_IN_PROCESS=1 in the environment.
std::string vmm_executable();

// `nimbus run ...` becomes `nimbus-vmm run ...` (the same arguments, the same argv[0], the same
// process) when nimbus-vmm is beside this executable: a VM's process then maps only the VMM's
// libraries. Returns, to run the command in this process, when there is no nimbus-vmm there,
// when it comes from another build (its stamp is not this one's: binaries copied to compare two
// builds, a half-finished install; said on stderr), when exec fails, for any other command, or
// with NIMBUS_VMM_IN_PROCESS=1 in the environment.
void exec_vmm_for_run(int argc, char** argv);

} // namespace nimbus::cli

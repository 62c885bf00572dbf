#pragma once

#include <string>

namespace nimbus::cli {

// The nimbus-vmm that `nimbus run` execs (beside this executable), or empty when `nimbus run`
// runs the VMM in this process: none there, or NIMBUS_VMM_IN_PROCESS=1 in the environment.
std::string vmm_executable();

// `nimbus run ...` becomes `nimbus-vmm run ...` (the same arguments, the same argv[0], the same
// process) when nimbus-vmm is beside this executable: a VM's process then maps only the VMM's
// libraries. Returns, to run the command in this process, when there is no nimbus-vmm there,
// when exec fails, for any other command, or with NIMBUS_VMM_IN_PROCESS=1 in the environment.
void exec_vmm_for_run(int argc, char** argv);

} // namespace nimbus::cli

#pragma once

namespace nimbus::cli {

// `nimbus run ...` becomes `nimbus-vmm run ...` (the same arguments, the same argv[0], the same
// process) when nimbus-vmm is beside this executable: a VM's process then maps only the VMM's
// libraries. Returns, to run the command in this process, when there is no nimbus-vmm there,
// when exec fails, for any other command, or with NIMBUS_VMM_IN_PROCESS=1 in the environment.
void exec_vmm_for_run(int argc, char** argv);

} // namespace nimbus::cli

#!/usr/bin/env bash
# Snapshot and restore in trap mode (the guest kernel in U-mode over shadow page tables, rebuilt on restore), 2 vCPUs, with a
# disk: nimbus-bench runs, `nimbus snapshot` writes a snapshot 1 s into it, the VMM is killed
# with -9, `nimbus run --restore` resumes it (the memory file copied into frames), and the guest
# prints the checksum the benchmark computes natively (snapshot_restore_lib.sh).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/snapshot_restore_lib.sh"
snapshot_restore trap 32   # the guest must still run the benchmark at the snapshot, one second in, with room for a faster JIT

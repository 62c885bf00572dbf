#!/bin/bash
# Host memory beyond guest RAM of one VM under the VMM, per --virt mode and JIT on/off: the peak,
# over a boot and a short CPU benchmark, of the VMM process's resident memory minus that of every
# mapping of its machine memory (the memfd the VM's guest RAM frames come from; each frame is
# mapped twice: the whole pool, and the VM's view). The whole VMM process counts (binary, libraries,
# heap, devices, soft TLB, decoded blocks, code cache), so with one VM it is an upper bound per VM.
# Rss here counts each page once: the JIT's code cache, mapped at a writable and an executable
# address, counts once (as in `nimbus bench`); shared libraries count in full. Pss divides each
# page by its mappings, so it also shares libraries with other processes (and moves with them). The issue 11 bar: at most 16 MiB per VM, code cache included.
#
#   bench/vm_memory_overhead.sh NIMBUS [MODES [ROUNDS]]   (guest images from guests/build.sh)
set -euo pipefail
nimbus=${1:?usage: $0 NIMBUS [MODES [ROUNDS]]}
modes=${2:-emulate trap hw}
rounds=${3:-2}
source "$(dirname "$0")/../guests/paths.sh"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

peak() { # pid: prints "rss_mib pss_mib" (peaks of the overhead) once the process is gone
  python3 - "$1" <<'PY'
import sys, time
pid = sys.argv[1]
best_rss = best_pss = 0
while True:
    try:
        text = open(f'/proc/{pid}/smaps').read()
    except OSError:
        break
    rss = pss = guest_rss = guest_pss = 0
    guest = False
    shared_seen = {}  # (dev, inode, offset, range length) of a shared mapping -> its Rss counted
    for line in text.splitlines():
        key, _, rest = line.partition(':')
        if ' ' in key or '-' in key:  # a mapping's header line: address range perms offset dev inode name
            guest = 'nimbus-machine-memory' in line
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split('-'))
            shared = f[1][3] == 's' and f[4] != '0'
            shared_key = (f[3], f[4], f[2], hi - lo) if shared else None
        elif key == 'Rss':
            v = int(rest.split()[0]) << 10
            if shared_key is not None:  # the same pages mapped again (the code cache's two views): once
                seen = shared_seen.get(shared_key, 0)
                shared_seen[shared_key] = max(seen, v)
                v = max(v - seen, 0)
            rss += v
            if guest: guest_rss += v
        elif key == 'Pss':
            v = int(rest.split()[0]) << 10; pss += v
            if guest: guest_pss += v
    if guest_rss:  # machine memory is mapped: the VM exists
        best_rss = max(best_rss, rss - guest_rss); best_pss = max(best_pss, pss - guest_pss)
    time.sleep(0.1)
print(f'{best_rss / 2**20:.1f} {best_pss / 2**20:.1f}')
PY
}

printf '%-8s %-5s %14s %14s\n' mode jit "Rss beyond RAM" "Pss beyond RAM"
for mode in $modes; do
  for jit in on off; do
    "$nimbus" run --virt "$mode" --jit "$jit" --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
      --mem 256M --state-dir "$out/state-$mode-$jit" \
      --append "console=ttyS0 nimbus.mode=bench nimbus.bench=$rounds" < /dev/null > "$out/console" 2>&1 &
    pid=$!
    read -r rss pss < <(peak "$pid")
    wait "$pid" || true
    grep -q "NIMBUS-BENCH" "$out/console" || { echo "no benchmark result ($mode, --jit $jit)" >&2; tail -5 "$out/console" >&2; exit 1; }
    printf '%-8s %-5s %10s MiB %10s MiB\n' "$mode" "$jit" "$rss" "$pss"
  done
done

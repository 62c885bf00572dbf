#!/bin/bash
# Host memory beyond guest RAM of one VM under the VMM, per --virt mode and JIT on/off: the peak,
# over a boot and a short CPU benchmark, of the VMM process's resident memory minus that of every
# mapping of its machine memory (the memfd the VM's guest RAM frames come from; each frame is
# mapped twice: the whole pool, and the VM's view). The whole VMM process counts (binary, libraries,
# heap, devices, soft TLB, decoded blocks, code cache), so with one VM it is an upper bound per VM.
# Rss counts the JIT's code cache twice (it is mapped at a writable and an executable address) and
# shared libraries in full; Pss divides each page by its mappings (the code cache counts once) and
# shares libraries with other processes. The issue 11 bar: at most 16 MiB per VM, code cache included.
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
    for line in text.splitlines():
        key, _, rest = line.partition(':')
        if ' ' in key or '-' in key:  # a mapping's header line: address range ... name
            guest = 'nimbus-machine-memory' in line
        elif key == 'Rss':
            v = int(rest.split()[0]) << 10; rss += v
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

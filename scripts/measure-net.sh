#!/usr/bin/env bash
# Guest-to-guest TCP throughput and ping RTT, Nimbus against QEMU in the same run (issue 13).
# Both sides boot the same kernel and initramfs: a server VM (httpd with an N-MiB file) and a
# client VM (wget of the file, 5 pings). Nimbus: both VMs on one VMM, network "blue", in the mode
# given (default emulate). QEMU (TCG): two processes joined by -netdev socket (QEMU's user-mode
# network cannot connect two guests), one vCPU each.
#   scripts/measure-net.sh build/release/src/cli/nimbus [MIB] [MODE] [ROUNDS]
# Prints one line per side and round, then the ratios. Timing is wall-clock inside the guests;
# on a loaded host the figures are noisy (the load average is printed with them). Each side also
# prints the host CPU time its processes used from the ping to the end of the wget (utime + stime
# of the VMM, or of both QEMUs): CPU seconds per MiB depend much less on the host's load. "waited
# for a CPU" sums the time their threads were runnable but not running (schedstat): how much the
# host's other load held them back.
set -uo pipefail
nimbus="${1:?usage: $0 PATH/TO/nimbus [MIB] [MODE] [ROUNDS]}"
mib="${2:-16}" mode="${3:-emulate}" rounds="${4:-1}"
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/guests/build.sh" kernel initramfs > /dev/null || { echo "guests/build.sh failed" >&2; exit 1; }
# shellcheck source=../guests/paths.sh
source "$here/guests/paths.sh"
work="$(mktemp -d "${TMPDIR:-/tmp}/nimbus-measure-net.XXXXXX")"
trap 'rm -rf "$work"' EXIT
serve="console=ttyS0 nimbus.mode=net-serve nimbus.ip=10.0.0.1/24 nimbus.netbench=$mib"
fetch="console=ttyS0 nimbus.mode=net-fetch nimbus.ip=10.0.0.2/24 nimbus.peer=10.0.0.1 nimbus.netbench=$mib"

cpu_ticks() { # PID... -> utime + stime of those processes, in clock ticks
  local total=0 pid fields
  for pid in "$@"; do
    read -r -a fields < "/proc/$pid/stat" 2>/dev/null && total=$((total + fields[13] + fields[14]))
  done
  echo "$total"
}
run_queue() { # PID... -> "TID NS" per thread: how long it has waited for a CPU while runnable
  local pid file tid waited
  for pid in "$@"; do
    for file in "/proc/$pid"/task/*/schedstat; do
      tid="${file%/schedstat}" tid="${tid##*/}"
      read -r _ waited _ < "$file" 2>/dev/null && echo "$tid $waited"
    done
  done
}
wget_cpu() { # LOG PID... -> "CPU_S WAITED_S": host CPU seconds the processes used between the
             # ping and the wget lines, and seconds their threads were runnable but not running
  local log="$1" before="" after="" waited=""
  shift
  while kill -0 "$1" 2>/dev/null; do
    if [ -z "$before" ] && grep -aq '^NIMBUS-NET: ping' "$log" 2>/dev/null; then
      before=$(cpu_ticks "$@")
      run_queue "$@" > "$work/waited"
    fi
    if [ -n "$before" ] && grep -aq '^NIMBUS-NET: wget' "$log" 2>/dev/null; then
      after=$(cpu_ticks "$@")
      # Threads present at both readings (one that ended would subtract its whole wait).
      waited=$(run_queue "$@" | awk 'NR == FNR { b[$1] = $2; next } ($1 in b) { ms += ($2 - b[$1]) / 1e6 } END { printf "%d", ms }' "$work/waited" -)
      break
    fi
    sleep 0.05 # a fast client prints the wget line and powers off within a fraction of a second
  done
  if [ -n "$after" ]; then
    awk -v t=$((after - before)) -v w="$waited" -v hz="$(getconf CLK_TCK)" \
      'BEGIN { printf "%.2f %.2f", t / hz, w / 1000 }'
  else echo nan nan; fi
}
child_of() { # the process `timeout` started
  local pid=""
  for _ in $(seq 50); do pid=$(pgrep -P "$1" | head -1) && [ -n "$pid" ] && break; sleep 0.1; done
  echo "$pid"
}

figures() { # LOG -> "KIB_PER_S RTT_AVG_MS"
  local kib rtt
  kib=$(grep -a -m1 '^NIMBUS-NET: wget' "$1" | tr -d '\r' | awk '{ print $(NF-1) }')
  rtt=$(grep -a -m1 '^NIMBUS-NET: ping' "$1" | tr -d '\r' | sed 's/.*= *//' | cut -d/ -f2)
  echo "${kib:-0} ${rtt:-nan}"
}

run_nimbus() {
  rm -rf "$work/logs" "$work/state" # the last round's logs would end its wait at once
  for vm in alpha beta; do
    local append="$serve"; [ $vm = beta ] && append="$fetch"
    cat > "$work/$vm.toml" <<TOML
name = "$vm"
memory = "128M"
mode = "$mode"
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "$append"
[[net]]
network = "blue"
TOML
  done
  timeout 600 "$nimbus" run --vm "$work/alpha.toml" --vm "$work/beta.toml" --host-harts 2 --timeout 540 \
    --state-dir "$work/state" --log-dir "$work/logs" < /dev/null > "$work/nimbus.out" 2>&1 &
  local vmm=$!
  wget_cpu "$work/logs/beta.log" "$(child_of $vmm)" > "$work/cpu"
  wait "$vmm"
  python3 - "$work/state/stats.json" > "$work/nics.txt" 2>&1 <<'PY'
import json, sys
for vm in json.load(open(sys.argv[1]))["vms"]:
    n = vm["nics"][0]
    print(vm["name"], " ".join(f"{k}={n.get(k)}" for k in ("tx_frames", "tx_offloaded", "rx_frames", "rx_finished", "rx_dropped", "tx_dropped")))
PY
  echo "$(figures "$work/logs/beta.log") $(cat "$work/cpu")"
}

run_qemu() {
  rm -f "$work"/qemu-*.log
  local port=$((20000 + RANDOM % 20000))
  local common=(-M virt -nographic -monitor none -serial stdio -m 128M -smp 1 -kernel "$NIMBUS_GUEST_KERNEL" -initrd "$NIMBUS_GUEST_INITRD")
  timeout 600 qemu-system-riscv64 "${common[@]}" -append "$serve" \
    -netdev "socket,id=n0,listen=127.0.0.1:$port" -device virtio-net-device,netdev=n0,mac=52:54:00:00:00:01 \
    < /dev/null > "$work/qemu-alpha.log" 2>&1 &
  local server=$!
  sleep 1
  timeout 600 qemu-system-riscv64 "${common[@]}" -append "$fetch" \
    -netdev "socket,id=n0,connect=127.0.0.1:$port" -device virtio-net-device,netdev=n0,mac=52:54:00:00:00:02 \
    < /dev/null > "$work/qemu-beta.log" 2>&1 &
  local client=$!
  wget_cpu "$work/qemu-beta.log" "$(child_of $client)" "$(child_of $server)" > "$work/cpu"
  wait "$client"
  wait "$server"
  echo "$(figures "$work/qemu-beta.log") $(cat "$work/cpu")"
}

for r in $(seq 1 "$rounds"); do
  read -r nk nr nc nw < <(run_nimbus)
  echo "round $r nimbus ($mode): wget $mib MiB $nk KiB/s, ping avg $nr ms, host CPU $nc s, waited for a CPU $nw s (load $(cut -d' ' -f1-3 /proc/loadavg))"
  sed 's/^/  nic: /' "$work/nics.txt"
  read -r qk qr qc qw < <(run_qemu)
  echo "round $r qemu (tcg, socket): wget $mib MiB $qk KiB/s, ping avg $qr ms, host CPU $qc s, waited for a CPU $qw s (load $(cut -d' ' -f1-3 /proc/loadavg))"
  awk -v nk="$nk" -v qk="$qk" -v nr="$nr" -v qr="$qr" -v nc="$nc" -v qc="$qc" -v r="$r" \
    'BEGIN { printf "round %d throughput nimbus/qemu %.2f, rtt nimbus/qemu %.2f, host CPU per MiB nimbus/qemu %.2f\n", r,
             (qk > 0 ? nk / qk : 0), (qr > 0 ? nr / qr : 0), (qc > 0 ? nc / qc : 0) }'
done

#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine — Debian packages, the Nimbus build, the guest
# images (Linux 6.1, busybox, initramfs; cached by content hash) — then boots VMs: three Linux VMs
# side by side under the VMM, one per virtualization mode (emulate, trap, hw), each checking itself
# and printing its verdict; then other operating systems side by side in one VMM (Linux, U-Boot
# under OpenSBI, a bare-metal M-mode program); then a cloud on this machine (etcd, a controller, three host agents,
# two tenants' VMs placed by the controller, a web dashboard); and finally one Linux VM (hw mode,
# 2 vCPUs, a virtio disk) to a busybox shell on this terminal. The cloud stops when the shell ends. Leave the shell with `poweroff`, or quit at any time with Ctrl-A x.
# Extra arguments go to that last `nimbus run` (e.g. --smp 4 --mem 512M, or --virt trap).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

echo "== Debian packages"
bash "$root/scripts/install-deps.sh"
echo "== build"
bash "$root/scripts/build.sh" release
echo "== guest images"
bash "$root/guests/build.sh"
source "$root/guests/paths.sh"

disk="${NIMBUS_CACHE:-${HOME:-/var/tmp}/.cache/nimbus}/disk.img"
[ -f "$disk" ] || truncate -s 64M "$disk"
vms="${NIMBUS_CACHE:-${HOME:-/var/tmp}/.cache/nimbus}/setup-vms"
mkdir -p "$vms"
args=()
for mode in emulate trap hw; do
  cat > "$vms/$mode.toml" <<TOML
name = "$mode"
mode = "$mode"
memory = "128M"
vcpus = 2
kernel = "$NIMBUS_GUEST_KERNEL"
initrd = "$NIMBUS_GUEST_INITRD"
append = "console=ttyS0 nimbus.mode=test nimbus.disk=none"
TOML
  args+=(--vm "$vms/$mode.toml")
done
echo "== three Linux VMs side by side, one per virtualization mode (their consoles, prefixed by name)"
"$root/build/release/src/cli/nimbus" run "${args[@]}" --console-stdout --state-dir "$vms/state" --timeout 300 |
  grep -a -E '\| (NIMBUS-|Linux version)' || true
"$root/build/release/src/cli/nimbus" stats --state-dir "$vms/state"

echo "== other operating systems side by side in one VMM: Linux (hw), Linux (trap), U-Boot's shell under OpenSBI, and"
echo "   a bare-metal program of our own in M-mode (tests/integration/programs/mmode_hello.c); U-Boot waits at its"
echo "   prompt until the 45 s timeout"
programs="$root/tests/differential/programs"
riscv64-linux-gnu-gcc -march=rv64gc -mabi=lp64d -mcmodel=medany -O2 -ffreestanding -nostdlib -nostartfiles -static \
  -no-pie -fno-pic -Wl,--no-relax -Wl,--build-id=none -Wl,--no-warn-rwx-segments -I "$programs" -T "$programs/link.ld" \
  -o "$vms/mmode_hello.elf" "$programs/crt.S" "$root/tests/integration/programs/mmode_hello.c"
printf 'name = "linux-%s"\nmode = "%s"\nmemory = "96M"\nkernel = "%s"\ninitrd = "%s"\nappend = "%s"\n' \
  hw hw "$NIMBUS_GUEST_KERNEL" "$NIMBUS_GUEST_INITRD" "console=ttyS0 nimbus.mode=test nimbus.disk=none" > "$vms/os-linux-hw.toml"
printf 'name = "linux-%s"\nmode = "%s"\nmemory = "96M"\nkernel = "%s"\ninitrd = "%s"\nappend = "%s"\n' \
  trap trap "$NIMBUS_GUEST_KERNEL" "$NIMBUS_GUEST_INITRD" "console=ttyS0 nimbus.mode=test nimbus.disk=none" > "$vms/os-linux-trap.toml"
printf 'name = "uboot"\nmode = "emulate"\nmemory = "128M"\nbios = "opensbi"\nkernel = "%s"\n' "$NIMBUS_UBOOT_SMODE" > "$vms/os-uboot.toml"
printf 'name = "mmode"\nmode = "emulate"\nmemory = "16M"\nbios = "none"\nkernel = "%s"\n' "$vms/mmode_hello.elf" > "$vms/os-mmode.toml"
"$root/build/release/src/cli/nimbus" run --vm "$vms/os-linux-hw.toml" --vm "$vms/os-linux-trap.toml" --vm "$vms/os-uboot.toml" \
  --vm "$vms/os-mmode.toml" --console-stdout --state-dir "$vms/os-state" --timeout 45 < /dev/null 2>&1 |
  grep -a -E '\| (NIMBUS-|Linux version|U-Boot 20|OpenSBI v|=>)|powered off' || true

echo "== a cloud on this machine: etcd, a controller and three host agents; two tenants' Linux VMs placed on them"
nimbus="$root/build/release/src/cli/nimbus"
cloud="${NIMBUS_CACHE:-${HOME:-/var/tmp}/.cache/nimbus}/setup-cloud"
"$nimbus" cloud down --dir "$cloud" >/dev/null 2>&1 || true  # a cloud left by an earlier run
rm -rf "$cloud"
"$nimbus" cloud up --hosts 3 --dir "$cloud"
for tenant in acme globex; do "$nimbus" tenant create "$tenant" --cloud "$cloud" | head -1; done
"$nimbus" vm create web1 --tenant acme --flavor n1.tiny --image linux --anti-affinity web --cloud "$cloud" >/dev/null
"$nimbus" vm create web2 --tenant acme --flavor n1.tiny --image linux --anti-affinity web --cloud "$cloud" >/dev/null
"$nimbus" vm create db1 --tenant globex --flavor n1.small --image linux --wait --cloud "$cloud" >/dev/null
"$nimbus" vm list --cloud "$cloud"
"$nimbus" host list --cloud "$cloud"
for _ in $(seq 60); do  # the kernel's first lines on the console, read through the controller
  "$nimbus" vm console db1 --tenant globex --log --cloud "$cloud" | grep -a -q 'NIMBUS-GUEST' && break
  sleep 1
done
"$nimbus" vm console db1 --tenant globex --log --cloud "$cloud" | grep -a -E 'Linux version|NIMBUS-GUEST' || true
echo "   the cloud stays up while the shell below runs (its dashboard link is above); it stops when the shell ends"

echo "== one Linux VM (hw mode: the H extension with G-stage paging) to a busybox shell; Ctrl-A x quits"
status=0
"$root/build/release/src/cli/nimbus" run --virt hw --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
  --append "console=ttyS0" --drive "$disk" --smp 2 --mem 256M --state-dir "$vms/state" "$@" || status=$?
"$nimbus" cloud down --dir "$cloud" >/dev/null || true
exit "$status"

#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine — Debian packages, the Nimbus build, the guest
# images (Linux 6.1, busybox, initramfs; cached by content hash) — and boots Linux on Nimbus to a
# busybox shell. Leave the shell with `poweroff`, or quit at any time with Ctrl-A x.
# Extra arguments go to `nimbus run` (e.g. --smp 4 --mem 512M).
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
echo "== booting Linux on Nimbus (OpenSBI -> Linux 6.1 -> busybox); Ctrl-A x quits"
exec "$root/build/release/src/cli/nimbus" run --kernel "$NIMBUS_GUEST_KERNEL" --initrd "$NIMBUS_GUEST_INITRD" \
  --append "console=ttyS0" --drive "$disk" --smp 2 --mem 256M "$@"

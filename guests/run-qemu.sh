#!/usr/bin/env bash
# Boots the cached guest on the reference machine (qemu-system-riscv64 -M virt, Debian's
# OpenSBI fw_dynamic), for comparison with `nimbus run`.
# Usage: guests/run-qemu.sh [shell|test|bench|uboot] [extra kernel command line...]
#   shell  interactive busybox shell (Ctrl-A x quits QEMU)     test  test init with a fresh disk
#   bench  nimbus-bench (nimbus.bench=N on the command line)   uboot U-Boot -> extlinux -> Linux
# Env: SMP (default 1), MEM (default 256M)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mode="${1:-shell}"
shift || true
components=(kernel initramfs)
[ "$mode" = uboot ] && components+=(uboot)
"$here/build.sh" "${components[@]}" > /dev/null
source "$here/paths.sh"
qemu=(qemu-system-riscv64 -M virt -nographic -m "${MEM:-256M}" -smp "${SMP:-1}" -bios "$NIMBUS_OPENSBI_DYNAMIC")
case "$mode" in
  shell) exec "${qemu[@]}" -kernel "$NIMBUS_GUEST_KERNEL" -initrd "$NIMBUS_GUEST_INITRD" -append "console=ttyS0 $*" ;;
  bench) exec "${qemu[@]}" -kernel "$NIMBUS_GUEST_KERNEL" -initrd "$NIMBUS_GUEST_INITRD" -append "console=ttyS0 nimbus.mode=bench $*" ;;
  test)
    disk="$(mktemp /tmp/nimbus-test-disk.XXXXXX)"
    trap 'rm -f "$disk"' EXIT
    truncate -s 8M "$disk"
    "${qemu[@]}" -kernel "$NIMBUS_GUEST_KERNEL" -initrd "$NIMBUS_GUEST_INITRD" -append "console=ttyS0 nimbus.mode=test $*" \
      -drive "file=$disk,if=none,format=raw,id=d" -device virtio-blk-device,drive=d ;;
  uboot)
    disk="$(mktemp /tmp/nimbus-uboot-disk.XXXXXX)"
    trap 'rm -f "$disk"' EXIT
    cp --sparse=always "$NIMBUS_GUEST_UBOOT_DISK" "$disk"
    "${qemu[@]}" -kernel "$NIMBUS_UBOOT_SMODE" -drive "file=$disk,if=none,format=raw,id=d" -device virtio-blk-device,drive=d ;;
  *) echo "usage: $0 [shell|test|bench|uboot] [kernel args...]" >&2; exit 2 ;;
esac

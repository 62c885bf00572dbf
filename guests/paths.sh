# shellcheck shell=bash
# Locates the guest artefacts built by guests/build.sh (same content hashes, so a changed
# input means "not built yet"). Source it; it defines:
#   NIMBUS_GUEST_KERNEL      Linux Image              NIMBUS_GUEST_INITRD  initramfs.cpio.gz
#   NIMBUS_GUEST_KERNEL_PV   the same with the trap-mode PV patch (linux/nimbus-pv.patch)
#   NIMBUS_GUEST_BENCH_NATIVE  x86-64 nimbus-bench    NIMBUS_GUEST_UBOOT_DISK  disk for U-Boot
#   NIMBUS_OPENSBI_DYNAMIC / NIMBUS_OPENSBI_JUMP / NIMBUS_UBOOT_SMODE  Debian firmware files
# and nimbus_guest_ready COMPONENT... (true when those components are built).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NIMBUS_GUEST_KERNEL="$(guest_dir kernel)/Image"
NIMBUS_GUEST_KERNEL_PV="$(guest_dir kernel-pv)/Image"
NIMBUS_GUEST_INITRD="$(guest_dir initramfs)/initramfs.cpio.gz"
NIMBUS_GUEST_BENCH_NATIVE="$(guest_dir bench)/nimbus-bench-native"
NIMBUS_GUEST_UBOOT_DISK="$(guest_dir uboot)/uboot-disk.img"
NIMBUS_OPENSBI_DYNAMIC=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin
NIMBUS_OPENSBI_JUMP=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin
NIMBUS_UBOOT_SMODE=/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin
export NIMBUS_GUEST_KERNEL NIMBUS_GUEST_KERNEL_PV NIMBUS_GUEST_INITRD NIMBUS_GUEST_BENCH_NATIVE NIMBUS_GUEST_UBOOT_DISK \
  NIMBUS_OPENSBI_DYNAMIC NIMBUS_OPENSBI_JUMP NIMBUS_UBOOT_SMODE

nimbus_guest_ready() {
  local c
  for c in "$@"; do [ -f "$(guest_dir "$c")/.complete" ] || return 1; done
}

nimbus_guest_paths() {
  echo "kernel:        $NIMBUS_GUEST_KERNEL"
  echo "kernel (PV):   $NIMBUS_GUEST_KERNEL_PV"
  echo "initramfs:     $NIMBUS_GUEST_INITRD"
  echo "bench native:  $NIMBUS_GUEST_BENCH_NATIVE"
  echo "u-boot disk:   $NIMBUS_GUEST_UBOOT_DISK"
}

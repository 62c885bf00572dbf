#!/usr/bin/env bash
# Builds a disk image that Debian's U-Boot (qemu-riscv64_smode) boots with no typing: an MBR
# with one bootable Linux partition at 1 MiB holding an ext2 file system (mke2fs -d, no root
# needed) with extlinux/extlinux.conf, the kernel Image and the initramfs.
# Usage: build-uboot-disk.sh OUTDIR IMAGE INITRAMFS
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
out="${1:?usage: build-uboot-disk.sh OUTDIR IMAGE INITRAMFS}"
image="${2:?kernel Image}"
initrd="${3:?initramfs}"
command -v mke2fs >/dev/null || guest_die "mke2fs missing: install e2fsprogs"
mkdir -p "$out/root/extlinux"
cp "$NIMBUS_GUESTS_DIR/uboot/extlinux.conf" "$out/root/extlinux/extlinux.conf"
cp "$image" "$out/root/Image"
cp "$initrd" "$out/root/initramfs.cpio.gz"

disk_mib=32
part_start_sector=2048
part_sectors=$(( disk_mib * 2048 - part_start_sector ))
rm -f "$out/uboot-disk.img"
truncate -s "${disk_mib}M" "$out/uboot-disk.img"
# Master boot record: one bootable partition of type 0x83 (Linux) in LBA terms.
python3 - "$out/uboot-disk.img" "$part_start_sector" "$part_sectors" <<'PY'
import struct, sys
path, start, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
entry = struct.pack('<B3sB3sII', 0x80, b'\xfe\xff\xff', 0x83, b'\xfe\xff\xff', start, count)
with open(path, 'r+b') as disk:
    disk.seek(446); disk.write(entry)
    disk.seek(510); disk.write(b'\x55\xaa')
PY
E2FSPROGS_FAKE_TIME=0 mke2fs -q -F -t ext2 -L nimbus-boot -E offset=$(( part_start_sector * 512 )) \
  -d "$out/root" "$out/uboot-disk.img" "$(( part_sectors / 2 ))k"
rm -rf "$out/root"
guest_log "uboot: disk image $out/uboot-disk.img (${disk_mib} MiB)"

#!/usr/bin/env bash
# Packs the guest initramfs: busybox, our init, nimbus-bench, nimbus-micro and nimbus-suite, as a gzip'ed newc
# cpio made with the kernel's gen_init_cpio (device nodes without root, fixed timestamps).
# Usage: build-initramfs.sh OUTDIR BUSYBOX NIMBUS-BENCH   (nimbus-micro and nimbus-suite are taken
#        from beside NIMBUS-BENCH: all come from the bench component, so build.sh passes one directory)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
out="${1:?usage: build-initramfs.sh OUTDIR BUSYBOX NIMBUS-BENCH}"
busybox="${2:?busybox binary}"
bench="${3:?nimbus-bench binary}"
micro="$(dirname "$bench")/nimbus-micro"
[ -f "$micro" ] || guest_die "no nimbus-micro beside $bench (rebuild the bench component)"
suite="$(dirname "$bench")/nimbus-suite"
[ -f "$suite" ] || guest_die "no nimbus-suite beside $bench (rebuild the bench component)"
mkdir -p "$out"
src="$NIMBUS_CACHE/src/linux-$(guest_pkg_version linux-source-6.1)"
[ -f "$src/usr/gen_init_cpio.c" ] || guest_die "kernel source not unpacked at $src (build the kernel first)"
gcc -O2 -o "$out/gen_init_cpio" "$src/usr/gen_init_cpio.c"

cat > "$out/initramfs.list" <<LIST
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
nod /dev/null 0666 0 0 c 1 3
dir /proc 0755 0 0
dir /sys 0755 0 0
dir /tmp 1777 0 0
dir /root 0700 0 0
dir /etc 0755 0 0
dir /bin 0755 0 0
dir /sbin 0755 0 0
dir /usr 0755 0 0
dir /usr/bin 0755 0 0
dir /usr/sbin 0755 0 0
file /bin/busybox $busybox 0755 0 0
slink /bin/sh busybox 0777 0 0
file /init $NIMBUS_GUESTS_DIR/initramfs/init 0755 0 0
file /bin/nimbus-bench $bench 0755 0 0
file /bin/nimbus-micro $micro 0755 0 0
file /bin/nimbus-suite $suite 0755 0 0
file /etc/profile $NIMBUS_GUESTS_DIR/initramfs/profile 0644 0 0
LIST
"$out/gen_init_cpio" -t 0 "$out/initramfs.list" > "$out/initramfs.cpio"
gzip -9 -n -c "$out/initramfs.cpio" > "$out/initramfs.cpio.gz"
rm -f "$out/initramfs.cpio"
guest_log "initramfs: $(stat -c %s "$out/initramfs.cpio.gz") bytes"

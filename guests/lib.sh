# shellcheck shell=bash
# Shared helpers for the guest build scripts and for tests that locate guest artefacts.
# Sourced, never executed. Every artefact lives in a cache directory named by a hash over
# exactly the inputs that produce it, so a changed input rebuilds only what depends on it.
[ -z "${NIMBUS_GUEST_LIB_LOADED:-}" ] || return 0
NIMBUS_GUEST_LIB_LOADED=1

NIMBUS_GUESTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NIMBUS_CACHE="${NIMBUS_CACHE:-${HOME:-/var/tmp}/.cache/nimbus}"
NIMBUS_GUEST_CACHE="$NIMBUS_CACHE/guests"
NIMBUS_CROSS="${NIMBUS_CROSS:-riscv64-linux-gnu-}"

# Pinned upstream inputs. Bumping one of these rebuilds what depends on it.
NIMBUS_BUSYBOX_VERSION="1:1.35.0-4+deb12u1"
# shellcheck disable=SC2034  # used by busybox/build-busybox.sh
NIMBUS_DEBIAN_MIRROR="http://deb.debian.org/debian"
# shellcheck disable=SC2034
NIMBUS_DEBIAN_SUITE="bookworm"

guest_log() { printf '[guests %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
guest_die() { printf '[guests] error: %s\n' "$*" >&2; exit 1; }

# apt-get ARGS... with only APT_DIR's sources list, lists and cache: the system's apt
# configuration is neither read nor changed, and no root is needed. With ARCH, for that
# architecture's binary packages, as on a system with none installed.
guest_apt() { # APT_DIR ARCH|"" ARGS...
  local apt_dir="$1" arch="$2"
  shift 2
  local opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
              -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  [ -z "$arch" ] || opts+=(-o Dir::State::status=/dev/null -o APT::Architecture="$arch" -o APT::Architectures::="$arch")
  apt-get "${opts[@]}" "$@"
}

# Fetches Debian's source package NAME=VERSION into DIR/tree, Debian's patches applied, through a
# private sources list and state directory ($NIMBUS_CACHE/apt, guest_apt). apt's output goes to LOG.
guest_fetch_debian_source() { # NAME=VERSION DIR LOG
  local package="$1" dir="$2" log="$3" apt_dir="$NIMBUS_CACHE/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$dir"
  printf 'deb-src %s %s main\n' "$NIMBUS_DEBIAN_MIRROR" "$NIMBUS_DEBIAN_SUITE" > "$apt_dir/sources.list"
  guest_apt "$apt_dir" "" update -q >> "$log" 2>&1 || { cat "$log" >&2; guest_die "apt-get update (private list) failed"; }
  (cd "$dir" && guest_apt "$apt_dir" "" source --download-only "$package") >> "$log" 2>&1 \
    || { cat "$log" >&2; guest_die "apt-get source $package failed"; }
  # dpkg-source verifies the checksums from the .dsc and applies Debian's patches.
  (cd "$dir" && dpkg-source --no-check -x ./*.dsc tree) >> "$log" 2>&1 \
    || { cat "$log" >&2; guest_die "dpkg-source -x ${package%%=*} failed"; }
}

# Downloads Debian's binary packages PACKAGE... of SUITE for ARCH (riscv64: programs for the guest)
# into DIR as .deb files, through a private sources list and state directory
# ($NIMBUS_CACHE/apt-SUITE-ARCH), as guest_fetch_debian_source does; names the versions taken
# in DIR/versions. Dependencies are not followed: the caller names every package it needs.
guest_fetch_debian_binaries() { # SUITE ARCH DIR LOG PACKAGE...
  local suite="$1" arch="$2" dir="$3" log="$4" apt_dir="$NIMBUS_CACHE/apt-$1-$2"
  shift 4
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dir"
  printf 'deb [arch=%s] %s %s main\n' "$arch" "$NIMBUS_DEBIAN_MIRROR" "$suite" > "$apt_dir/sources.list"
  guest_apt "$apt_dir" "$arch" update -q >> "$log" 2>&1 || { cat "$log" >&2; guest_die "apt-get update ($suite $arch, private list) failed"; }
  (cd "$dir" && guest_apt "$apt_dir" "$arch" download "$@") >> "$log" 2>&1 \
    || { tail -20 "$log" >&2; guest_die "apt-get download ($suite $arch) of $* failed"; }
  (cd "$dir" && for deb in ./*.deb; do dpkg-deb -f "$deb" Package Version | paste -sd' '; done) > "$dir/versions"
}

# Debian's own riscv64 kernel of SUITE (the Image inside linux-image-riscv64's kernel package):
# a kernel the project neither configured nor built, for tests and benchmarks on other kernels.
# Prints the Image's path; cached under $NIMBUS_CACHE/debian-kernel-SUITE/VERSION. The newest
# version is asked of Debian's archive each time; when the archive cannot be reached, the newest
# cached one is used; with neither, returns 1 (apt's output in LOG).
guest_debian_kernel() { # SUITE LOG
  local suite="$1" log="$2" root="$NIMBUS_CACHE/debian-kernel-$1" apt_dir="$NIMBUS_CACHE/apt-$1-riscv64"
  local tmp package version
  tmp="$(mktemp -d)"
  # In a subshell: a failed fetch ends it with guest_die, and here means "use the cache".
  if (guest_fetch_debian_binaries "$suite" riscv64 "$tmp" "$log" linux-image-riscv64) 2> /dev/null; then
    package="$(dpkg-deb -f "$tmp"/linux-image-riscv64_*.deb Depends | sed -E 's/ *\(.*//')"
    version="$(dpkg-deb -f "$tmp"/linux-image-riscv64_*.deb Version)"
    if [ ! -f "$root/$version/Image" ]; then
      rm -f "$tmp"/*.deb
      # The lists guest_fetch_debian_binaries just updated serve this download too.
      (cd "$tmp" && guest_apt "$apt_dir" riscv64 download "$package") >> "$log" 2>&1 || { rm -rf "$tmp"; return 1; }
      dpkg-deb --fsys-tarfile "$tmp/${package}"_*.deb | tar -x -O --wildcards './boot/vmlinux-*' > "$tmp/Image" \
        || { rm -rf "$tmp"; return 1; }
      mkdir -p "$root" && rm -rf "$root/$version.tmp" && mkdir "$root/$version.tmp"
      mv "$tmp/Image" "$root/$version.tmp/Image" && echo "$package" > "$root/$version.tmp/package"
      rm -rf "${root:?}/$version" && mv "$root/$version.tmp" "$root/$version"
    fi
  else
    local d
    version="$(for d in "$root"/*/Image; do [ -f "$d" ] && basename "$(dirname "$d")"; done | sort -V | tail -1)"
  fi
  rm -rf "$tmp"
  [ -n "$version" ] && [ -f "$root/$version/Image" ] || return 1
  echo "$root/$version/Image"
}

# Installed versions of the Debian packages the guests depend on, read once (dpkg-query is
# slow, and every hash needs some). Missing packages read as "absent", so installing or
# upgrading one changes the hashes that depend on it.
declare -A NIMBUS_PKG_VERSIONS=()
while read -r pkg ver; do
  [ -n "$ver" ] && NIMBUS_PKG_VERSIONS[$pkg]="$ver"
done < <(dpkg-query -W -f='${Package} ${Version}\n' linux-source-6.1 gcc-12-riscv64-linux-gnu \
           libc6-dev-riscv64-cross gcc-12 u-boot-qemu e2fsprogs python3 2>/dev/null)
guest_pkg_version() { echo "${NIMBUS_PKG_VERSIONS[$1]:-absent}"; }

# Hash of a list of words and files: the file contents and their names, order-sensitive. Names
# are relative to the guests directory, words too (a glob that matches nothing stays a word
# holding the checkout's path, which must not make the hash differ between clones).
guest_hash() {
  local item
  for item in "$@"; do
    if [ -f "$item" ]; then
      printf 'file %s\n' "${item#"$NIMBUS_GUESTS_DIR"/}"
      sha256sum < "$item"
    else
      printf 'word %s\n' "${item#"$NIMBUS_GUESTS_DIR"/}"
    fi
  done | sha256sum | cut -c1-16
}

# Per-component input hashes. Each names its own sources, the tools that compile them and the
# hashes of the components it consumes.
guest_kernel_hash() {
  guest_hash kernel "$NIMBUS_GUESTS_DIR/linux/nimbus.config" "$NIMBUS_GUESTS_DIR/linux/build-kernel.sh" \
    "linux-source-6.1=$(guest_pkg_version linux-source-6.1)" \
    "gcc-riscv64=$(guest_pkg_version gcc-12-riscv64-linux-gnu)"
}
# The PV kernel: the first kernel's inputs (its hash) and the patch.
guest_kernel-pv_hash() {
  guest_hash kernel-pv "kernel=${NIMBUS_HASH[kernel]}" "$NIMBUS_GUESTS_DIR/linux/nimbus-pv.patch" \
    "$NIMBUS_GUESTS_DIR/linux/build-kernel-pv.sh"
}
guest_busybox_hash() {
  guest_hash busybox "$NIMBUS_GUESTS_DIR/busybox/busybox.config" "$NIMBUS_GUESTS_DIR/busybox/build-busybox.sh" \
    "busybox=$NIMBUS_BUSYBOX_VERSION" \
    "gcc-riscv64=$(guest_pkg_version gcc-12-riscv64-linux-gnu)" \
    "libc-riscv64=$(guest_pkg_version libc6-dev-riscv64-cross)"
}
guest_bench_hash() {
  guest_hash bench "$NIMBUS_GUESTS_DIR"/bench/*.c "$NIMBUS_GUESTS_DIR"/bench/*.h "$NIMBUS_GUESTS_DIR/bench/build-bench.sh" \
    "gcc-riscv64=$(guest_pkg_version gcc-12-riscv64-linux-gnu)" \
    "libc-riscv64=$(guest_pkg_version libc6-dev-riscv64-cross)" \
    "gcc-native=$(guest_pkg_version gcc-12)"
}
guest_initramfs_hash() {
  guest_hash initramfs "$NIMBUS_GUESTS_DIR"/initramfs/* \
    "busybox=${NIMBUS_HASH[busybox]}" "bench=${NIMBUS_HASH[bench]}" \
    "linux-source-6.1=$(guest_pkg_version linux-source-6.1)"
}
guest_uboot_hash() {
  guest_hash uboot "$NIMBUS_GUESTS_DIR"/uboot/* \
    "kernel=${NIMBUS_HASH[kernel]}" "initramfs=${NIMBUS_HASH[initramfs]}" \
    "u-boot-qemu=$(guest_pkg_version u-boot-qemu)" "e2fsprogs=$(guest_pkg_version e2fsprogs)" \
    "python3=$(guest_pkg_version python3)"
}

# Computed once when this file is sourced, in dependency order.
declare -A NIMBUS_HASH=()
for component in kernel kernel-pv busybox bench initramfs uboot; do
  NIMBUS_HASH[$component]="$("guest_${component}_hash")"
done
unset component

guest_dir() { echo "$NIMBUS_GUEST_CACHE/$1-${NIMBUS_HASH[$1]}"; }

#!/usr/bin/env bash
# Debian's own riscv64 programs (Debian 13 "trixie": xz, zstd, bzip2, gzip, perl, openssl, lua5.4,
# gawk, coreutils, sqlite3, python3.13, their libraries and glibc, as Debian built them) in a Linux
# guest on QEMU and on Nimbus, the machines taking turns: real programs nobody here wrote or
# compiled (docs/jit.md, "Debian's programs"). Usage:
#   bench/debian-programs/run.sh [--debian-kernel] NIMBUS_BINARY... [-- ROUNDS]
# Each boot runs bench/debian-programs/guest-run.sh: compression and decompression of a 3 MiB
# tar of Python's standard library with each compressor at its default level (round trips
# checked), a Perl word count over it, OpenSSL's digests, ciphers and RSA signatures, Lua, gawk,
# coreutils' sort and SQLite on it or beside it, and Python byte-compiling its own library. Every step's
# output is fingerprinted (md5) and must be the same on every machine, QEMU 7.2 the reference;
# a difference fails the run. Prints each step's lowest guest seconds over the rounds (default
# 2) and QEMU's ÷ each Nimbus's.
#   --debian-kernel  boot Debian 13's own kernel (linux-image-riscv64, 6.12) instead of the
#                    project's 6.1 guest kernel, the initramfs the same
# Needs the cached guest kernel and initramfs (guests/build.sh) and, the first time, network
# access to Debian's archive (packages cached under $NIMBUS_CACHE/debian-programs).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=bench/guest_bench_lib.sh
source "$here/../guest_bench_lib.sh"
BENCH_BINARIES=()
rounds=2
debian_kernel=0
while [ $# -gt 0 ]; do
  case "$1" in
    --) rounds="${2:-2}"; break ;;
    --debian-kernel) debian_kernel=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) BENCH_BINARIES+=("$(realpath "$1")"); shift ;;
  esac
done
[ ${#BENCH_BINARIES[@]} -gt 0 ] || { echo "usage: run.sh [--debian-kernel] NIMBUS_BINARY... [-- ROUNDS]" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: ROUNDS must be a whole number above 0, got '$rounds'" >&2; exit 2; }
if [ ! -f "$NIMBUS_GUEST_KERNEL" ] || [ ! -f "$NIMBUS_GUEST_INITRD" ]; then guest_die "no guest images: run guests/build.sh"; fi

suite=trixie
# Every package the programs load, named (guest_fetch_debian_binaries does not follow Depends).
packages=(libc6 libgcc-s1 libstdc++6 xz-utils liblzma5 zstd libzstd1 liblz4-1 libxxhash0 zlib1g bzip2
          libbz2-1.0 gzip perl-base libcrypt1 python3.13-minimal libpython3.13-minimal libexpat1 libssl3t64
          openssl lua5.4 liblua5.4-0 gawk libmpfr6 libgmp10 libreadline8t64 libsigsegv2 libtinfo6 coreutils
          libacl1 libattr1 libcap2 libselinux1 libpcre2-8-0 sqlite3 libsqlite3-0 libncursesw6)
cache="$NIMBUS_CACHE/debian-programs"
debs="$cache/debs-$suite-$(echo "${packages[*]}" | sha256sum | cut -c1-8)"
if [ ! -f "$debs/versions" ]; then
  rm -rf "$debs"
  guest_log "debian-programs: fetching ${#packages[@]} packages of Debian $suite riscv64"
  mkdir -p "$cache"
  guest_fetch_debian_binaries "$suite" riscv64 "$debs" "$cache/fetch.log" "${packages[@]}"
fi
kernel="$NIMBUS_GUEST_KERNEL"
if [ "$debian_kernel" = 1 ]; then
  kernel="$(guest_debian_kernel "$suite" "$cache/fetch.log")" || guest_die "no Debian $suite kernel: Debian's archive unreachable and none cached ($cache/fetch.log)"
fi

# The initramfs: the guest's, with the packages' files and the guest script appended. Built again
# when any input changes.
key="$( (cat "$debs/versions"; sha256sum < "$here/guest-run.sh"; echo "$NIMBUS_GUEST_INITRD") | sha256sum | cut -c1-16)"
initrd="$cache/initrd-$key.img"
if [ ! -f "$initrd" ] || [ "$NIMBUS_GUEST_INITRD" -nt "$initrd" ]; then
  rm -rf "$cache/overlay" "$cache"/initrd-*.img
  mkdir -p "$cache/overlay/bin"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$cache/overlay"; done
  rm -rf "$cache/overlay/usr/share/doc" "$cache/overlay/usr/share/man" "$cache/overlay/usr/share/locale"
  ln -s usr/lib "$cache/overlay/lib"   # Debian's merged /usr: the loader is /lib/ld-linux-riscv64-lp64d.so.1
  install -m 755 "$here/guest-run.sh" "$cache/overlay/bin/nimbus-debian-programs"
  bench_append_cpio "$NIMBUS_GUEST_INITRD" "$cache/overlay" "$initrd"
  rm -rf "$cache/overlay"
fi

BENCH_WORK="$(mktemp -d)"
trap 'rm -rf "$BENCH_WORK"' EXIT
declare -A best md5
names=()
take() { # KEY FILE: keeps each step's lowest time; every step's output must match QEMU's
  local name ms sum
  while read -r name ms sum; do
    [ "$1" != qemu ] || [ -n "${md5["$name"]:-}" ] || names+=("$name")
    if [ -z "${md5["$name"]:-}" ]; then md5["$name"]="$sum"
    elif [ "${md5["$name"]}" != "$sum" ]; then
      echo "run.sh: $name: the output differs from the reference's (md5 $sum, QEMU's ${md5["$name"]}); the guest's console is in $2" >&2
      trap - EXIT; exit 1
    fi
    if [ -z "${best["$1|$name"]:-}" ] || [ "$ms" -lt "${best["$1|$name"]}" ]; then best["$1|$name"]="$ms"; fi
  done < <(sed -n -E 's/^NIMBUS-DEBIAN: name=([^ ]+) ms=([0-9]+) md5=([0-9a-f]+)$/\1 \2 \3/p' "$2")
}
echo "Debian $suite riscv64 packages: $(cut -d' ' -f2,4 "$debs/versions" | paste -sd, | sed 's/,/, /g')"
echo "kernel: $kernel"
bench_rounds "$rounds" "$kernel" "$initrd" take nimbus-debian-programs 1800 '^NIMBUS-DEBIAN: done'
seconds() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }
printf '%-20s %8s' step qemu
for b in "${!BENCH_BINARIES[@]}"; do printf ' %9s %7s' "nimbus$b" ratio; done
echo
declare -A total
for name in "${names[@]}"; do
  printf '%-20s %8s' "$name" "$(seconds "${best["qemu|$name"]}")"
  total[qemu]=$(( ${total[qemu]:-0} + best["qemu|$name"] ))
  for b in "${!BENCH_BINARIES[@]}"; do
    total[$b]=$(( ${total[$b]:-0} + best["$b|$name"] ))
    printf ' %9s %7s' "$(seconds "${best["$b|$name"]}")" \
      "$(awk -v q="${best["qemu|$name"]}" -v n="${best["$b|$name"]}" 'BEGIN { if (n > 0) printf "%.2fx", q / n; else print "?" }')"
  done
  echo
done
printf '%-20s %8s' "sum" "$(seconds "${total[qemu]}")"
for b in "${!BENCH_BINARIES[@]}"; do
  printf ' %9s %7s' "$(seconds "${total[$b]}")" "$(awk -v q="${total[qemu]}" -v n="${total[$b]}" 'BEGIN { printf "%.2fx", q / n }')"
done
echo
echo "(guest seconds, lowest of $rounds rounds, 10 ms resolution; ratio = QEMU's seconds / Nimbus's: above 1 is faster than QEMU; every step's output the same on every machine)"

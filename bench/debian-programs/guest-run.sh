#!/bin/sh
# Runs in the guest (busybox sh), from the initramfs overlay that bench/debian-programs/run.sh
# builds: Debian's own riscv64 programs on an input made of Python's standard library. Each step
# prints its guest milliseconds and the md5 of what it produced, so the host compares both the
# time and the output with the reference machine's. The compressors run at their default levels.
set -u
# Debian's programs by their full paths: busybox's applets of the same names come first in PATH.
cd /tmp || exit 1
# Milliseconds of guest uptime (busybox's date has no %N; /proc/uptime counts hundredths).
now() { read -r up _ < /proc/uptime; echo $(( ${up%.*} * 1000 + 10 * $(echo "${up#*.}" | sed 's/^0//') )); }
step() { # NAME OUTPUT-FILE COMMAND...: runs COMMAND, times it, fingerprints OUTPUT-FILE
  name="$1" out="$2"; shift 2
  t0=$(now)
  "$@" || { rc=$?; echo "NIMBUS-DEBIAN: name=$name FAILED (exit $rc)"; exit 1; }
  t1=$(now)
  sum=$(md5sum < "$out" | cut -d' ' -f1)
  echo "NIMBUS-DEBIAN: name=$name ms=$(( t1 - t0 )) md5=$sum"
}
# The input: the first 3 MiB of a tar of Python's minimal standard library (source text).
tar -cf - -C /usr/lib python3.13 | head -c 3145728 > data.tar || exit 1
echo "NIMBUS-DEBIAN: input bytes=$(wc -c < data.tar) md5=$(md5sum < data.tar | cut -d' ' -f1)"
step xz-compress data.xz sh -c '/usr/bin/xz -T1 -c data.tar > data.xz'
step xz-decompress data.unxz sh -c '/usr/bin/xz -d -c data.xz > data.unxz'
step zstd-compress data.zst sh -c '/usr/bin/zstd -q -T1 -c data.tar > data.zst'
step zstd-decompress data.unzst sh -c '/usr/bin/zstd -q -d -c data.zst > data.unzst'
step bzip2-compress data.bz2 sh -c '/usr/bin/bzip2 -c data.tar > data.bz2'
step bzip2-decompress data.unbz2 sh -c '/usr/bin/bzip2 -d -c data.bz2 > data.unbz2'
step gzip-compress data.gz sh -c '/usr/bin/gzip -n -c data.tar > data.gz'
step gzip-decompress data.ungz sh -c '/usr/bin/gzip -d -c data.gz > data.ungz'
for f in data.unxz data.unzst data.unbz2 data.ungz; do
  cmp data.tar "$f" || { echo "NIMBUS-DEBIAN: name=$f FAILED (round trip differs)"; exit 1; }
done
# Perl: every word of the input counted, the 50 most frequent printed.
step perl-words words.txt sh -c "/usr/bin/perl -ne '\$c{\$_}++ for /\\w+/g; END { print \"\$_ \$c{\$_}\\n\" for (sort { \$c{\$b} <=> \$c{\$a} || \$a cmp \$b } keys %c)[0..49] }' data.tar > words.txt"
# Python: the byte-compilation Debian runs when the package is installed, of the whole library.
step python-compileall pyc.txt sh -c '/usr/bin/python3.13 -m compileall -q -f -j1 /usr/lib/python3.13 > compile.log 2>&1 &&
  find /usr/lib/python3.13 -name "*.pyc" | sort | xargs cat | md5sum > pyc.txt'
echo "NIMBUS-DEBIAN: done"

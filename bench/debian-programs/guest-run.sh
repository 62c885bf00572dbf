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
# OpenSSL's command line: digests and ciphers over the input (its generic C code: the guest has
# no vector or crypto extensions), and RSA signatures (bignum multiplies) with a key made before
# the step, each signature verified so the output is the same on every machine.
step sha256 sha256.txt sh -c 'for i in 1 2 3 4 5 6; do /usr/bin/openssl dgst -sha256 data.tar; done > sha256.txt'
step sha512 sha512.txt sh -c 'for i in 1 2 3 4 5 6; do /usr/bin/openssl dgst -sha512 data.tar; done > sha512.txt'
key=000102030405060708090a0b0c0d0e0f
step aes-128-cbc data.aes sh -c "for i in 1 2 3; do /usr/bin/openssl enc -aes-128-cbc -K $key -iv $key -in data.tar -out data.aes; done"
step chacha20 data.chacha sh -c "for i in 1 2 3; do /usr/bin/openssl enc -chacha20 -K $key$key -iv ${key}0000000000000000 -in data.tar -out data.chacha; done" 2> /dev/null
/usr/bin/openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2> /dev/null || exit 1
step rsa-2048-sign rsa.txt sh -c 'for i in $(seq 20); do /usr/bin/openssl dgst -sha256 -sign rsa.pem -out sig.bin sha256.txt &&
  /usr/bin/openssl dgst -sha256 -prverify rsa.pem -signature sig.bin sha256.txt; done > rsa.txt'
# Lua: recursive calls, a table sorted, strings built and matched.
step lua lua.txt sh -c "/usr/bin/lua5.4 -e 'local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
  local t = {} for i = 1, 200000 do t[i] = (i * 7919) % 100003 end table.sort(t)
  local s = {} for i = 1, 50000 do s[#s + 1] = tostring(i) end
  local c = 0 for w in table.concat(s, \",\"):gmatch(\"%d+\") do c = c + #w end
  print(fib(27), t[1], t[#t], c)' > lua.txt"
# gawk: fields split and counted in an associative array.
step gawk awk.txt sh -c "/usr/bin/gawk '{ for (i = 1; i <= NF; i++) c[\$i]++ } END { n = 0; for (w in c) if (c[w] > 50) n++; print n, NR }' data.tar > awk.txt"
# coreutils' sort of the input's lines, bytewise.
step sort sorted.txt sh -c 'LC_ALL=C /usr/bin/sort data.tar > sorted.txt'
# SQLite: 100,000 rows inserted through a recursive query, an index built, grouped queries.
step sqlite sql.txt sh -c "/usr/bin/sqlite3 :memory: 'create table t(a integer primary key, b text, c integer);
  with recursive n(i) as (select 1 union all select i + 1 from n where i < 100000)
    insert into t select i, printf(\"%x-%d\", i * 2654435761 % 4294967296, i % 1000), i % 977 from n;
  create index tc on t(c);
  select count(*), sum(c), count(distinct b) from t where c > 100;
  select c, count(*), max(b) from t group by c order by 2 desc, 1 limit 3;' > sql.txt"
# Python: the byte-compilation Debian runs when the package is installed, of the whole library.
step python-compileall pyc.txt sh -c '/usr/bin/python3.13 -m compileall -q -f -j1 /usr/lib/python3.13 > compile.log 2>&1 &&
  find /usr/lib/python3.13 -name "*.pyc" | sort | xargs cat | md5sum > pyc.txt'
echo "NIMBUS-DEBIAN: done"

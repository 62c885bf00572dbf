#!/usr/bin/env bash
# Builds every bare-metal differential program (programs/*.S except crt.S) into OUTDIR/<name>.elf.
# Usage: build-programs.sh OUTDIR [NAME-GLOB...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build-programs.sh OUTDIR [NAME-GLOB...]}"
shift
globs=("$@")
[ ${#globs[@]} -gt 0 ] || globs=('*')
cc="${NIMBUS_CROSS:-riscv64-linux-gnu-}gcc"
mkdir -p "$out"
status=0
for src in "$here"/programs/*.S; do
  name="$(basename "$src" .S)"
  [ "$name" = crt ] && continue
  selected=0
  for g in "${globs[@]}"; do
    # shellcheck disable=SC2053
    [[ "$name" == $g ]] && selected=1
  done
  [ "$selected" -eq 1 ] || continue
  if ! "$cc" -march=rv64gc -mabi=lp64d -mcmodel=medany -nostdlib -nostartfiles -static -no-pie -fno-pic \
      -Wl,--no-relax -Wl,--build-id=none -I "$here/programs" -T "$here/programs/link.ld" \
      -o "$out/$name.elf" "$here/programs/crt.S" "$src" 2> "$out/$name.build.log"; then
    echo "build failed: $name" >&2
    cat "$out/$name.build.log" >&2
    status=1
  fi
done
exit "$status"

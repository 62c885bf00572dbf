#!/usr/bin/env bash
# Writes the seed corpus of every fuzz target into OUT/<target>/, from inputs the project itself
# makes: each target's own writer of valid structured input (NIMBUS_FUZZ_WRITE_SEEDS), the
# placement test data, the TOML and JSON examples of the docs and integration tests, and boot
# images (the differential test programs built with the cross compiler, Debian's OpenSBI, the
# Linux Image of guests/build.sh when it is cached). Nothing is downloaded.
# Usage: tests/fuzz/make-seeds.sh BUILD_DIR OUT_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:?usage: make-seeds.sh BUILD_DIR OUT_DIR}"
out="${2:?usage: make-seeds.sh BUILD_DIR OUT_DIR}"
rm -rf "$out"
mkdir -p "$out"

# seed TARGET NAME: stdin becomes one seed.
seed() { mkdir -p "$out/$1"; cat > "$out/$1/$2"; }
# prefixed TARGET NAME PREFIX-BYTES FILE [MAX-BYTES]: the file (its first MAX-BYTES) after selector bytes.
prefixed() {
  local target="$1" name="$2" prefix="$3" file="$4" max="${5:-}"
  mkdir -p "$out/$target"
  { printf "$prefix"; if [ -n "$max" ]; then head -c "$max" "$file"; else cat "$file"; fi; } > "$out/$target/$name"
}

# 1. The targets' own writers.
for t in page_walk g_stage shadow_tables virtio_blk virtio_rng virtio_net virtio_balloon virtio_console uart plic clint snapshot migration_stream tunnel_packet \
         api_requests etcd_values; do
  mkdir -p "$out/$t"
  NIMBUS_FUZZ_WRITE_SEEDS="$out/$t" "$build/tests/fuzz/fuzz_$t" >/dev/null
done

# 2. Boot images: the differential test programs (real RV64GC code, ELF), OpenSBI, Linux.
programs="$(mktemp -d)"
trap 'rm -rf "$programs"' EXIT
if command -v riscv64-linux-gnu-gcc >/dev/null 2>&1; then
  bash "$root/tests/differential/build-programs.sh" "$programs" 'rv64*' 'rvc_*' 'vm_sv39' 'fp_random' 'h_gstage' \
    >/dev/null 2>&1 || true
fi
for elf in "$programs"/*.elf; do
  [ -f "$elf" ] || continue
  name="$(basename "$elf" .elf)"
  prefixed loader "elf_$name" '\x00\x00' "$elf"
  riscv64-linux-gnu-objcopy -O binary -j .text "$elf" "$programs/$name.text" 2>/dev/null &&
    prefixed decoder "text_$name" '' "$programs/$name.text" 4096
done
opensbi=/usr/lib/riscv64-linux-gnu/opensbi/generic
if [ -f "$opensbi/fw_dynamic.elf" ]; then
  prefixed loader opensbi_elf '\x02\x00' "$opensbi/fw_dynamic.elf"
  prefixed loader opensbi_raw '\x01\x00' "$opensbi/fw_dynamic.bin"
  prefixed decoder opensbi_code '' "$opensbi/fw_dynamic.bin" 4096
fi
# shellcheck source=/dev/null
source "$root/guests/paths.sh" 2>/dev/null || true
if [ -n "${NIMBUS_GUEST_KERNEL:-}" ] && [ -f "$NIMBUS_GUEST_KERNEL" ]; then
  prefixed loader linux_image_head '\x01\x00' "$NIMBUS_GUEST_KERNEL" 4096 # the header; too big for RAM
  prefixed decoder linux_code '' "$NIMBUS_GUEST_KERNEL" 4096
fi

# 3. VM TOML: the documentation's example and the integration tests' VMs.
awk '/^```toml/{on=1; n++; next} /^```/{on=0} on{print > ("'"$programs"'/doc" n ".toml")}' "$root"/docs/*.md
mkdir -p "$out/vm_config"
for f in "$programs"/doc*.toml; do [ -f "$f" ] && cp "$f" "$out/vm_config/"; done
seed vm_config test_vm_modes <<'TOML'
name = "trap"
mode = "trap"
memory = "128M"
vcpus = 2
kernel = "/cache/Image"
initrd = "/cache/initramfs.cpio.gz"
append = "console=ttyS0 nimbus.mode=test nimbus.disk=none"
TOML
seed vm_config every_key <<'TOML'
name = "web-1.a_b"
vcpus = 4
memory = 268435456
mode = "emulate"
bios = "none"
kernel = "prog.elf"
initrd = "initrd"
append = "quiet"
disk = "disk.img"
readonly = true
weight = 200
cap = 150
reservation = 50
TOML

# 4. Placement: the test data (selector: 0 bpp, 1 vbp, 2 json, 3 auto, 4 trace CSV).
for f in "$root"/tests/data/placement/*; do
  name="$(basename "$f")"
  case "$name" in
    *.bpp) prefixed placement "$name" '\x00' "$f" ;;
    *.vbp) prefixed placement "$name" '\x01' "$f" ;;
    *.json) prefixed placement "$name" '\x02' "$f" ;;
    *.csv) prefixed placement "$name" '\x04' "$f" ;;
  esac
done
awk '/^```json/{on=1; n++; next} /^```/{on=0} on{print > ("'"$programs"'/place" n ".json")}' "$root/docs/placement.md"
for f in "$programs"/place*.json; do [ -f "$f" ] && prefixed placement "doc_$(basename "$f")" '\x03' "$f"; done

# 5. Cloud API bodies (selector: 0-1 create VM as admin/tenant, 2 tenant, 3 quota, 4 flavor,
#    5 image, 6-7 VM spec, 8.. stored records), in the shapes docs/cloud.md documents.
printf '\x00{"tenant": "acme", "name": "web1", "flavor": "n1.tiny", "image": "linux", "anti_affinity": "web"}' | seed cloud_api create_vm_admin
printf '\x01{"name": "web1", "flavor": "n1.tiny", "image": "linux", "affinity": "db"}' | seed cloud_api create_vm
printf '\x02{"name": "acme", "quota": {"vcpus": 8, "memory_mib": 2048, "vms": 10, "disk_gib": 100}}' | seed cloud_api tenant
printf '\x03{"vcpus": 8, "memory_mib": 2048, "vms": 10, "disk_gib": 100}' | seed cloud_api quota
printf '\x04{"name": "n2.big", "vcpus": 2, "memory_mib": 512, "disk_gib": 4}' | seed cloud_api flavor
printf '\x05{"name": "linux", "kernel": "/path/Image", "initrd": "/path/initramfs.cpio.gz", "append": "console=ttyS0", "mode": "trap", "disk_template": "", "bios": ""}' | seed cloud_api image
printf '\x06{"id": "vm-1", "tenant": "acme", "name": "web1", "generation": 3, "vcpus": 2, "memory_mib": 256, "disk_gib": 1, "mode": "hw", "kernel": "/images/Image", "initrd": "/images/initrd", "append": "console=ttyS0 quiet", "disk": "/var/lib/nimbus/vm-1.img", "disk_template": "/images/base.img", "weight": 200, "cap": 50, "state": "running"}' | seed cloud_api vm_spec
printf '\x07{"vcpus": 1, "memory_mib": 64, "kernel": "/images/Image"}' | seed cloud_api vm_spec_path_id
printf '\x08{"id": "vm-1", "tenant": "acme", "name": "web1", "flavor": "n1.tiny", "image": "linux", "host": "h1", "state": "running", "generation": 2}' | seed cloud_api record_vm
printf '\x09{"id": "h1", "vcpus": 16, "memory_mib": 65536, "disk_gib": 500, "api": "https://h1:7443"}' | seed cloud_api record_host

# 6. Device tree: 128 MiB, 2 harts, RTC + finisher + initrd, virtio slots 0 and 1, a command line.
{ printf '\x00\x00\x00\x08\x00\x00\x00\x00\x02\x00\x07'; printf '\x00\x00\x00\x84\x00\x00\x00\x00\x00\x00\x10\x84\x00\x00\x00\x00\x03';
  printf 'console=ttyS0 earlycon=sbi nimbus.mode=test'; } | seed device_tree linux_2harts
echo "seeds: $(find "$out" -type f | wc -l) files for $(ls "$out" | wc -l) targets in $out"

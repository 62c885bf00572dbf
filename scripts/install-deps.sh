#!/usr/bin/env bash
# Installs every Debian package Nimbus needs to build, test and boot guests.
# Idempotent: apt-get skips what is already installed.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config git ccache
  # libraries
  libfdt-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  libfmt-dev libspdlog-dev libgtest-dev libgmock-dev googletest libbenchmark-dev
  libcpp-httplib-dev libseccomp-dev
  # cloud
  etcd-server etcd-client coinor-cbc coinor-libcbc-dev
  # guests: cross compiler, kernel source and its build dependencies
  gcc-riscv64-linux-gnu binutils-riscv64-linux-gnu libc6-dev-riscv64-cross linux-source-6.1
  bc bison flex libssl-dev libelf-dev cpio xz-utils kmod rsync dpkg-dev
  device-tree-compiler
  # firmware and the reference machine
  opensbi u-boot-qemu qemu-system-misc
  # tools used by tests and benchmarks
  python3 expect e2fsprogs
)

export DEBIAN_FRONTEND=noninteractive
# apt-get update once per boot of the machine is enough; a stamp avoids redoing it.
stamp=/var/tmp/nimbus-apt-updated
if [ ! -f "$stamp" ] || [ "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
  $SUDO apt-get update -q
  $SUDO touch "$stamp" 2>/dev/null || true
fi
$SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"

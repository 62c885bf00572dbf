#!/usr/bin/env bash
# Installs every Debian package Nimbus needs to build, test and boot guests.
# Idempotent: apt-get skips what is already installed.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config git ccache
  # the fuzz targets (scripts/fuzz.sh): clang and its libFuzzer/ASan/UBSan runtimes; llvm-cov and
  # llvm-profdata for the coverage report (tests/fuzz/coverage.sh)
  clang-14 libclang-rt-14-dev llvm-14
  # libraries
  libfdt-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  libfmt-dev libspdlog-dev libgtest-dev libgmock-dev googletest libbenchmark-dev
  libcpp-httplib-dev libseccomp-dev zlib1g-dev
  # the JIT tier's x86-64 code emitter (header-only)
  libxbyak-dev
  # cloud; the etcd client speaks etcd's gRPC API (src/cloud/etcd/etcd_api.proto, compiled by protoc)
  etcd-server etcd-client coinor-cbc coinor-libcbc-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  # guests: cross compiler, kernel source and its build dependencies
  gcc-riscv64-linux-gnu binutils-riscv64-linux-gnu libc6-dev-riscv64-cross linux-source-6.1
  bc bison flex libssl-dev libelf-dev cpio xz-utils kmod rsync dpkg-dev
  device-tree-compiler
  # firmware and the reference machine
  opensbi u-boot-qemu qemu-system-misc
  # tools used by tests and benchmarks (tcl: bench/speedtest1/run.sh generates SQLite's sqlite3.c)
  python3 python3-yaml expect e2fsprogs jq tcl
  # the TAP test: a network namespace of its own (ip netns)
  iproute2
  # the gdb stub's test (tests/integration/test_gdb_stub.sh): a gdb that knows riscv:rv64
  gdb-multiarch
  # the host agent tests: its API over a UNIX socket, a test CA for TLS
  curl openssl
  # the controller dashboard's browser test (tests/integration/test_cloud_dashboard.sh)
  chromium
)

# The dashboard's xterm.js comes from npm (web/package-lock.json); Debian's Node when none is installed.
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

export DEBIAN_FRONTEND=noninteractive
# apt-get update once per boot of the machine is enough; a stamp avoids redoing it.
stamp=/var/tmp/nimbus-apt-updated
if [ ! -f "$stamp" ] || [ "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
  $SUDO apt-get update -q
  $SUDO touch "$stamp" 2>/dev/null || true
fi
$SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"

# The dashboard's npm packages (xterm.js) into web/node_modules, exactly as locked.
WEB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/web"
(cd "$WEB_DIR" && npm ci --no-audit --no-fund)

/* virtio_blk_xv6 on the legacy virtio-mmio transport (version 1: GuestPageSize, QueuePFN, the
   rings in one page-aligned block), as the 2020 xv6-riscv drove it and as QEMU 7.2 presents
   virtio-mmio by default. Nimbus offers it with --virtio-legacy. */
// DIFF-DRIVE: 1M
// DIFF-VIRTIO-LEGACY
#define LEGACY 1
#include "virtio_blk_xv6.S"

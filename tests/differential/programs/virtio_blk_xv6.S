/* A virtio-blk driver written the way xv6-riscv's virtio_disk.c is: modern virtio-mmio
   (version 2) registers, but feature negotiation through the low 32 bits only (it never
   selects the high word, so VIRTIO_F_VERSION_1 is never accepted), one 8-entry split queue,
   three-descriptor requests (header, data, status). It writes sector 1, reads it back with the
   completion taken through the PLIC (claim source 1 in hart 0's M context, acknowledge the
   device's interrupt status, complete), and reads sector 0, which the harness filled.
   QEMU needs -global virtio-mmio.force-legacy=false for a version 2 transport (xv6's Makefile
   says so too); the harness passes it. */
// DIFF-DRIVE: 1M
#include "common.h"

#define VIRTIO0        0x10001000
#define R_MAGIC        0x000
#define R_VERSION      0x004
#define R_DEVICE_ID    0x008
#define R_VENDOR_ID    0x00c
#define R_DEV_FEATURES 0x010
#define R_DRV_FEATURES 0x020
#define R_QUEUE_SEL    0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM    0x038
#define R_QUEUE_READY  0x044
#define R_GUEST_PAGE_SIZE 0x028 /* legacy */
#define R_QUEUE_PFN    0x040    /* legacy */
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS   0x060
#define R_INT_ACK      0x064
#define R_STATUS       0x070
#define R_DESC_LOW     0x080
#define R_DESC_HIGH    0x084
#define R_DRIVER_LOW   0x090
#define R_DRIVER_HIGH  0x094
#define R_DEVICE_LOW   0x0a0
#define R_DEVICE_HIGH  0x0a4
#define R_CONFIG       0x100
#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define NUM 8
#define PLIC_BASE      0x0c000000
#define PLIC_PENDING   (PLIC_BASE + 0x1000)
#define PLIC_ENABLE_C0 (PLIC_BASE + 0x2000)
#define PLIC_CLAIM_C0  (PLIC_BASE + 0x200004)
/* How long a request may take: 5 s of mtime (10 MHz on both machines). A bound in time, not in
   polls: QEMU completes requests on its own threads, which a loaded host may not run for a while. */
#define COMPLETION_TICKS 50000000

.macro PENDING_SRC1 reg
  li t6, PLIC_PENDING
  lw \reg, 0(t6)
  andi \reg, \reg, 2
.endm

  .text
  .globl test_main
test_main:
  addi sp, sp, -16
  sd ra, 0(sp)
  li s0, VIRTIO0
  lw a0, R_MAGIC(s0)
  SIG magic, a0
  lw a0, R_VERSION(s0)
  SIG version, a0
  lw a0, R_DEVICE_ID(s0)
  SIG device_id, a0
  lw a0, R_VENDOR_ID(s0)
  SIG vendor_id, a0

  /* xv6 virtio_disk_init */
  sw zero, R_STATUS(s0)
  li s1, S_ACK
  sw s1, R_STATUS(s0)
  ori s1, s1, S_DRIVER
  sw s1, R_STATUS(s0)
  lw t0, R_DEV_FEATURES(s0)
  /* ~(RO 5 | SCSI 7 | CONFIG_WCE 11 | MQ 12 | ANY_LAYOUT 27 | INDIRECT_DESC 28 | EVENT_IDX 29) */
  li t1, (1 << 5) | (1 << 7) | (1 << 11) | (1 << 12) | (1 << 27) | (1 << 28) | (1 << 29)
  not t1, t1
  and t0, t0, t1
  sw t0, R_DRV_FEATURES(s0)
  ori s1, s1, S_FEATURES_OK
  sw s1, R_STATUS(s0)
  lw a0, R_STATUS(s0)
  SIG status_after_features_ok, a0
  andi a0, a0, S_FEATURES_OK
  bnez a0, 1f
  SAY "virtio disk FEATURES_OK unset"
  li a0, 6
  j diff_exit
1:
#ifdef LEGACY
  /* 2020 xv6: DRIVER_OK before the queue, then the legacy page-frame layout */
  ori s1, s1, S_DRIVER_OK
  sw s1, R_STATUS(s0)
  li t0, 4096
  sw t0, R_GUEST_PAGE_SIZE(s0)
  sw zero, R_QUEUE_SEL(s0)
  lw a0, R_QUEUE_PFN(s0)
  SIG queue_pfn_before, a0
#else
  sw zero, R_QUEUE_SEL(s0)
  lw a0, R_QUEUE_READY(s0)
  SIG queue_ready_before, a0
#endif
  lw a0, R_QUEUE_NUM_MAX(s0)
  li t0, NUM
  sltu a0, a0, t0
  xori a0, a0, 1
  SIG queue_num_max_at_least_8, a0
  li t0, NUM
  sw t0, R_QUEUE_NUM(s0)
#ifdef LEGACY
  la t0, desc
  srli t0, t0, 12
  sw t0, R_QUEUE_PFN(s0)
  lw a0, R_QUEUE_PFN(s0)
  la t0, desc
  srli t0, t0, 12
  sub a0, a0, t0
  SIG queue_pfn_readback_minus_pfn, a0
#else
  la t0, desc
  sw t0, R_DESC_LOW(s0)
  srli t0, t0, 32
  sw t0, R_DESC_HIGH(s0)
  la t0, avail
  sw t0, R_DRIVER_LOW(s0)
  srli t0, t0, 32
  sw t0, R_DRIVER_HIGH(s0)
  la t0, used
  sw t0, R_DEVICE_LOW(s0)
  srli t0, t0, 32
  sw t0, R_DEVICE_HIGH(s0)
  li t0, 1
  sw t0, R_QUEUE_READY(s0)
  ori s1, s1, S_DRIVER_OK
  sw s1, R_STATUS(s0)
#endif
  lw a0, R_STATUS(s0)
  SIG status_driver_ok, a0
  ld a0, R_CONFIG(s0)
  SIG capacity_sectors, a0

  /* PLIC: virtio slot 0 is source 1, priority 1, M context of hart 0 (polled claim). */
  li t0, PLIC_BASE + 4
  li t1, 1
  sw t1, 0(t0)
  li t0, PLIC_ENABLE_C0
  li t1, 2
  sw t1, 0(t0)

  /* Write sector 1: "sector one, written by the driver" then the byte index pattern. */
  la t0, buf
  li t1, 0
2:
  add t2, t0, t1
  sb t1, 0(t2)
  addi t1, t1, 1
  li t3, 512
  bltu t1, t3, 2b
  la t0, buf
  la t1, message
  ld t2, 0(t1)
  sd t2, 0(t0)
  ld t2, 8(t1)
  sd t2, 8(t0)
  li a0, 1                      /* VIRTIO_BLK_T_OUT */
  li a1, 1                      /* sector */
  call disk_rw
  SIG write.status, a0
  SIG write.used_len, a1
  SIG write.used_id, a2
  lw a0, R_INT_STATUS(s0)
  SIG write.int_status, a0
  PENDING_SRC1 a0
  SIG write.plic_pending, a0
  li t0, PLIC_CLAIM_C0
  lw a0, 0(t0)
  SIG write.claim, a0
  lw t1, R_INT_STATUS(s0)
  sw t1, R_INT_ACK(s0)          /* xv6 virtio_disk_intr: acknowledge first */
  li t0, PLIC_CLAIM_C0
  sw a0, 0(t0)
  lw a0, R_INT_STATUS(s0)
  SIG write.int_status_acked, a0
  PENDING_SRC1 a0
  SIG write.plic_pending_after, a0

  /* Read sector 1 back into a cleared buffer. */
  la t0, buf
  li t1, 0
3:
  add t2, t0, t1
  sb zero, 0(t2)
  addi t1, t1, 1
  li t3, 512
  bltu t1, t3, 3b
  li a0, 0                      /* VIRTIO_BLK_T_IN */
  li a1, 1
  call disk_rw
  SIG read1.status, a0
  SIG read1.used_len, a1
  SIG read1.used_id, a2
  la t0, buf
  ld a0, 0(t0)
  SIG read1.bytes0, a0
  ld a0, 8(t0)
  SIG read1.bytes8, a0
  call buf_sum
  SIG read1.sum, a0
  lw t1, R_INT_STATUS(s0)
  sw t1, R_INT_ACK(s0)
  li t0, PLIC_CLAIM_C0
  lw a0, 0(t0)
  sw a0, 0(t0)

  /* Read sector 0 (written by the harness). */
  li a0, 0
  li a1, 0
  call disk_rw
  SIG read0.status, a0
  la t0, buf
  ld a0, 0(t0)
  SIG read0.bytes0, a0
  ld a0, 8(t0)
  SIG read0.bytes8, a0
  lw t1, R_INT_STATUS(s0)
  sw t1, R_INT_ACK(s0)
  li t0, PLIC_CLAIM_C0
  lw a0, 0(t0)
  sw a0, 0(t0)

  /* A sector past the end: IOERR (1). */
  ld a1, R_CONFIG(s0)
  li a0, 0
  call disk_rw
  SIG read_past_end.status, a0
  lw t1, R_INT_STATUS(s0)
  sw t1, R_INT_ACK(s0)
  li t0, PLIC_CLAIM_C0
  lw a0, 0(t0)
  sw a0, 0(t0)
  sw zero, R_STATUS(s0)         /* reset the device */
  lw a0, R_STATUS(s0)
  SIG status_after_reset, a0
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

/* disk_rw(a0 = type, a1 = sector): one request through descriptors 0, 1, 2 (xv6 allocates
   three free descriptors; we always use the first three). Polls the used ring (for at most COMPLETION_TICKS of mtime).
   Returns a0 = status byte, a1 = used length, a2 = used id. */
disk_rw:
  la t0, req
  sw a0, 0(t0)                  /* type */
  sw zero, 4(t0)                /* reserved */
  sd a1, 8(t0)                  /* sector */
  la t1, desc
  /* desc[0]: the header, device-readable, NEXT */
  sd t0, 0(t1)
  li t2, 16
  sw t2, 8(t1)
  li t2, 1                      /* VRING_DESC_F_NEXT */
  sh t2, 12(t1)
  li t2, 1
  sh t2, 14(t1)
  /* desc[1]: the data, device-writable for a read */
  la t2, buf
  sd t2, 16(t1)
  li t2, 512
  sw t2, 24(t1)
  li t2, 1
  bnez a0, 1f
  ori t2, t2, 2                 /* VRING_DESC_F_WRITE */
1:
  sh t2, 28(t1)
  li t2, 2
  sh t2, 30(t1)
  /* desc[2]: the status byte, device-writable */
  la t2, status
  li t3, 0xff
  sb t3, 0(t2)
  sd t2, 32(t1)
  li t2, 1
  sw t2, 40(t1)
  li t2, 2
  sh t2, 44(t1)
  sh zero, 46(t1)
  /* avail ring: ring[idx % NUM] = 0, then idx++ */
  la t1, avail
  lhu t2, 2(t1)
  andi t3, t2, NUM - 1
  slli t3, t3, 1
  add t3, t3, t1
  sh zero, 4(t3)
  fence rw, rw
  addi t2, t2, 1
  sh t2, 2(t1)
  fence rw, rw
  sw zero, R_QUEUE_NOTIFY(s0)
  /* wait for used->idx to catch up, until the deadline t5 */
  la t1, used
  li t4, CLINT_MTIME
  ld t5, 0(t4)
  li t3, COMPLETION_TICKS
  add t5, t5, t3
2:
  fence rw, rw
  lhu t0, 2(t1)
  beq t0, t2, 3f
  ld t3, 0(t4)
  bltu t3, t5, 2b
  SAY "virtio disk: no completion"
  li a0, 7
  j diff_exit
3:
  addi t0, t2, -1
  andi t0, t0, NUM - 1
  slli t0, t0, 3
  add t0, t0, t1
  lwu a2, 4(t0)                 /* used.ring[].id */
  lwu a1, 8(t0)                 /* used.ring[].len */
  la t0, status
  lbu a0, 0(t0)
  ret

/* buf_sum(): sum of the 512 bytes of buf. */
buf_sum:
  la t0, buf
  li t1, 0
  li a0, 0
1:
  add t2, t0, t1
  lbu t2, 0(t2)
  add a0, a0, t2
  addi t1, t1, 1
  li t3, 512
  bltu t1, t3, 1b
  ret

  .section .rodata
  .balign 8
message: .ascii "sector one, wri."

  .section .pages, "aw", @nobits
  .balign 4096
#ifdef LEGACY
desc: .skip 16 * NUM             /* legacy layout: avail right after the table, used on the next page */
avail: .skip 4096 - 16 * NUM
used: .skip 4096
#else
desc: .skip 4096
avail: .skip 4096
used: .skip 4096
#endif
buf: .skip 512
req: .skip 16
status: .skip 8

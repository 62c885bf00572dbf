/* Bare-metal durability writer for tests/integration/test_disk_kill_durability.sh.
   Linked with tests/differential/programs/crt.S (which calls test_main in M-mode) and link.ld.
   Drives the virtio-blk device in slot 0 (modern virtio-mmio at 0x1000_1000) with polled
   requests. Prints "RUN <nonce>" (the goldfish RTC's nanoseconds: unique per run), then writes
   numbered 4 KiB records, record i at sectors 1 + 8 (i - 1); each record is written (OUT,
   header + two 2 KiB data descriptors + status), then FLUSHed, and only once the FLUSH completed
   with status OK it prints "ACK <i>". A record: "NIMBREC1", nonce, i, payload derived from
   (nonce, i), FNV-1a 64 of the first 4088 bytes in the last 8. Stops ("FULL") at the end of
   the disk, powers off with code 5 on any device error. */
#include <stdint.h>

void diff_putc(int c);
void diff_puts(const char* s);
void diff_exit(int code) __attribute__((noreturn));

#define VIRTIO0 0x10001000UL
#define RTC 0x00101000UL
#define REG(off) (*(volatile uint32_t*)(VIRTIO0 + (off)))
#define NUM 8
#define RECORD 4096

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct avail { uint16_t flags, idx, ring[NUM]; };
struct used_elem { uint32_t id, len; };
struct used { uint16_t flags, idx; struct used_elem ring[NUM]; };
struct req { uint32_t type, reserved; uint64_t sector; };

static struct desc descs[NUM] __attribute__((aligned(4096)));
static struct avail avail __attribute__((aligned(4096)));
static struct used used __attribute__((aligned(4096)));
static uint8_t record[RECORD] __attribute__((aligned(4096)));
static struct req header;
static volatile uint8_t status;

static void put_dec(uint64_t v) {
  char b[24];
  int n = 0;
  do { b[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) diff_putc(b[--n]);
}
static void put_hex(uint64_t v) {
  for (int s = 60; s >= 0; s -= 4) diff_putc("0123456789abcdef"[(v >> s) & 15]);
}
static void fail(const char* what) {
  diff_puts("ERROR ");
  diff_puts(what);
  diff_putc('\n');
  diff_exit(5);
}

/* One request: header, then `data_segments` pieces of the record, then the status byte. */
static uint8_t submit(uint32_t type, uint64_t sector, int data_segments) {
  header.type = type;
  header.reserved = 0;
  header.sector = sector;
  status = 0xff;
  int n = 0;
  descs[n] = (struct desc){(uint64_t)(uintptr_t)&header, sizeof header, 1, (uint16_t)(n + 1)};
  ++n;
  for (int s = 0; s < data_segments; ++s) {
    const uint32_t piece = RECORD / (uint32_t)data_segments;
    descs[n] = (struct desc){(uint64_t)(uintptr_t)(record + s * piece), piece, 1, (uint16_t)(n + 1)};
    ++n;
  }
  descs[n] = (struct desc){(uint64_t)(uintptr_t)&status, 1, 2, 0};
  avail.ring[avail.idx % NUM] = 0;
  __sync_synchronize();
  const uint16_t want = (uint16_t)(avail.idx + 1);
  avail.idx = want;
  __sync_synchronize();
  REG(0x050) = 0;
  for (uint64_t spin = 0; *(volatile uint16_t*)&used.idx != want; ++spin)
    if (spin > 200000000ULL) fail("no completion");
  __sync_synchronize();
  return status;
}

static uint64_t fnv(const uint8_t* p, uint64_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (uint64_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

void test_main(void) {
  if (REG(0x000) != 0x74726976 || REG(0x004) != 2 || REG(0x008) != 2) fail("no modern virtio-blk in slot 0");
  REG(0x070) = 0;
  REG(0x070) = 1;
  REG(0x070) = 3;
  REG(0x014) = 0;
  if (!(REG(0x010) & (1u << 9))) fail("no VIRTIO_BLK_F_FLUSH");
  REG(0x024) = 0;
  REG(0x020) = 1u << 9; /* FLUSH */
  REG(0x024) = 1;
  REG(0x020) = 1;       /* VERSION_1 */
  REG(0x070) = 3 | 8;
  if (!(REG(0x070) & 8)) fail("FEATURES_OK refused");
  REG(0x030) = 0;
  if (REG(0x034) < NUM) fail("queue too small");
  REG(0x038) = NUM;
  REG(0x080) = (uint32_t)(uintptr_t)descs;
  REG(0x084) = (uint32_t)((uint64_t)(uintptr_t)descs >> 32);
  REG(0x090) = (uint32_t)(uintptr_t)&avail;
  REG(0x094) = (uint32_t)((uint64_t)(uintptr_t)&avail >> 32);
  REG(0x0a0) = (uint32_t)(uintptr_t)&used;
  REG(0x0a4) = (uint32_t)((uint64_t)(uintptr_t)&used >> 32);
  REG(0x044) = 1;
  REG(0x070) = 3 | 8 | 4;
  const uint64_t capacity = *(volatile uint64_t*)(VIRTIO0 + 0x100);

  const uint32_t lo = *(volatile uint32_t*)(RTC + 0x00);
  const uint32_t hi = *(volatile uint32_t*)(RTC + 0x04);
  const uint64_t nonce = ((uint64_t)hi << 32 | lo) ^ 0x9e3779b97f4a7c15ULL;
  diff_puts("RUN ");
  put_hex(nonce);
  diff_putc('\n');

  for (uint64_t i = 1;; ++i) {
    const uint64_t sector = 1 + (i - 1) * (RECORD / 512);
    if (sector + RECORD / 512 > capacity) break;
    uint64_t* words = (uint64_t*)record;
    words[0] = 0x31434552424d494eULL; /* "NIMBREC1" */
    words[1] = nonce;
    words[2] = i;
    uint64_t x = nonce ^ (i * 0xbf58476d1ce4e5b9ULL);
    for (int w = 3; w < RECORD / 8 - 1; ++w) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      words[w] = x;
    }
    words[RECORD / 8 - 1] = fnv(record, RECORD - 8);
    if (submit(1, sector, 2) != 0) fail("write");
    if (submit(4, 0, 0) != 0) fail("flush");
    diff_puts("ACK ");
    put_dec(i);
    diff_putc('\n');
  }
  diff_puts("FULL\n");
}

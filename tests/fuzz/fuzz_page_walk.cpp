// Fuzz target: Sv39/Sv48/Sv57 page-table walks on page tables the fuzzer writes into guest
// memory, checked differentially: the hart's MMU (machine/mmu.cpp, the walker every mode's
// guest runs on) against trap mode's software walker (hypervisor/trap_mode/guest_page_walk.cpp,
// which the VMM uses to fill shadow tables). They are independent implementations of the same
// privileged-spec rules.
//
// For every probe (a load, store or fetch at a virtual address, as S or U, with SUM/MXR) beyond
// "no crash" (guest RAM is a heap buffer, so ASan sees a walk reading past it):
//  - both walkers agree: a page fault in one is a page fault in the other, a PTE outside RAM is
//    an access fault in both, and a translation both accept reaches the same physical byte (a
//    load returns the same value, a fetch the same instruction);
//  - both leave guest memory identical afterwards (the same A and D updates, the same store).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_support.hpp"
#include "hypervisor/frame_pool.hpp"
#include "hypervisor/guest_memory.hpp"
#include "hypervisor/trap_mode/guest_page_walk.hpp"
#include "machine/clock.hpp"
#include "machine/hart.hpp"
#include "machine/hart_reservation_set.hpp"
#include "virtio_harness.hpp" // HeapRam
#include "walk_harness.hpp"

using namespace nimbus;
using hypervisor::GuestAccess;
using Status = hypervisor::GuestTranslation::Status;

namespace {

constexpr uint64_t kRamBase = 0x8000'0000;
constexpr uint64_t kPages = 16;
constexpr uint64_t kRamSize = kPages * 4096;
constexpr uint64_t kModes[4] = {0, 8, 9, 10}; // bare, Sv39, Sv48, Sv57
constexpr uint64_t kLoadAccessFault = 5, kStoreAccessFault = 7, kFetchAccessFault = 1;
constexpr uint64_t kLoadPageFault = 13, kStorePageFault = 15;

struct World {
  fuzz::HeapRam ram{kRamSize};
  machine::Bus bus{kRamBase, kRamSize, ram};
  fuzz::ProbeRom rom;
  machine::Clock clock{true};
  machine::ReservationSet reservations;
  hypervisor::FramePool pool{kRamSize * 2};
  hypervisor::GuestMemory memory{pool, "walker", kRamBase, kRamSize};
  World() { bus.map(fuzz::ProbeRom::kBase, fuzz::ProbeRom::kSize, &rom); }
};
World& world() {
  static World w;
  return w;
}

uint64_t pte(uint64_t ppn, uint8_t flags) { return ppn << 10 | flags; }

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fuzz::seed_dir()) return 0;
  // For each mode: a root at page 1, one table per level on pages 2.., a 4 KiB leaf to page 8 for
  // VA 0x4000_1000 (RW, A clear), a megapage or gigapage leaf, then loads, stores and fetches.
  for (unsigned m = 1; m < 4; ++m) {
    fuzz::ByteWriter w;
    w.u8(static_cast<uint8_t>(m | 1 << 2)); // mode, root page 1
    const unsigned levels = 2 + m;
    const uint64_t va = 0x4000'1000;
    unsigned table = 1;
    for (unsigned level = levels - 1; level > 0; --level) {
      w.u8(0x00); // PTE into RAM
      w.u8(static_cast<uint8_t>(table));
      w.u16(static_cast<uint16_t>((va >> (12 + 9 * level)) & 0x1ff));
      w.u8(static_cast<uint8_t>(table + 1));
      w.u8(1); // V: a pointer
      ++table;
    }
    w.u8(0x00);
    w.u8(static_cast<uint8_t>(table));
    w.u16(static_cast<uint16_t>((va >> 12) & 0x1ff));
    w.u8(8);
    w.u8(0x07); // V R W
    for (const uint8_t kind : {0, 1, 0, 2}) {
      w.u8(static_cast<uint8_t>(0xc0 | kind)); // S-mode probe
      w.u64(va + 8);
      w.u64(0x1122334455667788);
    }
    w.u8(0xc0 | 4); // U-mode load: no U bit, a page fault
    w.u64(va);
    w.u64(0);
    fuzz::write_seed("walk_sv" + std::to_string(30 + 9 * m), w.out);
  }
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  World& w = world();
  std::memset(w.ram.bytes().data(), 0, kRamSize);
  fuzz::ByteReader in(data, size);
  const uint8_t setup = in.u8();
  const uint64_t satp = kModes[setup & 3] << 60 | ((kRamBase >> 12) + ((setup >> 2) & (kPages - 1)));

  machine::Hart hart(0, w.bus, w.clock, w.reservations);
  fuzz::prepare_hart(hart);
  hart.set_csr(riscv::csr::kSatp, satp);
  FUZZ_CHECK(hart.csr(riscv::csr::kSatp) == satp);

  for (unsigned n = 0; n < 256 && !in.empty(); ++n) {
    const uint8_t op = in.u8();
    if (op < 0x80) {
      // A PTE: table page, index, target (a RAM page, or with bit 0 any PPN), flags.
      const uint64_t table = in.u8() % kPages;
      const uint64_t index = in.u16() % 512;
      uint64_t ppn = (op & 1) ? in.u32() : (kRamBase >> 12) + in.u8() % kPages;
      // Not the probe ROM's page: the hart may read a page table from ROM (it is memory), which
      // the software walker, knowing only the VM's RAM, calls an access fault; a leaf into the
      // ROM stays possible through a superpage.
      if (ppn == fuzz::ProbeRom::kBase >> 12) ppn += 1;
      const uint64_t entry = pte(ppn, in.u8()) | ((op & 2) ? uint64_t{in.u8()} << 54 : 0);
      std::memcpy(w.ram.bytes().data() + table * 4096 + index * 8, &entry, 8);
    } else if (op < 0xc0) {
      const uint64_t offset = (in.u16() % kRamSize) & ~uint64_t{7};
      const uint64_t value = in.u64();
      std::memcpy(w.ram.bytes().data() + offset, &value, 8);
    } else {
      const unsigned kind = op & 3; // 0 load, 1 store, 2 fetch (3: load)
      const bool user = op & 4;
      const bool sum = op & 8, mxr = op & 16;
      const uint64_t va = in.u64() & ~uint64_t{7};
      const uint64_t value = in.u64();
      const GuestAccess access = kind == 1 ? GuestAccess::store : kind == 2 ? GuestAccess::fetch : GuestAccess::load;

      // The software walker on a copy of guest memory.
      FUZZ_CHECK(w.memory.write(kRamBase, w.ram.bytes().data(), kRamSize) == hypervisor::GuestMemoryStatus::ok);
      const hypervisor::GuestTranslation t = hypervisor::walk_guest(w.memory, {satp, user, sum, mxr}, va, access);
      const bool reachable = t.status == Status::ok && t.gpa >= kRamBase && t.gpa - kRamBase <= kRamSize - 8;
      // The probe ROM (code for the hart) is the one device: a translation into it is not RAM for
      // the software walker but is readable for the hart, so only memory is compared then.
      const bool rom = t.status == Status::ok && t.gpa >= fuzz::ProbeRom::kBase &&
                       t.gpa < fuzz::ProbeRom::kBase + fuzz::ProbeRom::kSize;
      uint64_t expected = 0;
      if (reachable) {
        FUZZ_CHECK(w.memory.read(t.gpa, &expected, 8) == hypervisor::GuestMemoryStatus::ok);
        if (access == GuestAccess::store) w.memory.write(t.gpa, &value, 8);
      }

      // The hart.
      namespace mst = riscv::csr::mstatus;
      if (access == GuestAccess::fetch) {
        hart.flush_translations();
        hart.set_privilege(user ? 0 : 1);
        uint32_t bits = 0;
        const bool fetched = hart.fetch_instruction(va, bits);
        hart.set_privilege(3);
        FUZZ_CHECK(rom || fetched == reachable);
        if (fetched && !rom) {   // the ROM is not RAM for the software walker: nothing to compare
          const uint32_t low = static_cast<uint32_t>(expected);
          FUZZ_CHECK((low & 3) == 3 ? bits == low : (bits & 0xffff) == (low & 0xffff));
        }
      } else {
        const fuzz::ProbeResult r = fuzz::probe(hart, va, access == GuestAccess::store, value, user ? 0 : 1, false,
                                                (sum ? mst::kSum : 0) | (mxr ? mst::kMxr : 0));
        const bool store = access == GuestAccess::store;
        if (rom) {
        } else if (t.status == Status::page_fault) {
          FUZZ_CHECK(r.cause == (store ? kStorePageFault : kLoadPageFault));
        } else if (!reachable) {
          FUZZ_CHECK(r.cause == (store ? kStoreAccessFault : kLoadAccessFault));
        } else {
          FUZZ_CHECK(r.cause == 3);
          if (!store) FUZZ_CHECK(r.value == expected);
        }
        (void)kFetchAccessFault;
      }
      std::vector<uint8_t> after(kRamSize);
      FUZZ_CHECK(w.memory.read(kRamBase, after.data(), kRamSize) == hypervisor::GuestMemoryStatus::ok);
      FUZZ_CHECK(after == w.ram.bytes());
    }
  }
  return 0;
}

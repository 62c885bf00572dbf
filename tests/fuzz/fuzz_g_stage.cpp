// Fuzz target: the G-stage (guest-physical -> machine) translation of hw mode, from both sides:
// the table the VMM builds (hypervisor/hw_mode/g_stage_table.*) and the hart's two-stage walk
// (machine/mmu.cpp) that runs a V=1 guest through it.
//
// The first byte picks the mode:
//  - even: the VMM's builder. The input maps 4 KiB pages and 2 MiB megapages with any
//    permissions (including misaligned, out-of-range, conflicting and remapping requests), then
//    probes guest-physical addresses from VS-mode with vsatp bare. Beyond "no crash": the
//    builder's own translate() and the hart agree on every probe: a mapped address reaches the
//    same machine byte when the permission allows it and is a guest-page fault otherwise; an
//    unmapped one is always a guest-page fault; a refused map changes nothing; mapped_bytes()
//    counts exactly the successful new mappings.
//  - odd: hostile tables. The input writes G-stage and VS-stage page tables itself (Sv39x4,
//    Sv48x4, Sv57x4 G-stage; bare, Sv39, Sv48, Sv57 VS-stage) into machine memory and probes
//    loads and stores from VS and VU with any SUM/MXR. Beyond "no crash": every probe ends in
//    success or one of the exceptions a two-stage access can raise (access, page or guest-page
//    fault), with the guest-physical address in mtval2 only for a guest-page fault.
#include <algorithm>
#include <cstddef>
#include <iterator>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "fuzz_support.hpp"
#include "hypervisor/frame_pool.hpp"
#include "hypervisor/guest_memory.hpp"
#include "hypervisor/hw_mode/g_stage_table.hpp"
#include "hypervisor/machine_memory.hpp"
#include "hypervisor/table_pages.hpp"
#include "machine/clock.hpp"
#include "machine/hart.hpp"
#include "machine/hart_reservation_set.hpp"
#include "walk_harness.hpp"

using namespace nimbus;
using hypervisor::GStageTable;

namespace {

constexpr uint64_t kMachineBytes = 8ull << 20; // four 2 MiB frames, as hw mode's pool has
constexpr uint64_t kMachinePages = kMachineBytes / 4096;
constexpr uint64_t kLoadGuestPageFault = 21, kStoreGuestPageFault = 23;
constexpr uint64_t kModes[4] = {0, 8, 9, 10};

struct World {
  hypervisor::FramePool pool{kMachineBytes, 2ull << 20};
  hypervisor::MachineMemory machine_memory{pool};
  machine::Bus bus{0, kMachineBytes, machine_memory};
  fuzz::ProbeRom rom;
  machine::Clock clock{true};
  machine::ReservationSet reservations;
  hypervisor::GuestMemory vm{pool, "vm", 0x8000'0000, 2ull << 20};
  World() { bus.map(fuzz::ProbeRom::kBase, fuzz::ProbeRom::kSize, &rom); }
};
World& world() {
  static World w;
  return w;
}

struct Mapping {
  uint64_t gpa, machine, size, permissions;
};

void builder(fuzz::ByteReader& in, World& w, machine::Hart& hart) {
  hypervisor::TablePages pages(w.pool, w.vm.vm_id(), 32);
  GStageTable table(pages, w.pool.base(), 0);
  hart.set_csr(riscv::csr::kHgatp, table.hgatp(1));
  hart.set_csr(riscv::csr::kVsatp, 0);
  std::vector<Mapping> maps;
  uint64_t mapped = 0;
  for (unsigned n = 0; n < 128 && !in.empty(); ++n) {
    const uint8_t op = in.u8();
    if (op < 0x80) {
      const bool mega = op & 1;
      const uint64_t size = mega ? GStageTable::kMegapage : 4096;
      uint64_t gpa = (op & 2) ? in.u64() : (uint64_t{in.u32()} << (mega ? 21 : 12)) & ((uint64_t{1} << 41) - 1);
      uint64_t machine = mega ? uint64_t{in.u8() % (kMachineBytes / size)} * size : uint64_t{in.u16() % kMachinePages} * 4096;
      if (op & 4) machine += in.u16(); // sometimes misaligned
      const uint64_t permissions = (op & 8) ? in.u64() : uint64_t{in.u8()} & 0xe;
      const auto before = table.mapped_bytes();
      const auto status = table.map(gpa, machine, size, permissions);
      if (status == GStageTable::MapStatus::ok) {
        bool again = false;
        for (Mapping& m : maps) // the same page again: map() gives it the new permissions (write-protect undone)
          if (m.gpa == gpa && m.size == size) {
            again = true;
            m.permissions = permissions;
          }
        if (!again) {
          maps.push_back({gpa, machine, size, permissions});
          mapped += size;
        }
      } else {
        FUZZ_CHECK(table.mapped_bytes() == before);
      }
      FUZZ_CHECK(table.mapped_bytes() == mapped);
    } else if (op == 0xff) {
      table.clear();
      maps.clear();
      mapped = 0;
      hart.set_csr(riscv::csr::kHgatp, table.hgatp(1));
    } else {
      const bool store = op & 1;
      uint64_t gpa;
      if ((op & 2) || maps.empty()) {
        gpa = in.u64();
      } else {
        const Mapping& m = maps[in.u8() % maps.size()];
        gpa = m.gpa + in.u32() % m.size;
      }
      gpa &= ~uint64_t{7};
      const std::optional<uint64_t> target = table.translate(gpa);
      const Mapping* covering = nullptr;
      for (const Mapping& m : maps)
        if (gpa >= m.gpa && gpa - m.gpa < m.size) covering = &m;
      FUZZ_CHECK(target.has_value() == (covering != nullptr));
      uint64_t expected = 0;
      if (target) {
        FUZZ_CHECK(*target == covering->machine + (gpa - covering->gpa));
        std::memcpy(&expected, w.pool.base() + *target, 8);
      }
      const uint64_t value = in.u64();
      // A store into one of the table's own pages would change the mapping under test (the VMM
      // never maps those to a guest); leave those out.
      if (store && target && pages.host(*target) != nullptr) continue;
      const fuzz::ProbeResult r = fuzz::probe(hart, gpa, store, value, 1, true, 0);
      const uint64_t needed = store ? GStageTable::kWrite : GStageTable::kRead;
      if (target && (covering->permissions & needed)) {
        FUZZ_CHECK(r.cause == 3);
        uint64_t now = 0;
        std::memcpy(&now, w.pool.base() + *target, 8);
        FUZZ_CHECK(store ? now == value : r.value == expected);
      } else {
        FUZZ_CHECK(r.cause == (store ? kStoreGuestPageFault : kLoadGuestPageFault));
        FUZZ_CHECK(hart.csr(riscv::csr::kMtval2) == gpa >> 2);
      }
    }
  }
}

void hostile(uint8_t setup, fuzz::ByteReader& in, World& w, machine::Hart& hart) {
  // Tables live in the first 64 machine pages; the G-stage root is 16 KiB aligned.
  const uint64_t hgatp = kModes[(setup >> 1) & 3] << 60 | static_cast<uint64_t>((setup >> 3) & 7) * 4;
  const uint8_t vs = in.u8();
  const uint64_t vsatp = kModes[vs & 3] << 60 | (vs >> 2);
  hart.set_csr(riscv::csr::kHgatp, hgatp);
  hart.set_csr(riscv::csr::kVsatp, vsatp);
  for (unsigned n = 0; n < 256 && !in.empty(); ++n) {
    const uint8_t op = in.u8();
    if (op < 0x80) {
      const uint64_t at = static_cast<uint64_t>(in.u8() % 64) * 4096 + (in.u16() % 2048) * 8; // 2048: a 16 KiB root
      const uint64_t ppn = (op & 1) ? in.u32() : uint64_t{in.u16() % kMachinePages} | ((op & 2) ? 0x80000 : 0);
      const uint64_t entry = ppn << 10 | in.u8() | ((op & 4) ? uint64_t{in.u8()} << 54 : 0);
      std::memcpy(w.pool.base() + at, &entry, 8);
    } else {
      const bool store = op & 1, user = op & 2;
      namespace mst = riscv::csr::mstatus;
      const uint64_t status = ((op & 4) ? mst::kSum : 0) | ((op & 8) ? mst::kMxr : 0);
      const uint64_t va = in.u64() & ~uint64_t{7};
      const fuzz::ProbeResult r = fuzz::probe(hart, va, store, in.u64(), user ? 0 : 1, true, status);
      const uint64_t ok[] = {3, 5, 7, 13, 15, 21, 23};
      FUZZ_CHECK(std::find(std::begin(ok), std::end(ok), r.cause) != std::end(ok));
      if (r.cause != 21 && r.cause != 23) FUZZ_CHECK(hart.csr(riscv::csr::kMtval2) == 0);
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fuzz::seed_dir()) return 0;
  // Builder: a megapage and two pages (RW, R, X only), probes of each and of a hole.
  fuzz::ByteWriter w;
  w.u8(0);
  w.u8(0x01); w.u32(0x80000000u >> 21); w.u8(1); w.u8(0x6);          // megapage at 0x8000_0000 -> 2 MiB, RW
  w.u8(0x00); w.u32(0x80400000u >> 12); w.u16(7); w.u8(0x2);          // page -> machine page 7, R
  w.u8(0x00); w.u32(0x80401000u >> 12); w.u16(9); w.u8(0x8);          // page -> machine page 9, X only
  for (uint8_t i = 0; i < 3; ++i) {
    w.u8(0x80); w.u8(i); w.u32(0x18); w.u64(0);                         // load
    w.u8(0x81); w.u8(i); w.u32(0x20); w.u64(0x5a5a5a5a5a5a5a5a);        // store
  }
  w.u8(0x82); w.u64(0x80402000); w.u64(0);                              // a hole
  fuzz::write_seed("gstage_builder", w.out);
  // Hostile: Sv39x4 root at machine page 4, VS bare; one leaf; probes.
  fuzz::ByteWriter h;
  h.u8(1 | 1 << 1 | 1 << 3);
  h.u8(0);
  h.u8(0x00); h.u8(4); h.u16(2); h.u16(16); h.u8(1);                    // root[2] -> page 16 (pointer)
  h.u8(0x00); h.u8(16); h.u16(0); h.u16(32); h.u8(0xdf);              // page 16[0] -> megapage at page 32... (misaligned)
  h.u8(0x80); h.u64(0x80000000); h.u64(0);
  h.u8(0x81); h.u64(0x80000008); h.u64(1);
  fuzz::write_seed("gstage_hostile", h.out);
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  World& w = world();
  std::memset(w.pool.base(), 0, 64 * 4096); // the hostile tables' pages (the builder zeroes its own)
  machine::Hart hart(0, w.bus, w.clock, w.reservations);
  fuzz::prepare_hart(hart);
  fuzz::ByteReader in(data + 1, size - 1);
  if ((data[0] & 1) == 0) builder(in, w, hart);
  else hostile(data[0], in, w, hart);
  return 0;
}

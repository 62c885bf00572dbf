// Fuzz target: trap mode's shadow page tables (hypervisor/trap_mode/shadow_page_tables.*), the
// tables the hart really walks for a trap-mode guest. The input is a sequence of the calls trap
// mode makes (select an address space by guest satp, map 4 KiB leaves into either root, the
// three fences, clearing SUM leaves, asking for the hart's satp) under a small table-page limit,
// so spaces are evicted and whole resets happen often.
//
// Beyond "no crash", against a model of what was mapped and not since invalidated:
//  - soundness: a leaf the shadow holds is exactly one the model holds for that space, root and
//    page (dropping a leaf early, by eviction or reset, is always allowed; keeping one a fence
//    removed, or a different one, never is);
//  - a successful map is there right after it, with the frame and permissions asked for, as a
//    user page (U=1) with A and D preset;
//  - the hart agrees: running in U-mode on the satp hart_satp() returned, a load or store
//    through the shadow reaches the leaf's frame when its permissions allow and is a page fault
//    otherwise;
//  - the table pages in use never exceed the limit.
#include <cstdint>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"
#include "hypervisor/frame_pool.hpp"
#include "hypervisor/machine_memory.hpp"
#include "hypervisor/trap_mode/shadow_page_tables.hpp"
#include "hypervisor/trap_mode/shadow_table_pages.hpp"
#include "machine/clock.hpp"
#include "machine/hart.hpp"
#include "machine/hart_reservation_set.hpp"
#include "walk_harness.hpp"

using namespace nimbus;
using hypervisor::ShadowPageTables;
using Root = ShadowPageTables::Root;

namespace {

constexpr uint64_t kFrame = 2ull << 20;
constexpr uint64_t kMachineBytes = 8 * kFrame;
constexpr uint64_t kLoadPageFault = 13, kStorePageFault = 15;
constexpr uint64_t kModes[4] = {0, 8, 9, 10}; // bare (shadowed as Sv39), Sv39, Sv48, Sv57

struct World {
  hypervisor::FramePool pool{kMachineBytes, kFrame};
  hypervisor::MachineMemory machine_memory{pool};
  machine::Bus bus{0, kMachineBytes, machine_memory};
  fuzz::ProbeRom rom;
  machine::Clock clock{true};
  machine::ReservationSet reservations;
  hypervisor::VmId vm = pool.register_vm();
  uint64_t data = 0; // the frame leaves point into (never a table page, so stores are safe)
  World() {
    bus.map(fuzz::ProbeRom::kBase, fuzz::ProbeRom::kSize, &rom);
    const hypervisor::VmId guest = pool.register_vm();
    data = uint64_t{*pool.allocate(guest)} * kFrame;
  }
};
World& world() {
  static World w;
  return w;
}

unsigned levels_of(uint64_t key) {
  const uint64_t mode = key >> 60;
  return mode == 9 ? 4 : mode == 10 ? 5 : 3;
}
uint64_t canonical_va(uint64_t bits, unsigned levels) {
  const unsigned width = 12 + 9 * levels;
  return static_cast<uint64_t>(static_cast<int64_t>(bits << (64 - width)) >> (64 - width)) & ~uint64_t{0xfff};
}

// space key -> (root, va page) -> leaf
using Model = std::map<uint64_t, std::map<std::pair<unsigned, uint64_t>, ShadowPageTables::Leaf>>;

// The shadow's entry for (root, va) in the current space is absent or exactly the model's.
void check_entry(const ShadowPageTables& shadows, const Model& model, Root root, uint64_t va) {
  const uint64_t pte = shadows.lookup(root, va);
  if (pte == 0) return;
  const auto space = model.find(shadows.current_key());
  FUZZ_CHECK(space != model.end());
  const auto it = space->second.find({static_cast<unsigned>(root), va});
  FUZZ_CHECK(it != space->second.end()); // a leaf the model does not have: stale after a fence
  const ShadowPageTables::Leaf& want = it->second;
  FUZZ_CHECK(((pte >> 10) & ((uint64_t{1} << 44) - 1)) << 12 == want.machine_page);
  FUZZ_CHECK((pte & 0xd1) == 0xd1);                    // V, U, A, D
  FUZZ_CHECK(((pte >> 1) & 1) == want.read);
  FUZZ_CHECK(((pte >> 2) & 1) == want.write);
  FUZZ_CHECK(((pte >> 3) & 1) == want.execute);
  FUZZ_CHECK(((pte & ShadowPageTables::kGlobalSoftwareBit) != 0) == want.global);
  FUZZ_CHECK((pte & 0x20) == 0);                       // never the hardware G bit
}

void check_current(const ShadowPageTables& shadows, const Model& model) {
  const auto space = model.find(shadows.current_key());
  if (space == model.end()) return;
  for (const auto& [where, leaf] : space->second) check_entry(shadows, model, static_cast<Root>(where.first), where.second);
}

void probe(World& w, machine::Hart& hart, ShadowPageTables& shadows, const Model& model, Root root, uint64_t va,
           bool store, bool mxr, uint64_t value) {
  ShadowPageTables::Result result;
  const uint64_t satp = shadows.hart_satp(root, result);
  if (satp == 0) return;
  check_entry(shadows, model, root, va);
  const uint64_t pte = shadows.lookup(root, va);
  hart.set_csr(riscv::csr::kSatp, satp);
  const bool readable = (pte & 2) || (mxr && (pte & 8));
  const bool allowed = pte != 0 && (store ? (pte & 4) != 0 : readable);
  const uint64_t offset = value & 0xff8;
  const uint64_t machine = ((pte >> 10) << 12) + offset;
  uint64_t before = 0;
  if (allowed) std::memcpy(&before, w.pool.base() + machine, 8);
  const fuzz::ProbeResult r = fuzz::probe(hart, va + offset, store, value, 0, false, mxr ? riscv::csr::mstatus::kMxr : 0);
  if (!allowed) {
    FUZZ_CHECK(r.cause == (store ? kStorePageFault : kLoadPageFault));
    return;
  }
  FUZZ_CHECK(r.cause == 3);
  uint64_t now = 0;
  std::memcpy(&now, w.pool.base() + machine, 8);
  FUZZ_CHECK(store ? now == value : r.value == before);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fuzz::seed_dir()) return 0;
  fuzz::ByteWriter w;
  w.u8(8);                                        // table-page limit
  w.u8(0x00); w.u8(1); w.u8(1); w.u8(0);          // select Sv39, ASID 1, root 0
  for (uint8_t i = 0; i < 4; ++i) {
    w.u8(0x10 | (i & 1)); w.u64(0x1000ull * i + 0x40000); w.u16(i); w.u8(0x07); // map R W X, global on odd
  }
  w.u8(0x60); w.u64(0x40000); w.u64(0x1234);      // probe load user root
  w.u8(0x61); w.u64(0x41000); w.u64(0x5678);      // probe store
  w.u8(0x20); w.u64(0x40000);                     // fence the address
  w.u8(0x30); w.u8(1);                            // fence ASID 1
  w.u8(0x00); w.u8(2); w.u8(2); w.u8(1);          // select Sv48, ASID 2
  w.u8(0x11); w.u64(0x7fff'ffff'f000); w.u16(9); w.u8(0x1b); // supervisor root, SUM leaf
  w.u8(0x50);                                     // clear SUM leaves
  w.u8(0x40);                                     // fence everything
  fuzz::write_seed("shadow_tables", w.out);
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  World& w = world();
  machine::Hart hart(0, w.bus, w.clock, w.reservations);
  fuzz::prepare_hart(hart);
  fuzz::ByteReader in(data + 1, size - 1);
  hypervisor::ShadowTablePages pages(w.pool, w.vm, 3 + data[0] % 24);
  ShadowPageTables shadows(pages, 1 + data[0] / 24 % 4);
  Model model;
  // Keys from a few modes, ASIDs and roots, so spaces repeat and ASID fences hit several.
  const auto key_from = [](uint8_t mode, uint8_t asid, uint8_t root) {
    return kModes[mode % 4] << 60 | uint64_t{asid % 4u} << 44 | (0x80000u + root % 4u);
  };
  shadows.select(key_from(1, 0, 0));
  std::vector<std::pair<Root, uint64_t>> mapped; // recent maps, to aim probes and fences at
  for (unsigned n = 0; n < 256 && !in.empty(); ++n) {
    const uint8_t op = in.u8();
    const Root root = (op & 1) ? Root::supervisor : Root::user;
    const auto pick_va = [&] {
      // Canonical for the current space, as every address trap mode passes (a recent map's may
      // come from a space with more levels).
      const unsigned levels = levels_of(shadows.current_key());
      if (!mapped.empty() && (in.u8() & 1)) return canonical_va(mapped[in.u8() % mapped.size()].second, levels);
      return canonical_va(in.u64(), levels);
    };
    switch (op >> 4) {
    case 0: {
      const uint8_t mode = in.u8(), asid = in.u8(), table = in.u8();
      shadows.select(key_from(mode, asid, table));
      break;
    }
    case 1: {
      const uint64_t va = pick_va();
      ShadowPageTables::Leaf leaf;
      leaf.machine_page = w.data + uint64_t{in.u16() % (kFrame / 4096)} * 4096;
      const uint8_t bits = in.u8();
      leaf.execute = bits & 4;
      leaf.read = (bits & 1) || !leaf.execute;  // a leaf has R or X; W only with R, as the guest's
      leaf.write = leaf.read && (bits & 2);
      leaf.global = bits & 8;
      leaf.sum_user = root == Root::supervisor && (bits & 0x10);
      const auto result = shadows.map(root, va, leaf);
      if (result != ShadowPageTables::Result::failed) {
        model[shadows.current_key()][{static_cast<unsigned>(root), va}] = leaf;
        FUZZ_CHECK(shadows.lookup(root, va) != 0); // there right after a successful map
        if (mapped.size() < 64) mapped.push_back({root, va});
      }
      break;
    }
    case 2: {
      const uint64_t va = pick_va();
      shadows.invalidate_address(va);
      for (auto& [key, leaves] : model)
        for (unsigned r = 0; r < 2; ++r) leaves.erase({r, va});
      FUZZ_CHECK(shadows.lookup(Root::user, va) == 0 && shadows.lookup(Root::supervisor, va) == 0);
      break;
    }
    case 3: {
      const uint64_t asid = in.u8() % 4;
      shadows.invalidate_asid(asid);
      for (auto& [key, leaves] : model) // a bare space is the VMM's own map: no ASID, no fence
        if ((key >> 60) != 0 && ((key >> 44) & 0xffff) == asid)
          std::erase_if(leaves, [](const auto& entry) { return !entry.second.global; });
      break;
    }
    case 4:
      shadows.invalidate_all();
      model.clear();
      mapped.clear();
      break;
    case 5: {
      shadows.clear_sum_leaves();
      const auto space = model.find(shadows.current_key());
      if (space != model.end())
        std::erase_if(space->second, [](const auto& entry) { return entry.second.sum_user; });
      break;
    }
    case 6: {
      const uint64_t va = pick_va();
      const uint64_t value = in.u64();
      probe(w, hart, shadows, model, root, va, op & 2, op & 4, value);
      break;
    }
    default: { // a lookup anywhere: absent or the model's leaf
      check_entry(shadows, model, root, pick_va());
      break;
    }
    }
    check_current(shadows, model);
    FUZZ_CHECK(shadows.table_pages() <= pages.limit());
    FUZZ_CHECK(shadows.table_pages() == pages.in_use());
  }
  return 0;
}

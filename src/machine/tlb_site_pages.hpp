#pragma once
// The page each of the JIT's strided load sites touched last (docs/jit.md, "Site pages"): a load
// in a loop whose base register only steps by a constant (`p += 2` over a matrix row) stays in
// one page for many iterations, so the site keeps that page's guest address and host address
// here and checks `address - base < limit` instead of indexing the soft TLB (five host
// instructions instead of ten). A copy of a soft-TLB entry of the data context, so it is exactly
// as stale as the TLB allows: SoftTlb empties every slot whenever it drops any entry, and the
// hart whenever its data context changes. Sites share slots round robin; a slot holds whatever
// page its last filler saw, which is right for every site of the same access kind.
#include <array>
#include <cstdint>

namespace nimbus::machine {

struct TlbSitePage {
  uint64_t base = 0;  // the page's virtual address
  uint64_t host = 0;  // the host address of its first byte
  uint64_t limit = 0; // 0: empty (no address hits); else kFilledLimit
  uint64_t padding = 0; // to 32 bytes: a slot is indexed by a shift
};
static_assert(sizeof(TlbSitePage) == 32, "generated code indexes 32-byte slots");

// RAM as one slot (docs/jit.md, "Flat RAM"): where the data context does not translate (M-mode,
// or satp Bare), every RAM page has the same addend, so a load's host address is bias +
// address for any address whose offset from the range's base is below the limit: the range
// around the load that asked in which PMP treats every access alike and lets it read (all of
// RAM without PMP). Stores the same within a range that also holds no decoded code (a store
// there must drop it). Filled on demand (Hart::fill_flat_ram, fill_flat_store) and emptied with
// the site pages, so it is exactly as stale as they are: every flush, every change of data
// context; the store range also when one of its pages becomes code (Hart::build_block).
struct TlbFlatRange {
  static constexpr uint64_t kUnknown = 0, kFilled = 1, kRefused = 2; // states
  uint64_t base = 0;         // the range's first byte
  uint64_t limit = 0;        // 0: empty; else its size - 7 (an access of up to 8 bytes stays inside)
  uint64_t state = kUnknown; // kUnknown: the next flat access asks for a fill
  void fill(uint64_t lo, uint64_t hi) { // hi - lo >= 8
    base = lo;
    limit = hi - lo - 7;
    state = kFilled;
  }
  void forget() {
    limit = 0;
    state = kUnknown;
  }
  bool holds(uint64_t address) const { return limit != 0 && address - base < limit + 7; }
};
struct TlbFlatRam {
  uint64_t bias = 0; // RAM's host address minus its base (set with the JIT: Hart::set_jit)
  TlbFlatRange load, store;
};

class TlbSitePages {
public:
  static constexpr unsigned kSlots = 256;
  // An access of up to 8 bytes at `base + d` with d below this lies inside the page.
  static constexpr uint64_t kFilledLimit = 4096 - 7;

  // Called by the owner whenever a translation the slots may copy could have gone.
  void clear() {
    flat_.load.forget();
    flat_.store.forget();
    for (unsigned w = 0; w < kSlots / 64; ++w) {
      for (uint64_t left = filled_[w]; left != 0; left &= left - 1)
        slots_[w * 64 + static_cast<unsigned>(__builtin_ctzll(left))].limit = 0;
      filled_[w] = 0;
    }
  }

  // Generated code fills a slot out of line: base, host and limit, then its bit in filled_ (so
  // clear() visits only filled slots).
  TlbSitePage slots_[kSlots];
  std::array<uint64_t, kSlots / 64> filled_{};
  TlbFlatRam flat_;
};

} // namespace nimbus::machine

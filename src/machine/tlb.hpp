#pragma once
// The soft TLB: per translation context and access kind, a direct-mapped array of virtual pages
// that translate to RAM with the permission already checked. A hit is a tag compare and an add.
#include <array>
#include <cstdint>
#include <vector>

#include "machine/hart_privilege.hpp"
#include "machine/tlb_site_pages.hpp"
#include "machine/zero_pages.hpp"

namespace nimbus::machine {

// What a hit reads: 16 bytes, so the entries of the pages a loop touches take half the host
// cache lines they took with the details beside them (xz, whose match finder touches about ten
// thousand pages, ran a few per cent faster; docs/jit.md), and the JIT's index is a shift and a mask.
struct TlbEntry {
  // The tag is the virtual page's address with the 12 offset bits set, so an all-zero entry (a
  // page of the table never written: ZeroPages) is invalid: no tag has them clear. (The JIT's
  // inline path computes it in one `or` from the address.)
  static constexpr uint64_t kInvalidTag = 0;
  static constexpr uint64_t tag_of(uint64_t vaddr) { return vaddr | 0xfff; }
  bool maps(uint64_t vaddr) const { return tag == tag_of(vaddr); }
  uint64_t tag = kInvalidTag; // virtual page address | 0xfff
  uintptr_t addend = 0;       // host address - virtual address, for any address in the page
};
static_assert(sizeof(TlbEntry) == 16);
// What the VMM reads of an entry (fetches, flushes), in a parallel array (SoftTlb::details).
struct TlbEntryDetails {
  uint64_t paddr_page = 0; // physical address of the page
  // Not tied to one address space: from a global mapping (a PTE with G on the walk) or M-mode's
  // own bare view. A change of address space (satp, SFENCE.VMA with an ASID) keeps it.
  uint32_t global = 0;
  uint32_t user = 0; // a user page's (U set in the leaf): S-mode holds it only while SUM is set
};

class SoftTlb {
public:
  // 4096 pages (16 MiB) per context and access kind: the guest benchmark's 4 MiB array took a
  // miss on most random accesses with 256, and Debian's xz (an 8 MiB dictionary and its match
  // finder's tables) spent 15 % of its host time in walks with 2048 and ran 12 % faster with
  // 4096 (QEMU sizes its TLB to the working set, up to far more). 8 contexts x 3 kinds x 4096 x
  // (16 + 16 + 16: entry, details, window tag) bytes = 4.5 MiB of address space per hart, in
  // ZeroPages: host memory only for the 4 KiB pages of it that entries were installed in (the
  // contexts a mode never uses, e.g. the guest ones outside hw mode, cost nothing; a process's
  // data tables at most 256 KiB).
  static constexpr unsigned kEntries = 4096;
  // Bits of the filter of physical pages with entries (flush_physical_page): pages 128 MiB apart
  // share one.
  static constexpr unsigned kPageFilterBits = 32768;
  // Translation contexts: effective privilege U, S, M, and with V=1 VU, VS. Guest contexts are kept
  // apart from the host's so a world switch needs no flush; a change of vsatp or hgatp (ASID, VMID)
  // flushes the guest contexts only. Contexts 5-7 are three more U contexts: a VMM that keeps
  // the hart in U-mode and switches it between shadow roots (trap mode: the guest kernel's root
  // and its process's, on every guest system call) gives each root a U context of its own
  // (user_root_context), so a switch selects a context instead of flushing one.
  static constexpr unsigned kContexts = 8;
  static constexpr unsigned kFirstGuestContext = 3;
  static constexpr unsigned kGuestContextsEnd = 5;
  static constexpr unsigned kUserRoots = 4;
  static constexpr std::array<unsigned, kUserRoots> kUserRootContexts{0, 5, 6, 7};
  // The JIT's lookup table keys a block by translation epoch << 3 | fetch context (jit/translator.hpp).
  static_assert(kContexts <= 8, "a context must fit in 3 bits");

  static constexpr unsigned context_of(Privilege p, bool virt = false) {
    if (p == Privilege::Machine) return 2u;
    return static_cast<unsigned>(p) + (virt ? kFirstGuestContext : 0u);
  }
  static constexpr bool is_guest_context(unsigned c) { return c >= kFirstGuestContext && c < kGuestContextsEnd; }
  // Contexts whose global entries a change of address space keeps: S-mode's and M-mode's own.
  static constexpr bool keeps_global(unsigned c) {
    return c == context_of(Privilege::Supervisor) || c == context_of(Privilege::Machine);
  }

  SoftTlb() = default;
  SoftTlb(const SoftTlb&) = delete;
  SoftTlb& operator=(const SoftTlb&) = delete;

  TlbEntry& entry(unsigned context, Access access, uint64_t vaddr) {
    return table_of(context * 3 + static_cast<unsigned>(access))[(vaddr >> 12) & (kEntries - 1)];
  }

  // For generated code: entry(c, a, v) lives at base() + ((c * 3 + a) * kEntries + ((v >> 12) & (kEntries - 1))),
  // and base() is the pointer stored at base_slot() (generated code loads it from the hart).
  const TlbEntry* base() const { return entries_; }
  TlbEntry* const* base_slot() const { return &entries_; }
  // The physical page and global bit of `e` (an entry of this TLB), set when it is installed.
  TlbEntryDetails& details(const TlbEntry& e) { return details_[&e - entries_]; }
  const TlbEntryDetails& details(const TlbEntry& e) const { return details_[&e - entries_]; }
  // The JIT's strided load sites' copies of entries (tlb_site_pages.hpp): emptied here whenever
  // an entry is dropped, and by the hart when its data context changes.
  TlbSitePages& site_pages() { return site_pages_; }
  const TlbSitePages& site_pages() const { return site_pages_; }

  // ---- The host-mapped window (host_window.hpp, docs/jit.md "The host-mapped window"). Each
  // entry has a window tag, kWindowTagOffset bytes past it (generated code indexes it as it
  // indexes the entry): the entry's tag while the hart's window maps the entry's page at the
  // slot of its address (a U-mode unit's accesses then go through the window), else a count
  // below 0xfff (never a tag) of accesses that found the page unmapped. Dropping or replacing an
  // entry drops its window tag (invalidate, Hart::install_tlb), and a slot that changes drops
  // the tags naming it (Hart::drop_window_tags), so a window tag that is a tag names a valid
  // entry whose page the slot maps.
  static constexpr int32_t kWindowTagOffset = static_cast<int32_t>(sizeof(TlbEntry) * kContexts * 3 * kEntries);
  uint64_t& window_tag(const TlbEntry& e) { return entries_[&e - entries_ + kTables * kEntries].tag; }
  void drop_window_tag(const TlbEntry& e) {
    uint64_t& w = window_tag(e);
    if (w != TlbEntry::kInvalidTag) w = TlbEntry::kInvalidTag; // a page of tags never written stays free
  }
  void invalidate(TlbEntry& e) {
    e.tag = TlbEntry::kInvalidTag;
    drop_window_tag(e);
  }

  void flush() {
    for_each_used([](unsigned, unsigned) { return true; });
    forget_superpages();
  }
  // Every installed entry is noted (Hart::install_tlb), its details set first: a flush then visits
  // only the (context, access) tables in use, and in each only the entries installed since its
  // last flush while they are few (what a process touches between two context switches), not all
  // 4096; and an S or M entry that is not global or maps a user page is noted as droppable.
  void note_installed(const TlbEntry& e) {
    if (!details(e).global || details(e).user) note_droppable(e);
    const auto at = static_cast<size_t>(&e - base());
    used_ |= uint32_t{1} << static_cast<unsigned>(at / kEntries);
    const auto filter_bit = page_filter_bit(details(e).paddr_page);
    page_filter_[at / kEntries % 3][filter_bit / 64] |= uint64_t{1} << (filter_bit % 64);
    Recent& r = recent_[at / kEntries];
    if (r.count < kRecent) r.index[r.count] = static_cast<uint16_t>(at % kEntries);
    if (r.count <= kRecent) ++r.count; // kRecent + 1: too many, the next flush visits the table
  }
  // An entry just installed from a superpage of 2^shift bytes holding `vaddr` (entries are per
  // 4 KiB page, so a one-address flush cannot find its siblings by tag: it drops all such
  // entries instead, but only when the address lies in one of the superpages they came from).
  void note_superpage(TlbEntry& e, uint64_t vaddr, unsigned shift) {
    if (superpages_.size() < kMaxSuperpageEntries)
      superpages_.push_back(&e);
    else
      superpages_lost_ = true;
    if (is_guest_context(static_cast<unsigned>(&e - base()) / (3 * kEntries)))
      return; // guest translations answer to HFENCE and vsatp/hgatp, never to a host one-address flush
    const SuperpageRange range{vaddr >> shift, shift};
    for (unsigned i = 0; i < superpage_range_count_; ++i)
      if (superpage_ranges_[i] == range) return;
    if (superpage_range_count_ < kMaxSuperpageRanges)
      superpage_ranges_[superpage_range_count_++] = range;
    else
      superpage_ranges_lost_ = true;
  }
  // SFENCE.VMA rs1=vaddr in HS/M (V=0): drops the host contexts' entries for that page, and every
  // superpage-derived entry when vaddr lies in a superpage one came from (a superset of the leaf
  // entries that could translate vaddr, as the spec allows), keeping the rest of the working set:
  // a kernel's linear map (superpages) survives its flushes of user pages.
  // Returns true when more than vaddr's 4 KiB page went (superpage-derived entries, or all).
  bool flush_host_page(uint64_t vaddr) {
    site_pages_.clear();
    const bool superpages = in_superpage_range(vaddr);
    if (superpages) {
      if (superpages_lost_) {
        flush_host();
        return true;
      }
      for (TlbEntry* e : superpages_) invalidate(*e);
      forget_superpages();
    }
    for (unsigned c = 0; c < kContexts; ++c) {
      if (is_guest_context(c)) continue;
      for (unsigned a = 0; a < 3; ++a) {
        TlbEntry& e = entry(c, static_cast<Access>(a), vaddr);
        if (e.maps(vaddr)) invalidate(e);
      }
    }
    return superpages;
  }
  // The S and M contexts' entries that a change of address space or a SUM clear must drop: those
  // of non-global mappings and of user pages (a leaf with U set, reached under mstatus.SUM or as
  // MPRV's effective S), noted by table index as they are installed (Hart::install_tlb). A
  // kernel's own entries are global and its user pages few between two such events, so those
  // flushes drop the noted entries instead of reading a table that fills up over time (the
  // kernel's). A note may outlive its entry (a flush, a later install at the index): dropping
  // whatever sits there then costs only a refill.
  void note_droppable(const TlbEntry& e) {
    const auto at = static_cast<size_t>(&e - base());
    const auto table = static_cast<unsigned>(at / kEntries);
    if (!keeps_global(table / 3)) return;
    Recent& r = droppable_[table];
    if (r.count < kRecent) r.index[r.count] = static_cast<uint16_t>(at % kEntries);
    if (r.count <= kRecent) ++r.count;
  }
  // Clearing SUM: the S context's load and store entries of user pages go (with the rest of the
  // noted ones: a superset), or all of them when more were noted than the notes hold.
  void flush_supervisor_user_pages() {
    const unsigned context = context_of(Privilege::Supervisor);
    site_pages_.clear();
    for (const Access access : {Access::Load, Access::Store}) {
      const unsigned table = context * 3 + static_cast<unsigned>(access);
      if (droppable_[table].count > kRecent)
        flush_context(context, access);
      else
        drop_noted(table);
    }
  }
  void flush_access(Access access) {
    for_each_used([access](unsigned, unsigned a) { return a == static_cast<unsigned>(access); });
  }
  // The V=0 contexts (satp, SFENCE.VMA in HS; every U context of a root) or the V=1 ones (vsatp, hgatp, HFENCE).
  void flush_host() {
    for_each_used([](unsigned c, unsigned) { return !is_guest_context(c); });
    forget_superpages(); // the guest contexts' superpage entries go too: an extra miss at worst
  }
  // A change of address space (a satp write that keeps the mode, SFENCE.VMA x0 with an ASID):
  // the host contexts' entries go but the S and M contexts' global ones, which hold in every
  // address space (a kernel's own mappings). U contexts never keep any (a trap-mode VMM tags them
  // with roots of its own). Kept entries stay listed, so a later full flush still finds them.
  void flush_host_address_space() {
    for_each_used([](unsigned c, unsigned) { return !is_guest_context(c); }, /*keep_global=*/true);
  }
  void flush_guest() {
    for_each_used([](unsigned c, unsigned) { return is_guest_context(c); });
  }
  void flush_context(unsigned context, Access access) {
    for_each_used([=](unsigned c, unsigned a) { return c == context && a == static_cast<unsigned>(access); });
  }
  // Drops every entry of `access` kind that maps the physical page `paddr_page`.
  void flush_physical_page(Access access, uint64_t paddr_page) {
    const auto filter_bit = page_filter_bit(paddr_page);
    if (!(page_filter_[static_cast<unsigned>(access)][filter_bit / 64] >> (filter_bit % 64) & 1)) return; // never mapped since
    site_pages_.clear();
    for (unsigned c = 0; c < kContexts; ++c) {
      if (!(used_ & bit(c, static_cast<unsigned>(access)))) continue;
      const unsigned table = c * 3 + static_cast<unsigned>(access);
      const auto drop = [&](TlbEntry& e) {
        if (e.tag != TlbEntry::kInvalidTag && details(e).paddr_page == paddr_page) invalidate(e);
      };
      const Recent& r = recent_[table];
      if (r.count <= kRecent) { // every live entry of the table is among the noted ones
        for (unsigned i = 0; i < r.count; ++i) drop(table_of(table)[r.index[i]]);
      } else {
        // The whole table: the physical pages first, one array read straight through (a kernel's
        // store table is full after a while, and most pages that become code are in it), the
        // tags only where a page matches (a dropped entry's page stays behind, so that is a
        // superset).
        const TlbEntryDetails* const d = &details(*table_of(table));
        for (unsigned i = 0; i < kEntries; ++i)
          if (d[i].paddr_page == paddr_page) [[unlikely]]
            drop(table_of(table)[i]);
      }
    }
  }

  // ---- U contexts per root (trap mode). A context tagged with a root holds only translations
  // made while the hart's satp was that root, since the last flush of the host contexts. The
  // caller (Hart) keeps that true: it tags a context only through these two, and every change
  // of satp other than a root switch comes with a host flush.

  // The U context for `root`: the one tagged with it, or else the least recently used one,
  // flushed and tagged (`fresh` is then true: what was derived from its old entries is stale).
  unsigned user_root_context(uint64_t root, bool& fresh) {
    ++user_root_clock_;
    unsigned victim = 0;
    for (unsigned i = 0; i < kUserRoots; ++i) {
      if (user_root_tag_[i] == root) {
        user_root_used_[i] = user_root_clock_;
        fresh = false;
        return kUserRootContexts[i];
      }
      if (user_root_used_[i] < user_root_used_[victim]) victim = i;
    }
    const unsigned context = kUserRootContexts[victim];
    for (unsigned a = 0; a < 3; ++a) flush_context(context, static_cast<Access>(a));
    user_root_tag_[victim] = root;
    user_root_used_[victim] = user_root_clock_;
    fresh = true;
    return context;
  }
  // Drops the `access` entries of the context tagged with `root`, if any (a context not tagged
  // with it holds none of its translations).
  void flush_user_root(uint64_t root, Access access) {
    for (unsigned i = 0; i < kUserRoots; ++i)
      if (user_root_tag_[i] == root) flush_context(kUserRootContexts[i], access);
  }
  // After the U contexts were flushed: none holds a root's translations but `current` (empty
  // now, filled through `root` from here on).
  void retag_user_roots(unsigned current, uint64_t root) {
    for (unsigned i = 0; i < kUserRoots; ++i)
      user_root_tag_[i] = kUserRootContexts[i] == current ? root : kNoRoot;
  }

private:
  // A superpage host entries came from: the virtual address's bits above `shift`.
  struct SuperpageRange {
    uint64_t number = 0;
    unsigned shift = 0;
    bool operator==(const SuperpageRange&) const = default;
  };
  bool in_superpage_range(uint64_t vaddr) const {
    if (superpage_ranges_lost_) return true;
    for (unsigned i = 0; i < superpage_range_count_; ++i)
      if (vaddr >> superpage_ranges_[i].shift == superpage_ranges_[i].number) return true;
    return false;
  }
  void forget_superpages() {
    superpages_.clear();
    superpages_lost_ = false;
    superpage_range_count_ = 0;
    superpage_ranges_lost_ = false;
  }
  static constexpr uint32_t bit(unsigned context, unsigned access) { return uint32_t{1} << (context * 3 + access); }
  // Drops every entry of the (context, access) arrays in use that `pick` selects.
  template <class Pick> void for_each_used(Pick pick, bool keep_global = false) {
    // The site pages and the flat slot copy entries; emptied here for every table, and also when
    // none is in use (the flat slot copies none: a satp write from Bare).
    site_pages_.clear();
    for (uint32_t left = used_; left != 0; left &= left - 1) {
      const auto index = static_cast<unsigned>(__builtin_ctz(left));
      const unsigned c = index / 3, a = index % 3;
      if (!pick(c, a)) continue;
      flush_table(index, keep_global && keeps_global(c));
    }
  }
  static constexpr unsigned kTables = kContexts * 3; // (context, access kind)
  static constexpr unsigned kRecent = 64;
  struct Recent {
    uint16_t count = 0; // entries noted since the table's last flush; kRecent + 1: more
    std::array<uint16_t, kRecent> index{};
  };
  TlbEntry* table_of(unsigned table) const { return entries_ + size_t{table} * kEntries; }
  // Drops the table's entries, but its global ones when `keep_global` (they stay, and stay
  // noted). Writes only live entries: a page of the table never stored into stays free.
  void flush_table(unsigned table, bool keep_global = false) {
    if (keep_global && droppable_[table].count <= kRecent) {
      drop_noted(table); // every entry that is not global, and more
      return;
    }
    droppable_[table].count = 0; // all go, or the visit below finds them
    Recent& r = recent_[table];
    TlbEntry* t = table_of(table);
    Recent kept;
    const auto visit = [&](unsigned i) {
      if (t[i].tag == TlbEntry::kInvalidTag) return;
      if (!keep_global || !details(t[i]).global) {
        invalidate(t[i]);
        return;
      }
      if (kept.count < kRecent) kept.index[kept.count] = static_cast<uint16_t>(i);
      if (kept.count <= kRecent) ++kept.count;
      if (details(t[i]).user) note_droppable(t[i]); // a global user page: a SUM clear drops it
    };
    if (r.count <= kRecent) {
      for (unsigned i = 0; i < r.count; ++i) visit(r.index[i]);
    } else {
      for (unsigned i = 0; i < kEntries; ++i) visit(i);
    }
    r = kept;
    if (kept.count == 0) used_ &= ~(uint32_t{1} << table);
    const unsigned access = table % 3;
    if ((used_ & kTablesOfAccess << access) == 0) page_filter_[access] = {}; // no entry of the kind is left
  }
  // The physical pages of every entry installed of each access kind since no table of that kind
  // was in use, as bits by page number modulo the filter's size (a superset of the pages live
  // entries map). A page becoming code (Hart::build_block) drops the store entries that map it:
  // with 4096-entry tables a scan reads up to 128 KiB per context, and a guest whose code
  // outgrows the nursery (Python) makes a page code again after every clear; mostly no store
  // entry maps it, and the filter says so without the scan.
  static constexpr unsigned page_filter_bit(uint64_t paddr_page) { return (paddr_page >> 12) % kPageFilterBits; }
  static constexpr uint32_t kTablesOfAccess = [] {
    uint32_t m = 0;
    for (unsigned c = 0; c < kContexts; ++c) m |= uint32_t{1} << (c * 3);
    return m;
  }();
  std::array<std::array<uint64_t, kPageFilterBits / 64>, 3> page_filter_{};
  std::array<Recent, kTables> droppable_{}; // note_droppable (S and M tables only)
  void drop_noted(unsigned table) {
    Recent& r = droppable_[table];
    TlbEntry* const t = table_of(table);
    for (unsigned i = 0; i < r.count; ++i) invalidate(t[r.index[i]]);
    r.count = 0;
  }

  // The entries, then as many again whose tag fields are the window tags (window_tag).
  ZeroPages storage_{2 * sizeof(TlbEntry) * kTables * kEntries};
  TlbEntry* const entries_ = static_cast<TlbEntry*>(storage_.data()); // all zeros: every entry invalid
  ZeroPages details_storage_{sizeof(TlbEntryDetails) * kTables * kEntries};
  TlbEntryDetails* const details_ = static_cast<TlbEntryDetails*>(details_storage_.data()); // entries_'s indices
  static_assert(kContexts * 3 <= 32, "used_ has a bit per (context, access) array");
  uint32_t used_ = 0; // (context * 3 + access) arrays that may hold a valid entry
  TlbSitePages site_pages_;
  // Entries installed from superpages since the last flush of the host contexts (may repeat, may
  // since hold a 4 KiB page: dropping those costs one miss). Past the bound, a one-address
  // flush drops all host contexts.
  static constexpr size_t kMaxSuperpageEntries = 4096;
  std::vector<TlbEntry*> superpages_;
  bool superpages_lost_ = false;
  // The superpages the host contexts' listed entries came from (a kernel's linear map takes a
  // few); past the bound every one-address flush drops the listed entries.
  static constexpr unsigned kMaxSuperpageRanges = 16;
  std::array<SuperpageRange, kMaxSuperpageRanges> superpage_ranges_{};
  unsigned superpage_range_count_ = 0;
  bool superpage_ranges_lost_ = false;
  static constexpr uint64_t kNoRoot = ~uint64_t{0}; // not a satp value a root switch uses
  std::array<uint64_t, kUserRoots> user_root_tag_{kNoRoot, kNoRoot, kNoRoot, kNoRoot};
  std::array<uint64_t, kUserRoots> user_root_used_{};
  uint64_t user_root_clock_ = 0;
  std::array<Recent, kTables> recent_{};
};

} // namespace nimbus::machine

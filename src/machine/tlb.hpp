#pragma once
// The soft TLB: per translation context and access kind, a direct-mapped array of virtual pages
// that translate to RAM with the permission already checked. A hit is a tag compare and an add.
#include <array>
#include <cstdint>
#include <vector>

#include "machine/hart_privilege.hpp"

namespace nimbus::machine {

struct TlbEntry {
  static constexpr uint64_t kInvalidTag = ~uint64_t{0}; // no virtual page number is this large
  uint64_t tag = kInvalidTag; // virtual page number
  uintptr_t addend = 0;       // host address - virtual address, for any address in the page
  uint64_t paddr_page = 0;    // physical address of the page
};

class SoftTlb {
public:
  // 2048 pages (8 MiB) per context and access kind: the guest benchmark's 4 MiB array took a
  // miss on most random accesses with 256 (QEMU sizes its TLB to the working set, up to far
  // more). 5 contexts x 3 kinds x 2048 x 24 bytes = 720 KiB per hart.
  static constexpr unsigned kEntries = 2048;
  // Translation contexts: effective privilege U, S, M, and with V=1 VU, VS. Guest contexts are kept
  // apart from the host's so a world switch needs no flush; a change of vsatp or hgatp (ASID, VMID)
  // flushes the guest contexts only.
  static constexpr unsigned kContexts = 5;
  static constexpr unsigned kFirstGuestContext = 3;

  static constexpr unsigned context_of(Privilege p, bool virt = false) {
    if (p == Privilege::Machine) return 2u;
    return static_cast<unsigned>(p) + (virt ? kFirstGuestContext : 0u);
  }

  TlbEntry& entry(unsigned context, Access access, uint64_t vaddr) {
    return entries_[context][static_cast<unsigned>(access)][(vaddr >> 12) & (kEntries - 1)];
  }

  // For generated code: entry(c, a, v) lives at base() + ((c * 3 + a) * kEntries + ((v >> 12) & (kEntries - 1))).
  const TlbEntry* base() const { return &entries_[0][0][0]; }

  void flush() {
    for (auto& context : entries_)
      for (auto& kind : context)
        for (auto& e : kind) e.tag = TlbEntry::kInvalidTag;
    superpages_.clear();
    superpages_lost_ = false;
  }
  // An entry just installed from a superpage (entries are per 4 KiB page, so a one-address
  // flush cannot find its siblings by tag: it drops all such entries instead).
  void note_superpage(TlbEntry& e) {
    if (superpages_.size() < kMaxSuperpageEntries)
      superpages_.push_back(&e);
    else
      superpages_lost_ = true;
  }
  // SFENCE.VMA rs1=vaddr in HS/M (V=0): drops the host contexts' entries for that page and every
  // superpage-derived entry (a superset of the leaf entries that could translate vaddr, as the
  // spec allows), keeping the rest of the working set.
  void flush_host_page(uint64_t vaddr) {
    if (superpages_lost_) {
      flush_host();
      return;
    }
    for (unsigned c = 0; c < kFirstGuestContext; ++c)
      for (auto& kind : entries_[c]) {
        TlbEntry& e = kind[(vaddr >> 12) & (kEntries - 1)];
        if (e.tag == vaddr >> 12) e.tag = TlbEntry::kInvalidTag;
      }
    for (TlbEntry* e : superpages_) e->tag = TlbEntry::kInvalidTag;
    superpages_.clear();
  }
  void flush_access(Access access) {
    for (auto& context : entries_)
      for (auto& e : context[static_cast<unsigned>(access)]) e.tag = TlbEntry::kInvalidTag;
  }
  // The V=0 contexts (satp, SFENCE.VMA in HS) or the V=1 ones (vsatp, hgatp, HFENCE).
  void flush_host() {
    flush_contexts(0, kFirstGuestContext);
    superpages_.clear(); // the guest contexts' superpage entries go too: an extra miss at worst
    superpages_lost_ = false;
  }
  void flush_guest() { flush_contexts(kFirstGuestContext, kContexts); }
  void flush_context(unsigned context, Access access) {
    for (auto& e : entries_[context][static_cast<unsigned>(access)]) e.tag = TlbEntry::kInvalidTag;
  }
  // Drops every entry of `access` kind that maps the physical page `paddr_page`.
  void flush_physical_page(Access access, uint64_t paddr_page) {
    for (auto& context : entries_)
      for (auto& e : context[static_cast<unsigned>(access)])
        if (e.tag != TlbEntry::kInvalidTag && e.paddr_page == paddr_page) e.tag = TlbEntry::kInvalidTag;
  }

private:
  void flush_contexts(unsigned first, unsigned end) {
    for (unsigned c = first; c < end; ++c)
      for (auto& kind : entries_[c])
        for (auto& e : kind) e.tag = TlbEntry::kInvalidTag;
  }

  std::array<std::array<std::array<TlbEntry, kEntries>, 3>, kContexts> entries_{};
  // Entries installed from superpages since the last flush of the host contexts (may repeat, may
  // since hold a 4 KiB page: dropping those costs one miss). Past the bound, a one-address
  // flush drops all host contexts.
  static constexpr size_t kMaxSuperpageEntries = 4096;
  std::vector<TlbEntry*> superpages_;
  bool superpages_lost_ = false;
};

} // namespace nimbus::machine

// The soft TLB's tables cost host memory only where entries were installed (tlb.hpp, ZeroPages):
// a fresh table misses everywhere without being written, installing into one context makes only
// that context's pages resident, and a full flush writes no page it did not find an entry in.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "machine/tlb.hpp"

namespace nimbus::test {
namespace {

using machine::Access;
using machine::SoftTlb;
using machine::TlbEntry;

// Rss of the mapping holding `p`, from /proc/self/smaps (the zero page is not counted); `mapping`
// gets the mapping's start.
uint64_t resident_bytes(const void* p, uintptr_t& mapping) {
  const auto at = reinterpret_cast<uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    const auto colon = line.find(':');
    const auto dash = line.find('-');
    if (dash != std::string::npos && dash < line.find(' ') && (colon == std::string::npos || dash < colon)) {
      const uintptr_t start = std::stoull(line.substr(0, dash), nullptr, 16);
      const uintptr_t end = std::stoull(line.substr(dash + 1, line.find(' ') - dash - 1), nullptr, 16);
      inside = at >= start && at < end;
      if (inside) mapping = start;
    } else if (inside && line.rfind("Rss:", 0) == 0) {
      std::istringstream in(line.substr(4));
      uint64_t kib = 0;
      in >> kib;
      return kib << 10;
    }
  }
  ADD_FAILURE() << "no mapping holds " << p;
  return 0;
}

// Rss of the TLB's entries and their details (two arrays the kernel may merge into one mapping).
uint64_t tlb_resident(SoftTlb& tlb) {
  uintptr_t entries_mapping = 0, details_mapping = 0;
  const uint64_t entries = resident_bytes(tlb.base(), entries_mapping);
  const uint64_t details = resident_bytes(&tlb.details(*tlb.base()), details_mapping);
  return entries_mapping == details_mapping ? entries : entries + details;
}

void install(SoftTlb& tlb, unsigned context, Access access, uint64_t vaddr, bool global = false) {
  TlbEntry& e = tlb.entry(context, access, vaddr);
  e.tag = TlbEntry::tag_of(vaddr);
  e.addend = 0x1000;
  tlb.details(e) = machine::TlbEntryDetails{0x80000000 + (vaddr & ~uint64_t{0xfff}), global, false};
  tlb.note_installed(e); // after the details, as Hart::install_tlb
}

constexpr uint64_t kTableBytes = uint64_t{SoftTlb::kEntries} * sizeof(TlbEntry);

TEST(SoftTlbMemory, AFreshTableMissesEverywhereAndCostsNothing) {
  SoftTlb tlb;
  const uint64_t before = tlb_resident(tlb);
  // The first and last virtual pages too: no page number's tag is the all-zero "never written".
  for (const uint64_t va : {uint64_t{0}, uint64_t{0x123456789000}, ~uint64_t{0} & ~uint64_t{0xfff}})
    for (unsigned c = 0; c < SoftTlb::kContexts; ++c)
      for (unsigned a = 0; a < 3; ++a) EXPECT_FALSE(tlb.entry(c, static_cast<Access>(a), va).maps(va));
  EXPECT_EQ(tlb_resident(tlb), before); // looking up wrote nothing
}

TEST(SoftTlbMemory, InstallingTouchesOnlyThePagesWritten) {
  SoftTlb tlb;
  const uint64_t before = tlb_resident(tlb);
  // Pages 0 and the last one are ordinary pages.
  for (const uint64_t va : {uint64_t{0}, ~uint64_t{0} & ~uint64_t{0xfff}}) {
    install(tlb, 0, Access::Load, va);
    EXPECT_TRUE(tlb.entry(0, Access::Load, va).maps(va));
    EXPECT_FALSE(tlb.entry(0, Access::Load, va).maps(va + 0x1000));
  }
  // 100 consecutive pages of one context and kind: 1,600 bytes of entries, in one page.
  for (uint64_t i = 0; i < 100; ++i) install(tlb, 1, Access::Store, 0x40000000 + (i << 12));
  const uint64_t grown = tlb_resident(tlb) - before;
  // The first and last page of one table, the first of another, each with its details' page.
  EXPECT_GE(grown, 6u * 4096);
  EXPECT_LE(grown, 8u * 4096) << "more than the pages the entries live in";
  EXPECT_LT(grown, kTableBytes);
}

TEST(SoftTlbMemory, AFullFlushWritesOnlyPagesHoldingEntries) {
  SoftTlb tlb;
  // More than the flush remembers one by one, all in the first page of one table, so the
  // flush scans the whole table (64 KiB) and must not store into the 15 pages it only reads.
  for (uint64_t i = 0; i < 150; ++i) install(tlb, 2, Access::Fetch, 0x80000000 + (i << 12));
  const uint64_t before = tlb_resident(tlb);
  tlb.flush();
  EXPECT_EQ(tlb_resident(tlb), before);
  for (uint64_t i = 0; i < 150; ++i) {
    const uint64_t va = 0x80000000 + (i << 12);
    EXPECT_FALSE(tlb.entry(2, Access::Fetch, va).maps(va)) << i;
  }
  // Reinstalled after the flush: found again.
  install(tlb, 2, Access::Fetch, 0x80000000);
  EXPECT_TRUE(tlb.entry(2, Access::Fetch, 0x80000000).maps(0x80000000));
}

TEST(SoftTlbMemory, OnePageFlushDropsOnlyThatPage) {
  SoftTlb tlb;
  install(tlb, 0, Access::Load, 0x5000);
  install(tlb, 0, Access::Load, 0x6000);
  tlb.flush_host_page(0x5000);
  EXPECT_FALSE(tlb.entry(0, Access::Load, 0x5000).maps(0x5000));
  EXPECT_TRUE(tlb.entry(0, Access::Load, 0x6000).maps(0x6000));
}

// A superpage's pages keep their entries across a one-address flush elsewhere (a kernel's linear
// map across its flushes of user pages) and lose them all to one inside it.
TEST(SoftTlbSuperpages, OnePageFlushDropsSuperpageEntriesOnlyInsideTheirSuperpage) {
  SoftTlb tlb;
  const uint64_t mega = 0xffffffd800200000; // a 2 MiB superpage
  for (uint64_t va : {mega, mega + 0x1000, mega + 0x1ff000}) {
    install(tlb, 1, Access::Load, va);
    tlb.note_superpage(tlb.entry(1, Access::Load, va), va, 21);
  }
  tlb.flush_host_page(0x3fffff000); // a user page
  tlb.flush_host_page(mega + 0x200000); // the next superpage
  tlb.flush_host_page(mega - 0x1000);   // the page before
  for (uint64_t va : {mega, mega + 0x1000, mega + 0x1ff000}) EXPECT_TRUE(tlb.entry(1, Access::Load, va).maps(va)) << va;
  tlb.flush_host_page(mega + 0x80000); // inside, a page with no entry of its own
  for (uint64_t va : {mega, mega + 0x1000, mega + 0x1ff000}) EXPECT_FALSE(tlb.entry(1, Access::Load, va).maps(va)) << va;
}

// Past the ranges it keeps, any one-address flush drops every superpage-derived entry.
TEST(SoftTlbSuperpages, TooManySuperpagesMakeEveryOnePageFlushDropThem) {
  SoftTlb tlb;
  for (uint64_t i = 0; i < 40; ++i) {
    const uint64_t va = 0x40000000 + (i << 21);
    install(tlb, 1, Access::Load, va);
    tlb.note_superpage(tlb.entry(1, Access::Load, va), va, 21);
  }
  tlb.flush_host_page(0x1000);
  for (uint64_t i = 0; i < 40; ++i) {
    const uint64_t va = 0x40000000 + (i << 21);
    EXPECT_FALSE(tlb.entry(1, Access::Load, va).maps(va)) << i;
  }
}

// A guest context's superpage entries answer to HFENCE, not to the host's one-address flush,
// and take no range the host's flushes would check.
TEST(SoftTlbSuperpages, GuestSuperpagesDoNotWidenHostFlushes) {
  SoftTlb tlb;
  const unsigned vs = SoftTlb::context_of(machine::Privilege::Supervisor, true);
  install(tlb, vs, Access::Load, 0x80000000);
  tlb.note_superpage(tlb.entry(vs, Access::Load, 0x80000000), 0x80000000, 30);
  const uint64_t host = 0xffffffd800200000;
  install(tlb, 1, Access::Load, host);
  tlb.note_superpage(tlb.entry(1, Access::Load, host), host, 21);
  tlb.flush_host_page(0x80001000); // inside the guest's gigapage, outside the host's megapage
  EXPECT_TRUE(tlb.entry(1, Access::Load, host).maps(host));
}

// A change of address space keeps the S and M contexts' global entries (a kernel's mappings),
// drops the rest, and the kept ones stay findable by the next full flush, whether the table was
// flushed from its list of installed entries or scanned whole.
TEST(SoftTlbGlobal, AddressSpaceChangeKeepsOnlySupervisorAndMachineGlobals) {
  for (const unsigned entries : {8u, 300u}) { // below and above what a table notes one by one
    SoftTlb tlb;
    const auto put = [&](unsigned context, uint64_t va, bool global) { install(tlb, context, Access::Load, va, global); };
    for (uint64_t i = 0; i < entries; ++i) {
      put(1, 0xffffffd800000000 + (i << 12), true); // kernel (S, global)
      put(1, 0x10000 + (i << 12), false);           // user memory the kernel touched (S, not global)
    }
    put(2, 0x80000000, true);  // M's bare view
    put(0, 0x20000, true);     // a U page marked global: U contexts keep nothing
    tlb.flush_host_address_space();
    for (uint64_t i = 0; i < entries; ++i) {
      const uint64_t kernel = 0xffffffd800000000 + (i << 12), user = 0x10000 + (i << 12);
      EXPECT_TRUE(tlb.entry(1, Access::Load, kernel).maps(kernel)) << entries << " " << i;
      EXPECT_FALSE(tlb.entry(1, Access::Load, user).maps(user)) << entries << " " << i;
    }
    EXPECT_TRUE(tlb.entry(2, Access::Load, 0x80000000).maps(0x80000000));
    EXPECT_FALSE(tlb.entry(0, Access::Load, 0x20000).maps(0x20000));
    tlb.flush_host_address_space(); // again: the kept entries were noted again
    tlb.flush_host();
    for (uint64_t i = 0; i < entries; ++i) {
      const uint64_t kernel = 0xffffffd800000000 + (i << 12);
      EXPECT_FALSE(tlb.entry(1, Access::Load, kernel).maps(kernel)) << entries << " " << i;
    }
    EXPECT_FALSE(tlb.entry(2, Access::Load, 0x80000000).maps(0x80000000));
  }
}

// Clearing SUM drops the S context's entries of user pages, global or not, and keeps the
// kernel's global ones, whether the entries were dropped from their notes or (past what the
// notes hold) by a scan that an address-space change made first.
TEST(SoftTlbGlobal, SumClearDropsUserPagesEvenGlobalOnesAfterAnAddressSpaceChange) {
  for (const unsigned others : {8u, 300u}) {
    SoftTlb tlb;
    const unsigned s = SoftTlb::context_of(machine::Privilege::Supervisor);
    const auto put = [&](Access access, uint64_t va, bool global, bool user) {
      TlbEntry& e = tlb.entry(s, access, va);
      e.tag = TlbEntry::tag_of(va);
      e.addend = 0x1000;
      tlb.details(e) = machine::TlbEntryDetails{0x80000000 + (va & ~uint64_t{0xfff}), global, user};
      tlb.note_installed(e);
    };
    for (uint64_t i = 0; i < others; ++i) put(Access::Store, 0x10000 + (i << 12), false, true); // user pages
    put(Access::Load, 0xffffffd800000000, true, false); // the kernel's
    put(Access::Store, 0x7f000000, true, true);         // a user page an OS marked global
    put(Access::Load, 0x7f001000, true, true);
    tlb.flush_host_address_space(); // may keep the global ones, user pages among them (a scan does)
    EXPECT_TRUE(tlb.entry(s, Access::Load, 0xffffffd800000000).maps(0xffffffd800000000)) << others;
    EXPECT_FALSE(tlb.entry(s, Access::Store, 0x10000).maps(0x10000)) << others;
    tlb.flush_supervisor_user_pages();
    EXPECT_FALSE(tlb.entry(s, Access::Store, 0x7f000000).maps(0x7f000000)) << others;
    EXPECT_FALSE(tlb.entry(s, Access::Load, 0x7f001000).maps(0x7f001000)) << others;
    EXPECT_TRUE(tlb.entry(s, Access::Load, 0xffffffd800000000).maps(0xffffffd800000000)) << others;
  }
}

} // namespace
} // namespace nimbus::test

// SoftTlb::flush_physical_page: a page that becomes code loses every store entry mapping it, in
// every context and at every virtual address, whichever way the table is scanned (the noted
// entries or all of them) and whatever the filter of physical pages says; other pages' entries
// and other access kinds stay.
#include <gtest/gtest.h>

#include <cstdint>

#include "machine/tlb.hpp"

namespace nimbus::test {
namespace {

using machine::Access;
using machine::SoftTlb;
using machine::TlbEntry;

constexpr uint64_t kPage = 0x80042000;
// The filter's bit of kPage too (pages 128 MiB apart share one): only the compare tells them apart.
constexpr uint64_t kAlias = kPage + (uint64_t{SoftTlb::kPageFilterBits} << 12);

void install(SoftTlb& tlb, unsigned context, Access access, uint64_t vaddr, uint64_t paddr_page, bool global = false) {
  TlbEntry& e = tlb.entry(context, access, vaddr);
  e.tag = TlbEntry::tag_of(vaddr);
  e.addend = 0x1000;
  tlb.details(e) = machine::TlbEntryDetails{paddr_page, global};
  tlb.note_installed(e);
}

bool mapped(SoftTlb& tlb, unsigned context, Access access, uint64_t vaddr) {
  return tlb.entry(context, access, vaddr).maps(vaddr);
}

TEST(SoftTlbPhysicalFlush, DropsEveryStoreEntryOfThePageAndNothingElse) {
  SoftTlb tlb;
  install(tlb, 0, Access::Store, 0x10000, kPage);          // a process's view
  install(tlb, 1, Access::Store, 0xffffffc000042000, kPage); // the kernel's linear map
  install(tlb, 1, Access::Store, 0x20000, kPage + 0x1000);   // the next page
  install(tlb, 1, Access::Store, 0x30000, kAlias);           // the same filter bit
  install(tlb, 0, Access::Load, 0x10000, kPage);             // loads may go on
  tlb.flush_physical_page(Access::Store, kPage);
  EXPECT_FALSE(mapped(tlb, 0, Access::Store, 0x10000));
  EXPECT_FALSE(mapped(tlb, 1, Access::Store, 0xffffffc000042000));
  EXPECT_TRUE(mapped(tlb, 1, Access::Store, 0x20000));
  EXPECT_TRUE(mapped(tlb, 1, Access::Store, 0x30000));
  EXPECT_TRUE(mapped(tlb, 0, Access::Load, 0x10000));
}

TEST(SoftTlbPhysicalFlush, FindsEntriesPastTheNotedOnes) {
  SoftTlb tlb;
  for (uint64_t i = 0; i < 200; ++i) install(tlb, 0, Access::Store, 0x400000 + (i << 12), 0x90000000 + (i << 12));
  install(tlb, 0, Access::Store, 0x10000, kPage); // the 201st: the table is scanned whole
  tlb.flush_physical_page(Access::Store, kPage);
  EXPECT_FALSE(mapped(tlb, 0, Access::Store, 0x10000));
  EXPECT_TRUE(mapped(tlb, 0, Access::Store, 0x400000));
}

TEST(SoftTlbPhysicalFlush, AnEntryInstalledAfterAFullFlushIsStillFound) {
  SoftTlb tlb;
  install(tlb, 0, Access::Store, 0x10000, kPage);
  tlb.flush(); // every table empty: the filter starts over
  tlb.flush_physical_page(Access::Store, kPage);
  install(tlb, 0, Access::Store, 0x50000, kPage);
  tlb.flush_physical_page(Access::Store, kPage);
  EXPECT_FALSE(mapped(tlb, 0, Access::Store, 0x50000));
}

TEST(SoftTlbPhysicalFlush, GlobalEntriesKeptByAnAddressSpaceChangeAreStillFound) {
  SoftTlb tlb;
  const unsigned s = SoftTlb::context_of(machine::Privilege::Supervisor);
  install(tlb, s, Access::Store, 0xffffffc000042000, kPage, /*global=*/true);
  install(tlb, 0, Access::Store, 0x10000, kPage + 0x1000);
  tlb.flush_host_address_space(); // the process's entry goes, the kernel's global one stays
  EXPECT_FALSE(mapped(tlb, 0, Access::Store, 0x10000));
  ASSERT_TRUE(mapped(tlb, s, Access::Store, 0xffffffc000042000));
  tlb.flush_physical_page(Access::Store, kPage);
  EXPECT_FALSE(mapped(tlb, s, Access::Store, 0xffffffc000042000));
}

} // namespace
} // namespace nimbus::test

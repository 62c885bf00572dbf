// Virtual memory: Sv39/Sv48/Sv57 page walks (single-stage, VS-stage and G-stage) with hardware A/D
// updates, PMP checks, the soft-TLB refill and the slow paths of loads and stores (MMIO, page-crossing, watched code pages).
#include <algorithm>
#include <atomic>
#include <cstring>

#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::machine {

using riscv::Exception;
namespace mstatus = riscv::csr::mstatus;
namespace satp = riscv::csr::satp;

namespace {
constexpr uint64_t kPteV = 1, kPteR = 2, kPteW = 4, kPteX = 8, kPteU = 16, kPteG = 32, kPteA = 64, kPteD = 128;
constexpr uint64_t kPagePpnMask = (uint64_t{1} << 44) - 1;
constexpr uint64_t kPageMask = 0xfff;

Exception page_fault(Access access) {
  return access == Access::Fetch  ? Exception::InstructionPageFault
         : access == Access::Load ? Exception::LoadPageFault
                                  : Exception::StorePageFault;
}
Exception access_fault(Access access) {
  return access == Access::Fetch  ? Exception::InstructionAccessFault
         : access == Access::Load ? Exception::LoadAccessFault
                                  : Exception::StoreAccessFault;
}
Exception guest_page_fault(Access access) {
  return access == Access::Fetch  ? Exception::InstructionGuestPageFault
         : access == Access::Load ? Exception::LoadGuestPageFault
                                  : Exception::StoreGuestPageFault;
}
// htinst pseudoinstructions for a G-stage fault on an implicit VS-stage page-table access (RV64).
constexpr uint64_t kTinstImplicitRead = 0x3000, kTinstImplicitWrite = 0x3020;
} // namespace

std::optional<Exception> Hart::translate(uint64_t vaddr, Access access, Privilege privilege, uint64_t& paddr,
                                         bool virt, bool execute_as_read) {
  walked_superpage_ = false;
  walked_global_ = privilege == Privilege::Machine; // M's bare view belongs to no address space
  walked_user_ = false;
  if (privilege == Privilege::Machine) {
    paddr = vaddr;
    return std::nullopt;
  }
  if (virt) return translate_guest(vaddr, access, privilege, execute_as_read, paddr);
  const uint64_t mode = satp_ >> satp::kModeShift;
  if (mode == satp::kModeBare) {
    paddr = vaddr;
    return std::nullopt;
  }
  Walk w;
  w.root = (satp_ & satp::kPpnMask) << 12;
  w.levels = mode == satp::kModeSv39 ? 3 : mode == satp::kModeSv48 ? 4 : 5;
  w.access = access;
  w.privilege = privilege;
  w.sum = debug_access_ || (mstatus_ & mstatus::kSum);
  w.mxr = debug_access_ || (mstatus_ & mstatus::kMxr);
  w.execute_as_read = execute_as_read;
  return walk(w, vaddr, paddr);
}

// The Sv39/48/57 algorithm of the privileged spec (4.3.2), shared by the single-stage, VS- and
// G-stage translations; `w` says which.
std::optional<Exception> Hart::walk(const Walk& w, uint64_t address, uint64_t& result) {
  const Access access = w.access;
  const auto fault = [&]() -> Exception {
    if (w.g_stage) {
      fault_gpa_ = address;
      fault_tinst_ = 0;
      return guest_page_fault(access);
    }
    return page_fault(access);
  };
  const unsigned va_bits = 12 + 9 * w.levels + w.root_extra;
  if (w.g_stage) {
    if (address >> va_bits) return fault(); // guest physical addresses are zero-extended
  } else {
    // The address must be the sign extension of its top implemented bit.
    const int64_t upper = static_cast<int64_t>(address) >> (va_bits - 1);
    if (upper != 0 && upper != -1) return fault();
  }
restart: // step 2 again: another hart changed a PTE this walk was about to update
  uint64_t table = w.root;
  bool global = false; // G on any PTE of the walk: every mapping below it is global
  for (int level = static_cast<int>(w.levels) - 1; level >= 0; --level) {
    const unsigned shift = 12 + 9 * static_cast<unsigned>(level);
    const unsigned index_bits = 9 + (level == static_cast<int>(w.levels) - 1 ? w.root_extra : 0);
    uint64_t pte_addr = table + ((address >> shift) & ((uint64_t{1} << index_bits) - 1)) * 8;
    const uint64_t pte_gpa = pte_addr;
    if (w.nested) {
      // The VS-level table lives in guest physical memory: an implicit load through the G-stage,
      // any fault reported for the original access type.
      if (const auto g = g_stage(pte_gpa, Access::Load, false, pte_addr)) {
        if (*g == Exception::LoadGuestPageFault) {
          fault_tinst_ = kTinstImplicitRead;
          return guest_page_fault(access);
        }
        return access_fault(access);
      }
    }
    uint64_t pte;
    if (!pmp_.allows(pte_addr, 8, Access::Load, Privilege::Supervisor) || !read_physical(pte_addr, 8, pte))
      return access_fault(access);
    if (!(pte & kPteV) || (!(pte & kPteR) && (pte & kPteW))) return fault();
    if (pte >> 54) return fault(); // reserved bits, and no Svpbmt/Svnapot
    const uint64_t ppn = (pte >> 10) & kPagePpnMask;
    global = global || (pte & kPteG);
    if (!(pte & (kPteR | kPteX))) { // pointer to the next level
      if (pte & (kPteD | kPteA | kPteU)) return fault();
      table = ppn << 12;
      continue;
    }
    // Leaf.
    const uint64_t level_mask = (uint64_t{1} << (shift - 12)) - 1;
    if (ppn & level_mask) return fault(); // misaligned superpage
    if (w.g_stage) {
      if (!(pte & kPteU)) return fault(); // G-stage accesses are all user-level
    } else if (pte & kPteU) {
      if (w.privilege == Privilege::Supervisor && (access == Access::Fetch || !w.sum)) return fault();
    } else if (w.privilege == Privilege::User) {
      return fault();
    }
    bool permitted;
    switch (access) {
    case Access::Fetch: permitted = pte & kPteX; break;
    case Access::Load:
      permitted = w.execute_as_read ? (pte & kPteX) : ((pte & kPteR) || (w.mxr && (pte & kPteX)));
      break;
    default: permitted = pte & kPteW; break;
    }
    if (!permitted) return fault();
    const uint64_t wanted = kPteA | (access == Access::Store ? kPteD : 0);
    if ((pte & wanted) != wanted && !debug_access_) { // a debugger's look changes nothing
      // Hardware A/D update (Svadu behaviour, as QEMU), atomic as the spec requires: harts run on
      // host threads, and a plain write-back could erase a D bit another hart set meanwhile.
      // A VS-level PTE is written through the G-stage as an implicit store.
      if (w.nested) {
        if (const auto g = g_stage(pte_gpa, Access::Store, false, pte_addr)) {
          if (*g == Exception::StoreGuestPageFault) {
            fault_tinst_ = kTinstImplicitWrite;
            return guest_page_fault(access);
          }
          return access_fault(access);
        }
      }
      if (!pmp_.allows(pte_addr, 8, Access::Store, Privilege::Supervisor)) return access_fault(access);
      switch (update_pte(pte_addr, pte, pte | wanted)) {
      case PteUpdate::Done: break;
      case PteUpdate::Changed: goto restart;
      case PteUpdate::Failed: return access_fault(access);
      }
    }
    const uint64_t offset_mask = (uint64_t{1} << shift) - 1;
    result = ((ppn << 12) & ~offset_mask) | (address & offset_mask);
    if (!w.g_stage && !w.nested) { // a host walk (install_tlb)
      walked_global_ = global;
      walked_user_ = (pte & kPteU) != 0;
    }
    if (shift > 12) { // install_tlb: an SFENCE.VMA of any address in it drops it
      walked_superpage_ = true;
      walked_superpage_shift_ = shift;
    }
    return std::nullopt;
  }
  return fault();
}

Hart::PteUpdate Hart::update_pte(uint64_t pte_addr, uint64_t seen, uint64_t updated) {
  if (uint8_t* host = bus_.ram_pointer(pte_addr, 8)) { // PTEs are 8-byte aligned
    uint64_t expected = seen;
    if (!std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(host))
             .compare_exchange_strong(expected, updated, std::memory_order_seq_cst))
      return PteUpdate::Changed;
    note_store_physical(pte_addr, 8);
    return PteUpdate::Done;
  }
  // A page table in device memory: no compare-and-swap on a bus write, and no other hart's
  // update to lose that a device would not lose as well.
  return write_physical(pte_addr, 8, updated) ? PteUpdate::Done : PteUpdate::Failed;
}

void Hart::install_tlb(TlbEntry& entry, uint64_t vaddr, uint64_t paddr, Access access, Privilege privilege) {
  const uint64_t page = paddr & ~kPageMask;
  uint8_t* host = bus_.ram_pointer(page, 4096);
  if (host == nullptr) return; // MMIO always takes the slow path
  if (!pmp_.allows(page, 4096, access, privilege)) return;
  if (access == Access::Store) {
    if (blocks_.page_has_code(page)) return; // watched: stores go slow
    bus_.mark_dirty(page, 4096);            // stores through this entry mark nothing themselves
  }
  tlb_.drop_window_tag(entry); // a new page
  entry.tag = TlbEntry::tag_of(vaddr);
  entry.addend = reinterpret_cast<uintptr_t>(host) - (vaddr & ~kPageMask);
  tlb_.details(entry) = TlbEntryDetails{page, walked_global_, walked_user_};
  tlb_.note_installed(entry);
  if (walked_superpage_) tlb_.note_superpage(entry, vaddr, walked_superpage_shift_);
}

bool Hart::jit_map_window(uint64_t vaddr, Access access) {
  TlbEntry& e = tlb_.entry(data_context_, access, vaddr);
  if (!window_ || !e.maps(vaddr)) return false;
  const uint64_t offset = tlb_.details(e).paddr_page - bus_.ram_base(); // entries map RAM only
  if (!window_->maps(data_context_, vaddr, offset)) {
    // Filling an empty slot costs one host call per page while the window has room; changing
    // or unmapping a mapped one (a process that reuses another's addresses, a window full)
    // takes the budget, which a guest keeping more pages hot than the window holds runs out of.
    if (!window_->map_is_fresh(data_context_, vaddr)) {
      if (jit_window_budget_ == 0) {
        tlb_.window_tag(e) = TlbEntry::kInvalidTag; // count again: one call per so many accesses
        return false;
      }
      --jit_window_budget_;
    }
    // The slot changes: no window tag may name it until it maps the new page (the load and
    // store entries at its index are the only ones that can).
    drop_window_tags(data_context_, HostWindow::slot_of(vaddr));
    std::optional<HostWindow::Slot> evicted;
    const bool mapped = window_->map(data_context_, vaddr, offset, evicted);
    if (evicted) drop_window_tags(evicted->context, evicted->slot);
    if (!mapped) {
      jit_window_budget_ = 0;
      tlb_.window_tag(e) = TlbEntry::kInvalidTag;
      return false;
    }
  }
  tlb_.window_tag(e) = e.tag;
  return true;
}

bool Hart::flat_ram_possible() const {
  if (!bus_.ram_aliasable() || data_virt() || bus_.ram_size() < 8) return false;
  return data_privilege() == Privilege::Machine || (satp_ >> satp::kModeShift) == satp::kModeBare;
}

bool Hart::flat_range(uint64_t vaddr, Access access, uint64_t& lo, uint64_t& hi) const {
  if (!flat_ram_possible()) return false;
  // PMP answers alike for every access inside [lo, hi) (Pmp::uniform_range), and lets this one.
  if (!pmp_.uniform_range(vaddr, access, data_privilege(), lo, hi)) return false;
  lo = std::max(lo, bus_.ram_base());
  hi = std::min(hi, bus_.ram_base() + bus_.ram_size());
  return hi > lo && hi - lo >= 8;
}

void Hart::fill_flat_ram(uint64_t vaddr) {
  TlbFlatRange& loads = tlb_.site_pages().flat_.load;
  if (!bus_.in_ram(vaddr, 1)) return; // MMIO: the next load in RAM asks again
  uint64_t lo = 0, hi = 0;
  if (flat_range(vaddr, Access::Load, lo, hi))
    loads.fill(lo, hi);
  else
    loads.state = TlbFlatRange::kRefused;
}

void Hart::fill_flat_store(uint64_t vaddr) {
  TlbFlatRange& stores = tlb_.site_pages().flat_.store;
  if (!bus_.in_ram(vaddr, 1)) return; // MMIO: the next store in RAM asks again
  const uint64_t page = vaddr & ~kPageMask;
  uint64_t lo = 0, hi = 0;
  if (bus_.dirty_log() != nullptr || blocks_.page_has_code(page) || !flat_range(vaddr, Access::Store, lo, hi)) {
    stores.state = TlbFlatRange::kRefused;
    return;
  }
  // Within that, the pages around it that hold no decoded code, a few MiB each way (a
  // bare-metal program's data, away from its code).
  uint64_t from = page, to = page + 4096;
  for (uint64_t n = 0; n < kFlatStoreReach && from > lo && !blocks_.page_has_code(from - 4096); ++n) from -= 4096;
  for (uint64_t n = 0; n < kFlatStoreReach && to < hi && !blocks_.page_has_code(to); ++n) to += 4096;
  lo = std::max(lo, from);
  hi = std::min(hi, to);
  if (hi - lo >= 8)
    stores.fill(lo, hi);
  else
    stores.state = TlbFlatRange::kRefused;
}

void Hart::drop_window_tags(unsigned context, uint32_t slot) {
  tlb_.site_pages().clear(); // a site page may hold the slot's address in the window
  for (const Access a : {Access::Load, Access::Store}) {
    uint64_t& w = tlb_.window_tag(tlb_.entry(context, a, uint64_t{slot} << 12));
    if (w != TlbEntry::kInvalidTag && HostWindow::slot_of(w) == slot) w = TlbEntry::kInvalidTag;
  }
}

std::optional<Exception> Hart::translate_data(uint64_t vaddr, unsigned size, Access access, uint64_t& paddr) {
  const Privilege privilege = data_privilege();
  if (const auto fault = translate(vaddr, access, privilege, paddr, data_virt())) return fault;
  if (!pmp_.allows(paddr, size, access, privilege)) return access_fault(access);
  install_tlb(tlb_.entry(data_context_, access, vaddr), vaddr, paddr, access, privilege);
  return std::nullopt;
}

bool Hart::read_physical(uint64_t paddr, unsigned size, uint64_t& value) {
  if (const uint8_t* host = bus_.ram_pointer(paddr, size)) {
    value = load_le(host, size);
    return true;
  }
  if ((paddr & (size - 1)) == 0) return bus_.read(paddr, size, value);
  value = 0;
  for (unsigned i = 0; i < size; ++i) { // misaligned device access: byte by byte
    uint64_t byte;
    if (!bus_.read(paddr + i, 1, byte)) return false;
    value |= (byte & 0xff) << (8 * i);
  }
  return true;
}

void Hart::note_store_physical(uint64_t paddr, unsigned size) {
  bus_.mark_dirty(paddr, size);
  for (uint64_t page = paddr & ~kPageMask; page <= ((paddr + size - 1) & ~kPageMask); page += 4096) {
    if (blocks_.page_has_code(page)) {
      blocks_.invalidate_page(page);
      break_chains();
      code_modified_ = true;
    }
  }
}

bool Hart::write_physical(uint64_t paddr, unsigned size, uint64_t value) {
  if (uint8_t* host = bus_.ram_pointer(paddr, size)) {
    store_le(host, size, value);
    note_store_physical(paddr, size);
    return true;
  }
  if ((paddr & (size - 1)) == 0) return bus_.write(paddr, size, value);
  for (unsigned i = 0; i < size; ++i)
    if (!bus_.write(paddr + i, 1, (value >> (8 * i)) & 0xff)) return false;
  return true;
}

bool Hart::load_slow(uint64_t vaddr, unsigned size, uint64_t& value, const BlockOp* op) {
  const unsigned in_page = static_cast<unsigned>(4096 - (vaddr & kPageMask));
  if (size <= in_page) {
    uint64_t paddr;
    if (const auto fault = translate_data(vaddr, size, Access::Load, paddr)) {
      raise(op, *fault, vaddr);
      return false;
    }
    if (!read_physical(paddr, size, value)) {
      raise(op, Exception::LoadAccessFault, vaddr);
      return false;
    }
    return true;
  }
  // Misaligned across a page boundary: translate both parts before reading either.
  const uint64_t second = vaddr + in_page;
  uint64_t paddr_first, paddr_second;
  if (const auto fault = translate_data(vaddr, in_page, Access::Load, paddr_first)) {
    raise(op, *fault, vaddr);
    return false;
  }
  if (const auto fault = translate_data(second, size - in_page, Access::Load, paddr_second)) {
    raise(op, *fault, second);
    return false;
  }
  value = 0;
  for (unsigned i = 0; i < size; ++i) {
    uint64_t byte;
    const uint64_t paddr = i < in_page ? paddr_first + i : paddr_second + (i - in_page);
    if (!read_physical(paddr, 1, byte)) {
      raise(op, Exception::LoadAccessFault, vaddr + i);
      return false;
    }
    value |= (byte & 0xff) << (8 * i);
  }
  return true;
}

bool Hart::store_slow(uint64_t vaddr, unsigned size, uint64_t value, const BlockOp* op) {
  const unsigned in_page = static_cast<unsigned>(4096 - (vaddr & kPageMask));
  if (size <= in_page) {
    uint64_t paddr;
    if (const auto fault = translate_data(vaddr, size, Access::Store, paddr)) {
      raise(op, *fault, vaddr);
      return false;
    }
    if (!write_physical(paddr, size, value)) {
      raise(op, Exception::StoreAccessFault, vaddr);
      return false;
    }
    return true;
  }
  const uint64_t second = vaddr + in_page;
  uint64_t paddr_first, paddr_second;
  if (const auto fault = translate_data(vaddr, in_page, Access::Store, paddr_first)) {
    raise(op, *fault, vaddr);
    return false;
  }
  if (const auto fault = translate_data(second, size - in_page, Access::Store, paddr_second)) {
    raise(op, *fault, second);
    return false;
  }
  for (unsigned i = 0; i < size; ++i) {
    const uint64_t paddr = i < in_page ? paddr_first + i : paddr_second + (i - in_page);
    if (!write_physical(paddr, 1, (value >> (8 * i)) & 0xff)) {
      raise(op, Exception::StoreAccessFault, vaddr + i);
      return false;
    }
  }
  return true;
}

} // namespace nimbus::machine

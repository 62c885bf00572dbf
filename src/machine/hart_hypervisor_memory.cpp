// H extension memory: two-stage translation of guest accesses (VS-stage through vsatp, G-stage
// through hgatp) and the hypervisor load/store instructions HLV, HLVX and HSV.
#include "machine/hart.hpp"
#include "riscv/csr.hpp"

namespace nimbus::machine {

using riscv::Exception;
namespace mstatus = riscv::csr::mstatus;
namespace hstatus = riscv::csr::hstatus;
namespace satp = riscv::csr::satp;

namespace {
unsigned levels_of(uint64_t mode) { return mode == satp::kModeSv39 ? 3 : mode == satp::kModeSv48 ? 4 : 5; }
Exception access_fault_for(Access access) {
  return access == Access::Fetch  ? Exception::InstructionAccessFault
         : access == Access::Load ? Exception::LoadAccessFault
                                  : Exception::StoreAccessFault;
}
} // namespace

// Guest virtual -> guest physical (vsatp, with vsstatus.SUM/MXR; mstatus.MXR also applies) ->
// machine physical (hgatp).
std::optional<Exception> Hart::translate_guest(uint64_t vaddr, Access access, Privilege privilege,
                                               bool execute_as_read, uint64_t& paddr) {
  const uint64_t mode = vsatp_ >> satp::kModeShift;
  uint64_t gpa = vaddr;
  if (mode != satp::kModeBare) {
    Walk w;
    w.root = (vsatp_ & satp::kPpnMask) << 12;
    w.levels = levels_of(mode);
    w.access = access;
    w.privilege = privilege;
    w.nested = true;
    w.sum = debug_access_ || (vsstatus_ & mstatus::kSum);
    w.mxr = debug_access_ || (vsstatus_ & mstatus::kMxr) || (mstatus_ & mstatus::kMxr);
    w.execute_as_read = execute_as_read;
    if (const auto fault = walk(w, vaddr, gpa)) return fault;
  }
  return g_stage(gpa, access, execute_as_read, paddr);
}

// Guest physical -> machine physical: Sv39x4/Sv48x4/Sv57x4, every access checked as user-level.
std::optional<Exception> Hart::g_stage(uint64_t gpa, Access access, bool execute_as_read, uint64_t& paddr) {
  const uint64_t mode = hgatp_ >> satp::kModeShift;
  if (mode == satp::kModeBare) {
    paddr = gpa;
    return std::nullopt;
  }
  const bool cacheable = access == Access::Load && !execute_as_read && !(mstatus_ & mstatus::kMxr);
  GStageCacheEntry& cached = g_stage_cache_[(gpa >> 12) % kGStageCacheEntries];
  if (cacheable && cached.gpa_page == gpa >> 12) {
    paddr = cached.host_page | (gpa & 0xfff);
    if (cached.superpage) walked_superpage_ = true;
    return std::nullopt;
  }
  Walk w;
  w.root = (hgatp_ & satp::kPpnMask & ~uint64_t{3}) << 12;
  w.levels = levels_of(mode);
  w.root_extra = 2;
  w.access = access;
  w.privilege = Privilege::User;
  w.g_stage = true;
  w.mxr = mstatus_ & mstatus::kMxr;
  w.execute_as_read = execute_as_read;
  const bool superpage_before = walked_superpage_;
  walked_superpage_ = false;
  const auto fault = walk(w, gpa, paddr);
  const bool superpage = walked_superpage_;
  walked_superpage_ = superpage_before || superpage;
  if (!fault && cacheable) cached = GStageCacheEntry{gpa >> 12, paddr & ~uint64_t{0xfff}, superpage};
  return fault;
}

// HLV/HLVX: a load as VS-mode (hstatus.SPVP = 1) or VU-mode would make it, with V=1 translation.
// Slow on purpose: hypervisors use these rarely (emulating a trapped guest instruction).
bool Hart::hypervisor_load(uint64_t vaddr, unsigned size, bool execute, uint64_t& value, const BlockOp* op) {
  const Privilege privilege = (hstatus_ & hstatus::kSpvp) ? Privilege::Supervisor : Privilege::User;
  hypervisor_access_ = true; // a fault's tval is a guest virtual address (GVA)
  value = 0;
  for (unsigned i = 0; i < size;) {
    const uint64_t va = vaddr + i;
    const unsigned in_page = static_cast<unsigned>(4096 - (va & 0xfff));
    const unsigned chunk = size - i < in_page ? size - i : in_page;
    uint64_t paddr, part;
    if (const auto fault = translate(va, Access::Load, privilege, paddr, true, execute)) {
      raise(op, *fault, va);
      hypervisor_access_ = false;
      return false;
    }
    if (!pmp_.allows(paddr, chunk, Access::Load, privilege) || !read_physical(paddr, chunk, part)) {
      raise(op, access_fault_for(Access::Load), va);
      hypervisor_access_ = false;
      return false;
    }
    value |= (chunk == 8 ? part : part & ((uint64_t{1} << (8 * chunk)) - 1)) << (8 * i);
    i += chunk;
  }
  hypervisor_access_ = false;
  return true;
}

bool Hart::hypervisor_store(uint64_t vaddr, unsigned size, uint64_t value, const BlockOp* op) {
  const Privilege privilege = (hstatus_ & hstatus::kSpvp) ? Privilege::Supervisor : Privilege::User;
  hypervisor_access_ = true;
  // Translate every page first, so a fault on the second page leaves memory untouched.
  uint64_t paddrs[2] = {};
  unsigned chunks[2] = {};
  unsigned parts = 0;
  for (unsigned i = 0; i < size; ++parts) {
    const uint64_t va = vaddr + i;
    const unsigned in_page = static_cast<unsigned>(4096 - (va & 0xfff));
    chunks[parts] = size - i < in_page ? size - i : in_page;
    if (const auto fault = translate(va, Access::Store, privilege, paddrs[parts], true)) {
      raise(op, *fault, va);
      hypervisor_access_ = false;
      return false;
    }
    if (!pmp_.allows(paddrs[parts], chunks[parts], Access::Store, privilege)) {
      raise(op, access_fault_for(Access::Store), va);
      hypervisor_access_ = false;
      return false;
    }
    i += chunks[parts];
  }
  unsigned done = 0;
  for (unsigned p = 0; p < parts; ++p) {
    if (!write_physical(paddrs[p], chunks[p], value >> (8 * done))) {
      raise(op, access_fault_for(Access::Store), vaddr + done);
      hypervisor_access_ = false;
      return false;
    }
    done += chunks[p];
  }
  hypervisor_access_ = false;
  return true;
}

} // namespace nimbus::machine

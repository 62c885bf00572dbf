// Hart snapshots: the architectural state, field by field, in a fixed order (docs/migration.md,
// section HART). Adding a field means a new format version.
#include <fmt/format.h>

#include <stdexcept>

#include "machine/hart.hpp"

namespace nimbus::machine {

std::vector<uint64_t*> Hart::snapshot_csr_fields() {
  return {&mstatus_, &mip_, &sstc_pending_, &mie_, &medeleg_, &mideleg_, &mtvec_, &stvec_, &mepc_, &sepc_,
          &mcause_, &scause_, &mtval_, &stval_, &mscratch_, &sscratch_, &mcounteren_, &scounteren_,
          &mcountinhibit_, &menvcfg_, &senvcfg_, &satp_, &stimecmp_, &hstatus_, &hedeleg_, &hideleg_,
          &hcounteren_, &htimedelta_, &htval_, &htinst_, &hgatp_, &henvcfg_, &vsstatus_, &vstvec_, &vsscratch_,
          &vsepc_, &vscause_, &vstval_, &vsatp_, &vstimecmp_, &mtval2_, &mtinst_, &fault_gpa_, &fault_tinst_,
          &instret_, &cycle_};
}

void Hart::save_state(snapshot::Writer& out) const {
  if (pending_exit_) throw std::logic_error("hart snapshot with a VMM exit pending");
  out.u32(id_);
  for (unsigned i = 0; i < 32; ++i) out.u64(x_[i]);
  out.u64(pc_);
  out.u8(static_cast<uint8_t>(priv_));
  out.boolean(virt_);
  out.boolean(waiting_);
  out.boolean(vmm_exits_);
  out.boolean(vmm_exits_hs_);
  for (unsigned i = 0; i < 32; ++i) out.u64(f_[i]);
  out.u8(fflags_);
  out.u8(frm_);
  const auto csrs = const_cast<Hart*>(this)->snapshot_csr_fields();
  out.u32(static_cast<uint32_t>(csrs.size()));
  for (const uint64_t* v : csrs) out.u64(*v);
  out.u32(Pmp::kEntries);
  for (unsigned i = 0; i < Pmp::kEntries; ++i) out.u64(pmp_.read_addr(i));
  out.u64(pmp_.read_cfg(0));
  out.u64(pmp_.read_cfg(2));
  out.u64(pins_.sample());
}

void Hart::restore_state(snapshot::Reader& in) {
  const uint32_t id = in.u32();
  if (id != id_) in.fail(fmt::format("holds hart {} but restores hart {}", id, id_));
  uint64_t x[32];
  for (auto& r : x) r = in.u64();
  if (x[0] != 0) in.fail("x0 is not zero");
  const uint64_t pc = in.u64();
  const uint8_t priv = in.u8();
  if (priv != 0 && priv != 1 && priv != 3) in.fail(fmt::format("privilege {} is not U, S or M", priv));
  const bool virt = in.boolean();
  const bool waiting = in.boolean();
  const bool vmm_exits = in.boolean();
  const bool vmm_exits_hs = in.boolean();
  uint64_t f[32];
  for (auto& r : f) r = in.u64();
  const uint8_t fflags = in.u8(), frm = in.u8();
  if (fflags > 0x1f || frm > 7) in.fail("fflags or frm out of range");
  const auto csrs = snapshot_csr_fields();
  if (in.u32() != csrs.size()) in.fail("wrong number of CSR fields");
  std::vector<uint64_t> csr_values(csrs.size());
  for (auto& v : csr_values) v = in.u64();
  if (in.u32() != Pmp::kEntries) in.fail("wrong number of PMP entries");
  uint64_t pmpaddr[Pmp::kEntries];
  for (auto& a : pmpaddr) a = in.u64();
  const uint64_t cfg0 = in.u64(), cfg2 = in.u64();
  const uint64_t pins = in.u64();
  in.expect_end();

  for (size_t i = 0; i < csrs.size(); ++i) *csrs[i] = csr_values[i];
  std::copy(std::begin(x), std::end(x), x_);
  x_[kDiscardRegister] = 0;
  pc_ = pc;
  waiting_ = waiting;
  vmm_exits_ = vmm_exits;
  vmm_exits_hs_ = vmm_exits_hs;
  std::copy(std::begin(f), std::end(f), f_);
  fflags_ = fflags;
  frm_ = frm;
  // Addresses before configurations: a locked entry refuses later writes.
  pmp_.reset();
  for (unsigned i = 0; i < Pmp::kEntries; ++i) pmp_.write_addr(i, pmpaddr[i]);
  pmp_.write_cfg(0, cfg0);
  pmp_.write_cfg(2, cfg2);
  for (unsigned bit = 0; bit < 64; ++bit) pins_.set(bit, (pins >> bit) & 1);
  exit_requested_ = false;
  code_modified_ = false;
  hypervisor_access_ = false;
  pending_exit_.reset();
  first_fault_.reset();
  csr_read_bias_ = csr_write_bias_ = 0;
  next_timer_poll_ = 0;
  set_mode(static_cast<Privilege>(priv), virt);
  flush_caches();
}

} // namespace nimbus::machine

// hw mode's factory: the VM-wide state HwCpu needs (all of machine memory as the harts' bus, the
// VM's G-stage table in table pages of its own, a VMID), created with the VM's first vCPU.
#include <memory>

#include "hypervisor/guest_cpu_factory.hpp"
#include "hypervisor/hw_mode/hw_cpu.hpp"
#include "hypervisor/machine_memory.hpp"
#include "hypervisor/table_pages.hpp"
#include "riscv/csr.hpp"

namespace nimbus::hypervisor {

namespace {

// Table pages a VM may hold: the Sv39x4 root (4 pages), one page per GiB of guest-physical
// space mapped with megapages, and, while live migration logs dirty pages (RAM mapped in 4 KiB
// pages), one leaf table per 2 MiB, with room to spare.
uint64_t table_page_cap(uint64_t ram_bytes) { return 64 + (ram_bytes >> 30) * 2 + (ram_bytes >> 21); }

struct HwVmState final : VmModeState {
  explicit HwVmState(const GuestCpuContext& c)
      : machine_memory(c.pool),
        machine_bus(0, c.pool.bytes(), machine_memory),
        pages(c.pool, c.memory.vm_id(), table_page_cap(c.memory.ram_size())),
        g_stage(pages, c.pool.base(), 0),
        context{c.memory, machine_bus, 0, c.bus, c.clock, c.reservations, g_stage,
                static_cast<uint16_t>(c.memory.vm_id() & 0x3fff)} {}

  MachineMemory machine_memory;
  machine::Bus machine_bus;
  TablePages pages;
  GStageTable g_stage;
  HwVmContext context;
};

} // namespace

std::unique_ptr<GuestCpu> make_hw_cpu(const GuestCpuContext& context) {
  if (!context.mode_state) context.mode_state = std::make_unique<HwVmState>(context);
  auto& state = dynamic_cast<HwVmState&>(*context.mode_state);
  auto cpu = std::make_unique<HwCpu>(context.index, state.context);
  // As in emulate mode: the guest's U-mode may read cycle, time and instret (Linux's vDSO reads
  // time) without an SBI PMU driver to enable them.
  cpu->hart().set_csr(riscv::csr::kScounteren, 7);   // not VS-banked: VU checks it too
  return cpu;
}

} // namespace nimbus::hypervisor

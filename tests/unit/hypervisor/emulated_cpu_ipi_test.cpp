// emulate mode's IPI: the VMM sets SSIP in the vCPU's mip without touching SEIP.
#include <gtest/gtest.h>

#include "hypervisor/emulated_cpu.hpp"
#include "machine/bus.hpp"
#include "machine/clock.hpp"
#include "machine/hart_reservation_set.hpp"
#include "riscv/csr.hpp"

namespace nimbus::hypervisor {
namespace {

namespace csr = riscv::csr;
constexpr uint64_t kRamBase = 0x8000'0000;
constexpr unsigned kSeipBit = 9;

// An SBI IPI that arrives while the PLIC holds the vCPU's SEIP line high must not latch SEIP into
// mip's software bit: once the device's line drops, SEIP must drop with it. (Reading mip and
// writing it back with SSIP set did latch it, and the guest took supervisor external interrupts
// forever, claiming nothing: 2-vCPU Linux VMs hung in the boot.)
TEST(EmulatedCpuIpi, SoftwareInterruptDoesNotLatchTheExternalLine) {
  machine::Bus bus{kRamBase, 1u << 20};
  machine::Clock clock{true};
  machine::ReservationSet reservations;
  EmulatedCpu cpu{0, bus, clock, reservations};
  cpu.start(kRamBase, 0);
  machine::Hart& hart = *cpu.debug_hart();

  cpu.pins().set(kSeipBit, true); // a device interrupt is pending at the PLIC
  cpu.raise_software_interrupt();
  EXPECT_NE(hart.csr(csr::kMip) & csr::irq::kSeip, 0u) << "mip reads the line while it is high";
  cpu.pins().set(kSeipBit, false); // the guest claimed it and the device is quiet
  EXPECT_EQ(hart.csr(csr::kMip) & csr::irq::kSeip, 0u) << "SEIP stayed pending after the line dropped";
  EXPECT_NE(hart.csr(csr::kMip) & csr::irq::kSsip, 0u) << "the IPI itself is pending";
}

} // namespace
} // namespace nimbus::hypervisor

// Fuzz target: the PLIC's register file (machine/devices/plic.*) with two harts (four
// contexts), driven by a hostile guest's accesses interleaved with device interrupt lines.
//
// Beyond "no crash": a claim never returns a source the PLIC does not have; an interrupt pin
// is raised only while the PLIC has some pending source; after any sequence its snapshot state
// restores into a fresh PLIC and saves back identically; with the device lines low, reset()
// restores the power-on state.
#include <cstddef>
#include <cstdint>

#include "device_state_check.hpp"
#include "fuzz_support.hpp"
#include "machine/devices/plic.hpp"
#include "mmio_ops.hpp"

using namespace nimbus::machine;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!nimbus::fuzz::seed_dir()) return 0;
  // What Linux's PLIC driver does for the UART (source 10) on hart 0's S context (context 1).
  nimbus::fuzz::ByteWriter w;
  using Op = nimbus::fuzz::MmioOp;
  for (const Op& op : {Op{10 * 4, 4, true, 1}, Op{Plic::kEnableOffset + Plic::kEnableStride, 4, true, 1u << 10},
                       Op{Plic::kContextOffset + Plic::kContextStride, 4, true, 0}})
    nimbus::fuzz::write_mmio_op(w, op);
  w.u8(0xe0); // raise source 10
  w.u8(10);
  for (const Op& op : {Op{Plic::kPendingOffset, 4, false, 0}, Op{Plic::kContextOffset + Plic::kContextStride + 4, 4, false, 0},
                       Op{Plic::kContextOffset + Plic::kContextStride + 4, 4, true, 10}})
    nimbus::fuzz::write_mmio_op(w, op);
  nimbus::fuzz::write_seed("plic_uart_irq", w.out);
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InterruptPins hart0, hart1;
  Plic plic({&hart0, &hart1});
  nimbus::fuzz::ByteReader in(data, size);
  struct Checked : MmioDevice {
    Plic& p;
    explicit Checked(Plic& plic_ref) : p(plic_ref) {}
    std::string_view name() const override { return p.name(); }
    bool read(uint64_t offset, unsigned size, uint64_t& value) override {
      const bool ok = p.read(offset, size, value);
      const uint64_t in_context = offset - Plic::kContextOffset;
      if (ok && offset >= Plic::kContextOffset && in_context % Plic::kContextStride == 4 && size == 4)
        FUZZ_CHECK(value < Plic::kSources); // claim
      return ok;
    }
    bool write(uint64_t offset, unsigned size, uint64_t value) override { return p.write(offset, size, value); }
  } checked(plic);
  nimbus::fuzz::run_mmio_ops(in, checked, Plic::kSize, [&](uint8_t opcode, nimbus::fuzz::ByteReader& r) {
    if (opcode >= 0xf8) plic.reset();
    else plic.set_irq(1 + r.u8() % (Plic::kSources - 1), opcode & 1);
  });
  bool any_pending = false;
  for (unsigned s = 1; s < Plic::kSources; ++s) any_pending |= plic.pending(s);
  for (InterruptPins* pins : {&hart0, &hart1})
    for (unsigned bit : {Plic::kMeipBit, Plic::kSeipBit})
      if (pins->sample() >> bit & 1) FUZZ_CHECK(any_pending);
  // The lines are the devices' outputs, which a reset keeps: a board reset resets the devices
  // first, so they drop them. Do the same before comparing the reset PLIC with a new one.
  InterruptPins f0, f1;
  Plic fresh({&f0, &f1});
  nimbus::fuzz::check_state_round_trip(plic, fresh, [&] {
    for (unsigned s = 1; s < Plic::kSources; ++s) plic.set_irq(s, false);
  });
  return 0;
}

// Fuzz target: the CLINT's register file (machine/devices/clint.*) with two harts, driven by a
// hostile guest's accesses interleaved with the passing of time.
//
// Beyond "no crash": after every tick a hart's timer pin (MTIP) is high exactly when its
// mtimecmp, as the guest reads it back, is at or below mtime as the guest reads it, and while
// no timer has fired next_deadline() is not in the past; MSIP follows the
// register's bit 0; after any sequence the snapshot state restores into a fresh CLINT and saves
// back identically, and reset() restores the power-on state.
#include <cstddef>
#include <cstdint>

#include "device_state_check.hpp"
#include "fuzz_support.hpp"
#include "machine/clock.hpp"
#include "machine/devices/clint.hpp"
#include "mmio_ops.hpp"

using namespace nimbus::machine;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!nimbus::fuzz::seed_dir()) return 0;
  // A timer programmed 1000 ticks ahead on hart 1, time passing, an IPI to hart 0 and its ack.
  nimbus::fuzz::ByteWriter w;
  using Op = nimbus::fuzz::MmioOp;
  nimbus::fuzz::write_mmio_op(w, Op{Clint::kMtimeOffset, 8, false, 0});
  nimbus::fuzz::write_mmio_op(w, Op{Clint::kMtimecmpOffset + 8, 8, true, 1000});
  for (int i = 0; i < 3; ++i) {
    w.u8(0xe0); // time passes
    w.u16(600);
  }
  for (const Op& op : {Op{Clint::kMsipOffset, 4, true, 1}, Op{Clint::kMsipOffset, 4, false, 0},
                       Op{Clint::kMsipOffset, 4, true, 0}, Op{Clint::kMtimecmpOffset + 8, 4, true, ~0u}})
    nimbus::fuzz::write_mmio_op(w, op);
  nimbus::fuzz::write_seed("clint_timer_ipi", w.out);
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Clock clock(true);
  InterruptPins hart0, hart1;
  Clint clint(clock, {&hart0, &hart1});
  nimbus::fuzz::ByteReader in(data, size);
  InterruptPins* pins[2] = {&hart0, &hart1};
  auto check_pins = [&] {
    uint64_t mtime = 0;
    FUZZ_CHECK(clint.read(Clint::kMtimeOffset, 8, mtime));
    bool fired = false;
    for (unsigned h = 0; h < 2; ++h) {
      uint64_t cmp = 0, msip = 0;
      FUZZ_CHECK(clint.read(Clint::kMtimecmpOffset + 8 * h, 8, cmp));
      FUZZ_CHECK(clint.read(Clint::kMsipOffset + 4 * h, 4, msip));
      FUZZ_CHECK(((pins[h]->sample() >> Clint::kMtipBit) & 1) == (cmp <= mtime));
      FUZZ_CHECK(((pins[h]->sample() >> Clint::kMsipBit) & 1) == (msip & 1));
      fired |= cmp <= mtime;
    }
    // While no timer has fired, the run loop may sleep until next_deadline(): it must not be
    // in the past (a machine would spin) nor skip a timer.
    if (!fired) FUZZ_CHECK(clint.next_deadline() > clock.now());
  };
  nimbus::fuzz::run_mmio_ops(in, clint, Clint::kSize, [&](uint8_t opcode, nimbus::fuzz::ByteReader& r) {
    if (opcode >= 0xf8) {
      clint.reset();
      return;
    }
    clock.retire(uint64_t{r.u16()} * Clock::kInstructionsPerTick);
    clint.tick(clock.now());
    check_pins();
  });
  clint.tick(clock.now());
  check_pins();
  Clint fresh(clock, {pins[0], pins[1]});
  nimbus::fuzz::check_state_round_trip(clint, fresh);
  return 0;
}

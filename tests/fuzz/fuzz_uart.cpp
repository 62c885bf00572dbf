// Fuzz target: the 16550 UART's register file (machine/devices/uart_16550.*), driven by a
// hostile guest's register accesses interleaved with console input.
//
// Beyond "no crash": reads return only as many bytes as asked; the device never sends more bytes
// to the console than the guest wrote to THR; and after any sequence its snapshot state restores
// into a fresh UART and saves back identically, and reset() restores the power-on state exactly.
#include <cstddef>
#include <cstdint>

#include "device_state_check.hpp"
#include "fuzz_support.hpp"
#include "machine/devices/uart_16550.hpp"
#include "mmio_ops.hpp"

using namespace nimbus::machine;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!nimbus::fuzz::seed_dir()) return 0;
  // A driver's bring-up: 8N1 at 115200 with FIFOs and interrupts on, a line of output, input read.
  nimbus::fuzz::ByteWriter w;
  using Op = nimbus::fuzz::MmioOp;
  for (const Op& op : {Op{3, 1, true, 0x80}, Op{0, 1, true, 2}, Op{1, 1, true, 0}, Op{3, 1, true, 3},
                       Op{2, 1, true, 7}, Op{4, 1, true, 0x0b}, Op{1, 1, true, 0x0f}})
    nimbus::fuzz::write_mmio_op(w, op);
  for (const char c : std::string("hello\r\n")) nimbus::fuzz::write_mmio_op(w, Op{0, 1, true, uint64_t(c)});
  for (int i = 0; i < 3; ++i) {
    w.u8(0xe0); // input byte
    w.u8(static_cast<uint8_t>('a' + i));
  }
  for (const Op& op : {Op{2, 1, false, 0}, Op{5, 1, false, 0}, Op{0, 1, false, 0}, Op{6, 1, false, 0}})
    nimbus::fuzz::write_mmio_op(w, op);
  nimbus::fuzz::write_seed("uart_bringup", w.out);
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint64_t thr_writes = 0, sent = 0;
  Uart16550 uart([](bool) {}, [&](uint8_t) { ++sent; });
  nimbus::fuzz::ByteReader in(data, size);
  struct Counting : MmioDevice {
    Uart16550& u;
    uint64_t& writes;
    Counting(Uart16550& uart_ref, uint64_t& w) : u(uart_ref), writes(w) {}
    std::string_view name() const override { return u.name(); }
    bool read(uint64_t offset, unsigned size, uint64_t& value) override { return u.read(offset, size, value); }
    bool write(uint64_t offset, unsigned size, uint64_t value) override {
      if (offset == 0) ++writes; // THR (or the divisor latch: an upper bound either way)
      return u.write(offset, size, value);
    }
  } counting(uart, thr_writes);
  nimbus::fuzz::run_mmio_ops(in, counting, Uart16550::kSize, [&](uint8_t opcode, nimbus::fuzz::ByteReader& r) {
    if (opcode >= 0xf8) uart.reset();
    else if (uart.can_accept_input()) uart.push_input(r.u8());
  });
  FUZZ_CHECK(sent <= thr_writes);
  Uart16550 fresh([](bool) {});
  nimbus::fuzz::check_state_round_trip(uart, fresh);
  return 0;
}

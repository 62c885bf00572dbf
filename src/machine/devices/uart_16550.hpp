#pragma once
// NS16550A UART as on QEMU's virt board (0x1000_0000, IRQ 10, one byte per register). The
// transmitter is infinitely fast: every THR write goes straight to the sink. Input arrives from
// the run loop through push_input into a 16-byte receive FIFO.
#include "machine/snapshot_format.hpp"
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

#include "machine/devices/irq_line.hpp"
#include "machine/mmio_device.hpp"

namespace nimbus::machine {

class Uart16550 : public MmioDevice {
public:
  static constexpr uint64_t kBase = 0x1000'0000;
  static constexpr uint64_t kSize = 0x100;
  static constexpr unsigned kIrq = 10;
  static constexpr unsigned kFifoSize = 16;
  static constexpr uint32_t kClockHz = 3'686'400; // as QEMU's device tree says

  // Register offsets (reg-shift 0).
  enum Register : uint64_t { kRbrThr = 0, kIer = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7 };
  // Bits used by tests and the implementation.
  static constexpr uint8_t kIerRxData = 0x01, kIerThrEmpty = 0x02, kIerLineStatus = 0x04, kIerModemStatus = 0x08;
  static constexpr uint8_t kIirNoInterrupt = 0x01, kIirLineStatus = 0x06, kIirRxData = 0x04, kIirRxTimeout = 0x0c,
                           kIirThrEmpty = 0x02, kIirModemStatus = 0x00, kIirFifoEnabled = 0xc0;
  static constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02, kFcrClearTx = 0x04;
  static constexpr uint8_t kLcrDlab = 0x80;
  static constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08, kMcrLoop = 0x10;
  static constexpr uint8_t kLsrDataReady = 0x01, kLsrOverrun = 0x02, kLsrBreak = 0x10, kLsrThrEmpty = 0x20,
                           kLsrTxEmpty = 0x40;
  static constexpr uint8_t kMsrDcts = 0x01, kMsrDdsr = 0x02, kMsrTeri = 0x04, kMsrDdcd = 0x08, kMsrCts = 0x10,
                           kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;

  using Sink = std::function<void(uint8_t)>;

  explicit Uart16550(IrqLine irq, Sink sink = {});

  std::string_view name() const override { return "uart"; }
  bool read(uint64_t offset, unsigned size, uint64_t& value) override;
  bool write(uint64_t offset, unsigned size, uint64_t value) override;

  // Power-on register state; the receive FIFO is emptied.
  void reset();
  void set_sink(Sink sink);
  // Host input (console keystrokes). Bytes that arrive while the FIFO is full are dropped and
  // flagged as an overrun, as on real hardware; callers should check can_accept_input first.
  void push_input(uint8_t byte);
  bool can_accept_input() const;

  // Snapshots (devices/device_state.cpp): registers and internal state, not the wiring.
  // restore_state throws snapshot::FormatError for a payload that does not fit this device.
  void save_state(snapshot::Writer& out) const;
  void restore_state(snapshot::Reader& in);
private:
  unsigned rx_capacity() const { return (fcr_ & kFcrEnable) ? kFifoSize : 1; }
  unsigned rx_trigger_level() const;
  void receive(uint8_t byte);
  uint8_t read_register(uint64_t offset);
  void write_register(uint64_t offset, uint8_t value);
  uint8_t interrupt_identification() const;
  uint8_t line_status() const;
  uint8_t modem_status_inputs() const;
  // Re-evaluates the interrupt output at the points where QEMU 7.2's serial.c calls
  // serial_update_irq: a pending interrupt asserts the line again (a new PLIC request), so this
  // is called when an interrupt condition may have arisen or gone, never on plain register
  // reads (a driver polling LSR, like xv6's, must not re-raise a THR-empty interrupt).
  void signal_irq();

  IrqLine irq_;
  Sink sink_;
  std::deque<uint8_t> rx_fifo_;
  uint8_t ier_ = 0, fcr_ = 0, lcr_ = 0, mcr_ = kMcrOut2, scr_ = 0, dll_ = 0x0c, dlm_ = 0;
  uint8_t msr_deltas_ = 0;
  bool overrun_ = false;
  bool thr_interrupt_ = false; // THR-empty interrupt pending (QEMU's thr_ipending: set when the THR
                               // empties, cleared by an IIR read reporting it or a THR write)
  bool irq_level_ = false;
  mutable std::recursive_mutex mutex_;
};

} // namespace nimbus::machine

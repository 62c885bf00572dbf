#include "machine/devices/uart_16550.hpp"

namespace nimbus::machine {

Uart16550::Uart16550(IrqLine irq, Sink sink) : irq_(std::move(irq)), sink_(std::move(sink)) {}

void Uart16550::reset() {
  std::lock_guard lock(mutex_);
  rx_fifo_.clear();
  ier_ = fcr_ = lcr_ = scr_ = dlm_ = msr_deltas_ = 0;
  mcr_ = kMcrOut2;
  dll_ = 0x0c;
  overrun_ = thr_interrupt_ = false;
  signal_irq();
}

void Uart16550::set_sink(Sink sink) {
  std::lock_guard lock(mutex_);
  sink_ = std::move(sink);
}

bool Uart16550::can_accept_input() const {
  std::lock_guard lock(mutex_);
  // In loopback mode the receiver is disconnected from the outside world.
  return !(mcr_ & kMcrLoop) && rx_fifo_.size() < rx_capacity();
}

void Uart16550::push_input(uint8_t byte) {
  std::lock_guard lock(mutex_);
  if (mcr_ & kMcrLoop) return;
  receive(byte);
  signal_irq();
}

void Uart16550::receive(uint8_t byte) {
  if (rx_fifo_.size() >= rx_capacity()) {
    overrun_ = true;
    return;
  }
  rx_fifo_.push_back(byte);
}

unsigned Uart16550::rx_trigger_level() const {
  static constexpr unsigned kLevels[4] = {1, 4, 8, 14};
  return (fcr_ & kFcrEnable) ? kLevels[fcr_ >> 6] : 1;
}

bool Uart16550::read(uint64_t offset, unsigned size, uint64_t& value) {
  if (size != 1 && size != 4) return false; // byte registers; some firmware uses 32-bit accesses
  std::lock_guard lock(mutex_);
  value = offset < 8 ? read_register(offset) : 0;
  return true;
}

bool Uart16550::write(uint64_t offset, unsigned size, uint64_t value) {
  if (size != 1 && size != 4) return false;
  std::lock_guard lock(mutex_);
  if (offset < 8) write_register(offset, static_cast<uint8_t>(value));
  return true;
}

uint8_t Uart16550::modem_status_inputs() const {
  // In loopback the modem inputs are wired to the modem control outputs; otherwise the
  // line is a null modem that is always ready (CTS, DSR and DCD asserted).
  if (mcr_ & kMcrLoop) {
    uint8_t v = 0;
    if (mcr_ & kMcrRts) v |= kMsrCts;
    if (mcr_ & kMcrDtr) v |= kMsrDsr;
    if (mcr_ & kMcrOut1) v |= kMsrRi;
    if (mcr_ & kMcrOut2) v |= kMsrDcd;
    return v;
  }
  return kMsrCts | kMsrDsr | kMsrDcd;
}

uint8_t Uart16550::line_status() const {
  uint8_t lsr = kLsrThrEmpty | kLsrTxEmpty;
  if (!rx_fifo_.empty()) lsr |= kLsrDataReady;
  if (overrun_) lsr |= kLsrOverrun;
  return lsr;
}

uint8_t Uart16550::interrupt_identification() const {
  const uint8_t fifo_bits = (fcr_ & kFcrEnable) ? kIirFifoEnabled : 0;
  if ((ier_ & kIerLineStatus) && overrun_) return fifo_bits | kIirLineStatus;
  if ((ier_ & kIerRxData) && !rx_fifo_.empty()) {
    // Below the trigger level the real chip reports a character timeout after four character
    // times without reads; with no notion of character time we report it at once.
    if (rx_fifo_.size() >= rx_trigger_level()) return fifo_bits | kIirRxData;
    return fifo_bits | kIirRxTimeout;
  }
  if ((ier_ & kIerThrEmpty) && thr_interrupt_) return fifo_bits | kIirThrEmpty;
  if ((ier_ & kIerModemStatus) && (msr_deltas_ & 0x0f)) return fifo_bits | kIirModemStatus;
  return fifo_bits | kIirNoInterrupt;
}

uint8_t Uart16550::read_register(uint64_t offset) {
  const bool dlab = lcr_ & kLcrDlab;
  switch (offset) {
  case kRbrThr: {
    if (dlab) return dll_;
    if (rx_fifo_.empty()) return 0;
    const uint8_t byte = rx_fifo_.front();
    rx_fifo_.pop_front();
    signal_irq();
    return byte;
  }
  case kIer: return dlab ? dlm_ : ier_;
  case kIirFcr: {
    const uint8_t iir = interrupt_identification();
    // Reading IIR while it reports THR empty acknowledges that interrupt.
    if ((iir & 0x0f) == kIirThrEmpty) {
      thr_interrupt_ = false;
      signal_irq();
    }
    return iir;
  }
  case kLcr: return lcr_;
  case kMcr: return mcr_;
  case kLsr: {
    const uint8_t lsr = line_status();
    if (overrun_) {
      overrun_ = false; // error bits clear on read
      signal_irq();
    }
    return lsr;
  }
  case kMsr: {
    const uint8_t msr = modem_status_inputs() | msr_deltas_;
    if (msr_deltas_) {
      msr_deltas_ = 0;
      signal_irq();
    }
    return msr;
  }
  case kScr: return scr_;
  default: return 0;
  }
}

void Uart16550::write_register(uint64_t offset, uint8_t value) {
  const bool dlab = lcr_ & kLcrDlab;
  switch (offset) {
  case kRbrThr:
    if (dlab) {
      dll_ = value;
      return;
    }
    // Writing THR acknowledges a THR-empty interrupt; the byte then leaves at once, the holding
    // register is empty again and that is a new THR-empty interrupt (the line falls and rises,
    // as in QEMU's serial_ioport_write + serial_xmit).
    thr_interrupt_ = false;
    signal_irq();
    thr_interrupt_ = true;
    signal_irq();
    if (mcr_ & kMcrLoop) {
      receive(value);
      signal_irq();
    } else if (sink_) {
      sink_(value);
    }
    return;
  case kIer:
    if (dlab) {
      dlm_ = value;
      return;
    }
    {
      const uint8_t changed = (ier_ ^ value) & 0x0f;
      // Turning the THR-empty interrupt on while the THR is empty raises it (drivers rely on
      // this, and Linux's 8250 THRE test checks it); turning it off forgets it (as QEMU).
      if (changed & kIerThrEmpty) thr_interrupt_ = (value & kIerThrEmpty) != 0;
      ier_ = value & 0x0f;
      if (changed) signal_irq();
    }
    return;
  case kIirFcr:
    if ((value & kFcrEnable) != (fcr_ & kFcrEnable)) rx_fifo_.clear(); // mode change resets the FIFOs
    if (value & kFcrClearRx) {
      rx_fifo_.clear();
      overrun_ = false;
    }
    // Clearing the (always empty) transmit FIFO leaves THR empty: a THR-empty interrupt, as in
    // QEMU. A change of the FIFO mode clears both FIFOs.
    if ((value & kFcrClearTx) || ((value ^ fcr_) & kFcrEnable)) thr_interrupt_ = true;
    fcr_ = value & 0xc9; // enable, DMA mode and trigger level are stored; clear bits self-reset
    signal_irq();
    return;
  case kLcr: lcr_ = value; return;
  case kMcr: {
    const uint8_t before = modem_status_inputs();
    mcr_ = value & 0x1f;
    const uint8_t after = modem_status_inputs();
    if ((before ^ after) & kMsrCts) msr_deltas_ |= kMsrDcts;
    if ((before ^ after) & kMsrDsr) msr_deltas_ |= kMsrDdsr;
    if ((before & kMsrRi) && !(after & kMsrRi)) msr_deltas_ |= kMsrTeri; // trailing edge only
    if ((before ^ after) & kMsrDcd) msr_deltas_ |= kMsrDdcd;
    if (((before ^ after) & 0xf0) != 0) signal_irq();
    return;
  }
  case kLsr: return; // read-only (factory test register on some parts)
  case kMsr: return;
  case kScr: scr_ = value; return;
  default: return;
  }
}

void Uart16550::signal_irq() {
  const bool level = (interrupt_identification() & kIirNoInterrupt) == 0;
  // An interrupt identified now is (re)asserted, which the PLIC takes as a new request; a low
  // line is only reported when it falls.
  if (level || level != irq_level_) {
    irq_level_ = level;
    if (irq_) irq_(level);
  }
}

} // namespace nimbus::machine

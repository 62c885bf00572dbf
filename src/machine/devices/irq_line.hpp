#pragma once
// The wire from a device's interrupt output to the interrupt controller. The board binds it to
// Plic::set_irq(source, level); tests bind it to a recorder. As QEMU's qemu_set_irq: a call
// with true is an assertion the PLIC takes as a new request (even if the line was high), so
// devices call it with true when a new interrupt condition arises (as QEMU's model of the
// device does), not on every register access; false lowers the line.
#include <functional>

namespace nimbus::machine {

using IrqLine = std::function<void(bool level)>;

} // namespace nimbus::machine

#pragma once
// The wire from a device's interrupt output to the interrupt controller. The board binds it to
// Plic::set_irq(source, level); tests bind it to a recorder. Level-sensitive: devices call it
// with the current state of their output whenever that state may have changed.
#include <functional>

namespace nimbus::machine {

using IrqLine = std::function<void(bool level)>;

} // namespace nimbus::machine

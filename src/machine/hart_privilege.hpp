#pragma once
// Privilege levels and access kinds shared by the hart, its MMU, TLB and PMP.
#include <cstdint>

namespace nimbus::machine {

// Encoded as in mstatus.MPP. The virtualization mode V (H extension) is a separate bit beside it:
// Supervisor with V=1 is VS-mode, User with V=1 is VU-mode.
enum class Privilege : uint8_t { User = 0, Supervisor = 1, Machine = 3 };

enum class Access : uint8_t { Fetch = 0, Load = 1, Store = 2 };

} // namespace nimbus::machine

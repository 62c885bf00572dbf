#pragma once
// Internal to src/riscv/fp: maps non-NaN bit patterns to unsigned keys whose order is numeric order,
// with -0 just below +0.
#include "riscv/fp/format.hpp"

namespace nimbus::riscv::fp::detail {

template <class F> constexpr typename F::Bits orderKey(typename F::Bits a) {
    using B = typename F::Bits;
    return signOf<F>(a) ? B(~a) : B(a | F::kSignMask);
}

} // namespace nimbus::riscv::fp::detail

#pragma once
// Words for a guest's death: the VMM names the first fault of the chain that killed a guest
// kernel (machine::Hart::first_fault), not only the loop or trap it ended in.
#include <cstdint>
#include <optional>
#include <string>

#include "machine/hart.hpp"

namespace nimbus::hypervisor {

// "illegal instruction", "load page fault", ... ("exception 42" for unknown codes).
std::string exception_name(uint64_t cause);
// "illegal instruction (cause 2) at pc=0x80000000 in S-mode, tval=0xf14025f3, instruction
// 0xf14025f3 (csrrs, CSR 0xf14 mhartid)[; N more exceptions before it returned]".
std::string describe_fault(const machine::Hart::FaultRecord& fault);
// The fatal-exit text: "first fault: <describe_fault>; then: <what ended it>", or just `ending`
// when there is no recorded fault.
std::string death_report(const std::optional<machine::Hart::FaultRecord>& first, const std::string& ending);

} // namespace nimbus::hypervisor

// What a debugger needs from a hart (the gdb stub, machine/gdb): one instruction at a time,
// breakpoints, and memory through the current translation without side effects.
#include <algorithm>
#include <cstring>

#include "machine/hart.hpp"
#include "machine/hart_execute.hpp"
#include "riscv/decoder.hpp"
#include "riscv/opcode.hpp"

namespace nimbus::machine {

using riscv::Exception;

void Hart::set_breakpoints(std::vector<uint64_t> addresses) {
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  breakpoints_ = std::move(addresses);
}

// The lowest breakpoint in [pc, pc + bytes), if any.
bool Hart::breakpoint_within(uint64_t pc, uint64_t bytes, uint64_t& at) const {
  const auto it = std::lower_bound(breakpoints_.begin(), breakpoints_.end(), pc);
  if (it == breakpoints_.end() || *it - pc >= std::max<uint64_t>(bytes, 1)) return false;
  at = *it;
  return true;
}

// Runs the instruction at pc alone, decoded afresh into the uncached scratch block (so no
// decoded or translated block is involved and a breakpoint inside a block can be reached).
uint64_t Hart::step_one() {
  const uint64_t pc = pc_;
  uint64_t paddr = 0;
  if (!fetch_address(pc, paddr)) return 0; // as any fetch: the TLB, or a walk and its checks
  const uint8_t* host = bus_.code_pointer(paddr, 2);
  if (host == nullptr) { // not after fetch_address's checks; as fetch_block, never a crash
    take_trap(static_cast<uint64_t>(Exception::InstructionAccessFault), pc, false);
    return 0;
  }
  uint16_t low;
  std::memcpy(&low, host, 2);
  Block* block = nullptr;
  if (riscv::instruction_length(low) == 4 && (paddr & 0xfff) > 0xffc) {
    block = build_page_crossing_block(paddr); // fetches the upper half through its own page
    if (block == nullptr) return 0;
  } else {
    uint32_t bits = low;
    if (riscv::instruction_length(low) == 4) {
      const uint8_t* whole = bus_.code_pointer(paddr, 4);
      if (whole == nullptr || !pmp_.allows(paddr, 4, Access::Fetch, priv_)) {
        take_trap(static_cast<uint64_t>(Exception::InstructionAccessFault), pc, false);
        return 0;
      }
      std::memcpy(&bits, whole, 4);
    }
    const riscv::DecodedInstruction d = riscv::decode(bits);
    block = scratch_block(paddr);
    add_lone_instruction(*block, d);
  }
  block_pc_ = pc_;
  block_retired_ = block->count;
  const BlockOp* op = block->ops.data();
  do {
    op = op->handler(*this, op);
  } while (op != nullptr);
  retire(block_retired_);
  return block_retired_;
}

// The data view of the current mode (QEMU's debug translation does the same), widened so a
// debugger stopped in U-mode still sees the kernel: U is looked at as S with SUM and MXR set.
bool Hart::debug_translate(uint64_t vaddr, uint64_t& paddr) {
  const bool superpage = walked_superpage_;
  const unsigned superpage_shift = walked_superpage_shift_;
  const bool global = walked_global_;
  const uint64_t gpa = fault_gpa_, tinst = fault_tinst_;
  Privilege privilege = data_privilege();
  if (privilege == Privilege::User) privilege = Privilege::Supervisor;
  debug_access_ = true;
  const auto fault = translate(vaddr, Access::Load, privilege, paddr, data_virt());
  debug_access_ = false;
  walked_superpage_ = superpage;
  walked_superpage_shift_ = superpage_shift;
  walked_global_ = global;
  fault_gpa_ = gpa;
  fault_tinst_ = tinst;
  return !fault;
}

bool Hart::debug_read(uint64_t vaddr, uint8_t* out, size_t len, size_t& done) {
  done = 0;
  while (done < len) {
    const uint64_t address = vaddr + done;
    const size_t chunk = std::min<uint64_t>(len - done, 4096 - (address & 0xfff));
    uint64_t paddr = 0;
    if (!debug_translate(address, paddr)) return false;
    const uint8_t* host = bus_.ram_pointer(paddr, chunk);
    if (host == nullptr) host = bus_.code_pointer(paddr, chunk); // the boot ROM
    if (host == nullptr) return false;
    std::memcpy(out + done, host, chunk);
    done += chunk;
  }
  return true;
}

bool Hart::debug_write(uint64_t vaddr, const uint8_t* data, size_t len, size_t& done) {
  done = 0;
  while (done < len) {
    const uint64_t address = vaddr + done;
    const size_t chunk = std::min<uint64_t>(len - done, 4096 - (address & 0xfff));
    uint64_t paddr = 0;
    if (!debug_translate(address, paddr)) return false;
    uint8_t* host = bus_.ram_pointer(paddr, chunk);
    if (host == nullptr) return false;
    std::memcpy(host, data + done, chunk);
    bus_.mark_dirty(paddr, chunk);
    bus_.note_dma_write(paddr, chunk); // every hart drops decoded and translated code there
    done += chunk;
  }
  return true;
}

} // namespace nimbus::machine

#pragma once
// All of machine memory as a machine::RamBacking, so a hart in trap mode can run on a bus whose
// "physical" addresses are machine addresses (offsets into the frame pool). Only shadow page
// tables decide which of those addresses the hart may reach; they only ever point at frames
// of the vCPU's own VM and at its own table pages.
#include <cstdint>

#include "hypervisor/frame_pool.hpp"
#include "machine/bus.hpp"

namespace nimbus::hypervisor {

class MachineRam final : public machine::RamBacking {
public:
  explicit MachineRam(FramePool& pool) : pool_(pool) {}
  uint8_t* view() override { return pool_.base(); }
  // The pool is one shared mapping of the memfd: every page is usable as it is.
  bool commit(uint64_t offset, uint64_t len) override {
    return len <= pool_.bytes() && offset <= pool_.bytes() - len;
  }

private:
  FramePool& pool_;
};

} // namespace nimbus::hypervisor

#pragma once
// All of machine memory (the frame pool) as the RAM of a bus: what a hart addresses physically
// in trap and hw mode, where the VMM's shadow or G-stage tables decide which frames a guest can
// reach. Every frame is always there, so commit never fails.
#include "hypervisor/frame_pool.hpp"
#include "machine/bus.hpp"

namespace nimbus::hypervisor {

class MachineMemory final : public machine::RamBacking {
public:
  explicit MachineMemory(FramePool& pool) : pool_(pool) {}
  uint8_t* view() override { return pool_.base(); }
  bool commit(uint64_t offset, uint64_t len) override { return offset <= pool_.bytes() && len <= pool_.bytes() - offset; }

private:
  FramePool& pool_;
};

} // namespace nimbus::hypervisor

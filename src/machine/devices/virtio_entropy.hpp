#pragma once
// virtio-rng (device ID 4): fills every device-writable buffer with random bytes, from
// /dev/urandom, or from a seeded generator when the machine runs deterministically.
#include <cstdint>

#include "machine/devices/virtio_device.hpp"

namespace nimbus::machine {

class VirtioEntropy : public VirtioDevice {
public:
  static constexpr uint32_t kDeviceId = 4;
  static constexpr uint64_t kDeterministicSeed = 0x6e696d627573ull; // "nimbus"
  static constexpr uint32_t kMaxRequest = 64 * 1024; // larger buffers are filled only this far

  // Throws std::runtime_error if /dev/urandom cannot be opened.
  explicit VirtioEntropy(bool deterministic);
  ~VirtioEntropy() override;
  VirtioEntropy(const VirtioEntropy&) = delete;
  VirtioEntropy& operator=(const VirtioEntropy&) = delete;

  uint32_t device_id() const override { return kDeviceId; }
  uint64_t features() const override { return 0; }
  unsigned queue_count() const override { return 1; }
  std::vector<uint8_t> config() const override { return {}; }
  Result process(unsigned queue, const DescriptorChain& chain) override;

  void save_state(snapshot::Writer& out) const override { out.u64(state_); }
  void restore_state(snapshot::Reader& in) override { state_ = in.u64(); }

private:
  void fill(uint8_t* out, size_t len);

  int fd_ = -1;       // /dev/urandom, or -1 in deterministic mode
  uint64_t state_ = kDeterministicSeed;
};

} // namespace nimbus::machine

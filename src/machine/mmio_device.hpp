#pragma once
// A device register window on the physical bus. Devices see offsets relative to their base.
#include <cstdint>
#include <string_view>

namespace nimbus::machine {

class MmioDevice {
public:
  virtual ~MmioDevice() = default;
  virtual std::string_view name() const = 0;
  // size is 1, 2, 4 or 8 and offset + size lies inside the window the device was mapped with.
  // Returning false makes the access an access fault for the hart that issued it.
  virtual bool read(uint64_t offset, unsigned size, uint64_t& value) = 0;
  virtual bool write(uint64_t offset, unsigned size, uint64_t value) = 0;
  // Read-only memory a hart may execute from (a boot ROM): a host pointer to `len` bytes at
  // `offset` that stay valid and unchanged while the machine runs, or nullptr (the default) for
  // registers, which cannot hold code.
  virtual const uint8_t* code_pointer(uint64_t /*offset*/, uint64_t /*len*/) const { return nullptr; }
};

} // namespace nimbus::machine

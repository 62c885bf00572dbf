#pragma once
// One request taken off a virtqueue: the guest buffers of a descriptor chain, already checked to
// lie in guest RAM and split into the driver-written (readable) part followed by the
// device-writable part. Devices copy through read/write and never see a guest address.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace nimbus::machine {

class DescriptorChain {
public:
  struct Segment {
    uint8_t* host; // inside the bus's RAM mapping, valid for len bytes
    uint32_t len;
    uint64_t paddr = 0; // the guest-physical address (for the bus's DMA notices)
  };

  uint16_t head() const { return head_; }
  uint64_t readable_bytes() const { return readable_bytes_; }
  uint64_t writable_bytes() const { return writable_bytes_; }
  const std::vector<Segment>& readable() const { return readable_; }
  const std::vector<Segment>& writable() const { return writable_; }

  // Copies up to len bytes starting at byte `offset` of the readable part; returns bytes copied.
  size_t read(uint64_t offset, void* dst, size_t len) const;
  // Copies up to len bytes to byte `offset` of the writable part; returns bytes copied.
  size_t write(uint64_t offset, const void* src, size_t len) const;

  void reset(uint16_t head);
  void add_readable(Segment s);
  void add_writable(Segment s);

private:
  uint16_t head_ = 0;
  std::vector<Segment> readable_;
  std::vector<Segment> writable_;
  uint64_t readable_bytes_ = 0;
  uint64_t writable_bytes_ = 0;
};

} // namespace nimbus::machine

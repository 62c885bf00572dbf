#pragma once
// virtio-blk (device ID 2) backed by a raw image file. Requests are served synchronously with
// pread/pwrite straight into guest buffers (an OUT completes only once its pwrite returned: no
// write-back cache in the VMM); FLUSH is an fdatasync of the file, so data the guest has flushed
// survives a kill -9 of the VMM and a host crash. The image is flock'ed while attached: exclusive
// read-write, shared read-only, so two VMMs (or two VMs of one VMM) never write one image.
#include <cstdint>
#include <string>

#include "machine/devices/virtio_device.hpp"
#include "machine/dirty_log.hpp"

namespace nimbus::machine {

// Takes the disk lock on `fd` (LOCK_EX, or LOCK_SH when read_only), without waiting; throws
// std::runtime_error naming `path` and, when /proc/locks tells, the holder's pid and name.
void lock_disk_image(int fd, const std::string& path, bool read_only);

class VirtioBlock : public VirtioDevice {
public:
  static constexpr uint32_t kDeviceId = 2;
  static constexpr uint64_t kSectorSize = 512;
  static constexpr uint64_t kFeatureSegMax = uint64_t{1} << 2;
  static constexpr uint64_t kFeatureRo = uint64_t{1} << 5;
  static constexpr uint64_t kFeatureBlkSize = uint64_t{1} << 6;
  static constexpr uint64_t kFeatureFlush = uint64_t{1} << 9;
  static constexpr uint32_t kTypeIn = 0, kTypeOut = 1, kTypeFlush = 4, kTypeGetId = 8;
  static constexpr uint8_t kStatusOk = 0, kStatusIoErr = 1, kStatusUnsupported = 2;
  static constexpr uint64_t kHeaderSize = 16;
  static constexpr size_t kIdBytes = 20;

  // Opens the image; throws std::runtime_error naming the file when it cannot be used.
  // A file that cannot be opened for writing is served read-only. Throws when another user holds
  // the image's lock (see lock_disk_image).
  VirtioBlock(const std::string& path, bool read_only, bool take_lock = true);
  ~VirtioBlock() override;
  VirtioBlock(const VirtioBlock&) = delete;
  VirtioBlock& operator=(const VirtioBlock&) = delete;

  uint32_t device_id() const override { return kDeviceId; }
  uint64_t features() const override;
  unsigned queue_count() const override { return 1; }
  std::vector<uint8_t> config() const override;
  Result process(unsigned queue, const DescriptorChain& chain) override;

  uint64_t capacity_sectors() const { return capacity_sectors_; }
  bool read_only() const { return read_only_; }
  // Live migration hands the image from the source VMM to the destination's on one machine
  // (docs/migration.md): the destination opens it unlocked (take_lock = false) and locks it
  // once the source has released it. lock() throws as the constructor does; unlock() drops it.
  void lock();
  void unlock();
  bool locked() const { return locked_; }
  // Live migration with --with-disk: every block an OUT request writes is marked in `log`
  // (4 KiB blocks of the image, a DirtyLog of capacity_bytes()), after its pwrite returned, so
  // a reader that takes the log and then reads the block sees the data or a later mark.
  // nullptr: off. Set on the VM's thread.
  void set_write_log(DirtyLog* log) { write_log_ = log; }
  uint64_t capacity_bytes() const { return capacity_sectors_ * kSectorSize; }
  const std::string& path() const { return path_; }
  // The image's descriptor, for pread by the migration (any thread: pread has no file offset).
  int image_fd() const { return fd_; }

private:
  uint8_t read_sectors(uint64_t sector, const DescriptorChain& chain, uint64_t length);
  uint8_t write_sectors(uint64_t sector, const DescriptorChain& chain, uint64_t length);
  bool in_range(uint64_t sector, uint64_t length) const;

  std::string path_;
  int fd_ = -1;
  bool read_only_;
  bool locked_ = false;
  uint64_t capacity_sectors_ = 0;
  DirtyLog* write_log_ = nullptr;
};

} // namespace nimbus::machine

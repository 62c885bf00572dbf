#include "machine/devices/virtio_block.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace nimbus::machine {
namespace {

template <typename T> void put(std::vector<uint8_t>& out, size_t at, T value) {
  std::memcpy(out.data() + at, &value, sizeof value);
}

// Calls fn(host, len, file_offset) for the bytes [skip, skip + length) of `segments`.
template <typename Fn>
bool for_each_piece(const std::vector<DescriptorChain::Segment>& segments, uint64_t skip, uint64_t length,
                    uint64_t file_offset, Fn fn) {
  for (const auto& s : segments) {
    if (length == 0) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const uint64_t n = std::min<uint64_t>(s.len - skip, length);
    if (!fn(s.host + skip, n, file_offset)) return false;
    file_offset += n;
    length -= n;
    skip = 0;
  }
  return length == 0;
}

// "pid N (comm)" of a process holding a flock on the file (dev, ino), from /proc/locks; empty
// when it cannot be told.
std::string lock_holder(const struct stat& st) {
  std::ifstream locks("/proc/locks");
  std::string line;
  char want[64];
  std::snprintf(want, sizeof want, "%02x:%02x:%llu", major(st.st_dev), minor(st.st_dev),
                static_cast<unsigned long long>(st.st_ino));
  while (std::getline(locks, line)) {
    // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
    std::istringstream in(line);
    std::string number, kind, advisory, mode, pid, id;
    if (!(in >> number >> kind)) continue;
    if (kind == "->") in >> kind; // a waiter
    if (!(in >> advisory >> mode >> pid >> id) || kind != "FLOCK" || id != want) continue;
    std::string who = "pid " + pid;
    if (pid == std::to_string(::getpid())) return who + " (this process: another VM or drive uses it)";
    std::ifstream comm("/proc/" + pid + "/comm");
    std::string name;
    if (std::getline(comm, name) && !name.empty()) who += " (" + name + ")";
    return who;
  }
  return {};
}

} // namespace

void lock_disk_image(int fd, const std::string& path, bool read_only) {
  // flock locks belong to the open file description, so two opens in one process (two VMs of one
  // VMM) conflict as two processes do; the lock goes away with the descriptor, also on kill -9.
  while (::flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK)
      throw std::runtime_error(path + ": cannot lock disk image: " + std::strerror(errno));
    struct stat st {};
    std::string holder = ::fstat(fd, &st) == 0 ? lock_holder(st) : std::string();
    throw std::runtime_error(path + ": disk image is in use" + (holder.empty() ? "" : " by " + holder) +
                             (read_only ? " for writing; a read-only attach needs no writer"
                                        : "; a read-write attach needs it to itself"));
  }
}

VirtioBlock::VirtioBlock(const std::string& path, bool read_only, bool take_lock) : path_(path), read_only_(read_only) {
  if (!read_only_) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) read_only_ = true;
  }
  if (fd_ < 0) fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(path + ": cannot open disk image: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw std::runtime_error(path + ": disk image is not a regular file");
  }
  try {
    if (take_lock) lock();
  } catch (...) {
    ::close(fd_);
    throw;
  }
  capacity_sectors_ = static_cast<uint64_t>(st.st_size) / kSectorSize;
}

void VirtioBlock::lock() {
  if (locked_) return;
  lock_disk_image(fd_, path_, read_only_);
  locked_ = true;
}

void VirtioBlock::unlock() {
  if (!locked_) return;
  while (::flock(fd_, LOCK_UN) != 0 && errno == EINTR) {
  }
  locked_ = false;
}

VirtioBlock::~VirtioBlock() {
  if (fd_ >= 0) ::close(fd_);
}

uint64_t VirtioBlock::features() const {
  return kFeatureSegMax | kFeatureBlkSize | kFeatureFlush | (read_only_ ? kFeatureRo : 0);
}

std::vector<uint8_t> VirtioBlock::config() const {
  // struct virtio_blk_config up to num_queues.
  std::vector<uint8_t> c(0x24, 0);
  put<uint64_t>(c, 0x00, capacity_sectors_);
  put<uint32_t>(c, 0x08, 0);                                                  // size_max (not offered)
  put<uint32_t>(c, 0x0c, static_cast<uint32_t>(max_queue_size() - 2));        // seg_max: header + status
  put<uint32_t>(c, 0x14, static_cast<uint32_t>(kSectorSize));                 // blk_size
  put<uint16_t>(c, 0x22, 1);                                                  // num_queues
  return c;
}

bool VirtioBlock::in_range(uint64_t sector, uint64_t length) const {
  const uint64_t sectors = length / kSectorSize;
  return sector <= capacity_sectors_ && sectors <= capacity_sectors_ - sector;
}

uint8_t VirtioBlock::read_sectors(uint64_t sector, const DescriptorChain& chain, uint64_t length) {
  if (length % kSectorSize != 0 || !in_range(sector, length)) return kStatusIoErr;
  const bool ok = for_each_piece(chain.writable(), 0, length, sector * kSectorSize,
                                 [&](uint8_t* host, uint64_t n, uint64_t at) {
                                   while (n > 0) {
                                     const ssize_t r = ::pread(fd_, host, n, static_cast<off_t>(at));
                                     if (r < 0 && errno == EINTR) continue;
                                     if (r <= 0) return false;
                                     host += r;
                                     n -= static_cast<uint64_t>(r);
                                     at += static_cast<uint64_t>(r);
                                   }
                                   return true;
                                 });
  return ok ? kStatusOk : kStatusIoErr;
}

uint8_t VirtioBlock::write_sectors(uint64_t sector, const DescriptorChain& chain, uint64_t length) {
  if (read_only_ || length % kSectorSize != 0 || !in_range(sector, length)) return kStatusIoErr;
  const bool ok = for_each_piece(chain.readable(), kHeaderSize, length, sector * kSectorSize,
                                 [&](uint8_t* host, uint64_t n, uint64_t at) {
                                   const uint64_t first = at, total = n;
                                   bool written = true;
                                   while (n > 0) {
                                     const ssize_t w = ::pwrite(fd_, host, n, static_cast<off_t>(at));
                                     if (w < 0 && errno == EINTR) continue;
                                     if (w <= 0) {
                                       written = false;
                                       break;
                                     }
                                     host += w;
                                     n -= static_cast<uint64_t>(w);
                                     at += static_cast<uint64_t>(w);
                                   }
                                   // After the pwrite (even a partial one): see set_write_log.
                                   if (write_log_ != nullptr) write_log_->mark(first, total);
                                   return written;
                                 });
  return ok ? kStatusOk : kStatusIoErr;
}

VirtioDevice::Result VirtioBlock::process(unsigned, const DescriptorChain& chain) {
  // A request is a 16-byte header the device reads, data, and a status byte it writes last.
  if (chain.readable_bytes() < kHeaderSize || chain.writable_bytes() < 1) return {false, 0};
  uint8_t header[kHeaderSize];
  chain.read(0, header, kHeaderSize);
  uint32_t type = 0;
  uint64_t sector = 0;
  std::memcpy(&type, header, 4);
  std::memcpy(&sector, header + 8, 8);

  const uint64_t status_at = chain.writable_bytes() - 1;
  uint8_t status = kStatusUnsupported;
  uint32_t written = 1; // the status byte
  switch (type) {
  case kTypeIn:
    status = read_sectors(sector, chain, status_at);
    if (status == kStatusOk) written += static_cast<uint32_t>(status_at);
    break;
  case kTypeOut: status = write_sectors(sector, chain, chain.readable_bytes() - kHeaderSize); break;
  case kTypeFlush:
    // Every OUT before this request was pwritten before it completed; fdatasync puts them on
    // stable storage before the FLUSH completes (file size never changes, so no metadata is due).
    status = read_only_ || ::fdatasync(fd_) == 0 ? kStatusOk : kStatusIoErr;
    break;
  case kTypeGetId: {
    char id[kIdBytes] = {};
    const std::string base = path_.substr(path_.find_last_of('/') + 1);
    std::memcpy(id, base.data(), std::min(base.size(), kIdBytes));
    const size_t n = std::min<uint64_t>(status_at, kIdBytes);
    chain.write(0, id, n);
    written += static_cast<uint32_t>(n);
    status = kStatusOk;
    break;
  }
  default: break;
  }
  chain.write(status_at, &status, 1);
  return {true, written};
}

} // namespace nimbus::machine

#pragma once
// Helpers shared by the fuzz targets: invariant checks, seed writing and scratch disk images.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_check.hpp"

namespace nimbus::fuzz {

// Seeds. Each target that needs structured input can write valid examples of it, made by the
// project's own writers: `NIMBUS_FUZZ_WRITE_SEEDS=DIR fuzz_x` writes them into DIR and exits
// (tests/fuzz/make-seeds.sh runs every target that way). Call from LLVMFuzzerInitialize.
inline const char* seed_dir() { return std::getenv("NIMBUS_FUZZ_WRITE_SEEDS"); }
inline void write_seed(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = std::string(seed_dir()) + "/" + name;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write seed %s\n", path.c_str());
    std::exit(1);
  }
}
inline void write_seed(const std::string& name, const std::string& text) {
  write_seed(name, std::vector<uint8_t>(text.begin(), text.end()));
}

// A scratch file of `size` bytes (a disk image), removed when the process exits. In /dev/shm
// when there is one: virtio-blk's FLUSH is an fdatasync, which on a real disk would make the
// target run at a few executions per second.
class ScratchFile {
public:
  explicit ScratchFile(uint64_t size, uint8_t fill = 0) {
    const char* tmp = std::getenv("TMPDIR");
    const bool shm = access("/dev/shm", W_OK) == 0;
    path_ = std::string(shm ? "/dev/shm" : tmp && *tmp ? tmp : "/tmp") + "/nimbus-fuzz-XXXXXX";
    const int fd = mkstemp(path_.data());
    FUZZ_CHECK(fd >= 0);
    std::vector<uint8_t> bytes(size, fill);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(fill + i * 7);
    FUZZ_CHECK(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    close(fd);
  }
  ~ScratchFile() { unlink(path_.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  const std::string& path() const { return path_; }
  std::vector<uint8_t> contents() const {
    std::ifstream in(path_, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
  }

private:
  std::string path_;
};

// Reads inputs front to back; past the end every read gives 0 (so any byte string is an input).
class ByteReader {
public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ >= size_; }
  size_t remaining() const { return empty() ? 0 : size_ - at_; }
  uint64_t le(unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v |= uint64_t{next()} << (8 * i);
    return v;
  }
  uint8_t u8() { return next(); }
  uint16_t u16() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  // Up to `n` bytes (fewer at the end of the input).
  std::vector<uint8_t> bytes(size_t n) {
    n = std::min(n, remaining());
    std::vector<uint8_t> out(data_ + at_, data_ + at_ + n);
    at_ += n;
    return out;
  }

private:
  uint8_t next() { return at_ < size_ ? data_[at_++] : 0; }
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

// Builds inputs for ByteReader (seed writers).
class ByteWriter {
public:
  void le(uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u8(uint8_t v) { out.push_back(v); }
  void u16(uint16_t v) { le(v, 2); }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void bytes(const std::vector<uint8_t>& b) { out.insert(out.end(), b.begin(), b.end()); }
  std::vector<uint8_t> out;
};

} // namespace nimbus::fuzz

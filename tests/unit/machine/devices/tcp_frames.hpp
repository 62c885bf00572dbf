#pragma once
// TCP frames for the offload tests (net_offload_test.cpp, virtio_net_test.cpp), and a checksum
// check written apart from the code under test (a plain RFC 1071 sum, byte by byte).
#include <cstdint>
#include <cstring>
#include <vector>

#include "machine/devices/net_offload.hpp"

namespace nimbus::machine::tcp_frames {

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }

// RFC 1071, byte by byte: the folded ones' complement sum of big-endian words.
inline uint16_t ones_sum(const std::vector<uint8_t>& bytes) {
  uint32_t sum = 0;
  for (size_t i = 0; i < bytes.size(); i += 2)
    sum += static_cast<uint32_t>(bytes[i] << 8 | (i + 1 < bytes.size() ? bytes[i + 1] : 0));
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

constexpr size_t kIp = 14;

// An Ethernet + IPv4 (or IPv6) + TCP frame with `payload` bytes 0, 1, 2..., the TCP checksum
// field holding the pseudo-header seed as Linux leaves it for CHECKSUM_PARTIAL.
inline std::vector<uint8_t> tcp_frame(size_t payload, bool v6 = false, uint8_t tcp_flags = 0x18) {
  const size_t ip_len = v6 ? 40 : 20, l4 = kIp + ip_len;
  std::vector<uint8_t> f(l4 + 20 + payload, 0);
  const uint8_t dst[6] = {0x52, 0x54, 0, 1, 2, 3}, src[6] = {0x52, 0x54, 0, 4, 5, 6};
  std::memcpy(&f[0], dst, 6);
  std::memcpy(&f[6], src, 6);
  if (v6) {
    f[12] = 0x86, f[13] = 0xdd;
    f[kIp] = 0x60;
    f[kIp + 4] = static_cast<uint8_t>((20 + payload) >> 8), f[kIp + 5] = static_cast<uint8_t>(20 + payload);
    f[kIp + 6] = 6, f[kIp + 7] = 64;
    f[kIp + 8] = 0xfd, f[kIp + 23] = 1;  // fd00::1
    f[kIp + 24] = 0xfd, f[kIp + 39] = 2; // fd00::2
  } else {
    f[12] = 0x08, f[13] = 0x00;
    f[kIp] = 0x45;
    const size_t total = 20 + 20 + payload;
    f[kIp + 2] = static_cast<uint8_t>(total >> 8), f[kIp + 3] = static_cast<uint8_t>(total);
    f[kIp + 4] = 0x12, f[kIp + 5] = 0x34;  // id
    f[kIp + 6] = 0x40;                     // DF
    f[kIp + 8] = 64, f[kIp + 9] = 6;
    const uint8_t a[8] = {10, 0, 0, 1, 10, 0, 0, 2};
    std::memcpy(&f[kIp + 12], a, 8);
    const uint16_t c = static_cast<uint16_t>(~ones_sum(std::vector<uint8_t>(&f[kIp], &f[kIp + 20])));
    f[kIp + 10] = static_cast<uint8_t>(c >> 8), f[kIp + 11] = static_cast<uint8_t>(c); // the stack's header checksum
  }
  f[l4] = 0x30, f[l4 + 1] = 0x39, f[l4 + 2] = 0, f[l4 + 3] = 80;
  f[l4 + 4] = 0xff, f[l4 + 5] = 0xff, f[l4 + 6] = 0xff, f[l4 + 7] = 0x00; // seq: wraps during segmentation
  f[l4 + 12] = 0x50, f[l4 + 13] = tcp_flags;
  for (size_t i = 0; i < payload; ++i) f[l4 + 20 + i] = static_cast<uint8_t>(i);
  return f;
}

// The TCP checksum field a sender leaves for the device: the pseudo-header sum with `tcp_len`
// (Linux seeds GSO requests with the length left out, i.e. 0).
inline void seed(std::vector<uint8_t>& f, bool v6, size_t tcp_len) {
  const size_t l4 = kIp + (v6 ? 40 : 20);
  std::vector<uint8_t> pseudo;
  if (v6) {
    pseudo.assign(&f[kIp + 8], &f[kIp + 40]);
    const uint8_t tail[8] = {static_cast<uint8_t>(tcp_len >> 24), static_cast<uint8_t>(tcp_len >> 16),
                             static_cast<uint8_t>(tcp_len >> 8), static_cast<uint8_t>(tcp_len), 0, 0, 0, 6};
    pseudo.insert(pseudo.end(), tail, tail + 8);
  } else {
    pseudo.assign(&f[kIp + 12], &f[kIp + 20]);
    const uint8_t tail[4] = {0, 6, static_cast<uint8_t>(tcp_len >> 8), static_cast<uint8_t>(tcp_len)};
    pseudo.insert(pseudo.end(), tail, tail + 4);
  }
  const uint16_t s = ones_sum(pseudo);
  f[l4 + 16] = static_cast<uint8_t>(s >> 8), f[l4 + 17] = static_cast<uint8_t>(s);
}

// Whether a finished frame's IPv4 header and TCP checksums are right.
inline bool checksums_ok(const std::vector<uint8_t>& f, bool v6) {
  const size_t l4 = kIp + (v6 ? 40 : 20);
  std::vector<uint8_t> pseudo;
  const size_t tcp_len = f.size() - l4;
  if (v6) {
    pseudo.assign(&f[kIp + 8], &f[kIp + 40]);
    const uint8_t tail[8] = {0, 0, static_cast<uint8_t>(tcp_len >> 8), static_cast<uint8_t>(tcp_len), 0, 0, 0, 6};
    pseudo.insert(pseudo.end(), tail, tail + 8);
  } else {
    if (ones_sum(std::vector<uint8_t>(&f[kIp], &f[kIp + 20])) != 0xffff) return false;
    pseudo.assign(&f[kIp + 12], &f[kIp + 20]);
    const uint8_t tail[4] = {0, 6, static_cast<uint8_t>(tcp_len >> 8), static_cast<uint8_t>(tcp_len)};
    pseudo.insert(pseudo.end(), tail, tail + 4);
  }
  pseudo.insert(pseudo.end(), f.begin() + static_cast<ptrdiff_t>(l4), f.end());
  return ones_sum(pseudo) == 0xffff;
}

inline NetOffload csum_request(bool v6) {
  NetOffload o;
  o.flags = NetOffload::kNeedsCsum;
  o.csum_start = static_cast<uint16_t>(kIp + (v6 ? 40 : 20));
  o.csum_offset = 16;
  return o;
}

inline NetOffload gso_request(bool v6, uint16_t mss) {
  NetOffload o = csum_request(v6);
  o.gso_type = v6 ? NetOffload::kGsoTcpV6 : NetOffload::kGsoTcpV4;
  o.gso_size = mss;
  o.hdr_len = static_cast<uint16_t>(o.csum_start + 20);
  return o;
}

} // namespace nimbus::machine::tcp_frames

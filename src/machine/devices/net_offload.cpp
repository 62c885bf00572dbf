#include "machine/devices/net_offload.hpp"

#include <algorithm>
#include <cstring>

#include "machine/devices/net_link.hpp"

namespace nimbus::machine {
namespace {

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }
void put_be16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8), p[1] = static_cast<uint8_t>(v); }
void put_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24), p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8), p[3] = static_cast<uint8_t>(v);
}
uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
void put_le16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v), p[1] = static_cast<uint8_t>(v >> 8); }

// Ones' complement sum of big-endian 16-bit words (RFC 1071), not yet folded; eight bytes
// at a time, because this runs over every byte a guest sends to a receiver without offloads.
uint64_t sum_words(const uint8_t* p, size_t n, uint64_t sum = 0) {
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    // Summing little-endian loads and swapping at the end gives the big-endian sum (RFC 1071
    // 2(B)); keep the carries out of the top by adding the halves.
    sum += (w & 0xffffffff) + (w >> 32);
    p += 8, n -= 8;
  }
  uint64_t tail = 0;
  for (size_t i = 0; i < n; ++i) tail |= uint64_t{p[i]} << (8 * (i % 8));
  sum += (tail & 0xffffffff) + (tail >> 32);
  return sum;
}

// Folds a sum of little-endian loads into the big-endian 16-bit ones' complement sum.
uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>((sum >> 8 | sum << 8) & 0xffff);
}

// The ones' complement checksum to store: 0 is sent as 0xffff (the same value in ones'
// complement, and the one UDP requires).
uint16_t checksum_of(uint64_t sum) {
  const uint16_t c = static_cast<uint16_t>(~fold(sum));
  return c == 0 ? 0xffff : c;
}

// Where a TCP segmentation request's headers are, found in the frame itself (hdr_len is
// only the sender's hint: virtio 1.x 5.1.6.2).
struct TcpLayout {
  size_t l3 = 0, l4 = 0, payload = 0; // offsets of the IP header, TCP header, TCP payload
  bool ipv4 = false;
};

const char* parse_tcp(std::span<const uint8_t> f, uint8_t gso_type, TcpLayout& out) {
  size_t l3 = kEthernetHeaderBytes;
  if (f.size() < l3) return "frame shorter than an Ethernet header";
  uint16_t ethertype = be16(&f[12]);
  if (ethertype == 0x8100) { // one VLAN tag
    if (f.size() < 18) return "frame shorter than its VLAN tag";
    ethertype = be16(&f[16]);
    l3 = 18;
  }
  const uint8_t type = gso_type & ~NetOffload::kGsoEcn;
  if (type == NetOffload::kGsoTcpV4) {
    if (ethertype != 0x0800) return "TCPV4 segmentation of a frame that is not IPv4";
    if (f.size() < l3 + 20 || (f[l3] >> 4) != 4) return "IPv4 header cut short";
    const size_t ihl = size_t{f[l3] & 0xfu} * 4;
    if (ihl < 20 || f.size() < l3 + ihl) return "IPv4 header length out of the frame";
    if (be16(&f[l3 + 2]) != f.size() - l3) return "IPv4 total length is not the frame's";
    if ((be16(&f[l3 + 6]) & 0x3fff) != 0) return "IPv4 fragment";
    if (f[l3 + 9] != 6) return "IPv4 packet that is not TCP";
    out.ipv4 = true;
    out.l4 = l3 + ihl;
  } else if (type == NetOffload::kGsoTcpV6) {
    if (ethertype != 0x86dd) return "TCPV6 segmentation of a frame that is not IPv6";
    if (f.size() < l3 + 40 || (f[l3] >> 4) != 6) return "IPv6 header cut short";
    if (be16(&f[l3 + 4]) != f.size() - l3 - 40) return "IPv6 payload length is not the frame's";
    if (f[l3 + 6] != 6) return "IPv6 packet with extension headers or not TCP";
    out.ipv4 = false;
    out.l4 = l3 + 40;
  } else {
    return "segmentation type other than TCPV4 and TCPV6";
  }
  if (f.size() < out.l4 + 20) return "TCP header cut short";
  const size_t doff = static_cast<size_t>(f[out.l4 + 12] >> 4) * 4;
  if (doff < 20 || f.size() < out.l4 + doff) return "TCP header length out of the frame";
  out.l3 = l3;
  out.payload = out.l4 + doff;
  return nullptr;
}

// The TCP checksum of segment `s` (IP and TCP headers final, checksum field ignored).
uint16_t tcp_checksum(std::span<const uint8_t> s, const TcpLayout& at) {
  const size_t tcp_len = s.size() - at.l4;
  uint8_t pseudo[40] = {};
  size_t pseudo_len;
  if (at.ipv4) {
    std::memcpy(pseudo, &s[at.l3 + 12], 8); // source, destination
    pseudo[9] = 6;
    put_be16(pseudo + 10, static_cast<uint16_t>(tcp_len));
    pseudo_len = 12;
  } else {
    std::memcpy(pseudo, &s[at.l3 + 8], 32);
    put_be32(pseudo + 32, static_cast<uint32_t>(tcp_len));
    pseudo[39] = 6;
    pseudo_len = 40;
  }
  uint64_t sum = sum_words(pseudo, pseudo_len);
  sum = sum_words(&s[at.l4], 16, sum); // up to the checksum field
  sum = sum_words(&s[at.l4 + 18], tcp_len - 18, sum);
  return checksum_of(sum);
}

} // namespace

NetOffload NetOffload::parse(const uint8_t* h) {
  NetOffload o;
  o.flags = h[0];
  o.gso_type = h[1];
  o.hdr_len = le16(h + 2);
  o.gso_size = le16(h + 4);
  o.csum_start = le16(h + 6);
  o.csum_offset = le16(h + 8);
  return o;
}

void NetOffload::write(uint8_t* h) const {
  h[0] = flags;
  h[1] = gso_type;
  put_le16(h + 2, hdr_len);
  put_le16(h + 4, gso_size);
  put_le16(h + 6, csum_start);
  put_le16(h + 8, csum_offset);
}

const char* check_offload(std::span<const uint8_t> frame, const NetOffload& o) {
  if (frame.size() < kMinFrameBytes) return "frame shorter than an Ethernet header";
  if (o.needs_csum()) {
    if (o.csum_start >= frame.size()) return "csum_start past the end of the frame";
    if (size_t{o.csum_start} + o.csum_offset + 2 > frame.size()) return "checksum field past the end of the frame";
  }
  if (!o.gso()) return frame.size() <= kMaxFrameBytes ? nullptr : "frame too long without segmentation";
  if (frame.size() > kMaxOffloadFrameBytes) return "segmentation request longer than 64 KiB";
  // 5.1.6.2.1: a GSO request MUST also ask for the checksum.
  if (!o.needs_csum()) return "segmentation request without NEEDS_CSUM";
  if (o.gso_type & NetOffload::kGsoEcn) return "segmentation with ECN, which was not negotiated";
  if (o.gso_size == 0) return "gso_size 0";
  if (o.hdr_len > frame.size()) return "hdr_len past the end of the frame";
  TcpLayout at;
  if (const char* why = parse_tcp(frame, o.gso_type, at)) return why;
  if (o.csum_start != at.l4 || o.csum_offset != 16) return "checksum position is not the TCP header's";
  const size_t payload = frame.size() - at.payload;
  if (payload == 0) return "segmentation request without payload";
  if (at.payload + std::min<size_t>(o.gso_size, payload) > kMaxFrameBytes) return "gso_size makes segments too long";
  if ((payload + o.gso_size - 1) / o.gso_size > kMaxOffloadSegments) return "gso_size makes too many segments";
  return nullptr;
}

bool complete_checksum(std::span<uint8_t> frame, const NetOffload& o) {
  if (!o.needs_csum()) return true;
  if (o.csum_start >= frame.size() || size_t{o.csum_start} + o.csum_offset + 2 > frame.size()) return false;
  const uint16_t c = checksum_of(sum_words(&frame[o.csum_start], frame.size() - o.csum_start));
  put_be16(&frame[size_t{o.csum_start} + o.csum_offset], c);
  return true;
}

bool finish_offload(std::span<const uint8_t> frame, const NetOffload& o, const FrameEmitter& emit) {
  if (check_offload(frame, o) != nullptr) return false;
  if (!o.pending()) {
    emit(frame);
    return true;
  }
  if (!o.gso()) {
    std::vector<uint8_t> copy(frame.begin(), frame.end());
    complete_checksum(copy, o);
    emit(copy);
    return true;
  }
  TcpLayout at;
  parse_tcp(frame, o.gso_type, at); // checked above
  const size_t payload = frame.size() - at.payload;
  const uint32_t seq = be32(&frame[at.l4 + 4]);
  const uint8_t tcp_flags = frame[at.l4 + 13];
  const uint16_t ip_id = at.ipv4 ? be16(&frame[at.l3 + 4]) : 0;
  std::vector<uint8_t> seg;
  seg.reserve(at.payload + o.gso_size);
  for (size_t off = 0, i = 0; off < payload; off += o.gso_size, ++i) {
    const size_t n = std::min<size_t>(o.gso_size, payload - off);
    const bool first = off == 0, last = off + n == payload;
    seg.assign(frame.begin(), frame.begin() + static_cast<ptrdiff_t>(at.payload));
    seg.insert(seg.end(), frame.begin() + static_cast<ptrdiff_t>(at.payload + off),
               frame.begin() + static_cast<ptrdiff_t>(at.payload + off + n));
    if (at.ipv4) {
      put_be16(&seg[at.l3 + 2], static_cast<uint16_t>(seg.size() - at.l3));
      put_be16(&seg[at.l3 + 4], static_cast<uint16_t>(ip_id + i));
      put_be16(&seg[at.l3 + 10], 0);
      put_be16(&seg[at.l3 + 10], checksum_of(sum_words(&seg[at.l3], at.l4 - at.l3)));
    } else {
      put_be16(&seg[at.l3 + 4], static_cast<uint16_t>(seg.size() - at.l3 - 40));
    }
    put_be32(&seg[at.l4 + 4], seq + static_cast<uint32_t>(off));
    uint8_t f = tcp_flags;
    if (!first) f &= static_cast<uint8_t>(~0x80); // CWR only on the first segment
    if (!last) f &= static_cast<uint8_t>(~0x09);  // FIN and PSH only on the last
    seg[at.l4 + 13] = f;
    put_be16(&seg[at.l4 + 16], tcp_checksum(seg, at));
    emit(seg);
  }
  return true;
}

} // namespace nimbus::machine

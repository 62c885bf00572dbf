// Checksum and segmentation offloads (net_offload.hpp) on their own, and through virtio-net
// between two devices that negotiated different features: every byte a receiver gets must be
// what the sender's stack meant, checksums checked here by a plain RFC 1071 sum written apart
// from the code under test; hostile headers are refused and counted, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <tuple>
#include <vector>

#include "machine/devices/net_link.hpp"
#include "machine/devices/net_offload.hpp"
#include "tcp_frames.hpp"

namespace nimbus::machine {
namespace {

using namespace tcp_frames;

std::vector<std::vector<uint8_t>> finish(const std::vector<uint8_t>& f, const NetOffload& o, bool& ok) {
  std::vector<std::vector<uint8_t>> out;
  ok = finish_offload(f, o, [&](std::span<const uint8_t> s) { out.emplace_back(s.begin(), s.end()); });
  return out;
}

TEST(NetOffload, HeaderRoundTripsLittleEndian) {
  const uint8_t h[10] = {1, 4, 0x36, 0x00, 0xa8, 0x05, 0x36, 0, 16, 0};
  const NetOffload o = NetOffload::parse(h);
  EXPECT_TRUE(o.needs_csum());
  EXPECT_EQ(o.gso_type, NetOffload::kGsoTcpV6);
  EXPECT_EQ(o.hdr_len, 0x36);
  EXPECT_EQ(o.gso_size, 1448);
  EXPECT_EQ(o.csum_start, 0x36);
  EXPECT_EQ(o.csum_offset, 16);
  uint8_t back[10] = {};
  o.write(back);
  EXPECT_EQ(std::memcmp(back, h, 10), 0);
}

TEST(NetOffload, ChecksumCompletedForOddAndEvenLengths) {
  for (bool v6 : {false, true})
    for (size_t payload : {0u, 1u, 7u, 1000u, 1001u}) {
      auto f = tcp_frame(payload, v6);
      seed(f, v6, f.size() - (kIp + (v6 ? 40 : 20)));
      bool ok = false;
      const auto out = finish(f, csum_request(v6), ok);
      ASSERT_TRUE(ok);
      ASSERT_EQ(out.size(), 1u);
      EXPECT_TRUE(checksums_ok(out[0], v6)) << "v6 " << v6 << " payload " << payload;
      f[f.size() - 1] ^= 1; // the sender's bytes otherwise unchanged
      EXPECT_EQ(std::memcmp(out[0].data(), f.data(), kIp + (v6 ? 40 : 20) + 16), 0);
    }
}

TEST(NetOffload, FramesWithoutWorkPassUnchanged) {
  const auto f = tcp_frame(100);
  bool ok = false;
  const auto out = finish(f, NetOffload{}, ok);
  ASSERT_TRUE(ok);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], f);
}

TEST(NetOffload, SegmentsTcpAsTheSendersStackWould) {
  for (bool v6 : {false, true}) {
    const size_t payload = 4000, mss = v6 ? 1440 : 1448; // 1500-byte MTU
    auto f = tcp_frame(payload, v6, 0x19 | 0x80); // FIN, PSH, ACK... and CWR
    f[kIp + (v6 ? 40 : 20) + 13] = 0x80 | 0x10 | 0x08 | 0x01;
    seed(f, v6, 0);
    bool ok = false;
    const auto out = finish(f, gso_request(v6, static_cast<uint16_t>(mss)), ok);
    ASSERT_TRUE(ok);
    ASSERT_EQ(out.size(), 3u);
    const size_t l4 = kIp + (v6 ? 40 : 20), hdrs = l4 + 20;
    size_t off = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      const auto& s = out[i];
      const size_t n = std::min(mss, payload - off);
      ASSERT_EQ(s.size(), hdrs + n);
      EXPECT_LE(s.size(), kMaxFrameBytes);
      EXPECT_TRUE(checksums_ok(s, v6)) << "segment " << i;
      if (v6) {
        EXPECT_EQ(be16(&s[kIp + 4]), 20 + n);
      } else {
        EXPECT_EQ(be16(&s[kIp + 2]), 40 + n);
        EXPECT_EQ(be16(&s[kIp + 4]), 0x1234 + i) << "IPv4 ids count up";
      }
      EXPECT_EQ(be32(&s[l4 + 4]), static_cast<uint32_t>(0xffffff00u + off)) << "sequence numbers (wrapping)";
      const uint8_t flags = s[l4 + 13];
      EXPECT_EQ((flags & 0x80) != 0, i == 0) << "CWR on the first segment only";
      EXPECT_EQ((flags & 0x09) != 0, i == out.size() - 1) << "FIN and PSH on the last only";
      EXPECT_TRUE(flags & 0x10);
      for (size_t b = 0; b < n; ++b) ASSERT_EQ(s[hdrs + b], static_cast<uint8_t>(off + b));
      off += n;
    }
    EXPECT_EQ(off, payload);
  }
}

TEST(NetOffload, HostileHeadersAreRefusedAndEmitNothing) {
  const auto f = tcp_frame(3000), small = tcp_frame(100);
  // Checksum-only requests on a frame that is ordinary otherwise.
  for (auto [what, start, offset] : {std::tuple{"csum_start past the frame", 60000, 16},
                                     std::tuple{"csum_start at the end", 154, 0},
                                     std::tuple{"csum_offset past the frame", 34, 1000},
                                     std::tuple{"checksum field's last byte past the frame", 153, 0}}) {
    NetOffload o;
    o.flags = NetOffload::kNeedsCsum;
    o.csum_start = static_cast<uint16_t>(start), o.csum_offset = static_cast<uint16_t>(offset);
    EXPECT_NE(check_offload(small, o), nullptr) << what;
    bool ok = true;
    EXPECT_TRUE(finish(small, o, ok).empty()) << what;
    EXPECT_FALSE(ok) << what;
    std::vector<uint8_t> copy = small;
    EXPECT_FALSE(complete_checksum(copy, o)) << what;
    EXPECT_EQ(copy, small) << what;
  }
  struct Case {
    const char* what;
    NetOffload o;
  };
  std::vector<Case> cases;
  auto add = [&](const char* what, auto change) {
    NetOffload o = gso_request(false, 1448);
    change(o);
    cases.push_back({what, o});
  };
  add("csum_start past the frame", [](NetOffload& o) { o.csum_start = 60000; });
  add("checksum past the frame", [&](NetOffload& o) { o.csum_offset = static_cast<uint16_t>(f.size()); });
  add("gso_size 0", [](NetOffload& o) { o.gso_size = 0; });
  add("gso_size huge", [](NetOffload& o) { o.gso_size = 0xffff; });
  add("gso_size tiny", [](NetOffload& o) { o.gso_size = 1; });
  add("gso_size just over a frame", [](NetOffload& o) { o.gso_size = 1519 - 54 + 1; });
  add("hdr_len past the frame", [](NetOffload& o) { o.hdr_len = 0xffff; });
  add("gso without NEEDS_CSUM", [](NetOffload& o) { o.flags = 0; });
  add("gso with ECN", [](NetOffload& o) { o.gso_type |= NetOffload::kGsoEcn; });
  add("UDP fragmentation", [](NetOffload& o) { o.gso_type = NetOffload::kGsoUdp; });
  add("TCPV6 on an IPv4 frame", [](NetOffload& o) { o.gso_type = NetOffload::kGsoTcpV6; });
  add("unknown gso type", [](NetOffload& o) { o.gso_type = 7; });
  add("checksum elsewhere than TCP's", [](NetOffload& o) { o.csum_offset = 6; });
  for (const Case& c : cases) {
    EXPECT_NE(check_offload(f, c.o), nullptr) << c.what;
    bool ok = true;
    EXPECT_TRUE(finish(f, c.o, ok).empty()) << c.what;
    EXPECT_FALSE(ok) << c.what;
  }
  // Headers that lie about the frame itself.
  auto lie = [&](const char* what, auto change) {
    auto g = tcp_frame(3000);
    change(g);
    EXPECT_NE(check_offload(g, gso_request(false, 1448)), nullptr) << what;
  };
  lie("IPv4 total length", [](std::vector<uint8_t>& g) { g[kIp + 2] = 0xff; });
  lie("IPv4 header length past the frame", [](std::vector<uint8_t>& g) { g[kIp] = 0x4f; });
  lie("IPv4 header length under 20", [](std::vector<uint8_t>& g) { g[kIp] = 0x44; });
  lie("fragment", [](std::vector<uint8_t>& g) { g[kIp + 6] = 0x20; });
  lie("not TCP", [](std::vector<uint8_t>& g) { g[kIp + 9] = 17; });
  lie("TCP data offset under 20", [](std::vector<uint8_t>& g) { g[kIp + 20 + 12] = 0x40; });
  lie("not IP", [](std::vector<uint8_t>& g) { g[12] = 0x88; });
  lie("no payload", [](std::vector<uint8_t>& g) {
    g.resize(kIp + 40);
    g[kIp + 2] = 0, g[kIp + 3] = 40;
  });
  std::vector<uint8_t> huge = tcp_frame(kMaxOffloadFrameBytes - 54 + 1);
  EXPECT_NE(check_offload(huge, gso_request(false, 1448)), nullptr) << "over 64 KiB";
  // Every truncation of a valid request is refused or finished into well-formed frames.
  auto good = tcp_frame(3000);
  seed(good, false, 0);
  for (size_t len = 0; len < good.size(); len += 7) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<ptrdiff_t>(len));
    bool ok = false;
    for (const auto& s : finish(cut, gso_request(false, 1448), ok)) EXPECT_LE(s.size(), kMaxFrameBytes);
  }
}

TEST(NetOffload, ALinkThatKnowsNothingOfOffloadsGetsFinishedFrames) {
  struct Plain : NetLink, FrameSink {
    void attach(FrameSink*) override {}
    void transmit(std::span<const uint8_t> f) override { sent.emplace_back(f.begin(), f.end()); }
    void receive(std::span<const uint8_t> f) override { got.emplace_back(f.begin(), f.end()); }
    std::vector<std::vector<uint8_t>> sent, got;
  } plain;
  auto f = tcp_frame(3000);
  seed(f, false, 0);
  plain.transmit_offloaded(f, gso_request(false, 1000));
  plain.receive_offloaded(f, gso_request(false, 1448));
  ASSERT_EQ(plain.sent.size(), 3u);
  ASSERT_EQ(plain.got.size(), 3u);
  for (const auto& s : plain.sent) EXPECT_TRUE(checksums_ok(s, false));
  for (const auto& s : plain.got) EXPECT_TRUE(checksums_ok(s, false));
}

} // namespace
} // namespace nimbus::machine

#pragma once
// Authenticated tunnel packets (`--net-tunnel ...,key=FILE`): the tunnel between VMMs otherwise
// trusts any datagram from a peer's address and port, which anyone on the path can forge. With a
// key shared by the VMMs of one deployment, every datagram carries a counter and a tag:
//
//   VXLAN header (flags 0x0C: 0x08 network id + 0x04 authenticated) | frame | counter (8 bytes,
//   big-endian) | HMAC-SHA-256(key, header | frame | counter), first 16 bytes
//
// A receiver with the key accepts only packets with a valid tag and a counter it has not seen
// from that peer (a 64-packet window behind the highest, as IPsec's anti-replay), so a captured
// frame cannot be injected again. A receiver without a key refuses them (the flag is not 0x08)
// and a receiver with one refuses unauthenticated packets: two VMMs that disagree exchange
// nothing, and say so in their counters. Frames are not encrypted: a tenant who needs secrecy on
// a shared path encrypts in the guest (TLS), as on any Ethernet.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace nimbus::hypervisor {

struct OpenSsl;

inline constexpr uint8_t kTunnelFlagAuthenticated = 0x04;
inline constexpr size_t kTunnelCounterBytes = 8;
inline constexpr size_t kTunnelTagBytes = 16;
inline constexpr size_t kTunnelTrailerBytes = kTunnelCounterBytes + kTunnelTagBytes;
inline constexpr size_t kTunnelMinKeyBytes = 16;

// A key file: at least kTunnelMinKeyBytes bytes (trailing whitespace ignored), readable by its
// owner only. Throws std::runtime_error saying what is wrong and how to make one
// (`head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE`).
std::vector<uint8_t> load_tunnel_key(const std::filesystem::path& file);

class TunnelAuthenticator {
public:
  enum class Verdict { ok, not_authenticated, bad_tag, replayed };

  // `peers`: how many peers have a replay window. The send counter starts at the wall clock in
  // nanoseconds, so a VMM that restarts goes on above what its peers saw from it before. Loads
  // OpenSSL (openssl_library.hpp); throws std::runtime_error if it cannot.
  TunnelAuthenticator(std::vector<uint8_t> key, size_t peers);

  // Appends the counter and tag to `packet` (a header + frame, encode_tunnel_packet's output)
  // and sets its authenticated flag.
  void seal(std::vector<uint8_t>& packet);
  // Checks a datagram from peer `peer`. On ok, `inner` is the header + frame with the flag as an
  // unauthenticated packet would have it (0x08), in `scratch`, ready for parse_tunnel_packet.
  Verdict open(std::span<const uint8_t> datagram, size_t peer, std::vector<uint8_t>& scratch,
               std::span<const uint8_t>& inner);

private:
  void tag(std::span<const uint8_t> data, uint8_t out[32]) const;
  struct Window {
    uint64_t highest = 0;
    uint64_t seen = 0;   // bit i: highest - i was accepted
  };

  std::vector<uint8_t> key_;
  uint64_t counter_;
  std::vector<Window> windows_;
  const OpenSsl* openssl_;
};

std::string_view to_string(TunnelAuthenticator::Verdict verdict);

} // namespace nimbus::hypervisor

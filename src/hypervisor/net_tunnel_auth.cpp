#include "hypervisor/net_tunnel_auth.hpp"

#include <sys/stat.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "hypervisor/net_tunnel.hpp"
#include "hypervisor/openssl_library.hpp"

namespace nimbus::hypervisor {

std::vector<uint8_t> load_tunnel_key(const std::filesystem::path& file) {
  const std::string how = fmt::format("make one with: head -c 32 /dev/urandom | base64 > {0}; chmod 600 {0}", file.string());
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0)
    throw std::runtime_error(fmt::format("tunnel key {}: cannot read it ({})", file.string(), std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(fmt::format("tunnel key {} is not a regular file", file.string()));
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    throw std::runtime_error(fmt::format("tunnel key {} is readable by others (mode {:o}): chmod 600 {}", file.string(),
                                         st.st_mode & 0777, file.string()));
  std::ifstream in(file, std::ios::binary);
  std::vector<uint8_t> key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.eof() && in.fail()) throw std::runtime_error(fmt::format("tunnel key {}: read failed", file.string()));
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ' || key.back() == '\t'))
    key.pop_back();
  if (key.size() < kTunnelMinKeyBytes)
    throw std::runtime_error(
        fmt::format("tunnel key {} holds {} bytes, fewer than {}; {}", file.string(), key.size(), kTunnelMinKeyBytes, how));
  return key;
}

std::string_view to_string(TunnelAuthenticator::Verdict verdict) {
  switch (verdict) {
  case TunnelAuthenticator::Verdict::ok: return "ok";
  case TunnelAuthenticator::Verdict::not_authenticated: return "not an authenticated packet";
  case TunnelAuthenticator::Verdict::bad_tag: return "tag does not match (another key, or altered)";
  case TunnelAuthenticator::Verdict::replayed: return "counter already seen (a replay)";
  }
  return "?";
}

TunnelAuthenticator::TunnelAuthenticator(std::vector<uint8_t> key, size_t peers)
    : key_(std::move(key)),
      counter_(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count())),
      windows_(peers),
      openssl_(&openssl()) {}  // loaded now, at setup, not at the first packet

void TunnelAuthenticator::tag(std::span<const uint8_t> data, uint8_t out[32]) const {
  unsigned length = 0;
  if (openssl_->HMAC(openssl_->EVP_sha256(), key_.data(), static_cast<int>(key_.size()), data.data(), data.size(), out, &length) ==
          nullptr ||
      length != 32)
    throw std::runtime_error("tunnel: HMAC-SHA-256 failed");
}

void TunnelAuthenticator::seal(std::vector<uint8_t>& packet) {
  packet[0] = kTunnelFlagNetworkId | kTunnelFlagAuthenticated;
  const uint64_t counter = ++counter_;
  for (int i = 7; i >= 0; --i) packet.push_back(static_cast<uint8_t>(counter >> (8 * i)));
  uint8_t mac[32];
  tag(packet, mac);
  packet.insert(packet.end(), mac, mac + kTunnelTagBytes);
}

TunnelAuthenticator::Verdict TunnelAuthenticator::open(std::span<const uint8_t> d, size_t peer,
                                                       std::vector<uint8_t>& scratch, std::span<const uint8_t>& inner) {
  if (d.size() < kTunnelHeaderBytes + kTunnelTrailerBytes || d[0] != (kTunnelFlagNetworkId | kTunnelFlagAuthenticated))
    return Verdict::not_authenticated;
  const size_t signed_bytes = d.size() - kTunnelTagBytes;
  uint8_t mac[32];
  tag(d.first(signed_bytes), mac);
  if (openssl_->CRYPTO_memcmp(mac, d.data() + signed_bytes, kTunnelTagBytes) != 0) return Verdict::bad_tag;
  uint64_t counter = 0;
  for (size_t i = 0; i < kTunnelCounterBytes; ++i) counter = counter << 8 | d[signed_bytes - kTunnelCounterBytes + i];
  // Only a packet whose tag is good moves the window: forgeries cannot push it.
  Window& w = windows_.at(peer);
  if (counter > w.highest) {
    const uint64_t shift = counter - w.highest;
    w.seen = shift >= 64 ? 0 : w.seen << shift;
    w.seen |= 1;
    w.highest = counter;
  } else {
    const uint64_t behind = w.highest - counter;
    if (behind >= 64 || (w.seen >> behind & 1)) return Verdict::replayed;
    w.seen |= uint64_t{1} << behind;
  }
  scratch.assign(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(signed_bytes - kTunnelCounterBytes));
  scratch[0] = kTunnelFlagNetworkId;
  inner = scratch;
  return Verdict::ok;
}

} // namespace nimbus::hypervisor

#pragma once
// TLS under the migration stream (docs/migration.md, "TLS"): `nimbus migrate --to tls:HOST:PORT`
// and `nimbus run --incoming tls:HOST:PORT`, both with --tls-cert/--tls-key/--tls-ca.
//
// Both ends authenticate: each presents its certificate and accepts the peer's only if it
// verifies against the CA (the cloud's), and the source also checks that the destination's
// certificate names the host it connected to. The migration code never sees TLS: after the
// handshake a relay thread moves bytes between the TLS connection and one end of a socketpair,
// whose other end the stream code gets as its "connection". So the framed, checksummed stream
// (migration_stream.hpp) is the same above TLS as above TCP, and the sandboxed VMM on either
// side needs no new system call (the relay uses read/write/poll/sendto/shutdown, which the
// sandbox allows; the relay of `nimbus migrate` runs in that command's process).
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

namespace nimbus::cli {

class TlsError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// The files of --tls-cert, --tls-key and --tls-ca (PEM).
struct TlsFiles {
  std::string cert, key, ca;
  bool any() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

// "tcp:HOST:PORT" or "tls:HOST:PORT" (IPv6 in brackets). Throws std::invalid_argument.
struct StreamAddress {
  bool tls = false;
  std::string host;
  uint16_t port = 0;
};
StreamAddress parse_stream_address(const std::string& text);

// Checks that the address and the TLS options go together (tls: needs all three files, tcp:
// none). Returns a message for the user, empty when they do. `option` names the address option.
std::string check_tls_options(const StreamAddress& address, const TlsFiles& files, const std::string& option);

enum class TlsRole { client, server };

// A loaded certificate, key and CA for one role. Throws TlsError naming the file that does not
// load or a key that does not match the certificate.
class TlsContext {
public:
  TlsContext(const TlsFiles& files, TlsRole role);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Runs the handshake on the connected TCP socket `fd` (taken over) within `timeout` and, if
  // it succeeds, starts the relay and returns the plain end of the socketpair (the caller owns
  // it). `peer_host` (client only) is the name or address the certificate must carry. Throws
  // TlsError with the reason (the peer's certificate did not verify, the peer refused ours, no
  // TLS peer, timeout); `fd` is closed then.
  int connect_relay(int fd, const std::string& peer_host, std::chrono::milliseconds timeout);

  // Waits (at most `timeout`) until every relay this context started has sent on all it read
  // from its plain end and that end was closed (then TLS's close_notify went too). True if so.
  bool wait_relays(std::chrono::milliseconds timeout);

  // Stops the relays' threads (joined; their state kept, the peer's bytes wait in the socket)
  // and starts them again: `nimbus run --jail` needs one thread while it enters its namespaces.
  // Destroying the context ends its relays and closes their connections.
  void pause_relays();
  void resume_relays();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  TlsRole role_;
  std::string files_;   // for messages
};

} // namespace nimbus::cli

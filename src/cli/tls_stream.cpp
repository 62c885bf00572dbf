#include "cli/tls_stream.hpp"

#include "hypervisor/migration.hpp"
#include "hypervisor/openssl_library.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace nimbus::cli {

StreamAddress parse_stream_address(const std::string& text) {
  constexpr std::string_view form = "tcp:HOST:PORT or tls:HOST:PORT";
  if (!text.starts_with("tls:") && !text.starts_with("tcp:"))
    throw std::invalid_argument(fmt::format("'{}' is not an address of the form {}", text, form));
  const hypervisor::migration::TcpAddress tcp = hypervisor::migration::parse_host_port(text, form);
  return StreamAddress{text.starts_with("tls:"), tcp.host, tcp.port};
}

std::string check_tls_options(const StreamAddress& address, const TlsFiles& files, const std::string& option) {
  if (!address.tls) {
    if (files.any())
      return fmt::format("--tls-cert/--tls-key/--tls-ca go with a tls:HOST:PORT {} (this one is plain tcp:)", option);
    return {};
  }
  std::string missing;
  for (const auto& [value, name] : {std::pair{&files.cert, "--tls-cert"}, {&files.key, "--tls-key"}, {&files.ca, "--tls-ca"}})
    if (value->empty()) missing += (missing.empty() ? "" : ", ") + std::string(name);
  if (!missing.empty())
    return fmt::format("{} tls:... needs {} (this side's certificate and key, and the CA that signed both sides' certificates)",
                       option, missing);
  return {};
}

namespace {

// OpenSSL, loaded at run time (hypervisor/openssl_library.hpp): a VMM that never speaks TLS
// never maps it.
const hypervisor::OpenSsl& ossl() { return hypervisor::openssl(); }

// Everything OpenSSL queued on this thread, "; "-separated, the queue emptied.
std::string openssl_errors() {
  std::string out;
  while (const unsigned long e = ossl().ERR_get_error()) {
    char text[256];
    ossl().ERR_error_string_n(e, text, sizeof text);
    const char* reason = ossl().ERR_reason_error_string(e);
    if (!out.empty()) out += "; ";
    out += reason ? reason : text;
  }
  return out;
}

bool is_ip_address(const std::string& host) {
  unsigned char buffer[16];
  return ::inet_pton(AF_INET, host.c_str(), buffer) == 1 || ::inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// Waits until `fd` can do what OpenSSL asked for (`error` is SSL_ERROR_WANT_READ or _WRITE), or
// the deadline. False on timeout.
bool wait_for(int fd, int error, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, static_cast<short>(error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;   // let OpenSSL see the socket's error
  }
}

// The byte the destination sends once it accepted the source's certificate: in TLS 1.3 the
// client's handshake ends before the server has checked the client's certificate, so without
// it a refused source would learn of the refusal only from a closed stream later.
constexpr unsigned char kAccepted = 0x01;

// Handshake (and the acceptance byte) within the deadline. Empty when it succeeded, else why not.
std::string handshake(SSL* ssl, int fd, TlsRole role, const std::string& peer, const std::string& files,
                      std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const int rc = role == TlsRole::client ? ossl().SSL_connect(ssl) : ossl().SSL_accept(ssl);
    if (rc == 1) break;
    const int error = ossl().SSL_get_error(ssl, rc);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      if (!wait_for(fd, error, deadline)) return fmt::format("TLS handshake with {} timed out", peer);
      continue;
    }
    const long verify = ossl().SSL_get_verify_result(ssl);
    std::string detail = openssl_errors();
    if (error == SSL_ERROR_SYSCALL && detail.empty())
      detail = errno != 0 ? std::strerror(errno) : "the peer closed the connection";
    if (verify != X509_V_OK)
      return fmt::format("TLS: {}'s certificate is not accepted: {} (it must be signed by the CA of {}{})", peer,
                         ossl().X509_verify_cert_error_string(verify), files,
                         role == TlsRole::client ? " and name the host connected to" : "");
    if (detail.find("alert") != std::string::npos)
      return fmt::format("TLS handshake with {} failed: it refused this side's certificate ({}); both sides' certificates "
                         "must be signed by the same CA",
                         peer, detail);
    if (detail.find("peer did not return a certificate") != std::string::npos ||
        detail.find("certificate required") != std::string::npos)
      return fmt::format("TLS: {} presented no certificate (a source must use nimbus migrate --tls-cert/--tls-key)", peer);
    return fmt::format("TLS handshake with {} failed: {} ({})", peer, detail.empty() ? "no reason given" : detail,
                       role == TlsRole::client ? "is it a nimbus run --incoming tls:... waiting there?"
                                               : "a source must use nimbus migrate --to tls:... with its certificate");
  }
  if (role == TlsRole::server) {
    for (;;) {
      const int rc = ossl().SSL_write(ssl, &kAccepted, 1);
      if (rc == 1) return {};
      const int error = ossl().SSL_get_error(ssl, rc);
      if ((error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) || !wait_for(fd, error, deadline))
        return fmt::format("TLS: {} went away after the handshake", peer);
    }
  }
  for (;;) {
    unsigned char byte = 0;
    const int rc = ossl().SSL_read(ssl, &byte, 1);
    if (rc == 1) {
      if (byte == kAccepted) return {};
      return fmt::format("TLS: {} is not a nimbus migration endpoint (unexpected first byte 0x{:02x})", peer, byte);
    }
    const int error = ossl().SSL_get_error(ssl, rc);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      if (!wait_for(fd, error, deadline)) return fmt::format("TLS: {} did not accept this side within the timeout", peer);
      continue;
    }
    const std::string detail = openssl_errors();
    return fmt::format("TLS: {} refused this side's certificate ({}); both sides' certificates must be signed by the "
                       "same CA ({})",
                       peer, detail.empty() ? "it closed the connection" : detail, files);
  }
}

// How many relays still have bytes to send from their plain end (TlsContext::wait_relays).
struct RelayCount {
  std::mutex mutex;
  std::condition_variable changed;
  int sending = 0;
  void done() {
    std::lock_guard lock(mutex);
    --sending;
    changed.notify_all();
  }
};

} // namespace

// One relay: moves bytes between the TLS connection (`ssl` on `tcp`) and the socketpair end
// `plain` until both directions ended or one side failed. Non-blocking on both; one thread at a
// time, since an SSL object must not be used by two at once. Its state lives here, not on the
// thread's stack, so the thread can stop and another go on (TlsContext::pause_relays).
struct TlsRelay {
  SSL* ssl = nullptr;
  int tcp = -1, plain = -1;
  int wake[2] = {-1, -1};   // a byte here: stop at the next poll (pause)
  std::shared_ptr<RelayCount> count;
  std::thread thread;   // runs it (until finished or paused); joined by pause and the destructor
  std::array<unsigned char, 64 * 1024> up{}, down{};   // plain -> TLS, TLS -> plain
  size_t up_at = 0, up_len = 0, down_at = 0, down_len = 0;
  bool plain_eof = false, tls_eof = false, shutdown_sent = false, plain_shut = false, counted = false;
  bool finished = false;

  ~TlsRelay() {
    pause();
    sent_all();
    if (ssl) ossl().SSL_free(ssl);
    for (int fd : {tcp, plain, wake[0], wake[1]})
      if (fd >= 0) ::close(fd);
  }
  void sent_all() {   // once: the plain end's bytes are all sent, or the relay ended
    if (!counted && count) count->done();
    counted = true;
  }
  // Runs until the relay is finished (true) or a pause was asked for (false).
  bool run();
  void start();
  void pause() {
    if (!thread.joinable()) return;
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake[1], &byte, 1);
    thread.join();
    char drain[16];
    while (::read(wake[0], drain, sizeof drain) > 0) {
    }
  }
};

bool TlsRelay::run() {
  int tls_wants = 0;   // SSL_ERROR_WANT_READ/WRITE of the last call that could not go on
  for (;;) {
    bool progress = false;
    tls_wants = 0;
    if (up_len == 0 && !plain_eof) {
      const ssize_t n = ::read(plain, up.data(), up.size());
      if (n > 0) {
        up_at = 0;
        up_len = static_cast<size_t>(n);
        progress = true;
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        plain_eof = true;
        progress = true;
      }
    }
    if (up_len > 0) {
      const int rc = ossl().SSL_write(ssl, up.data() + up_at, static_cast<int>(up_len));
      if (rc > 0) {
        up_at += static_cast<size_t>(rc);
        up_len -= static_cast<size_t>(rc);
        progress = true;
      } else {
        const int error = ossl().SSL_get_error(ssl, rc);
        if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) return true;   // the peer is gone
        tls_wants = error;
      }
    }
    if (plain_eof && up_len == 0 && !shutdown_sent) {
      ossl().SSL_shutdown(ssl);   // close_notify; the peer's own may still come
      shutdown_sent = true;
      sent_all();
      progress = true;
    }
    if (down_len == 0 && !tls_eof) {
      const int rc = ossl().SSL_read(ssl, down.data(), static_cast<int>(down.size()));
      if (rc > 0) {
        down_at = 0;
        down_len = static_cast<size_t>(rc);
        progress = true;
      } else {
        const int error = ossl().SSL_get_error(ssl, rc);
        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
          if (tls_wants == 0) tls_wants = error;
        } else {
          tls_eof = true;   // close_notify, or the connection dropped: the stream code sees EOF either way
          progress = true;
        }
      }
    }
    if (down_len > 0) {
      const ssize_t n = ::send(plain, down.data() + down_at, down_len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        down_at += static_cast<size_t>(n);
        down_len -= static_cast<size_t>(n);
        progress = true;
      } else if (errno != EAGAIN && errno != EINTR) {
        return true;   // the stream code closed its end
      }
    }
    if (tls_eof && down_len == 0 && !plain_shut) {
      ::shutdown(plain, SHUT_WR);
      plain_shut = true;
      progress = true;
    }
    if (plain_shut && shutdown_sent) return true;
    if (progress) continue;
    std::array<pollfd, 3> fds{};
    fds[0].fd = tcp;
    fds[0].events = static_cast<short>((tls_wants == SSL_ERROR_WANT_WRITE ? POLLOUT : 0) |
                                       (tls_wants == SSL_ERROR_WANT_READ || !tls_eof ? POLLIN : 0));
    fds[1].fd = plain;
    fds[1].events = static_cast<short>((up_len == 0 && !plain_eof ? POLLIN : 0) | (down_len > 0 ? POLLOUT : 0));
    fds[2].fd = wake[0];
    fds[2].events = POLLIN;
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return true;
    if (fds[2].revents != 0) {
      char byte;
      [[maybe_unused]] const ssize_t n = ::read(wake[0], &byte, 1);
      return false;
    }
    if ((fds[0].revents & (POLLERR | POLLNVAL)) != 0 && up_len == 0 && tls_eof) return true;
  }
}

namespace {

// The relay's thread: SIGPIPE blocked (OpenSSL writes the socket with write(2): a peer that
// reset the connection must give EPIPE here, not SIGPIPE to the process; a blocked SIGPIPE stays
// pending on this thread only).
void block_sigpipe() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
}

} // namespace

struct TlsContext::Impl {
  SSL_CTX* ctx = nullptr;
  std::shared_ptr<RelayCount> relays = std::make_shared<RelayCount>();
  std::mutex mutex;
  std::vector<std::unique_ptr<TlsRelay>> relays_started;
  ~Impl() {
    relays_started.clear();   // each stops (its thread joined) and closes its connection
    ossl().SSL_CTX_free(ctx);
  }
};

// Runs on a new thread until it is finished (then its connection is closed) or paused.
void TlsRelay::start() {
  if (finished || thread.joinable()) return;
  thread = std::thread([this] {
    block_sigpipe();
    if (!run()) return;   // paused
    finished = true;
    sent_all();
    ossl().SSL_free(std::exchange(ssl, nullptr));
    for (int* fd : {&tcp, &plain}) ::close(std::exchange(*fd, -1));
  });
}

TlsContext::TlsContext(const TlsFiles& files, TlsRole role) : impl_(std::make_unique<Impl>()), role_(role) {
  files_ = files.ca;
  try {
    ossl();
  } catch (const std::runtime_error& e) {
    throw TlsError(std::string("TLS: ") + e.what());
  }
  ossl().ERR_clear_error();
  impl_->ctx = ossl().SSL_CTX_new(role == TlsRole::client ? ossl().TLS_client_method() : ossl().TLS_server_method());
  if (impl_->ctx == nullptr) throw TlsError("TLS: cannot create a context: " + openssl_errors());
  SSL_CTX* ctx = impl_->ctx;
  ossl().SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, nullptr);  // SSL_CTX_set_min_proto_version
  ossl().SSL_CTX_ctrl(ctx, SSL_CTRL_MODE, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, nullptr);  // SSL_CTX_set_mode
  if (ossl().SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1)
    throw TlsError(fmt::format("--tls-cert {}: cannot load a PEM certificate ({})", files.cert, openssl_errors()));
  if (ossl().SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    const std::string why = openssl_errors();
    if (why.find("mismatch") != std::string::npos)
      throw TlsError(fmt::format("--tls-key {} is not the key of --tls-cert {} ({})", files.key, files.cert, why));
    throw TlsError(fmt::format("--tls-key {}: cannot load a PEM private key ({})", files.key, why));
  }
  if (ossl().SSL_CTX_check_private_key(ctx) != 1)
    throw TlsError(fmt::format("--tls-key {} is not the key of --tls-cert {} ({})", files.key, files.cert, openssl_errors()));
  if (ossl().SSL_CTX_load_verify_locations(ctx, files.ca.c_str(), nullptr) != 1)
    throw TlsError(fmt::format("--tls-ca {}: cannot load a PEM CA certificate ({})", files.ca, openssl_errors()));
  // Both ends must show a certificate of the CA: mutual authentication.
  ossl().SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (role == TlsRole::server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
  if (role == TlsRole::server) {
    ossl().SSL_CTX_set_num_tickets(ctx, 0);   // one connection per migration: nothing to resume
    ossl().SSL_CTX_ctrl(ctx, SSL_CTRL_SET_SESS_CACHE_MODE, SSL_SESS_CACHE_OFF, nullptr);  // SSL_CTX_set_session_cache_mode
  }
}

TlsContext::~TlsContext() = default;

int TlsContext::connect_relay(int fd, const std::string& peer_host, std::chrono::milliseconds timeout) {
  ossl().ERR_clear_error();
  SSL* ssl = ossl().SSL_new(impl_->ctx);   // holds a reference to the context: the relay may outlive this object
  int pair[2] = {-1, -1};
  const auto fail = [&](const std::string& why) {
    if (ssl) ossl().SSL_free(ssl);
    ::close(fd);
    if (pair[0] >= 0) ::close(pair[0]), ::close(pair[1]);
    throw TlsError(why);
  };
  if (ssl == nullptr) fail("TLS: cannot create a connection: " + openssl_errors());
  if (role_ == TlsRole::client) {
    if (is_ip_address(peer_host)) {
      if (ossl().X509_VERIFY_PARAM_set1_ip_asc(ossl().SSL_get0_param(ssl), peer_host.c_str()) != 1) fail("TLS: bad address " + peer_host);
    } else {
      ossl().SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,  // SSL_set_tlsext_host_name
                      const_cast<char*>(peer_host.c_str()));
      if (ossl().SSL_set1_host(ssl, peer_host.c_str()) != 1) fail("TLS: bad host name " + peer_host);
    }
  }
  if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 || ossl().SSL_set_fd(ssl, fd) != 1)
    fail(fmt::format("TLS: cannot use the connection: {}", std::strerror(errno)));
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    fail(fmt::format("TLS: socketpair: {}", std::strerror(errno)));
  ::fcntl(pair[1], F_SETFL, ::fcntl(pair[1], F_GETFL) | O_NONBLOCK);
  const std::string peer = role_ == TlsRole::client ? "the destination " + peer_host : "the source";
  // The handshake on a thread of its own, SIGPIPE blocked there (see block_sigpipe).
  std::string error = std::async(std::launch::async, [&] {
                        block_sigpipe();
                        return handshake(ssl, fd, role_, peer, files_, std::chrono::steady_clock::now() + timeout);
                      }).get();
  if (!error.empty()) fail(error);
  auto relay = std::make_unique<TlsRelay>();
  relay->ssl = ssl;
  relay->tcp = fd;
  relay->plain = pair[1];
  if (::pipe2(relay->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    relay->ssl = nullptr;
    relay->tcp = relay->plain = -1;
    fail(fmt::format("TLS: pipe: {}", std::strerror(errno)));
  }
  relay->count = impl_->relays;
  {
    std::lock_guard lock(impl_->relays->mutex);
    ++impl_->relays->sending;
  }
  relay->start();
  std::lock_guard lock(impl_->mutex);
  impl_->relays_started.push_back(std::move(relay));
  return pair[0];
}

void TlsContext::pause_relays() {
  std::lock_guard lock(impl_->mutex);
  for (const auto& relay : impl_->relays_started) relay->pause();
}

void TlsContext::resume_relays() {
  std::lock_guard lock(impl_->mutex);
  for (const auto& relay : impl_->relays_started) relay->start();
}

bool TlsContext::wait_relays(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->relays->mutex);
  return impl_->relays->changed.wait_for(lock, timeout, [&] { return impl_->relays->sending == 0; });
}

} // namespace nimbus::cli

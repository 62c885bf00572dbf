// TLS under the migration stream (cli/tls_stream.hpp): both ends authenticate against one CA;
// a peer of another CA, or a destination whose certificate names another host, is refused on
// both sides with the reason; bytes cross the relay unchanged both ways and EOF passes through.
// Certificates are made with the openssl command (Debian's openssl, as the cloud's TLS tests).
#include "cli/tls_stream.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace nimbus::cli {
namespace {

namespace fs = std::filesystem;

class Pki {
public:
  Pki() {
    dir_ = fs::temp_directory_path() / ("nimbus-tls-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    ok_ = make_ca("ca") && make_ca("other-ca") && make_cert("dst", "ca", "IP:127.0.0.1") &&
          make_cert("src", "ca", "IP:127.0.0.1") && make_cert("rogue", "other-ca", "IP:127.0.0.1") &&
          make_cert("elsewhere", "ca", "DNS:elsewhere.example");
  }
  ~Pki() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool ok() const { return ok_; }
  TlsFiles files(const std::string& cert, const std::string& ca = "ca") const {
    return TlsFiles{(dir_ / (cert + ".crt")).string(), (dir_ / (cert + ".key")).string(), (dir_ / (ca + ".crt")).string()};
  }

private:
  bool run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  bool make_ca(const std::string& name) {
    return run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + path(name + ".key") +
               " -out " + path(name + ".crt") + " -days 2 -subj /CN=" + name);
  }
  bool make_cert(const std::string& name, const std::string& ca, const std::string& san) {
    std::ofstream(path(name + ".ext")) << "subjectAltName=" << san << "\nextendedKeyUsage=serverAuth,clientAuth\n";
    return run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + path(name + ".key") +
               " -out " + path(name + ".csr") + " -subj /CN=" + name) &&
           run("openssl x509 -req -in " + path(name + ".csr") + " -CA " + path(ca + ".crt") + " -CAkey " +
               path(ca + ".key") + " -CAcreateserial -days 2 -extfile " + path(name + ".ext") + " -out " +
               path(name + ".crt"));
  }
  fs::path dir_;
  bool ok_ = false;
};

const Pki& pki() {
  static Pki instance;
  return instance;
}

#define REQUIRE_PKI()                                                                    \
  do {                                                                                   \
    if (!pki().ok()) GTEST_SKIP() << "the openssl command could not make certificates"; \
  } while (0)

struct Outcome {
  int fd = -1;
  std::string error;
};

// One handshake over a connected socketpair: the destination (server) in a thread, the source here.
std::pair<Outcome, Outcome> handshake(TlsContext& client, TlsContext& server, const std::string& host) {
  int pair[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  auto accepted = std::async(std::launch::async, [&] {
    Outcome o;
    try {
      o.fd = server.connect_relay(pair[1], "", std::chrono::seconds(5));
    } catch (const TlsError& e) {
      o.error = e.what();
    }
    return o;
  });
  Outcome c;
  try {
    c.fd = client.connect_relay(pair[0], host, std::chrono::seconds(5));
  } catch (const TlsError& e) {
    c.error = e.what();
  }
  return {c, accepted.get()};
}

std::pair<Outcome, Outcome> handshake(const TlsFiles& source, const TlsFiles& destination, const std::string& host) {
  TlsContext server(destination, TlsRole::server);
  TlsContext client(source, TlsRole::client);
  return handshake(client, server, host);
}

void write_all(int fd, const std::vector<uint8_t>& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    ASSERT_GT(n, 0);
    done += static_cast<size_t>(n);
  }
}

// Everything until EOF (within 10 s).
std::vector<uint8_t> read_all(int fd) {
  std::vector<uint8_t> out;
  uint8_t buffer[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) != 1) {
      ADD_FAILURE() << "no EOF within 10 s";
      return out;
    }
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return out;
    out.insert(out.end(), buffer, buffer + n);
  }
}

TEST(TlsStream, BytesCrossBothWaysAndEofPassesThrough) {
  REQUIRE_PKI();
  TlsContext server(pki().files("dst"), TlsRole::server);
  TlsContext client(pki().files("src"), TlsRole::client);
  auto [source, destination] = handshake(client, server, "127.0.0.1");
  ASSERT_TRUE(source.error.empty()) << source.error;
  ASSERT_TRUE(destination.error.empty()) << destination.error;
  std::mt19937 random(7);
  std::vector<uint8_t> up(3 << 20), down(100'000);
  for (auto& b : up) b = static_cast<uint8_t>(random());
  for (auto& b : down) b = static_cast<uint8_t>(random());
  // Both directions at once, larger than every buffer on the way: the relay must not deadlock.
  auto sent_up = std::async(std::launch::async, [&] {
    write_all(source.fd, up);
    ::shutdown(source.fd, SHUT_WR);
  });
  auto sent_down = std::async(std::launch::async, [&] {
    write_all(destination.fd, down);
    ::shutdown(destination.fd, SHUT_WR);
  });
  auto got_up = std::async(std::launch::async, [&] { return read_all(destination.fd); });
  // The destination's relay stops and goes on (nimbus run --jail) while bytes flow: none lost.
  for (int i = 0; i < 20; ++i) {
    server.pause_relays();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    server.resume_relays();
  }
  EXPECT_EQ(read_all(source.fd), down);
  EXPECT_EQ(got_up.get(), up);
  sent_up.get();
  sent_down.get();
  ::close(source.fd);
  ::close(destination.fd);
}

TEST(TlsStream, SourceOfAnotherCaIsRefusedOnBothSides) {
  REQUIRE_PKI();
  auto [source, destination] = handshake(pki().files("rogue", "ca"), pki().files("dst"), "127.0.0.1");
  EXPECT_EQ(source.fd, -1);
  EXPECT_EQ(destination.fd, -1);
  EXPECT_NE(destination.error.find("the source's certificate is not accepted"), std::string::npos) << destination.error;
  EXPECT_NE(source.error.find("refused this side's certificate"), std::string::npos) << source.error;
}

TEST(TlsStream, DestinationOfAnotherCaOrHostIsRefused) {
  REQUIRE_PKI();
  {
    auto [source, destination] = handshake(pki().files("src"), pki().files("rogue", "ca"), "127.0.0.1");
    EXPECT_EQ(source.fd, -1);
    EXPECT_EQ(destination.fd, -1);
    EXPECT_NE(source.error.find("the destination 127.0.0.1's certificate is not accepted"), std::string::npos)
        << source.error;
  }
  {
    // Signed by the right CA, but for another host.
    auto [source, destination] = handshake(pki().files("src"), pki().files("elsewhere"), "127.0.0.1");
    EXPECT_EQ(source.fd, -1);
    EXPECT_EQ(destination.fd, -1);
    EXPECT_NE(source.error.find("name the host"), std::string::npos) << source.error;
  }
}

TEST(TlsStream, PlainPeerIsNoTlsEndpoint) {
  REQUIRE_PKI();
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  const std::string http = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(::write(pair[0], http.data(), http.size()), static_cast<ssize_t>(http.size()));
  ::shutdown(pair[0], SHUT_WR);
  TlsContext server(pki().files("dst"), TlsRole::server);
  try {
    server.connect_relay(pair[1], "", std::chrono::seconds(5));
    FAIL() << "a plain peer was taken";
  } catch (const TlsError& e) {
    EXPECT_NE(std::string(e.what()).find("TLS handshake with the source failed"), std::string::npos) << e.what();
  }
  ::close(pair[0]);
}

TEST(TlsStream, SilentPeerTimesOut) {
  REQUIRE_PKI();
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  TlsContext server(pki().files("dst"), TlsRole::server);
  try {
    server.connect_relay(pair[1], "", std::chrono::milliseconds(200));
    FAIL() << "a silent peer was taken";
  } catch (const TlsError& e) {
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
  }
  ::close(pair[0]);
}

TEST(TlsStream, FilesThatDoNotLoadAreNamed) {
  REQUIRE_PKI();
  TlsFiles wrong_key = pki().files("src");
  wrong_key.key = pki().files("dst").key;
  try {
    TlsContext context(wrong_key, TlsRole::client);
    FAIL();
  } catch (const TlsError& e) {
    EXPECT_NE(std::string(e.what()).find("is not the key of"), std::string::npos) << e.what();
  }
  TlsFiles missing = pki().files("src");
  missing.ca = "/nonexistent/ca.crt";
  try {
    TlsContext context(missing, TlsRole::server);
    FAIL();
  } catch (const TlsError& e) {
    EXPECT_NE(std::string(e.what()).find("--tls-ca /nonexistent/ca.crt"), std::string::npos) << e.what();
  }
}

TEST(TlsStream, AddressesAndOptions) {
  const StreamAddress tls = parse_stream_address("tls:127.0.0.1:4444");
  EXPECT_TRUE(tls.tls);
  EXPECT_EQ(tls.host, "127.0.0.1");
  EXPECT_EQ(tls.port, 4444);
  const StreamAddress v6 = parse_stream_address("tcp:[::1]:0");
  EXPECT_FALSE(v6.tls);
  EXPECT_EQ(v6.host, "::1");
  for (const char* bad : {"udp:h:1", "tls:h", "tls::1", "tls:h:", "tls:h:65536", "tls:h:1x", "h:1"})
    EXPECT_THROW(parse_stream_address(bad), std::invalid_argument) << bad;
  const TlsFiles all{"c", "k", "a"};
  EXPECT_EQ(check_tls_options(tls, all, "--to"), "");
  EXPECT_EQ(check_tls_options(v6, {}, "--to"), "");
  EXPECT_NE(check_tls_options(v6, all, "--to").find("go with a tls:"), std::string::npos);
  EXPECT_NE(check_tls_options(tls, TlsFiles{"c", "", ""}, "--to").find("needs --tls-key, --tls-ca"), std::string::npos);
}

} // namespace
} // namespace nimbus::cli

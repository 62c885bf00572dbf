#include "cloud/host/agent_api.hpp"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "cloud/host/agent_routes.hpp"
#include "cloud/host/host_agent.hpp"

namespace nimbus::cloud::host {

namespace {

// cpp-httplib 0.11 serves TCP only, but the listening socket (svr_sock_) is a protected member:
// bind an AF_UNIX socket ourselves, hand it over, and let listen_after_bind() accept on it.
class UnixServer : public httplib::Server {
 public:
  void bind_unix(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
      throw std::runtime_error(fmt::format("API socket path too long for a UNIX socket ({} bytes, at most {}): {}",
                                           path.size(), sizeof addr.sun_path - 1, path));
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("API socket: ") + std::strerror(errno));
    // A socket left by a dead agent is replaced; a live agent's is refused.
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      ::close(fd);
      throw std::runtime_error("API socket " + path + " is in use by a running agent");
    }
    ::unlink(path.c_str());
    const mode_t old = ::umask(0077);
    const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (rc != 0 || ::chmod(path.c_str(), 0600) != 0 || ::listen(fd, 64) != 0) {
      const int err = errno;
      ::close(fd);
      throw std::runtime_error("API socket " + path + ": " + std::strerror(err));
    }
    svr_sock_ = fd;
  }
};

// The routes (agent_routes.hpp) on a server with room for console streams: each following
// console stream holds a worker for as long as it lasts, so more than the default 8.
void add_routes(httplib::Server& s, HostAgent& agent) {
  add_agent_routes(s, agent);
  s.new_task_queue = [] { return new httplib::ThreadPool(32); };
}

} // namespace

AgentApi::AgentApi(HostAgent& agent, AgentApiOptions options) : agent_(agent), options_(std::move(options)) {}

AgentApi::~AgentApi() { stop(); }

void AgentApi::start() {
  if (!options_.socket_path.empty()) {
    auto server = std::make_unique<UnixServer>();
    add_routes(*server, agent_);
    server->bind_unix(options_.socket_path);
    unix_server_ = std::move(server);
    unix_serving_.start(*unix_server_);
  }
  if (!options_.listen.empty()) {
    const auto colon = options_.listen.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("--listen: want HOST:PORT, got '" + options_.listen + "'");
    std::string host = options_.listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    int port = 0;
    try {
      port = std::stoi(options_.listen.substr(colon + 1));
    } catch (const std::exception&) {
      throw std::runtime_error("--listen: bad port in '" + options_.listen + "'");
    }
    const bool tls = !options_.tls_cert.empty() || !options_.tls_key.empty();
    if (tls && (options_.tls_cert.empty() || options_.tls_key.empty()))
      throw std::runtime_error("--tls-cert and --tls-key go together");
    std::unique_ptr<httplib::Server> server;
    if (tls) {
      auto ssl = std::make_unique<httplib::SSLServer>(options_.tls_cert.c_str(), options_.tls_key.c_str());
      if (!ssl->is_valid())
        throw std::runtime_error("TLS: cannot load certificate " + options_.tls_cert + " / key " + options_.tls_key);
      server = std::move(ssl);
    } else {
      server = std::make_unique<httplib::Server>();
    }
    add_routes(*server, agent_);
    if (!options_.token.empty()) require_agent_token(*server, options_.token);
    int bound = port;
    if (port == 0) {
      bound = server->bind_to_any_port(host);
      if (bound < 0) throw std::runtime_error("--listen " + options_.listen + ": cannot bind: " + std::strerror(errno));
    } else if (!server->bind_to_port(host, port)) {
      throw std::runtime_error("--listen " + options_.listen + ": cannot bind: " + std::strerror(errno));
    }
    const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    tcp_url_ = fmt::format("{}://{}:{}", tls ? "https" : "http", shown, bound);
    tcp_server_ = std::move(server);
    tcp_serving_.start(*tcp_server_);
  }
}

void AgentApi::stop() {
  unix_serving_.stop();
  tcp_serving_.stop();
  if (unix_server_ && !options_.socket_path.empty()) ::unlink(options_.socket_path.c_str());
  unix_server_.reset();
  tcp_server_.reset();
}

} // namespace nimbus::cloud::host

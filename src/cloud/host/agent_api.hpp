#pragma once
// The host agent's REST API (JSON over HTTP, Firecracker style; docs/api/host-agent.yaml) on a
// UNIX socket (mode 0600, no token: the file mode is the access control) and optionally on TCP
// (bearer token when one is configured; TLS with a certificate and key).
#include <memory>
#include <string>

#include "cloud/serving_thread.hpp"

namespace httplib {
class Server;
}

namespace nimbus::cloud::host {

class HostAgent;

struct AgentApiOptions {
  std::string socket_path;        // empty: no UNIX socket
  std::string listen;             // "HOST:PORT" (port 0: pick one), empty: no TCP
  std::string tls_cert, tls_key;  // both: HTTPS on TCP
  std::string token;              // required on TCP as "Authorization: Bearer TOKEN" when set
};

class AgentApi {
 public:
  AgentApi(HostAgent& agent, AgentApiOptions options);
  ~AgentApi();  // stop()
  AgentApi(const AgentApi&) = delete;
  AgentApi& operator=(const AgentApi&) = delete;

  // Binds both (throws std::runtime_error saying which address failed and why) and serves them on
  // threads of their own.
  void start();
  void stop();
  // "http://HOST:PORT" or "https://..." once bound; empty without TCP.
  const std::string& tcp_url() const { return tcp_url_; }

 private:
  HostAgent& agent_;
  AgentApiOptions options_;
  std::unique_ptr<httplib::Server> unix_server_, tcp_server_;
  ServingThread unix_serving_, tcp_serving_;   // declared after the servers: stopped before they go
  std::string tcp_url_;
};

} // namespace nimbus::cloud::host

#pragma once
// The controller's REST API (JSON over HTTP or HTTPS, cpp-httplib) with bearer tokens; every
// route calls one Controller operation. docs/api/controller.yaml is its OpenAPI description.
#include <memory>
#include <string>

namespace nimbus::cloud::controller {

class Controller;

struct ApiServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see bound_port)
  std::string tls_cert, tls_key;  // both set: HTTPS
  std::string web_dir;  // the dashboard's files (dashboard_routes.hpp); empty: the default
};

class ApiServer {
 public:
  ApiServer(Controller& controller, ApiServerOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the socket; returns the port (throws std::runtime_error when it cannot).
  int bind();
  // Serves on a thread of its own until stop() (the destructor stops too); call bind() first.
  void start();
  void stop();
  bool tls() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "HOST:PORT" -> host and port; false when malformed.
bool parse_listen(const std::string& text, std::string& host, int& port);

} // namespace nimbus::cloud::controller

#include "cloud/controller/api_server.hpp"
#include "cloud/serving_thread.hpp"

#include <httplib.h>

#include <fmt/format.h>

#include "cloud/controller/api_routes.hpp"
#include "cloud/controller/controller.hpp"
#include "cloud/controller/dashboard_routes.hpp"

namespace nimbus::cloud::controller {

bool parse_listen(const std::string& text, std::string& host, int& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    std::size_t used = 0;
    port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || port < 0 || port > 65535) return false;
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

struct ApiServer::Impl {
  Controller& controller;
  ApiServerOptions options;
  ApiRoutes<Controller> api{controller};  // before the server: its routes point here
  std::unique_ptr<httplib::Server> server;
  ServingThread serving;   // after the server: stopped before it goes

  Impl(Controller& c, ApiServerOptions o) : controller(c), options(std::move(o)) {
    if (!options.tls_cert.empty() && !options.tls_key.empty()) {
      auto ssl = std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
      if (!ssl->is_valid())
        throw std::runtime_error(fmt::format("cannot load the TLS certificate {} and key {}", options.tls_cert, options.tls_key));
      server = std::move(ssl);
    } else {
      server = std::make_unique<httplib::Server>();
    }
    // One thread per keep-alive client connection (cpp-httplib's default is max(8, cores - 1),
    // so a ninth concurrent client waited for a free thread); consoles hold one each too.
    server->new_task_queue = [] { return new httplib::ThreadPool(64); };
    // Headers and body go out in separate writes: without TCP_NODELAY, Nagle holds the body
    // until the client's delayed ACK (40 ms per answer on Linux).
    server->set_tcp_nodelay(true);
    routes();
  }

  void routes() {
    api.add_to(*server);
    add_dashboard_routes(*server, controller, options.web_dir);
  }
};

ApiServer::ApiServer(Controller& controller, ApiServerOptions options) : impl_(std::make_unique<Impl>(controller, std::move(options))) {}
ApiServer::~ApiServer() = default;

int ApiServer::bind() {
  int port = impl_->options.port;
  if (port == 0) {
    port = impl_->server->bind_to_any_port(impl_->options.host.c_str());
    if (port < 0) throw std::runtime_error(fmt::format("cannot listen on {}:0", impl_->options.host));
  } else if (!impl_->server->bind_to_port(impl_->options.host.c_str(), port)) {
    throw std::runtime_error(fmt::format("cannot listen on {}:{} (in use? try another --listen)", impl_->options.host, port));
  }
  return port;
}

void ApiServer::start() { impl_->serving.start(*impl_->server); }
void ApiServer::stop() { impl_->serving.stop(); }
bool ApiServer::tls() const { return !impl_->options.tls_cert.empty() && !impl_->options.tls_key.empty(); }

} // namespace nimbus::cloud::controller

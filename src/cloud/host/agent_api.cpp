#include "cloud/host/agent_api.hpp"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "cloud/host/host_agent.hpp"
#include "cloud/host/move_requests.hpp"

namespace nimbus::cloud::host {

using nlohmann::json;

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

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(2) + "\n", "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, json{{"error", message}});
}

// Parses a JSON object body, or answers 400 saying what is wrong.
std::optional<json> json_body(const httplib::Request& req, httplib::Response& res) {
  if (req.body.empty()) {
    send_error(res, 400, "the request needs a JSON body");
    return std::nullopt;
  }
  try {
    json j = json::parse(req.body);
    if (!j.is_object()) {
      send_error(res, 400, "the body must be a JSON object");
      return std::nullopt;
    }
    return j;
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    send_error(res, 400, "malformed JSON: " + what);
    return std::nullopt;
  }
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

// Runs a handler, mapping the agent's refusals to their status.
template <typename F>
void guarded(httplib::Response& res, F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    send_error(res, e.status(), e.what());
  } catch (const SpecError& e) {
    send_error(res, 400, e.what());
  } catch (const std::exception& e) {
    send_error(res, 500, e.what());
  }
}

void routes(httplib::Server& s, HostAgent& agent) {
  s.Get("/v1/host", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] { send_json(res, 200, agent.host_info(req.get_param_value("host"))); });
  });
  s.Get("/v1/hosts", [&](const httplib::Request&, httplib::Response& res) {
    guarded(res, [&] { send_json(res, 200, agent.hosts()); });
  });
  s.Get("/v1/vms", [&](const httplib::Request&, httplib::Response& res) {
    guarded(res, [&] { send_json(res, 200, agent.list_vms()); });
  });
  s.Put(R"(/v1/vms/([^/]+))", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const std::string id = req.matches[1];
      auto body = json_body(req, res);
      if (!body) return;
      const VmSpec spec = parse_vm_spec(*body, id);
      auto [created, vm] = agent.put_vm(req.get_param_value("host"), spec);
      send_json(res, created ? 201 : 200, vm);
    });
  });
  s.Get(R"(/v1/vms/([^/]+))", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] { send_json(res, 200, agent.get_vm(req.matches[1])); });
  });
  s.Delete(R"(/v1/vms/([^/]+))", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      agent.delete_vm(req.matches[1]);
      res.status = 204;
    });
  });
  s.Post(R"(/v1/vms/([^/]+)/actions)", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      auto body = json_body(req, res);
      if (!body) return;
      if (!body->contains("action") || !(*body)["action"].is_string())
        throw ApiError(400, "field 'action': required, a string: start, stop or reboot");
      for (const auto& [k, v] : body->items())
        if (k != "action") throw ApiError(400, "unknown field '" + k + "' (known: action)");
      agent.vm_action(req.matches[1], (*body)["action"].get<std::string>());
      send_json(res, 202, agent.get_vm(req.matches[1]));
    });
  });
  s.Post(R"(/v1/vms/([^/]+)/snapshot)", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      json body = json::object();
      if (!req.body.empty()) {
        auto parsed = json_body(req, res);
        if (!parsed) return;
        body = std::move(*parsed);
      }
      const SnapshotRequest r = parse_snapshot_request(body);
      send_json(res, 201, agent.snapshot_vm(req.matches[1], r.to));
    });
  });
  s.Post(R"(/v1/vms/([^/]+)/migrate)", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      auto body = json_body(req, res);
      if (!body) return;
      const MigrateRequest r = parse_migrate_request(*body);
      send_json(res, 200, agent.migrate_vm(req.matches[1], r.to, r.max_downtime_ms));
    });
  });
  s.Post(R"(/v1/vms/([^/]+)/load)", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      auto body = json_body(req, res);
      if (!body) return;
      if (!body->contains("load") || !(*body)["load"].is_number())
        throw ApiError(400, "field 'load': required, a number >= 0 (host harts' worth of CPU)");
      agent.set_load(req.matches[1], (*body)["load"].get<double>());
      send_json(res, 200, agent.get_vm(req.matches[1]));
    });
  });
  s.Get(R"(/v1/vms/([^/]+)/stats)", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] { send_json(res, 200, agent.vm_stats(req.matches[1])); });
  });
  s.Get(R"(/v1/vms/([^/]+)/console)", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const std::string id = req.matches[1];
      const std::string log = agent.console_log(id);
      const std::string follow = req.has_param("follow") ? req.get_param_value("follow") : "1";
      if (follow != "0" && follow != "1" && follow != "true" && follow != "false")
        throw ApiError(400, "query 'follow': must be 0 or 1, got \"" + follow + "\"");
      if (follow == "0" || follow == "false") {
        std::ifstream in(log, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        res.status = 200;
        res.set_content(text, "text/plain; charset=utf-8");
        return;
      }
      // The log so far, then what the guest writes, until the VM stops or the client leaves.
      auto in = std::make_shared<std::ifstream>();
      res.set_chunked_content_provider("text/plain; charset=utf-8", [&agent, in, log, id](size_t, httplib::DataSink& sink) {
        if (!in->is_open()) {
          in->open(log, std::ios::binary);
          if (!in->is_open()) {
            // No log yet (VMM starting): wait for it while the VM is alive.
            if (!agent.vm_active(id)) {
              sink.done();
              return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            return true;
          }
        }
        char buf[16384];
        in->clear();
        in->read(buf, sizeof buf);
        const std::streamsize n = in->gcount();
        if (n > 0) return sink.write(buf, static_cast<size_t>(n));
        if (!agent.vm_active(id)) {
          // One last read: output written just before the VMM exited.
          in->clear();
          in->read(buf, sizeof buf);
          if (in->gcount() > 0) return sink.write(buf, static_cast<size_t>(in->gcount()));
          sink.done();
          return true;
        }
        if (!sink.is_writable()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return true;
      });
    });
  });
  s.Post(R"(/v1/vms/([^/]+)/console)", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const std::string id = req.matches[1];
      const std::string path = agent.console_socket(id);
      if (!agent.vm_active(id)) throw ApiError(409, "VM '" + id + "' is not running: its console takes no input");
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      if (path.size() >= sizeof addr.sun_path) throw ApiError(500, "console socket path too long: " + path);
      std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
      const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const int err = errno;
        if (fd >= 0) ::close(fd);
        throw ApiError(409, "VM '" + id + "': its console socket " + path + " does not answer (" + std::strerror(err) +
                                "); is the VMM still starting?");
      }
      size_t off = 0;
      while (off < req.body.size()) {
        const ssize_t n = ::send(fd, req.body.data() + off, req.body.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      // Give the VMM's console thread a moment to read before the connection goes.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ::close(fd);
      send_json(res, 200, json{{"written", off}});
    });
  });
  s.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(agent.metrics(), "text/plain; version=0.0.4");
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) send_error(res, 404, "no such endpoint: " + req.method + " " + req.path);
    else send_error(res, res.status, "request failed with HTTP " + std::to_string(res.status));
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      send_error(res, 500, e.what());
      return;
    } catch (...) {
    }
    send_error(res, 500, "internal error");
  });
  s.set_payload_max_length(1 << 20);
  // Each following console stream holds a worker for as long as it lasts: more than the default 8.
  s.new_task_queue = [] { return new httplib::ThreadPool(32); };
}

} // namespace

AgentApi::AgentApi(HostAgent& agent, AgentApiOptions options) : agent_(agent), options_(std::move(options)) {}

AgentApi::~AgentApi() { stop(); }

void AgentApi::start() {
  if (!options_.socket_path.empty()) {
    auto server = std::make_unique<UnixServer>();
    routes(*server, agent_);
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
    routes(*server, agent_);
    if (!options_.token.empty()) {
      const std::string expected = "Bearer " + options_.token;
      server->set_pre_routing_handler([expected](const httplib::Request& req, httplib::Response& res) {
        if (constant_time_equal(req.get_header_value("Authorization"), expected))
          return httplib::Server::HandlerResponse::Unhandled;
        send_error(res, 401, "missing or wrong bearer token (send 'Authorization: Bearer TOKEN', the agent's --token-file)");
        return httplib::Server::HandlerResponse::Handled;
      });
    }
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

#pragma once
// The host agent's REST routes (docs/api/host-agent.yaml), for any agent type with HostAgent's
// API methods: agent_api.cpp serves them for a HostAgent on its sockets, and the api_requests
// fuzz target (tests/fuzz) drives them with a model agent and raw request bytes, no sockets.
#include <httplib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "cloud/host/host_agent.hpp"
#include "cloud/host/move_requests.hpp"
#include "cloud/host/vm_spec.hpp"

namespace nimbus::cloud::host {

namespace agent_routes_detail {

// Error texts quote the request (paths, ids), which may not be UTF-8: such bytes are sent as
// U+FFFD rather than letting dump() throw (from the error handler, that ended the agent).
inline void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", "application/json");
}

inline void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, nlohmann::json{{"error", message}});
}

// Parses a JSON object body, or answers 400 saying what is wrong.
inline std::optional<nlohmann::json> json_body(const httplib::Request& req, httplib::Response& res) {
  if (req.body.empty()) {
    send_error(res, 400, "the request needs a JSON body");
    return std::nullopt;
  }
  try {
    nlohmann::json j = nlohmann::json::parse(req.body);
    if (!j.is_object()) {
      send_error(res, 400, "the body must be a JSON object");
      return std::nullopt;
    }
    return j;
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for "1e999"
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    send_error(res, 400, "malformed JSON: " + what);
    return std::nullopt;
  }
}

inline bool constant_time_equal(const std::string& a, const std::string& b) {
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

} // namespace agent_routes_detail

// Answers 401 before routing unless the request carries "Authorization: Bearer <token>" (the
// TCP listener's check when the agent has a token).
inline void require_agent_token(httplib::Server& s, const std::string& token) {
  const std::string expected = "Bearer " + token;
  s.set_pre_routing_handler([expected](const httplib::Request& req, httplib::Response& res) {
    if (agent_routes_detail::constant_time_equal(req.get_header_value("Authorization"), expected))
      return httplib::Server::HandlerResponse::Unhandled;
    agent_routes_detail::send_error(res, 401, "missing or wrong bearer token (send 'Authorization: Bearer TOKEN', the agent's --token-file)");
    return httplib::Server::HandlerResponse::Handled;
  });
}

// Adds every route, the JSON error answers and the body size limit to `s`.
template <typename Agent>
void add_agent_routes(httplib::Server& s, Agent& agent) {
  s.Get("/v1/host", [&](const httplib::Request& req, httplib::Response& res) {
    agent_routes_detail::guarded(res, [&] { agent_routes_detail::send_json(res, 200, agent.host_info(req.get_param_value("host"))); });
  });
  s.Get("/v1/hosts", [&](const httplib::Request&, httplib::Response& res) {
    agent_routes_detail::guarded(res, [&] { agent_routes_detail::send_json(res, 200, agent.hosts()); });
  });
  s.Get("/v1/vms", [&](const httplib::Request&, httplib::Response& res) {
    agent_routes_detail::guarded(res, [&] { agent_routes_detail::send_json(res, 200, agent.list_vms()); });
  });
  s.Put(R"(/v1/vms/([^/]+))", [&](const httplib::Request& req, httplib::Response& res) {
    agent_routes_detail::guarded(res, [&] {
      const std::string id = req.matches[1];
      auto body = agent_routes_detail::json_body(req, res);
      if (!body) return;
      const VmSpec spec = parse_vm_spec(*body, id);
      auto [created, vm] = agent.put_vm(req.get_param_value("host"), spec);
      agent_routes_detail::send_json(res, created ? 201 : 200, vm);
    });
  });
  s.Get(R"(/v1/vms/([^/]+))", [&](const httplib::Request& req, httplib::Response& res) {
    agent_routes_detail::guarded(res, [&] { agent_routes_detail::send_json(res, 200, agent.get_vm(req.matches[1])); });
  });
  s.Delete(R"(/v1/vms/([^/]+))", [&](const httplib::Request& req, httplib::Response& res) {
    agent_routes_detail::guarded(res, [&] {
      agent.delete_vm(req.matches[1]);
      res.status = 204;
    });
  });
  s.Post(R"(/v1/vms/([^/]+)/actions)", [&](const httplib::Request& req, httplib::Response& res) {
    agent_routes_detail::guarded(res, [&] {
      auto body = agent_routes_detail::json_body(req, res);
      if (!body) return;
      if (!body->contains("action") || !(*body)["action"].is_string())
        throw ApiError(400, "field 'action': required, a string: start, stop or reboot");
      for (const auto& [k, v] : body->items())
        if (k != "action") throw ApiError(400, "unknown field '" + k + "' (known: action)");
      agent.vm_action(req.matches[1], (*body)["action"].get<std::string>());
      agent_routes_detail::send_json(res, 202, agent.get_vm(req.matches[1]));
    });
  });
  s.Post(R"(/v1/vms/([^/]+)/snapshot)", [&](const httplib::Request& req, httplib::Response& res) {
    agent_routes_detail::guarded(res, [&] {
      nlohmann::json body = nlohmann::json::object();
      if (!req.body.empty()) {
        auto parsed = agent_routes_detail::json_body(req, res);
        if (!parsed) return;
        body = std::move(*parsed);
      }
      const SnapshotRequest r = parse_snapshot_request(body);
      agent_routes_detail::send_json(res, 201, agent.snapshot_vm(req.matches[1], r.to));
    });
  });
  s.Post(R"(/v1/vms/([^/]+)/migrate)", [&](const httplib::Request& req, httplib::Response& res) {
    agent_routes_detail::guarded(res, [&] {
      auto body = agent_routes_detail::json_body(req, res);
      if (!body) return;
      const MigrateRequest r = parse_migrate_request(*body);
      agent_routes_detail::send_json(res, 200, agent.migrate_vm(req.matches[1], r.to, r.max_downtime_ms));
    });
  });
  s.Post(R"(/v1/vms/([^/]+)/load)", [&](const httplib::Request& req, httplib::Response& res) {
    agent_routes_detail::guarded(res, [&] {
      auto body = agent_routes_detail::json_body(req, res);
      if (!body) return;
      if (!body->contains("load") || !(*body)["load"].is_number())
        throw ApiError(400, "field 'load': required, a number >= 0 (host harts' worth of CPU)");
      agent.set_load(req.matches[1], (*body)["load"].get<double>());
      agent_routes_detail::send_json(res, 200, agent.get_vm(req.matches[1]));
    });
  });
  s.Get(R"(/v1/vms/([^/]+)/stats)", [&](const httplib::Request& req, httplib::Response& res) {
    agent_routes_detail::guarded(res, [&] { agent_routes_detail::send_json(res, 200, agent.vm_stats(req.matches[1])); });
  });
  s.Get(R"(/v1/vms/([^/]+)/console)", [&](const httplib::Request& req, httplib::Response& res) {
    agent_routes_detail::guarded(res, [&] {
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
    agent_routes_detail::guarded(res, [&] {
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
      agent_routes_detail::send_json(res, 200, nlohmann::json{{"written", off}});
    });
  });
  s.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(agent.metrics(), "text/plain; version=0.0.4");
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) agent_routes_detail::send_error(res, 404, "no such endpoint: " + req.method + " " + req.path);
    else agent_routes_detail::send_error(res, res.status, "request failed with HTTP " + std::to_string(res.status));
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      agent_routes_detail::send_error(res, 500, e.what());
      return;
    } catch (...) {
    }
    agent_routes_detail::send_error(res, 500, "internal error");
  });
  s.set_payload_max_length(1 << 20);
}


} // namespace nimbus::cloud::host

#pragma once
// The controller's REST routes (docs/api/controller.yaml): bearer-token authentication, query
// parameters and path segments taken apart, each route calling one operation of the controller
// and every failure turned into a JSON error. A template over the controller type: api_server.cpp
// serves them for a Controller, and the api_requests fuzz target (tests/fuzz) drives them with
// a model controller and raw request bytes, no sockets and no etcd.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cloud/controller/agent_client.hpp"
#include "cloud/controller/logic.hpp"
#include "cloud/etcd/etcd_client.hpp"

namespace nimbus::cloud::controller {

template <typename ControllerType>
struct ApiRoutes {
  using json = nlohmann::json;
  ControllerType& controller;

  // Error texts quote the request (paths, names), which may not be UTF-8: such bytes are sent
  // as U+FFFD rather than letting dump() throw (from the 404 handler, that ended the process).
  static void send(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(2, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
  }

  static std::string bearer(const httplib::Request& req) {
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.size() > prefix.size() && auth.compare(0, prefix.size(), prefix) == 0) return auth.substr(prefix.size());
    return {};
  }

  // Authenticates and runs `fn`, turning every failure into a JSON error.
  template <typename F>
  void guarded(const httplib::Request& req, httplib::Response& res, F&& fn, int ok_status = 200) {
    ++controller.metrics().requests;
    try {
      const std::string token = bearer(req);
      if (token.empty()) {
        send(res, 401, json{{"error", "missing bearer token: send 'Authorization: Bearer TOKEN' (nimbus --token or NIMBUS_TOKEN)"},
                            {"code", "unauthenticated"}});
        return;
      }
      const auto caller = controller.authenticate(token);
      if (!caller) {
        send(res, 401, json{{"error", "unknown token: check --token / NIMBUS_TOKEN (tenant tokens are shown once at tenant create)"},
                            {"code", "unauthenticated"}});
        return;
      }
      send(res, ok_status, fn(*caller));
    } catch (const ApiError& e) {
      send(res, e.status(), e.body());
    } catch (const etcd::EtcdError& e) {
      if (e.unavailable() && req.method == "GET")
        send(res, 503, json{{"error", "etcd unreachable, retry"}, {"code", "etcd_unavailable"}, {"detail", e.what()}});
      else if (e.unavailable())
        // A write whose transaction went out may still commit after our timeout: "retry" would be
        // a lie (a retried create finds its name taken), so the answer says the outcome is unknown.
        send(res, 503, json{{"error", "etcd did not answer in time: the change may have been applied; "
                                      "check it (GET, or nimbus vm show/list) before retrying"},
                            {"code", "etcd_outcome_unknown"}, {"detail", e.what()}});
      else
        send(res, 500, json{{"error", std::string("etcd refused the request: ") + e.what()}, {"code", "etcd_error"}});
    } catch (const std::exception& e) {
      send(res, 500, json{{"error", std::string("internal error: ") + e.what()}, {"code", "internal"}});
    }
  }

  static std::string param(const httplib::Request& req, const char* name) {
    return req.has_param(name) ? req.get_param_value(name) : std::string();
  }

  void console(const httplib::Request& req, httplib::Response& res, bool post) {
    const std::string token = bearer(req);
    const auto caller = controller.authenticate(token);
    if (!caller) {
      send(res, 401, json{{"error", "missing or unknown bearer token"}, {"code", "unauthenticated"}});
      return;
    }
    try {
      const auto target = controller.console_target(*caller, req.matches[1], param(req, "tenant"));
      const std::string agent_ca = controller.options().agent_ca;
      httplib::Headers headers;
      if (!controller.options().agent_token.empty())
        headers.emplace("Authorization", "Bearer " + controller.options().agent_token);
      httplib::Params params;
      for (const auto& [k, v] : req.params)
        if (k != "tenant") params.emplace(k, v);
      const std::string path = httplib::append_query_params("/v1/vms/" + target.vm_id + "/console", params);
      if (post) {
        auto agent = make_agent_client(target.api, agent_ca, std::chrono::seconds(2), std::chrono::seconds(30));
        auto r = agent->Post(path, headers, req.body, "application/octet-stream");
        if (!r) {
          send(res, 502, json{{"error", agent_failure_text(target.host, target.api, r.error(), agent->get_openssl_verify_result(), agent_ca)},
                              {"code", agent_failure_code(r.error())}});
          return;
        }
        res.status = r->status;
        res.set_content(r->body, r->get_header_value("Content-Type").empty() ? "application/json" : r->get_header_value("Content-Type"));
        return;
      }
      // GET streams (the agent follows the console until the VM stops): relay chunk by chunk.
      struct Relay {
        std::mutex mu;
        std::condition_variable cv;
        std::deque<std::string> chunks;
        int status = 0;
        std::string content_type = "text/plain";
        bool done = false;
        std::atomic<bool> cancel{false};
        httplib::Error error = httplib::Error::Success;
        long verify_result = 0;
      };
      auto relay = std::make_shared<Relay>();
      // Made here: a URL cpp-httplib refuses throws into this route's catch, not in the thread.
      std::shared_ptr<httplib::Client> agent_stream =
          make_agent_client(target.api, agent_ca, std::chrono::seconds(2), std::chrono::hours(24));
      std::thread([relay, agent_stream, path, headers] {
        auto r = agent_stream->Get(
            path, headers,
            [relay](const httplib::Response& head) {
              std::lock_guard<std::mutex> lock(relay->mu);
              relay->status = head.status;
              if (!head.get_header_value("Content-Type").empty()) relay->content_type = head.get_header_value("Content-Type");
              relay->cv.notify_all();
              return true;
            },
            [relay](const char* data, size_t n) {
              std::lock_guard<std::mutex> lock(relay->mu);
              relay->chunks.emplace_back(data, n);
              relay->cv.notify_all();
              return !relay->cancel.load();
            });
        std::lock_guard<std::mutex> lock(relay->mu);
        if (!r && relay->status == 0) {
          relay->error = r.error();
          relay->verify_result = agent_stream->get_openssl_verify_result();
        }
        relay->done = true;
        relay->cv.notify_all();
      }).detach();
      {
        std::unique_lock<std::mutex> lock(relay->mu);
        relay->cv.wait_for(lock, std::chrono::seconds(5), [&] { return relay->status != 0 || relay->done; });
        if (relay->status == 0) {
          relay->cancel = true;
          const bool timed_out = relay->error == httplib::Error::Success;
          send(res, 502, json{{"error", timed_out ? fmt::format("the agent of host '{}' at {} did not answer (timeout); retry",
                                                                target.host, target.api)
                                                  : agent_failure_text(target.host, target.api, relay->error,
                                                                       relay->verify_result, agent_ca)},
                              {"code", timed_out ? std::string("agent_unreachable") : agent_failure_code(relay->error)}});
          return;
        }
        if (relay->status != 200) {
          relay->cv.wait_for(lock, std::chrono::seconds(2), [&] { return relay->done; });
          std::string body;
          for (auto& c : relay->chunks) body += c;
          res.status = relay->status;
          res.set_content(body, relay->content_type);
          return;
        }
      }
      res.status = 200;
      res.set_chunked_content_provider(
          relay->content_type,
          [relay](size_t, httplib::DataSink& sink) {
            std::unique_lock<std::mutex> lock(relay->mu);
            relay->cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return !relay->chunks.empty() || relay->done; });
            while (!relay->chunks.empty()) {
              std::string c = std::move(relay->chunks.front());
              relay->chunks.pop_front();
              lock.unlock();
              if (!sink.write(c.data(), c.size())) return false;
              lock.lock();
            }
            if (relay->done) sink.done();
            return true;
          },
          [relay](bool) { relay->cancel = true; });
    } catch (const ApiError& e) {
      send(res, e.status(), e.body());
    } catch (const etcd::EtcdError& e) {
      send(res, 503, json{{"error", "etcd unreachable, retry"}, {"code", "etcd_unavailable"}, {"detail", e.what()}});
    } catch (const std::exception& e) {
      // E.g. httplib::Client refusing a host record's API URL: a JSON error like every route's.
      send(res, 500, json{{"error", std::string("internal error: ") + e.what()}, {"code", "internal"}});
    }
  }

  // Adds the routes to `s`; this object must outlive the server.
  void add_to(httplib::Server& s) {
    auto& c = controller;
    s.Get("/metrics", [&c](const httplib::Request&, httplib::Response& res) { res.set_content(c.metrics_text(), "text/plain; version=0.0.4"); });
    s.Get("/v1/health", [&c](const httplib::Request&, httplib::Response& res) {
      send(res, 200, json{{"ok", true}, {"id", c.options().id}, {"leader", c.is_leader()}});
    });
    s.Post("/v1/tenants", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.create_tenant(who, q.body); }, 201);
    });
    s.Get("/v1/tenants", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.list_tenants(who); });
    });
    s.Get(R"(/v1/tenants/([^/]+))", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.show_tenant(who, q.matches[1]); });
    });
    s.Put(R"(/v1/tenants/([^/]+)/quota)", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.set_quota(who, q.matches[1], q.body); });
    });
    s.Get(R"(/v1/tenants/([^/]+)/usage)", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.usage(who, q.matches[1]); });
    });
    s.Get("/v1/usage", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.usage(who, param(q, "tenant")); });
    });
    s.Get("/v1/flavors", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.list_flavors(who); });
    });
    s.Post("/v1/flavors", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.create_flavor(who, q.body); }, 201);
    });
    s.Get("/v1/images", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.list_images(who); });
    });
    s.Post("/v1/images", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.create_image(who, q.body); }, 201);
    });
    s.Post("/v1/networks", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.create_network(who, q.body); }, 201);
    });
    s.Get("/v1/networks", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.list_networks(who, param(q, "tenant")); });
    });
    s.Get(R"(/v1/networks/([^/]+))", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.show_network(who, q.matches[1], param(q, "tenant")); });
    });
    s.Delete(R"(/v1/networks/([^/]+))", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.delete_network(who, q.matches[1], param(q, "tenant")); });
    });
    s.Post("/v1/vms", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.create_vm(who, q.body); }, 201);
    });
    s.Get("/v1/vms", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.list_vms(who, param(q, "tenant")); });
    });
    s.Get(R"(/v1/vms/([^/]+))", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.show_vm(who, q.matches[1], param(q, "tenant")); });
    });
    s.Delete(R"(/v1/vms/([^/]+))", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.delete_vm(who, q.matches[1], param(q, "tenant")); });
    });
    s.Get(R"(/v1/vms/([^/]+)/console)", [this](const httplib::Request& q, httplib::Response& r) { console(q, r, false); });
    s.Post(R"(/v1/vms/([^/]+)/console)", [this](const httplib::Request& q, httplib::Response& r) { console(q, r, true); });
    s.Post(R"(/v1/vms/([^/]+)/(start|stop|reboot|migrate))", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.vm_action(who, q.matches[1], param(q, "tenant"), q.matches[2], q.body); });
    });
    s.Get("/v1/hosts", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.list_hosts(who); });
    });
    s.Post(R"(/v1/hosts/([^/]+)/(drain|undrain))", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) { return controller.drain_host(who, q.matches[1], q.matches[2] == "drain"); });
    });
    s.Get("/v1/events", [this](const httplib::Request& q, httplib::Response& r) {
      guarded(q, r, [&](const auto& who) {
        std::size_t limit = 100;
        if (q.has_param("limit")) {
          // Digits only: stoul alone took "-1" (as 2^64 - 1), " 5", "+5" and "5x".
          const std::string text = q.get_param_value("limit");
          const ApiError bad(400, "bad_parameter", "limit must be a positive integer, got \"" + text + "\"");
          if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) throw bad;
          try {
            limit = std::stoul(text);
          } catch (const std::exception&) {
            throw bad;
          }
          if (limit == 0) throw bad;
        }
        return controller.list_events(who, limit);
      });
    });
    s.set_error_handler([](const httplib::Request& q, httplib::Response& r) {
      if (!r.body.empty()) return;
      if (r.status == 404)
        send(r, 404, json{{"error", fmt::format("no route {} {}: see docs/api/controller.yaml", q.method, q.path)}, {"code", "no_route"}});
    });
  }
};

} // namespace nimbus::cloud::controller

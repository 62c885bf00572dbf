#include "cloud/controller/dashboard_routes.hpp"

#include <httplib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cloud/controller/agent_client.hpp"
#include "cloud/controller/controller.hpp"

#ifndef NIMBUS_WEB_DIR
#define NIMBUS_WEB_DIR ""
#endif

namespace nimbus::cloud::controller {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool has_dashboard(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "dashboard" / "index.html", ec);
}

std::vector<std::string> split_segments(const std::string& rel) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : rel) {
    if (ch == '/') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}

bool plain_segment(const std::string& s) {
  if (s.empty() || s.front() == '.') return false;  // "", ".", "..", dot files
  for (unsigned char ch : s)
    if (ch == '\\' || ch == '\0' || ch < 0x20) return false;
  return true;
}

// `inner` lies strictly inside `root` (both canonical).
bool inside(const fs::path& root, const fs::path& inner) {
  auto r = root.begin(), i = inner.begin();
  for (; r != root.end(); ++r, ++i)
    if (i == inner.end() || *r != *i) return false;
  return i != inner.end();
}

// Request bytes quoted in an error that are not UTF-8 go out as U+FFFD (dump() would throw).
void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(2, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
}

void not_found(httplib::Response& res, const std::string& what) {
  res.status = 404;
  res.set_header("Cache-Control", "no-store");
  res.set_content(what + "\n", "text/plain; charset=utf-8");
}

// The value of a sample line `NAME VALUE` or `NAME{LABELS} VALUE` of Prometheus text.
std::optional<double> sample(const std::string& line, const std::string& name, std::string* labels = nullptr) {
  if (line.compare(0, name.size(), name) != 0 || line.size() <= name.size()) return std::nullopt;
  std::size_t pos = name.size();
  if (line[pos] == '{') {
    const auto close = line.find('}', pos);
    if (close == std::string::npos || !labels) return std::nullopt;
    *labels = line.substr(pos + 1, close - pos - 1);
    pos = close + 1;
  } else if (line[pos] != ' ' || labels) {
    return std::nullopt;
  }
  try {
    return std::stod(line.substr(pos));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// {"state": N} from `state="X"` labels.
std::string state_label(const std::string& labels) {
  const std::string key = "state=\"";
  const auto at = labels.find(key);
  if (at == std::string::npos) return {};
  const auto end = labels.find('"', at + key.size());
  return end == std::string::npos ? std::string() : labels.substr(at + key.size(), end - at - key.size());
}

std::optional<Caller> caller_of(Controller& controller, const httplib::Request& req) {
  const std::string auth = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (auth.size() <= prefix.size() || auth.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  return controller.authenticate(auth.substr(prefix.size()));
}

// GET /v1/dashboard/vms/{vm}/console: the agent's console stream relayed as it comes, as
// application/octet-stream (the REST API's console GET relays text/plain, which cpp-httplib
// gzips for browsers and so holds until the stream ends). Same checks as the API's console: the caller must see the VM, the VM must not be
// stopped; query parameters except `tenant` go to the agent. An agent failure after the reply
// started is written into the stream as a last line.
void stream_console(Controller& controller, const httplib::Request& req, httplib::Response& res) {
  const auto caller = caller_of(controller, req);
  if (!caller) return send_json(res, 401, json{{"error", "missing or unknown bearer token"}, {"code", "unauthenticated"}});
  Controller::ConsoleTarget target;
  try {
    target = controller.console_target(*caller, req.matches[1], req.has_param("tenant") ? req.get_param_value("tenant") : "");
  } catch (const ApiError& e) {
    return send_json(res, e.status(), e.body());
  } catch (const std::exception& e) {
    return send_json(res, 503, json{{"error", std::string("cannot find the VM's host: ") + e.what()}, {"code", "unavailable"}});
  }
  httplib::Params params;
  for (const auto& [k, v] : req.params)
    if (k != "tenant") params.emplace(k, v);
  const std::string path = httplib::append_query_params("/v1/vms/" + target.vm_id + "/console", params);
  httplib::Headers headers;
  if (!controller.options().agent_token.empty()) headers.emplace("Authorization", "Bearer " + controller.options().agent_token);
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Content-Type-Options", "nosniff");
  // Not text/*: cpp-httplib would gzip a text stream for browsers, holding every byte until the end.
  const std::string agent_ca = controller.options().agent_ca;
  std::shared_ptr<httplib::Client> agent;
  try {
    // An idle console is re-requested by the page: a 30 s read timeout.
    agent = make_agent_client(target.api, agent_ca, std::chrono::seconds(2), std::chrono::seconds(30));
  } catch (const std::exception& e) {
    return send_json(res, 500, json{{"error", std::string("internal error: ") + e.what()}, {"code", "internal"}});
  }
  res.set_chunked_content_provider("application/octet-stream", [target, path, headers, agent, agent_ca](size_t, httplib::DataSink& sink) {
    int status = 0;
    std::string error_body;
    bool client_gone = false;
    auto r = agent->Get(
        path, headers, [&](const httplib::Response& head) {
          status = head.status;
          return true;
        },
        [&](const char* data, size_t len) {
          if (status != 200) {
            error_body.append(data, len);
            return error_body.size() < 4096;
          }
          if (!sink.write(data, len)) {
            client_gone = true;
            return false;
          }
          return true;
        });
    if (client_gone) return false;
    std::string note;
    if (status != 0 && status != 200) {
      std::string msg = error_body;
      try {
        msg = json::parse(error_body).value("error", error_body);
      } catch (const std::exception&) {
      }
      note = fmt::format("\r\n[nimbus: the console of host '{}' answered HTTP {}: {}]\r\n", target.host, status, msg);
    } else if (!r && r.error() != httplib::Error::Canceled && r.error() != httplib::Error::Read) {
      note = fmt::format("\r\n[nimbus: {}]\r\n",
                         agent_failure_text(target.host, target.api, r.error(), agent->get_openssl_verify_result(), agent_ca));
    }
    if (!note.empty()) sink.write(note.data(), note.size());
    sink.done();
    return true;
  });
}

json fleet_summary(Controller& controller) {
  json out{{"controller", controller.options().id}, {"leader", controller.is_leader()}, {"hosts", json::object()},
           {"vms", json::object()}};
  std::istringstream in(controller.metrics_text());
  std::string line, labels;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() == '#') continue;
    if (auto v = sample(line, "nimbus_active_hosts")) out["active_hosts"] = static_cast<int64_t>(*v);
    else if (auto v2 = sample(line, "nimbus_hosts_lower_bound")) out["lower_bound"] = static_cast<int64_t>(*v2);
    else if (auto v3 = sample(line, "nimbus_hosts", &labels)) out["hosts"][state_label(labels)] = static_cast<int64_t>(*v3);
    else if (auto v4 = sample(line, "nimbus_vms", &labels)) out["vms"][state_label(labels)] = static_cast<int64_t>(*v4);
    else if (auto v5 = sample(line, "nimbus_moves_total")) out["moves"] = static_cast<int64_t>(*v5);
  }
  return out;
}

fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

} // namespace

std::string default_web_dir() {
  const fs::path exe_dir = executable_dir();
  if (!exe_dir.empty()) {
    for (const fs::path& candidate : {exe_dir / "web", exe_dir.parent_path() / "share" / "nimbus" / "web"})
      if (has_dashboard(candidate)) return candidate.string();
  }
  return NIMBUS_WEB_DIR;
}

std::string dashboard_content_type(const std::string& path) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".html", "text/html; charset=utf-8"},  {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},          {".map", "application/json"},
      {".svg", "image/svg+xml"},              {".png", "image/png"},
      {".ico", "image/x-icon"},               {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  const std::string ext = fs::path(path).extension().string();
  for (const auto& [e, type] : kTypes)
    if (ext == e) return type;
  return "application/octet-stream";
}

std::optional<fs::path> resolve_dashboard_file(const fs::path& web_dir, const std::string& rel) {
  std::vector<std::string> segs = split_segments(rel);
  if (segs.back().empty()) segs.back() = "index.html";  // "" or "dir/"
  for (const auto& s : segs)
    if (!plain_segment(s)) return std::nullopt;
  fs::path base = web_dir / "dashboard";
  std::size_t first = 0;
  if (segs.size() >= 3 && segs[0] == "vendor" && segs[1] == "xterm") {
    base = web_dir / "node_modules" / "@xterm";
    first = 2;
  }
  fs::path file = base;
  for (std::size_t i = first; i < segs.size(); ++i) file /= segs[i];
  std::error_code ec;
  const fs::path root = fs::canonical(base, ec);
  if (ec) return std::nullopt;
  const fs::path real = fs::canonical(file, ec);
  if (ec || !inside(root, real) || !fs::is_regular_file(real, ec)) return std::nullopt;
  return real;
}

void add_dashboard_routes(httplib::Server& server, Controller& controller, const std::string& web_dir_option) {
  const fs::path web_dir = web_dir_option.empty() ? fs::path(default_web_dir()) : fs::path(web_dir_option);

  server.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/ui/"); });
  server.Get("/ui", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/ui/"); });
  server.Get(R"(/ui/(.*))", [web_dir](const httplib::Request& req, httplib::Response& res) {
    const std::string rel = req.matches[1];
    const auto file = resolve_dashboard_file(web_dir, rel);
    if (!file) {
      if (rel.rfind("vendor/xterm/", 0) == 0 && !fs::exists(web_dir / "node_modules" / "@xterm"))
        return not_found(res, fmt::format("not found: {} (xterm.js is not installed: run `npm ci` in {})", req.path, web_dir.string()));
      if (!has_dashboard(web_dir))
        return not_found(res, fmt::format("not found: {} (no dashboard in {}: give nimbus controller --web-dir DIR)", req.path,
                                          web_dir.string()));
      return not_found(res, "not found: " + req.path);
    }
    std::ifstream in(*file, std::ios::binary);
    if (!in) return not_found(res, "not found: " + req.path);
    std::ostringstream body;
    body << in.rdbuf();
    const std::string type = dashboard_content_type(file->string());
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    if (type.rfind("text/html", 0) == 0) {
      // xterm.js writes inline styles; everything else comes from this origin.
      res.set_header("Content-Security-Policy",
                     "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'");
      res.set_header("X-Frame-Options", "DENY");
    }
    res.set_content(body.str(), type);
  });

  server.Get(R"(/v1/dashboard/vms/([^/]+)/console)",
             [&controller](const httplib::Request& req, httplib::Response& res) { stream_console(controller, req, res); });
  server.Get("/v1/dashboard/fleet", [&controller](const httplib::Request& req, httplib::Response& res) {
    const auto caller = caller_of(controller, req);
    if (!caller) return send_json(res, 401, json{{"error", "missing or unknown bearer token"}, {"code", "unauthenticated"}});
    if (!caller->admin) return send_json(res, 403, json{{"error", "this needs the admin token"}, {"code", "forbidden"}});
    try {
      send_json(res, 200, fleet_summary(controller));
    } catch (const std::exception& e) {
      send_json(res, 500, json{{"error", std::string("internal error: ") + e.what()}, {"code", "internal"}});
    }
  });
}

} // namespace nimbus::cloud::controller

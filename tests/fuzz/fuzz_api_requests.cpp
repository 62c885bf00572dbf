// Fuzz target: the HTTP API request layer of the controller and of the host agent
// (src/cloud/controller/api_routes.hpp, src/cloud/host/agent_routes.hpp): raw request bytes go
// through cpp-httplib's request parser (request line, headers, percent-decoding, query string,
// Content-Length and chunked bodies) into the real route table, bearer-token checks, parameter
// and body handling and error mapping, with a model controller or agent behind the routes. No
// sockets, no etcd, no VMMs: the request is read from and the answer written to memory.
//
// Input: byte 0 picks the server (bits 0-1: controller, agent on its UNIX socket (no token),
// agent on TCP with a token) and how the model answers every call (bits 2-4: success, or it
// throws a 4xx ApiError, a 5xx ApiError, a refused or unavailable etcd call, a SpecError, or a
// plain std::exception); the rest is one HTTP request. Beyond "no crash":
//  - no operation runs for a caller without a valid token: the controller's operations only
//    after authenticate() accepted one, the TCP agent's only when the request carried the token;
//  - what a route hands an operation is well formed: path segments are non-empty and hold no
//    '/', the event limit is a positive integer the query spelled in digits, a VM spec's id is
//    the path's, a migration target and downtime are in their documented ranges;
//  - the status says what happened: the model's refusal status when it refused, 2xx when it
//    succeeded, never 5xx when nothing failed on the server's side;
//  - every error the routes answer is a JSON object with "error" (and "code" on the controller),
//    including one the model throws as a plain std::exception from the console lookup.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cloud/controller/api_routes.hpp"
#include "cloud/host/agent_routes.hpp"
#include "cloud/host/vm_spec.hpp"
#include "fuzz_support.hpp"

namespace ctl = nimbus::cloud::controller;
namespace host = nimbus::cloud::host;
namespace etcd = nimbus::cloud::etcd;
using nlohmann::json;

namespace {

constexpr const char* kAdminToken = "admin-token";
constexpr const char* kTenantToken = "tenant-token";
constexpr const char* kAgentToken = "agent-token";

// How the model answers every call of one input.
enum class Outcome { Success, ClientError, ServerError, EtcdRefused, EtcdUnavailable, SpecError, Exception };

struct Model {
  Outcome outcome = Outcome::Success;
  int client_status = 404;
  bool calls = false;     // an operation ran
  bool threw = false;     // and the model threw
  bool authenticated = false;
  int forced_status = 0;  // a refusal of the model's own, whatever the outcome

  void reset(Outcome o, int status) { *this = Model{o, status}; }

  // The status the routes must answer once the model threw (0: any of 500 and 503).
  int refusal_status() const {
    if (forced_status != 0) return forced_status;
    switch (outcome) {
    case Outcome::ClientError: return client_status;
    case Outcome::ServerError: return 502;
    case Outcome::SpecError: return 400;
    case Outcome::Exception: return 500;
    default: return 0;
    }
  }

  void segment(const std::string& s) {
    FUZZ_CHECK(!s.empty());
    FUZZ_CHECK(s.find('/') == std::string::npos);
  }

  // Every operation: checks, then answers.
  template <typename ApiErrorType>
  json answer(bool agent, bool counts = true) {
    calls = calls || counts;
    if (outcome == Outcome::Success) return json{{"ok", true}};
    threw = true;
    switch (outcome) {
    case Outcome::ClientError:
      if constexpr (std::is_same_v<ApiErrorType, ctl::ApiError>) throw ctl::ApiError(client_status, "refused", "refused by the model");
      else throw host::ApiError(client_status, "refused by the model");
    case Outcome::ServerError:
      if constexpr (std::is_same_v<ApiErrorType, ctl::ApiError>) throw ctl::ApiError(502, "upstream", "upstream failed");
      else throw host::ApiError(502, "upstream failed");
    case Outcome::EtcdRefused: throw etcd::EtcdError("etcd said no", false);
    case Outcome::EtcdUnavailable: throw etcd::EtcdError("etcd is away", true);
    case Outcome::SpecError:
      if (agent) throw host::SpecError("bad spec");
      forced_status = 500;  // the controller has no SpecError: a plain exception
      throw std::runtime_error("model failure");
    default: throw std::runtime_error("model failure");
    }
  }
};

Model model;

// The controller's operations as api_routes.hpp calls them.
struct ModelCaller {
  bool admin = false;
  std::string tenant;
};
struct ModelOptions {
  std::string id = "ctl-1";
  std::string agent_token = "agent-token";
  std::string agent_ca;
};
struct ModelMetrics {
  uint64_t requests = 0;
};
struct ModelConsoleTarget {
  std::string api, vm_id, host;
};

struct ModelController {
  ModelOptions options_;
  ModelMetrics metrics_;
  const ModelOptions& options() const { return options_; }
  ModelMetrics& metrics() { return metrics_; }
  bool is_leader() const { return true; }
  std::string metrics_text() { return "nimbus_requests_total 1\n"; }

  std::optional<ModelCaller> authenticate(const std::string& token) {
    if (token == kAdminToken) {
      model.authenticated = true;
      return ModelCaller{true, ""};
    }
    if (token == kTenantToken) {
      model.authenticated = true;
      return ModelCaller{false, "acme"};
    }
    return std::nullopt;
  }
  json op(const ModelCaller& c) {
    FUZZ_CHECK(model.authenticated);
    FUZZ_CHECK(c.admin || c.tenant == "acme");
    return model.answer<ctl::ApiError>(false);
  }
  json create_tenant(const ModelCaller& c, const std::string&) { return op(c); }
  json list_tenants(const ModelCaller& c) { return op(c); }
  json show_tenant(const ModelCaller& c, const std::string& t) { return model.segment(t), op(c); }
  json set_quota(const ModelCaller& c, const std::string& t, const std::string&) { return model.segment(t), op(c); }
  json usage(const ModelCaller& c, const std::string&) { return op(c); }
  json list_flavors(const ModelCaller& c) { return op(c); }
  json create_flavor(const ModelCaller& c, const std::string&) { return op(c); }
  json list_images(const ModelCaller& c) { return op(c); }
  json create_image(const ModelCaller& c, const std::string&) { return op(c); }
  json create_network(const ModelCaller& c, const std::string&) { return op(c); }
  json list_networks(const ModelCaller& c, const std::string&) { return op(c); }
  json show_network(const ModelCaller& c, const std::string& name, const std::string&) { return model.segment(name), op(c); }
  json delete_network(const ModelCaller& c, const std::string& name, const std::string&) { return model.segment(name), op(c); }
  json create_vm(const ModelCaller& c, const std::string&) { return op(c); }
  json list_vms(const ModelCaller& c, const std::string&) { return op(c); }
  json show_vm(const ModelCaller& c, const std::string& ref, const std::string&) { return model.segment(ref), op(c); }
  json delete_vm(const ModelCaller& c, const std::string& ref, const std::string&) { return model.segment(ref), op(c); }
  json vm_action(const ModelCaller& c, const std::string& ref, const std::string&, const std::string& action,
                 const std::string&) {
    model.segment(ref);
    FUZZ_CHECK(action == "start" || action == "stop" || action == "reboot" || action == "migrate");
    return op(c);
  }
  json list_hosts(const ModelCaller& c) { return op(c); }
  json drain_host(const ModelCaller& c, const std::string& h, bool) { return model.segment(h), op(c); }
  std::string limit_text;  // the request's ?limit= (decoded), for list_events' check
  json list_events(const ModelCaller& c, std::size_t limit) {
    FUZZ_CHECK(limit >= 1);
    if (!limit_text.empty()) {
      FUZZ_CHECK(limit_text.find_first_not_of("0123456789") == std::string::npos);
      FUZZ_CHECK(std::to_string(limit) == limit_text.substr(std::min(limit_text.find_first_not_of('0'), limit_text.size() - 1)));
    }
    return op(c);
  }
  // The console proxy would connect to the agent: the model always refuses (no network).
  ModelConsoleTarget console_target(const ModelCaller& c, const std::string& ref, const std::string&) {
    model.segment(ref);
    op(c);
    model.threw = true;
    model.forced_status = 404;
    throw ctl::ApiError(404, "not_found", "the model has no consoles");
  }
};

// The host agent's operations as agent_routes.hpp calls them.
struct ModelAgent {
  bool token_mode = false;
  std::string raw;  // the request bytes, for the token check

  // `counts`: false for the console lookups, after which the route may still refuse by itself
  // (a VM not running takes no console input; a bad ?follow=).
  json op(const std::string& id = "x", bool counts = true) {
    model.segment(id);
    // A TCP agent with a token runs nothing for a request that did not carry it.
    if (token_mode) FUZZ_CHECK(raw.find(std::string("Bearer ") + kAgentToken) != std::string::npos);
    return model.answer<host::ApiError>(true, counts);
  }
  json host_info(const std::string&) { return op(); }
  json hosts() { return op(); }
  json list_vms() { return op(); }
  json get_vm(const std::string& id) { return op(id); }
  std::pair<bool, json> put_vm(const std::string&, const host::VmSpec& spec) {
    FUZZ_CHECK(host::valid_vm_id(spec.id));
    return {spec.vcpus % 2 == 0, op(spec.id)};
  }
  void vm_action(const std::string& id, const std::string&) { op(id); }
  void delete_vm(const std::string& id) { op(id); }
  json vm_stats(const std::string& id) { return op(id); }
  void set_load(const std::string& id, double load) {
    FUZZ_CHECK(!std::isnan(load));
    op(id);
  }
  json snapshot_vm(const std::string& id, const std::string& to) {
    FUZZ_CHECK(to.empty() || to.front() == '/');
    return op(id);
  }
  json migrate_vm(const std::string& id, const std::string& to, int64_t max_downtime_ms) {
    // A live move goes to a plain (tcp:) or a TLS (tls:) listener; the parser allows no other scheme.
    FUZZ_CHECK(to.rfind("tcp:", 0) == 0 || to.rfind("tls:", 0) == 0);
    FUZZ_CHECK(max_downtime_ms >= 1 && max_downtime_ms <= 60000);
    return op(id);
  }
  std::string metrics() const { return "nimbus_agent_vms 0\n"; }
  // The console log is an empty file and the VM is not running, so a followed console ends.
  std::string console_log(const std::string& id) {
    op(id, false);
    return "/dev/null";
  }
  std::string console_socket(const std::string& id) {
    op(id, false);
    return "/nonexistent/nimbus-fuzz.console";
  }
  bool vm_active(const std::string&) const { return false; }
};

// One request in, the answer out, in memory.
class MemoryStream : public httplib::Stream {
 public:
  MemoryStream(const char* data, size_t size) : in_(data), size_(size) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return out.size() < (1u << 20); }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, size_ - at_);
    std::memcpy(ptr, in_ + at_, n);
    at_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    out.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8080;
  }
  socket_t socket() const override { return INVALID_SOCKET; }
  std::string out;

 private:
  const char* in_;
  size_t size_;
  size_t at_ = 0;
};

// process_request() is protected: the one request of a connection, without a socket.
class MemoryServer : public httplib::Server {
 public:
  std::string serve(const std::string& request) {
    MemoryStream stream(request.data(), request.size());
    bool closed = false;
    process_request(stream, true, closed, [](httplib::Request&) {});
    return stream.out;
  }
};

ModelController controller_model;
ctl::ApiRoutes<ModelController> controller_routes{controller_model};
ModelAgent agent_model, agent_tcp_model;
MemoryServer* controller_server;
MemoryServer* agent_server;
MemoryServer* agent_tcp_server;

struct Answer {
  int status = 0;
  std::string content_type;
  std::string body;
};

// The status, content type and (unchunked) body of an answer; status 0 when there is none.
Answer parse_answer(const std::string& out) {
  Answer a;
  if (out.rfind("HTTP/1.1 ", 0) != 0 || out.size() < 12) return a;
  a.status = std::stoi(out.substr(9, 3));
  const size_t end = out.find("\r\n\r\n");
  FUZZ_CHECK(end != std::string::npos);
  const std::string head = out.substr(0, end);
  a.body = out.substr(end + 4);
  // A header's value (empty when the answer has none).
  const auto header = [&head](const std::string& name) {
    const std::string key = "\r\n" + name + ": ";
    const size_t p = head.find(key);
    return p == std::string::npos ? std::string() : head.substr(p + key.size(), head.find("\r\n", p + 2) - p - key.size());
  };
  a.content_type = header("Content-Type");
  if (head.find("\r\nTransfer-Encoding: chunked") != std::string::npos) a.body.clear();
  // A request that accepts gzip or br gets its answer compressed (cpp-httplib is built with zlib
  // and brotli): undo that as a client does, and a compressed body must decompress.
  if (const std::string encoding = header("Content-Encoding"); !encoding.empty() && !a.body.empty()) {
    std::unique_ptr<httplib::detail::decompressor> d;
    if (encoding == "gzip") d = std::make_unique<httplib::detail::gzip_decompressor>();
    else if (encoding == "br") d = std::make_unique<httplib::detail::brotli_decompressor>();
    FUZZ_CHECK(d && d->is_valid());
    std::string plain;
    FUZZ_CHECK(d->decompress(a.body.data(), a.body.size(), [&plain](const char* data, size_t n) {
      plain.append(data, n);
      return true;
    }));
    a.body = std::move(plain);
  }
  return a;
}

void check_json_error(const Answer& a, bool with_code) {
  FUZZ_CHECK(a.content_type == "application/json");
  json j;
  try {
    j = json::parse(a.body);
  } catch (const json::exception&) {
    FUZZ_CHECK(false);
  }
  FUZZ_CHECK(j.is_object() && j.contains("error") && j["error"].is_string());
  if (with_code) FUZZ_CHECK(j.contains("code") && j["code"].is_string());
}

std::string http(const std::string& method, const std::string& path, const std::string& token, const std::string& body = "") {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT")
    r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

void write_seeds() {
  using nimbus::fuzz::write_seed;
  const std::vector<std::pair<std::string, std::string>> controller = {
      {"health", http("GET", "/v1/health", "")},
      {"metrics", http("GET", "/metrics", "")},
      {"tenant_create", http("POST", "/v1/tenants", kAdminToken, R"({"name":"acme","quota":{"vcpus":8,"memory_mib":4096,"vms":10}})")},
      {"tenants", http("GET", "/v1/tenants", kAdminToken)},
      {"tenant_show", http("GET", "/v1/tenants/acme", kTenantToken)},
      {"quota", http("PUT", "/v1/tenants/acme/quota", kAdminToken, R"({"vcpus":16,"memory_mib":8192,"vms":20,"disk_gib":100})")},
      {"tenant_usage", http("GET", "/v1/tenants/acme/usage", kTenantToken)},
      {"usage", http("GET", "/v1/usage?tenant=acme", kAdminToken)},
      {"flavors", http("GET", "/v1/flavors", kTenantToken)},
      {"flavor_create", http("POST", "/v1/flavors", kAdminToken, R"({"name":"n2.big","vcpus":4,"memory_mib":2048,"disk_gib":8})")},
      {"images", http("GET", "/v1/images", kTenantToken)},
      {"image_create", http("POST", "/v1/images", kAdminToken, R"({"name":"linux","kernel":"/img/Image","initrd":"/img/initrd","append":"console=ttyS0","mode":"trap"})")},
      {"vm_create", http("POST", "/v1/vms", kTenantToken, R"({"name":"web1","flavor":"n1.tiny","image":"linux","anti_affinity":"web"})")},
      {"vms", http("GET", "/v1/vms?tenant=acme", kAdminToken)},
      {"vm_show", http("GET", "/v1/vms/web1?tenant=acme", kAdminToken)},
      {"vm_delete", http("DELETE", "/v1/vms/web1", kTenantToken)},
      {"vm_stop", http("POST", "/v1/vms/web1/stop", kTenantToken)},
      {"vm_migrate", http("POST", "/v1/vms/web1/migrate", kAdminToken, R"({"to":"h2"})")},
      {"console", http("GET", "/v1/vms/web1/console?follow=0", kTenantToken)},
      {"console_post", http("POST", "/v1/vms/web1/console", kTenantToken, "ls\n")},
      {"hosts", http("GET", "/v1/hosts", kAdminToken)},
      {"drain", http("POST", "/v1/hosts/h1/drain", kAdminToken)},
      {"events", http("GET", "/v1/events?limit=10", kAdminToken)},
      {"no_token", http("GET", "/v1/vms", "")},
      {"no_route", http("GET", "/v2/nothing", kAdminToken)},
      {"chunked", "POST /v1/vms HTTP/1.1\r\nAuthorization: Bearer tenant-token\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "a\r\n{\"name\":\"a\r\n0\r\n\r\n"},
      // Answers compressed for a client that accepts it (CI's fuzz run found the harness reading
      // a gzip'd 404 as JSON).
      {"no_route_gzip", "GET /v2/nothing HTTP/1.1\r\nAccept-Encoding: gzip, deflate\r\n\r\n"},
      {"tenants_br", "GET /v1/tenants HTTP/1.1\r\nAuthorization: Bearer admin-token\r\nAccept-Encoding: br\r\n\r\n"},
  };
  const std::string spec = R"({"tenant":"acme","name":"web1","vcpus":2,"memory_mib":128,"mode":"emulate","kernel":"/img/Image","append":"console=ttyS0"})";
  const std::vector<std::pair<std::string, std::string>> agent = {
      {"host", http("GET", "/v1/host?host=h1", kAgentToken)},
      {"hosts", http("GET", "/v1/hosts", kAgentToken)},
      {"vms", http("GET", "/v1/vms", kAgentToken)},
      {"put", http("PUT", "/v1/vms/vm-1?host=h1", kAgentToken, spec)},
      {"get", http("GET", "/v1/vms/vm-1", kAgentToken)},
      {"delete", http("DELETE", "/v1/vms/vm-1", kAgentToken)},
      {"action", http("POST", "/v1/vms/vm-1/actions", kAgentToken, R"({"action":"reboot"})")},
      {"snapshot", http("POST", "/v1/vms/vm-1/snapshot", kAgentToken, R"({"to":"/var/lib/nimbus/snap"})")},
      {"migrate", http("POST", "/v1/vms/vm-1/migrate", kAgentToken, R"({"to":"tcp:10.0.0.2:7000","max_downtime_ms":300})")},
      {"migrate_tls", http("POST", "/v1/vms/vm-1/migrate", kAgentToken, R"({"to":"tls:h2.example:7443"})")},
      {"load", http("POST", "/v1/vms/vm-1/load", kAgentToken, R"({"load":0.5})")},
      {"stats", http("GET", "/v1/vms/vm-1/stats", kAgentToken)},
      {"console", http("GET", "/v1/vms/vm-1/console?follow=1", kAgentToken)},
      {"console_post", http("POST", "/v1/vms/vm-1/console", kAgentToken, "root\n")},
      {"metrics", http("GET", "/metrics", kAgentToken)},
      {"wrong_token", http("GET", "/v1/vms", "nope")},
  };
  // Byte 0: server in bits 0-1, the model's answer in bits 2-4 (0: success, 1: a 4xx).
  for (const auto& [name, req] : controller) {
    write_seed("controller_" + name, std::string(1, '\x00') + req);
    write_seed("controller_" + name + "_refused", std::string(1, '\x04') + req);
  }
  for (const auto& [name, req] : agent) {
    write_seed("agent_unix_" + name, std::string(1, '\x01') + req);
    write_seed("agent_tcp_" + name, std::string(1, '\x02') + req);
  }
  // Every other answer of the model (a 5xx ApiError, a refused or unavailable etcd, a SpecError,
  // any exception) on a read and a write of each server: mutations rarely reach them from byte 0.
  for (int outcome = 2; outcome < 7; ++outcome) {
    const std::string n = std::to_string(outcome);
    write_seed("controller_tenants_" + n, std::string(1, char(outcome << 2)) + controller[3].second);
    write_seed("controller_vm_create_" + n, std::string(1, char(outcome << 2)) + controller[12].second);
    write_seed("agent_unix_get_" + n, std::string(1, char(1 | outcome << 2)) + agent[4].second);
    write_seed("agent_unix_put_" + n, std::string(1, char(1 | outcome << 2)) + agent[3].second);
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (nimbus::fuzz::seed_dir()) {
    write_seeds();
    std::exit(0);
  }
  controller_server = new MemoryServer;
  controller_routes.add_to(*controller_server);
  // The harness's own look at the parsed request, before routing (the controller has no
  // pre-routing handler of its own).
  controller_server->set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    controller_model.limit_text = req.get_param_value("limit");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  agent_server = new MemoryServer;
  host::add_agent_routes(*agent_server, agent_model);
  agent_tcp_server = new MemoryServer;
  host::add_agent_routes(*agent_tcp_server, agent_tcp_model);
  host::require_agent_token(*agent_tcp_server, kAgentToken);
  agent_tcp_model.token_mode = true;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string request(reinterpret_cast<const char*>(data) + 1, size - 1);
  const unsigned server = data[0] & 3;
  const Outcome outcome = static_cast<Outcome>(((data[0] >> 2) & 7) % 7);
  static constexpr int kClientStatuses[] = {400, 403, 404, 409, 422, 429, 401, 413};
  model.reset(outcome, kClientStatuses[data[0] >> 5]);

  Answer a;
  if (server == 0 || server == 3) {
    controller_model.limit_text.clear();
    a = parse_answer(controller_server->serve(request));
  } else {
    ModelAgent& m = server == 1 ? agent_model : agent_tcp_model;
    m.raw = request;
    a = parse_answer((server == 1 ? agent_server : agent_tcp_server)->serve(request));
  }
  if (std::getenv("NIMBUS_FUZZ_PRINT"))  // debugging an input: what the server answered
    std::fprintf(stderr, "status %d, model: calls %d threw %d, body: %s\n", a.status, model.calls, model.threw, a.body.c_str());
  if (a.status == 0) return 0;  // the request was cut short: no answer
  FUZZ_CHECK(a.status >= 100 && a.status < 600);
  if (model.threw) {
    const int want = model.refusal_status();
    if (want != 0) FUZZ_CHECK(a.status == want);
    else FUZZ_CHECK(a.status == 500 || a.status == 503);
  } else {
    FUZZ_CHECK(a.status < 500);
    if (model.calls) FUZZ_CHECK(a.status >= 200 && a.status < 300);
  }
  const bool is_controller = server == 0 || server == 3;
  // An answer to HEAD has the headers of the GET answer and no body.
  const bool head = request.rfind("HEAD", 0) == 0;  // also a malformed "HEAD\r\n" (a 400)
  // The controller leaves httplib's own answers to malformed requests (400, 413, 414) without a
  // body; every answer of a route is JSON.
  const bool routed = model.calls || model.threw || model.authenticated;
  if (a.status >= 400 && !head && (!a.body.empty() || !is_controller || routed || a.status == 401 || a.status == 404))
    check_json_error(a, is_controller);
  return 0;
}

// The etcd v3 client over the JSON gateway (grpc-gateway in front of etcd's gRPC API).
//
// Wire format: every request is a POST of a JSON message to /v3/<service>/<method>. Byte fields
// (keys, values) are base64; int64 fields are decimal strings; fields at their zero value (false,
// 0, empty, enum 0) are left out of replies, so every read below has a default. Unary calls
// answer one JSON object; the streaming calls (watch, lease keepalive) answer chunked bodies of
// newline-separated `{"result": ...}` (or `{"error": ...}`) objects.
#include "cloud/etcd/etcd_client.hpp"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace nimbus::cloud::etcd {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// base64 and the gateway's encodings

namespace {

constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += kBase64Alphabet[(v >> 6) & 63];
    out += kBase64Alphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += kBase64Alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

std::string base64_decode(const std::string& in) {
  std::string out;
  out.reserve(in.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = base64_value(c);
    if (v < 0) throw std::invalid_argument("invalid base64 character");
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  return out;
}

// int64 fields come as strings ("123"), but accept numbers too.
int64_t json_int(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_string()) return std::stoll(it->get<std::string>());
  // Not a float (1e300 to int64_t is undefined behaviour), nor an unsigned beyond int64.
  if (it->is_number_integer() && !(it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(INT64_MAX)))
    return it->get<int64_t>();
  throw std::invalid_argument(std::string("field '") + field + "' is not an int64");
}

bool json_bool(const json& j, const char* field) {
  auto it = j.find(field);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string json_bytes(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_string()) return {};
  return base64_decode(it->get<std::string>());
}

KeyValue kv_from_json(const json& j) {
  KeyValue kv;
  kv.key = json_bytes(j, "key");
  kv.value = json_bytes(j, "value");
  kv.create_revision = json_int(j, "create_revision");
  kv.mod_revision = json_int(j, "mod_revision");
  kv.version = json_int(j, "version");
  kv.lease = json_int(j, "lease");
  return kv;
}

RangeResult range_from_json(const json& j) {
  RangeResult r;
  if (auto it = j.find("kvs"); it != j.end() && it->is_array())
    for (const auto& kv : *it) r.kvs.push_back(kv_from_json(kv));
  if (auto h = j.find("header"); h != j.end()) r.revision = json_int(*h, "revision");
  r.more = json_bool(j, "more");
  r.count = json_int(j, "count");
  return r;
}

int64_t header_revision(const json& j) {
  auto h = j.find("header");
  return h == j.end() ? 0 : json_int(*h, "revision");
}

json range_request(const std::string& key, bool prefix, int64_t limit) {
  json r = {{"key", base64_encode(key)}};
  if (prefix) r["range_end"] = base64_encode(prefix_end(key));
  if (limit > 0) r["limit"] = std::to_string(limit);
  return r;
}

json put_request(const std::string& key, const std::string& value, int64_t lease) {
  json r = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) r["lease"] = std::to_string(lease);
  return r;
}

json delete_request(const std::string& key, bool prefix) {
  json r = {{"key", base64_encode(key)}};
  if (prefix) r["range_end"] = base64_encode(prefix_end(key));
  return r;
}

json compare_to_json(const Compare& c) {
  static const char* const targets[] = {"VERSION", "CREATE", "MOD", "VALUE", "LEASE"};
  static const char* const results[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};
  json j = {{"key", base64_encode(c.key)},
            {"target", targets[static_cast<int>(c.target)]},
            {"result", results[static_cast<int>(c.result)]}};
  switch (c.target) {
    case Compare::Target::Version: j["version"] = std::to_string(c.number); break;
    case Compare::Target::CreateRevision: j["create_revision"] = std::to_string(c.number); break;
    case Compare::Target::ModRevision: j["mod_revision"] = std::to_string(c.number); break;
    case Compare::Target::Value: j["value"] = base64_encode(c.value); break;
    case Compare::Target::Lease: j["lease"] = std::to_string(c.number); break;
  }
  return j;
}

json op_to_json(const Op& op) {
  switch (op.kind) {
    case Op::Kind::Put: return {{"request_put", put_request(op.key, op.value, op.lease)}};
    case Op::Kind::Delete: return {{"request_delete_range", delete_request(op.key, false)}};
    case Op::Kind::DeletePrefix: return {{"request_delete_range", delete_request(op.key, true)}};
    case Op::Kind::Get: return {{"request_range", range_request(op.key, false, 0)}};
    case Op::Kind::GetPrefix: return {{"request_range", range_request(op.key, true, 0)}};
  }
  return {};
}

std::string describe_transport_error(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "could not connect";
    case httplib::Error::ConnectionTimeout: return "connection timed out";
    case httplib::Error::Read: return "no complete reply (read failed or timed out)";
    case httplib::Error::Write: return "could not send the request";
    case httplib::Error::SSLConnection: return "TLS handshake failed";
    case httplib::Error::SSLLoadingCerts: return "could not load the TLS certificates";
    case httplib::Error::SSLServerVerification: return "the server's TLS certificate was not accepted";
    case httplib::Error::Canceled: return "request canceled";
    default: return "transport error " + httplib::to_string(e);
  }
}

// The text of a gateway error body: {"error": "...", "code": N, "message": "..."}.
std::string gateway_error_text(const std::string& body, int* grpc_code) {
  *grpc_code = -1;
  try {
    const json j = json::parse(body);
    const json& e = j.contains("error") && j["error"].is_object() ? j["error"] : j;
    if (e.contains("code") && e["code"].is_number()) *grpc_code = e["code"].get<int>();
    if (e.contains("grpc_code") && e["grpc_code"].is_number()) *grpc_code = e["grpc_code"].get<int>();
    if (e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    if (e.contains("error") && e["error"].is_string()) return e["error"].get<std::string>();
  } catch (const std::exception&) {
  }
  std::string text = body.substr(0, 200);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// gRPC codes that mean "this member cannot answer now; another might" (Unavailable,
// DeadlineExceeded, Aborted, Unknown with "no leader"...).
bool grpc_code_unavailable(int code) { return code == 14 || code == 4 || code == 10; }

} // namespace

// ---------------------------------------------------------------------------------------------
// Compare / Op helpers

Compare Compare::mod_revision_is(std::string key, int64_t revision) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::ModRevision;
  c.result = Result::Equal;
  c.number = revision;
  return c;
}

Compare Compare::absent(std::string key) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::Version;
  c.result = Result::Equal;
  c.number = 0;
  return c;
}

Compare Compare::value_is(std::string key, std::string value) {
  Compare c;
  c.key = std::move(key);
  c.target = Target::Value;
  c.result = Result::Equal;
  c.value = std::move(value);
  return c;
}

Op Op::put(std::string key, std::string value, int64_t lease) {
  Op op;
  op.kind = Kind::Put;
  op.key = std::move(key);
  op.value = std::move(value);
  op.lease = lease;
  return op;
}

Op Op::del(std::string key) {
  Op op;
  op.kind = Kind::Delete;
  op.key = std::move(key);
  return op;
}

Op Op::del_prefix(std::string prefix) {
  Op op;
  op.kind = Kind::DeletePrefix;
  op.key = std::move(prefix);
  return op;
}

Op Op::get(std::string key) {
  Op op;
  op.kind = Kind::Get;
  op.key = std::move(key);
  return op;
}

Op Op::get_prefix(std::string prefix) {
  Op op;
  op.kind = Kind::GetPrefix;
  op.key = std::move(prefix);
  return op;
}

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<uint8_t>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // etcd's "every key from here on"
}

// ---------------------------------------------------------------------------------------------
// Client

struct Client::Impl {
  ClientOptions options;
  std::mutex mutex;
  // Idle connections per endpoint (keep-alive). A call takes one, or makes one, and gives it
  // back when done, so concurrent calls never share a connection.
  std::vector<std::vector<std::unique_ptr<httplib::Client>>> idle;
  std::atomic<size_t> preferred{0};  // the endpoint that answered last

  explicit Impl(ClientOptions o) : options(std::move(o)), idle(options.endpoints.size()) {}

  std::unique_ptr<httplib::Client> make_connection(size_t endpoint, std::chrono::milliseconds read_timeout) const {
    const std::string& url = options.endpoints[endpoint];
    std::unique_ptr<httplib::Client> c;
    if (!options.cert_file.empty())
      c = std::make_unique<httplib::Client>(url, options.cert_file, options.key_file);
    else
      c = std::make_unique<httplib::Client>(url);
    if (!c->is_valid()) throw EtcdError("etcd: invalid endpoint '" + url + "' (want http://HOST:PORT or https://HOST:PORT)", false);
    if (!options.ca_file.empty()) c->set_ca_cert_path(options.ca_file.c_str());
    if (url.rfind("https://", 0) == 0) c->enable_server_certificate_verification(true);
    const auto ms = options.request_timeout.count();
    c->set_connection_timeout(ms / 1000, (ms % 1000) * 1000);
    c->set_write_timeout(ms / 1000, (ms % 1000) * 1000);
    c->set_read_timeout(read_timeout.count() / 1000, (read_timeout.count() % 1000) * 1000);
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
    return c;
  }

  std::unique_ptr<httplib::Client> take(size_t endpoint, bool* reused) {
    {
      std::lock_guard lock(mutex);
      auto& pool = idle[endpoint];
      if (!pool.empty()) {
        auto c = std::move(pool.back());
        pool.pop_back();
        *reused = true;
        return c;
      }
    }
    *reused = false;
    return make_connection(endpoint, options.request_timeout);
  }

  void give_back(size_t endpoint, std::unique_ptr<httplib::Client> c) {
    std::lock_guard lock(mutex);
    if (idle[endpoint].size() < 4) idle[endpoint].push_back(std::move(c));
  }

  struct Reply {
    httplib::Error error = httplib::Error::Success;
    int status = 0;
    std::string body;
  };

  // One POST, keeping the status and body even when reading the end of the reply fails.
  static Reply post(httplib::Client& c, const std::string& path, const std::string& payload) {
    Reply r;
    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.headers.emplace("Content-Type", "application/json");
    req.body = payload;
    req.response_handler = [&](const httplib::Response& res) {
      r.status = res.status;
      return true;
    };
    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
      r.body.append(data, len);
      return true;
    };
    auto result = c.send(req);
    if (!result) r.error = result.error();
    return r;
  }

  // POSTs `body` to `path` on each endpoint in turn, starting with the one that answered last,
  // until one answers. Returns the parsed reply. For streaming methods (`stream`), returns the
  // first `result` object of the newline-separated stream.
  json call(const std::string& path, const json& body, bool stream = false) {
    if (options.endpoints.empty()) throw EtcdError("etcd: no endpoints configured", false);
    const std::string payload = body.dump();
    const size_t n = options.endpoints.size();
    const size_t first = preferred.load() % n;
    std::string failures;
    for (size_t attempt = 0; attempt < n; ++attempt) {
      const size_t e = (first + attempt) % n;
      const std::string& url = options.endpoints[e];
      bool reused = false;
      auto connection = take(e, &reused);
      const auto sent = std::chrono::steady_clock::now();
      Reply r = post(*connection, path, payload);
      if (r.error != httplib::Error::Success && r.status == 0 && reused) {
        // A kept-alive connection the server closed meanwhile fails at once: retry on a fresh
        // one (not after a timeout, which would double the wait for a frozen etcd).
        if ((r.error == httplib::Error::Write || r.error == httplib::Error::Read) &&
            std::chrono::steady_clock::now() - sent < options.request_timeout / 2) {
          connection = make_connection(e, options.request_timeout);
          r = post(*connection, path, payload);
        }
      }
      if (r.error != httplib::Error::Success && !(r.status != 0 && r.status != 200 && !r.body.empty())) {
        if (!failures.empty()) failures += "; ";
        failures += url + ": " + describe_transport_error(r.error);
        continue;
      }
      const int status = r.status;
      const std::string& reply = r.body;
      // The gateway ends error replies with an HTTP trailer, which cpp-httplib 0.11 reads as a
      // broken body: the status and body are complete, but that connection is not reused.
      if (r.error == httplib::Error::Success) give_back(e, std::move(connection));
      if (status != 200) {
        int code = -1;
        const std::string text = gateway_error_text(reply, &code);
        const bool unavailable = status == 503 || grpc_code_unavailable(code) ||
                                 text.find("no leader") != std::string::npos;
        if (unavailable) {
          if (!failures.empty()) failures += "; ";
          failures += url + ": HTTP " + std::to_string(status) + ": " + text;
          continue;
        }
        preferred.store(e);
        throw EtcdError("etcd " + path + " at " + url + ": HTTP " + std::to_string(status) + ": " + text, false);
      }
      preferred.store(e);
      try {
        if (!stream) return json::parse(reply);
        // A stream: take the first complete line.
        size_t start = 0;
        while (start < reply.size()) {
          size_t end = reply.find('\n', start);
          if (end == std::string::npos) end = reply.size();
          const std::string line = reply.substr(start, end - start);
          start = end + 1;
          if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
          json j = json::parse(line);
          if (j.contains("error")) {
            int code = -1;
            throw EtcdError("etcd " + path + " at " + url + ": " + gateway_error_text(line, &code), false);
          }
          if (j.contains("result")) return j["result"];
          return j;
        }
        throw EtcdError("etcd " + path + " at " + url + ": empty reply", true);
      } catch (const json::exception& ex) {
        throw EtcdError("etcd " + path + " at " + url + ": malformed reply (" + ex.what() + "): " + reply.substr(0, 200), false);
      } catch (const std::invalid_argument& ex) {
        throw EtcdError("etcd " + path + " at " + url + ": malformed reply (" + ex.what() + "): " + reply.substr(0, 200), false);
      } catch (const std::out_of_range& ex) {
        throw EtcdError("etcd " + path + " at " + url + ": malformed reply (" + ex.what() + "): " + reply.substr(0, 200), false);
      }
    }
    throw EtcdError("etcd " + path + " failed on every endpoint: " + failures, true);
  }
};

RangeResult decode_range_reply(const json& reply) { return range_from_json(reply); }

TxnResult decode_txn_reply(const json& reply) {
  TxnResult r;
  r.succeeded = json_bool(reply, "succeeded");
  r.revision = header_revision(reply);
  if (auto it = reply.find("responses"); it != reply.end() && it->is_array())
    for (const auto& resp : *it)
      if (auto rr = resp.find("response_range"); rr != resp.end()) r.ranges.push_back(range_from_json(*rr));
  return r;
}

Client::Client(ClientOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {
  for (const auto& url : options_.endpoints)
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
      throw EtcdError("etcd: invalid endpoint '" + url + "' (want http://HOST:PORT or https://HOST:PORT)", false);
}

Client::~Client() = default;

namespace {
// Parses inside a try so a malformed reply becomes an EtcdError, never a json exception.
template <typename F>
auto decode(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const EtcdError&) {
    throw;
  } catch (const std::exception& e) {
    throw EtcdError(std::string("etcd ") + what + ": malformed reply: " + e.what(), false);
  }
}
} // namespace

std::optional<KeyValue> Client::get(const std::string& key) {
  const json reply = impl_->call("/v3/kv/range", range_request(key, false, 0));
  return decode("/v3/kv/range", [&]() -> std::optional<KeyValue> {
    RangeResult r = range_from_json(reply);
    if (r.kvs.empty()) return std::nullopt;
    return std::move(r.kvs.front());
  });
}

RangeResult Client::get_prefix(const std::string& prefix, int64_t limit) {
  const json reply = impl_->call("/v3/kv/range", range_request(prefix, true, limit));
  return decode("/v3/kv/range", [&] { return decode_range_reply(reply); });
}

int64_t Client::put(const std::string& key, const std::string& value, int64_t lease) {
  const json reply = impl_->call("/v3/kv/put", put_request(key, value, lease));
  return decode("/v3/kv/put", [&] { return header_revision(reply); });
}

int64_t Client::del(const std::string& key) {
  const json reply = impl_->call("/v3/kv/deleterange", delete_request(key, false));
  return decode("/v3/kv/deleterange", [&] { return json_int(reply, "deleted"); });
}

int64_t Client::del_prefix(const std::string& prefix) {
  const json reply = impl_->call("/v3/kv/deleterange", delete_request(prefix, true));
  return decode("/v3/kv/deleterange", [&] { return json_int(reply, "deleted"); });
}

TxnResult Client::txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                      const std::vector<Op>& failure) {
  json body = json::object();
  body["compare"] = json::array();
  for (const auto& c : compares) body["compare"].push_back(compare_to_json(c));
  body["success"] = json::array();
  for (const auto& op : success) body["success"].push_back(op_to_json(op));
  body["failure"] = json::array();
  for (const auto& op : failure) body["failure"].push_back(op_to_json(op));
  const json reply = impl_->call("/v3/kv/txn", body);
  return decode("/v3/kv/txn", [&] { return decode_txn_reply(reply); });
}

int64_t Client::lease_grant(int64_t ttl_seconds) {
  const json reply = impl_->call("/v3/lease/grant", json{{"TTL", std::to_string(ttl_seconds)}});
  return decode("/v3/lease/grant", [&] {
    if (reply.contains("error") && reply["error"].is_string() && !reply["error"].get<std::string>().empty())
      throw EtcdError("etcd /v3/lease/grant: " + reply["error"].get<std::string>(), false);
    const int64_t id = json_int(reply, "ID");
    if (id == 0) throw EtcdError("etcd /v3/lease/grant: the reply has no lease ID", false);
    return id;
  });
}

int64_t Client::lease_keepalive(int64_t lease) {
  const json reply = impl_->call("/v3/lease/keepalive", json{{"ID", std::to_string(lease)}}, /*stream=*/true);
  return decode("/v3/lease/keepalive", [&] { return json_int(reply, "TTL"); });
}

void Client::lease_revoke(int64_t lease) {
  try {
    impl_->call("/v3/lease/revoke", json{{"ID", std::to_string(lease)}});
  } catch (const EtcdError& e) {
    // A lease that is already gone is what revoking wanted.
    if (!e.unavailable() && std::string(e.what()).find("lease not found") != std::string::npos) return;
    throw;
  }
}

// ---------------------------------------------------------------------------------------------
// Watch

namespace {

class WatchImpl final : public Watch {
 public:
  using EventsFn = std::function<void(const std::vector<WatchEvent>&, int64_t)>;
  using ErrorFn = std::function<void(const std::string&)>;

  WatchImpl(const ClientOptions& options, std::string prefix, int64_t start_revision, EventsFn on_events, ErrorFn on_error)
      : options_(options), prefix_(std::move(prefix)), next_revision_(start_revision),
        on_events_(std::move(on_events)), on_error_(std::move(on_error)) {
    thread_ = std::thread([this] { run(); });
  }

  ~WatchImpl() override { stop(); }

  void stop() override {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    cv_.notify_all();
    if (thread_.get_id() == std::this_thread::get_id()) return;  // from a callback: ends after it
    // Shut the stream's socket down until the thread notices (it may be between requests, or
    // just opening a new connection, when the first shutdown comes).
    while (!finished_) {
      if (connection_) connection_->stop();
      cv_.wait_for(lock, std::chrono::milliseconds(20));
    }
    lock.unlock();
    if (thread_.joinable()) thread_.join();
  }

  bool running() const override {
    std::lock_guard lock(mutex_);
    return !finished_;
  }

 private:
  // Why one stream ended.
  enum class End { Stopped, Transport, Fatal };

  void run() {
    const auto budget = options_.watch_retry_budget;
    auto failing_since = std::chrono::steady_clock::time_point{};
    size_t endpoint = 0;
    std::string last_problem;
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) break;
      }
      std::string problem;
      bool progressed = false;
      const End end = stream_once(endpoint, &problem, &progressed);
      if (end == End::Stopped) break;
      if (end == End::Fatal) {
        report_error(problem);
        break;
      }
      // Transport trouble: try the next endpoint, from where we got to, after a short pause.
      last_problem = problem;
      const auto now = std::chrono::steady_clock::now();
      if (progressed || failing_since == std::chrono::steady_clock::time_point{}) failing_since = now;
      if (budget.count() > 0 && now - failing_since > budget) {
        report_error("etcd watch on '" + prefix_ + "' gave up after " +
                     std::to_string(std::chrono::duration_cast<std::chrono::seconds>(budget).count()) +
                     " s without etcd: " + last_problem);
        break;
      }
      endpoint = (endpoint + 1) % options_.endpoints.size();
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, progressed ? std::chrono::milliseconds(0) : std::chrono::milliseconds(200),
                   [this] { return stopping_; });
    }
    std::lock_guard lock(mutex_);
    finished_ = true;
    connection_.reset();
    cv_.notify_all();
  }

  void report_error(const std::string& message) {
    if (on_error_) on_error_(message);
  }

  End stream_once(size_t endpoint, std::string* problem, bool* progressed) {
    const std::string& url = options_.endpoints[endpoint];
    std::unique_ptr<httplib::Client> c;
    if (!options_.cert_file.empty())
      c = std::make_unique<httplib::Client>(url, options_.cert_file, options_.key_file);
    else
      c = std::make_unique<httplib::Client>(url);
    if (!options_.ca_file.empty()) c->set_ca_cert_path(options_.ca_file.c_str());
    if (url.rfind("https://", 0) == 0) c->enable_server_certificate_verification(true);
    const auto ms = options_.request_timeout.count();
    c->set_connection_timeout(ms / 1000, (ms % 1000) * 1000);
    c->set_write_timeout(ms / 1000, (ms % 1000) * 1000);
    // An idle watch sends nothing; the read timeout only bounds how long a dead connection goes
    // unnoticed (then the stream is reopened from where it was).
    c->set_read_timeout(options_.watch_idle_reconnect.count() / 1000, (options_.watch_idle_reconnect.count() % 1000) * 1000);
    httplib::Client* raw = c.get();
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return End::Stopped;
      connection_ = std::move(c);
    }

    json create = {{"key", base64_encode(prefix_)}, {"range_end", base64_encode(prefix_end(prefix_))}};
    if (next_revision_ > 0) create["start_revision"] = std::to_string(next_revision_);
    const std::string body = json{{"create_request", create}}.dump();

    std::string buffer;
    End end = End::Transport;
    bool fatal = false;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v3/watch";
    req.headers.emplace("Content-Type", "application/json");
    req.body = body;
    int status = 0;
    req.response_handler = [&](const httplib::Response& res) {
      status = res.status;
      return true;
    };
    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
      buffer.append(data, len);
      if (status != 200) return true;  // collect the error body
      size_t pos;
      while ((pos = buffer.find('\n')) != std::string::npos) {
        const std::string line = buffer.substr(0, pos);
        buffer.erase(0, pos + 1);
        if (!handle_line(line, problem, &fatal, progressed)) return false;
      }
      std::lock_guard lock(mutex_);
      return !stopping_;
    };
    auto result = raw->send(req);
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        connection_.reset();
        return End::Stopped;
      }
    }
    if (fatal) end = End::Fatal;
    else if (status != 0 && status != 200) {
      int code = -1;
      *problem = url + ": HTTP " + std::to_string(status) + ": " + gateway_error_text(buffer, &code);
      if (!(status == 503 || grpc_code_unavailable(code))) end = End::Fatal;
    } else if (!result) {
      *problem = url + ": " + describe_transport_error(result.error());
    } else {
      *problem = url + ": the watch stream ended";
    }
    std::lock_guard lock(mutex_);
    connection_.reset();
    return end;
  }

  // One JSON message of the stream. Returns false to end the stream.
  bool handle_line(const std::string& line, std::string* problem, bool* fatal, bool* progressed) {
    if (line.find_first_not_of(" \r\t") == std::string::npos) return true;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {
      *problem = "etcd watch on '" + prefix_ + "': malformed message: " + line.substr(0, 200);
      *fatal = true;
      return false;
    }
    if (j.contains("error")) {
      int code = -1;
      *problem = "etcd watch on '" + prefix_ + "': " + gateway_error_text(line, &code);
      *fatal = !grpc_code_unavailable(code);
      return false;
    }
    const json& r = j.contains("result") ? j["result"] : j;
    try {
      const int64_t compact = json_int(r, "compact_revision");
      if (compact > 0) {
        *problem = "etcd watch on '" + prefix_ + "': revision " + std::to_string(next_revision_) +
                   " was compacted (the oldest kept is " + std::to_string(compact) + "); re-read and watch again";
        *fatal = true;
        return false;
      }
      if (json_bool(r, "canceled")) {
        std::string reason = r.contains("cancel_reason") && r["cancel_reason"].is_string()
                                 ? r["cancel_reason"].get<std::string>() : "canceled by the server";
        *problem = "etcd watch on '" + prefix_ + "': " + reason;
        *fatal = true;
        return false;
      }
      const int64_t revision = header_revision(r);
      std::vector<WatchEvent> events;
      if (auto it = r.find("events"); it != r.end() && it->is_array()) {
        for (const auto& e : *it) {
          WatchEvent ev;
          ev.type = (e.contains("type") && e["type"].is_string() && e["type"].get<std::string>() == "DELETE") ||
                            (e.contains("type") && e["type"].is_number() && e["type"].get<int>() == 1)
                        ? EventType::Delete : EventType::Put;
          if (e.contains("kv")) ev.kv = kv_from_json(e["kv"]);
          events.push_back(std::move(ev));
        }
      }
      if (!events.empty()) {
        next_revision_ = std::max(next_revision_, events.back().kv.mod_revision + 1);
        *progressed = true;
        if (on_events_) on_events_(events, revision);
      } else if (json_bool(r, "created") || revision > 0) {
        // Created (or a progress notification): everything up to `revision` has been seen.
        if (json_bool(r, "created") && next_revision_ == 0) next_revision_ = revision + 1;
        else if (!json_bool(r, "created")) next_revision_ = std::max(next_revision_, revision + 1);
        *progressed = true;
      }
    } catch (const std::exception& e) {
      *problem = "etcd watch on '" + prefix_ + "': malformed message (" + e.what() + "): " + line.substr(0, 200);
      *fatal = true;
      return false;
    }
    std::lock_guard lock(mutex_);
    return !stopping_;
  }

  const ClientOptions options_;
  const std::string prefix_;
  int64_t next_revision_;  // 0: from now; else the first revision not yet delivered
  EventsFn on_events_;
  ErrorFn on_error_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool finished_ = false;
  std::unique_ptr<httplib::Client> connection_;  // the stream's connection, for stop()
  std::thread thread_;
};

} // namespace

std::unique_ptr<Watch> Client::watch_prefix(const std::string& prefix, int64_t start_revision,
                                            std::function<void(const std::vector<WatchEvent>&, int64_t)> on_events,
                                            std::function<void(const std::string&)> on_error) {
  if (options_.endpoints.empty()) throw EtcdError("etcd: no endpoints configured", false);
  return std::make_unique<WatchImpl>(options_, prefix, start_revision, std::move(on_events), std::move(on_error));
}

} // namespace nimbus::cloud::etcd

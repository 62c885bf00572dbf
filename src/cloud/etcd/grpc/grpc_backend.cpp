// The etcd v3 client over etcd's own gRPC API (etcd_api.proto): protobuf on HTTP/2, the protocol
// etcd serves natively. (Until 2026-12 this client spoke the JSON gateway, grpc-gateway in front of
// the same API: measured, about 70 % of etcd's CPU went to translating JSON and base64, and each
// call held an HTTP/1.1 connection of its own; see docs/cloud.md, Scale.)
//
// One gRPC channel (one HTTP/2 connection) per endpoint per Client: concurrent calls share it as
// streams. Each watch has a channel of its own, so a Watch never depends on its Client's lifetime.
//
// Built into the module nimbus-etcd-grpc.so, not the `nimbus` binary (etcd_backend.hpp says why);
// etcd::Client (etcd_client.cpp) reaches it through ClientBackend and the factory at the end.
#include "cloud/etcd/etcd_backend.hpp"

#include <grpc/event_engine/event_engine.h>
#include <grpcpp/grpcpp.h>

#include "etcd_api.grpc.pb.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

// gRPC's default EventEngine: exported by libgrpc (1.51, Debian 12) but declared in a header it
// does not install (src/core/lib/event_engine/default_event_engine.h).
namespace grpc_event_engine::experimental {
std::shared_ptr<EventEngine> GetDefaultEventEngine();
} // namespace grpc_event_engine::experimental

namespace nimbus::cloud::etcd {

namespace pb = etcdserverpb;

namespace {

using Clock = std::chrono::steady_clock;

// "http://HOST:PORT" -> "HOST:PORT" (the gRPC target); false if the URL is not http(s).
bool grpc_target(const std::string& url, std::string* target, bool* tls) {
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
    *tls = false;
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
    *tls = true;
  } else {
    return false;
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find('/') != std::string::npos) return false;
  *target = rest;
  return true;
}

std::string read_pem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw EtcdError("etcd: cannot read the " + std::string(what) + " '" + path + "'", false);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::shared_ptr<grpc::Channel> make_channel(const std::string& url, const ClientOptions& options) {
  std::string target;
  bool tls = false;
  if (!grpc_target(url, &target, &tls))
    throw EtcdError("etcd: invalid endpoint '" + url + "' (want http://HOST:PORT or https://HOST:PORT)", false);
  grpc::ChannelArguments args;
  // A range of 20,000 VM records is several MB; gRPC's default cap on a reply is 4 MB.
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // Reconnect soon after etcd comes back (gRPC's default backoff grows to two minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // This client's connection is its own, not one shared process-wide with every channel of the
  // same target and arguments (a host agent's keepalive client must not wait behind the other).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) ssl.pem_root_certs = read_pem(options.ca_file, "CA file");
    if (!options.cert_file.empty()) {
      ssl.pem_cert_chain = read_pem(options.cert_file, "client certificate");
      ssl.pem_private_key = read_pem(options.key_file, "client key");
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  return grpc::CreateCustomChannel(target, credentials, args);
}

std::string status_code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "status " + std::to_string(static_cast<int>(code));
  }
}

// "this member cannot answer now; another might": the transport failed, the deadline passed, or
// etcd said so (no leader, leader changed, too many requests while it catches up).
bool status_unavailable(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
      return true;
    default:
      return s.error_message().find("no leader") != std::string::npos ||
             s.error_message().find("leader changed") != std::string::npos;
  }
}

// What went wrong, in words; `channel` tells a connection never made from an answer not given.
std::string describe_failure(const grpc::Status& s, grpc::Channel& channel, std::chrono::milliseconds timeout) {
  const auto state = channel.GetState(false);
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    if (state != GRPC_CHANNEL_READY)
      return "could not connect within " + std::to_string(timeout.count()) + " ms";
    return "no answer within " + std::to_string(timeout.count()) + " ms";
  }
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE && state != GRPC_CHANNEL_READY)
    return "could not connect (" + s.error_message() + ")";
  return status_code_name(s.error_code()) + ": " + s.error_message();
}

KeyValue kv_from_pb(const pb::KeyValue& p) {
  KeyValue kv;
  kv.key = p.key();
  kv.value = p.value();
  kv.create_revision = p.create_revision();
  kv.mod_revision = p.mod_revision();
  kv.version = p.version();
  kv.lease = p.lease();
  return kv;
}

RangeResult range_from_pb(const pb::RangeResponse& p) {
  RangeResult r;
  r.kvs.reserve(static_cast<size_t>(p.kvs_size()));
  for (const auto& kv : p.kvs()) r.kvs.push_back(kv_from_pb(kv));
  r.revision = p.header().revision();
  r.more = p.more();
  r.count = p.count();
  return r;
}

void fill_range(pb::RangeRequest* r, const std::string& key, bool prefix, int64_t limit) {
  r->set_key(key);
  if (prefix) r->set_range_end(prefix_end(key));
  if (limit > 0) r->set_limit(limit);
}

void fill_compare(pb::Compare* p, const Compare& c) {
  static constexpr pb::Compare::CompareTarget targets[] = {pb::Compare::VERSION, pb::Compare::CREATE, pb::Compare::MOD,
                                                           pb::Compare::VALUE, pb::Compare::LEASE};
  static constexpr pb::Compare::CompareResult results[] = {pb::Compare::EQUAL, pb::Compare::GREATER, pb::Compare::LESS,
                                                           pb::Compare::NOT_EQUAL};
  p->set_key(c.key);
  p->set_target(targets[static_cast<int>(c.target)]);
  p->set_result(results[static_cast<int>(c.result)]);
  switch (c.target) {
    case Compare::Target::Version: p->set_version(c.number); break;
    case Compare::Target::CreateRevision: p->set_create_revision(c.number); break;
    case Compare::Target::ModRevision: p->set_mod_revision(c.number); break;
    case Compare::Target::Value: p->set_value(c.value); break;
    case Compare::Target::Lease: p->set_lease(c.number); break;
  }
}

void fill_op(pb::RequestOp* p, const Op& op) {
  switch (op.kind) {
    case Op::Kind::Put: {
      auto* put = p->mutable_request_put();
      put->set_key(op.key);
      put->set_value(op.value);
      if (op.lease != 0) put->set_lease(op.lease);
      break;
    }
    case Op::Kind::Delete: p->mutable_request_delete_range()->set_key(op.key); break;
    case Op::Kind::DeletePrefix: {
      auto* del = p->mutable_request_delete_range();
      del->set_key(op.key);
      del->set_range_end(prefix_end(op.key));
      break;
    }
    case Op::Kind::Get: fill_range(p->mutable_request_range(), op.key, false, 0); break;
    case Op::Kind::GetPrefix: fill_range(p->mutable_request_range(), op.key, true, 0); break;
  }
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Unary calls

// Defined with the watch, below.
std::unique_ptr<Watch> make_watch(const ClientOptions& options, const std::string& prefix, int64_t start_revision,
                                  std::function<void(const std::vector<WatchEvent>&, int64_t)> on_events,
                                  std::function<void(const std::string&)> on_error);

class GrpcBackend final : public ClientBackend {
 public:
  struct Endpoint {
    std::string url;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<pb::KV::Stub> kv;
    std::unique_ptr<pb::Lease::Stub> lease;
  };
  ClientOptions options;
  std::vector<Endpoint> endpoints;
  std::atomic<size_t> preferred{0};  // the endpoint that answered last

  explicit GrpcBackend(ClientOptions o) : options(std::move(o)) {
    for (const auto& url : options.endpoints) {
      Endpoint e;
      e.url = url;
      e.channel = make_channel(url, options);
      e.kv = pb::KV::NewStub(e.channel);
      e.lease = pb::Lease::NewStub(e.channel);
      endpoints.push_back(std::move(e));
    }
  }

  // Runs `rpc(endpoint, context)` on each endpoint in turn, starting with the one that answered
  // last, until one answers. A call waits for a connection up to the request timeout (so a call
  // made while etcd restarts succeeds once it is back), and fails over on "unavailable" answers.
  template <typename Rpc>
  void call(const char* method, Rpc&& rpc) {
    if (endpoints.empty()) throw EtcdError("etcd: no endpoints configured", false);
    const size_t n = endpoints.size();
    const size_t first = preferred.load() % n;
    std::string failures;
    for (size_t attempt = 0; attempt < n; ++attempt) {
      const size_t e = (first + attempt) % n;
      Endpoint& endpoint = endpoints[e];
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + options.request_timeout);  // gRPC takes wall-clock deadlines
      context.set_wait_for_ready(true);
      const grpc::Status status = rpc(endpoint, context);
      if (status.ok()) {
        preferred.store(e);
        return;
      }
      const std::string what = describe_failure(status, *endpoint.channel, options.request_timeout);
      if (status_unavailable(status)) {
        if (!failures.empty()) failures += "; ";
        failures += endpoint.url + ": " + what;
        continue;
      }
      preferred.store(e);
      throw EtcdError(std::string("etcd ") + method + " at " + endpoint.url + ": " + what, false);
    }
    throw EtcdError(std::string("etcd ") + method + " failed on every endpoint: " + failures, true);
  }

  std::optional<KeyValue> get(const std::string& key) override;
  RangeResult get_prefix(const std::string& prefix, int64_t limit) override;
  int64_t put(const std::string& key, const std::string& value, int64_t lease) override;
  int64_t del(const std::string& key) override;
  int64_t del_prefix(const std::string& prefix) override;
  TxnResult txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                const std::vector<Op>& failure) override;
  int64_t lease_grant(int64_t ttl_seconds) override;
  int64_t lease_keepalive(int64_t lease) override;
  void lease_revoke(int64_t lease) override;
  std::unique_ptr<Watch> watch_prefix(const std::string& prefix, int64_t start_revision,
                                      std::function<void(const std::vector<WatchEvent>&, int64_t)> on_events,
                                      std::function<void(const std::string&)> on_error) override {
    return make_watch(options, prefix, start_revision, std::move(on_events), std::move(on_error));
  }
};


std::optional<KeyValue> GrpcBackend::get(const std::string& key) {
  pb::RangeRequest req;
  fill_range(&req, key, false, 0);
  pb::RangeResponse resp;
  call("KV/Range", [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->Range(&c, req, &resp); });
  if (resp.kvs_size() == 0) return std::nullopt;
  return kv_from_pb(resp.kvs(0));
}

RangeResult GrpcBackend::get_prefix(const std::string& prefix, int64_t limit) {
  pb::RangeRequest req;
  fill_range(&req, prefix, true, limit);
  pb::RangeResponse resp;
  call("KV/Range", [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->Range(&c, req, &resp); });
  return range_from_pb(resp);
}

int64_t GrpcBackend::put(const std::string& key, const std::string& value, int64_t lease) {
  pb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  if (lease != 0) req.set_lease(lease);
  pb::PutResponse resp;
  call("KV/Put", [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->Put(&c, req, &resp); });
  return resp.header().revision();
}

int64_t GrpcBackend::del(const std::string& key) {
  pb::DeleteRangeRequest req;
  req.set_key(key);
  pb::DeleteRangeResponse resp;
  call("KV/DeleteRange", [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->DeleteRange(&c, req, &resp); });
  return resp.deleted();
}

int64_t GrpcBackend::del_prefix(const std::string& prefix) {
  pb::DeleteRangeRequest req;
  req.set_key(prefix);
  req.set_range_end(prefix_end(prefix));
  pb::DeleteRangeResponse resp;
  call("KV/DeleteRange", [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->DeleteRange(&c, req, &resp); });
  return resp.deleted();
}

TxnResult GrpcBackend::txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                      const std::vector<Op>& failure) {
  pb::TxnRequest req;
  for (const auto& c : compares) fill_compare(req.add_compare(), c);
  for (const auto& op : success) fill_op(req.add_success(), op);
  for (const auto& op : failure) fill_op(req.add_failure(), op);
  pb::TxnResponse resp;
  call("KV/Txn", [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->Txn(&c, req, &resp); });
  TxnResult r;
  r.succeeded = resp.succeeded();
  r.revision = resp.header().revision();
  for (const auto& op : resp.responses())
    if (op.has_response_range()) r.ranges.push_back(range_from_pb(op.response_range()));
  return r;
}

int64_t GrpcBackend::lease_grant(int64_t ttl_seconds) {
  pb::LeaseGrantRequest req;
  req.set_ttl(ttl_seconds);
  pb::LeaseGrantResponse resp;
  call("Lease/LeaseGrant", [&](Endpoint& e, grpc::ClientContext& c) { return e.lease->LeaseGrant(&c, req, &resp); });
  if (!resp.error().empty()) throw EtcdError("etcd Lease/LeaseGrant: " + resp.error(), false);
  if (resp.id() == 0) throw EtcdError("etcd Lease/LeaseGrant: the reply has no lease ID", false);
  return resp.id();
}

int64_t GrpcBackend::lease_keepalive(int64_t lease) {
  // etcd renews leases on a bidirectional stream; one request and its answer per call.
  pb::LeaseKeepAliveResponse resp;
  call("Lease/LeaseKeepAlive", [&](Endpoint& e, grpc::ClientContext& c) {
    auto stream = e.lease->LeaseKeepAlive(&c);
    pb::LeaseKeepAliveRequest req;
    req.set_id(lease);
    if (!stream->Write(req) || !stream->Read(&resp)) return stream->Finish();
    stream->WritesDone();
    c.TryCancel();  // the answer is in; no need to wait for the server to close its side
    stream->Finish();
    return grpc::Status::OK;
  });
  return resp.ttl();
}

void GrpcBackend::lease_revoke(int64_t lease) {
  pb::LeaseRevokeRequest req;
  req.set_id(lease);
  pb::LeaseRevokeResponse resp;
  try {
    call("Lease/LeaseRevoke", [&](Endpoint& e, grpc::ClientContext& c) { return e.lease->LeaseRevoke(&c, req, &resp); });
  } catch (const EtcdError& e) {
    // A lease that is already gone is what revoking wanted.
    if (!e.unavailable() && std::string(e.what()).find("lease not found") != std::string::npos) return;
    throw;
  }
}

// ---------------------------------------------------------------------------------------------
// Watch

namespace {

// One thread reads the stream and calls back; a second (the timer) cancels a stream that has
// been silent too long (etcd frozen, connection silently dead), which the reader then reopens
// from the revision after the last one it delivered.
class WatchImpl final : public Watch {
 public:
  using EventsFn = std::function<void(const std::vector<WatchEvent>&, int64_t)>;
  using ErrorFn = std::function<void(const std::string&)>;

  WatchImpl(const ClientOptions& options, std::string prefix, int64_t start_revision, EventsFn on_events, ErrorFn on_error)
      : options_(options), prefix_(std::move(prefix)), next_revision_(start_revision),
        on_events_(std::move(on_events)), on_error_(std::move(on_error)) {
    thread_ = std::thread([this] { run(); });
    timer_ = std::thread([this] { time_out_silent_streams(); });
  }

  ~WatchImpl() override { stop(); }

  void stop() override {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    if (context_) context_->TryCancel();
    cv_.notify_all();
    if (thread_.get_id() == std::this_thread::get_id()) return;  // from a callback: ends after it
    cv_.wait(lock, [this] { return finished_; });
    lock.unlock();
    if (thread_.joinable()) thread_.join();
    if (timer_.joinable()) timer_.join();
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
    auto failing_since = Clock::time_point{};
    size_t endpoint = 0;
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
      const auto now = Clock::now();
      if (progressed || failing_since == Clock::time_point{}) failing_since = now;
      if (budget.count() > 0 && now - failing_since > budget) {
        report_error("etcd watch on '" + prefix_ + "' gave up after " +
                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(budget).count()) +
                     " ms without etcd: " + problem);
        break;
      }
      endpoint = (endpoint + 1) % options_.endpoints.size();
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, progressed ? std::chrono::milliseconds(0) : std::chrono::milliseconds(200),
                   [this] { return stopping_; });
    }
    std::lock_guard lock(mutex_);
    finished_ = true;
    context_.reset();
    cv_.notify_all();
  }

  void report_error(const std::string& message) {
    if (on_error_) on_error_(message);
  }

  // The timer: a stream gets request_timeout to be created, then watch_idle_reconnect between
  // messages; past that it is cancelled (and reopened by run()).
  void time_out_silent_streams() {
    std::unique_lock lock(mutex_);
    while (!finished_) {
      if (context_ && Clock::now() >= deadline_) {
        context_->TryCancel();
        timed_out_ = true;
        deadline_ = Clock::time_point::max();
      }
      const auto wake = std::min(deadline_, Clock::now() + std::chrono::milliseconds(500));
      cv_.wait_until(lock, wake);
    }
  }

  void push_deadline(std::chrono::milliseconds after) {
    std::lock_guard lock(mutex_);
    deadline_ = Clock::now() + after;
  }

  End stream_once(size_t endpoint, std::string* problem, bool* progressed) {
    const std::string& url = options_.endpoints[endpoint];
    std::shared_ptr<grpc::Channel> channel;
    try {
      channel = make_channel(url, options_);
    } catch (const EtcdError& e) {
      *problem = e.what();
      return End::Fatal;
    }
    auto stub = pb::Watch::NewStub(channel);
    auto context = std::make_shared<grpc::ClientContext>();
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return End::Stopped;
      context_ = context;
      timed_out_ = false;
      deadline_ = Clock::now() + options_.request_timeout;
      cv_.notify_all();
    }
    auto stream = stub->Watch(context.get());
    pb::WatchRequest req;
    auto* create = req.mutable_create_request();
    create->set_key(prefix_);
    create->set_range_end(prefix_end(prefix_));
    if (next_revision_ > 0) create->set_start_revision(next_revision_);
    bool fatal = false;
    bool created = false;
    if (stream->Write(req)) {
      pb::WatchResponse resp;
      while (stream->Read(&resp)) {
        push_deadline(options_.watch_idle_reconnect);
        if (!handle(resp, &created, problem, &fatal, progressed)) {
          context->TryCancel();
          break;
        }
      }
    }
    const grpc::Status status = stream->Finish();
    std::lock_guard lock(mutex_);
    context_.reset();
    deadline_ = Clock::time_point::max();
    if (stopping_) return End::Stopped;
    if (fatal) return End::Fatal;
    if (timed_out_) {
      *problem = url + ": " + (created ? "nothing received for " + std::to_string(options_.watch_idle_reconnect.count()) + " ms"
                                       : "could not connect within " + std::to_string(options_.request_timeout.count()) + " ms");
      return End::Transport;
    }
    if (status.ok()) {
      *problem = url + ": the watch stream ended";
      return End::Transport;
    }
    *problem = url + ": " + describe_failure(status, *channel, options_.request_timeout);
    const bool transport = status_unavailable(status) || status.error_code() == grpc::StatusCode::CANCELLED ||
                           status.error_code() == grpc::StatusCode::UNKNOWN;
    return transport ? End::Transport : End::Fatal;
  }

  // One message of the stream. Returns false to end the stream.
  bool handle(const pb::WatchResponse& r, bool* created, std::string* problem, bool* fatal, bool* progressed) {
    if (r.compact_revision() > 0) {
      *problem = "etcd watch on '" + prefix_ + "': revision " + std::to_string(next_revision_) +
                 " was compacted (the oldest kept is " + std::to_string(r.compact_revision()) + "); re-read and watch again";
      *fatal = true;
      return false;
    }
    if (r.canceled()) {
      *problem = "etcd watch on '" + prefix_ + "': " + (r.cancel_reason().empty() ? "canceled by the server" : r.cancel_reason());
      *fatal = true;
      return false;
    }
    const int64_t revision = r.header().revision();
    if (r.events_size() > 0) {
      std::vector<WatchEvent> events;
      events.reserve(static_cast<size_t>(r.events_size()));
      for (const auto& e : r.events()) {
        WatchEvent ev;
        ev.type = e.type() == pb::Event::DELETE ? EventType::Delete : EventType::Put;
        ev.kv = kv_from_pb(e.kv());
        events.push_back(std::move(ev));
      }
      next_revision_ = std::max(next_revision_, events.back().kv.mod_revision + 1);
      *progressed = true;
      if (on_events_) on_events_(events, revision);
    } else if (r.created()) {
      // Created: from now on (start 0) everything after `revision` comes on this stream.
      *created = true;
      if (next_revision_ == 0) next_revision_ = revision + 1;
      *progressed = true;
    } else if (revision > 0) {
      // A progress notification: everything up to `revision` has been seen.
      next_revision_ = std::max(next_revision_, revision + 1);
      *progressed = true;
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
  std::shared_ptr<grpc::ClientContext> context_;  // the open stream's, for stop() and the timer
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timed_out_ = false;
  std::thread thread_;
  std::thread timer_;
};

} // namespace

std::unique_ptr<Watch> make_watch(const ClientOptions& options, const std::string& prefix, int64_t start_revision,
                                  std::function<void(const std::vector<WatchEvent>&, int64_t)> on_events,
                                  std::function<void(const std::string&)> on_error) {
  return std::make_unique<WatchImpl>(options, prefix, start_revision, std::move(on_events), std::move(on_error));
}

} // namespace nimbus::cloud::etcd

// The module's one exported symbol (etcd_backend.hpp).
extern "C" __attribute__((visibility("default"))) nimbus::cloud::etcd::ClientBackend* nimbus_etcd_grpc_backend_v1(
    int abi, std::size_t options_size, const nimbus::cloud::etcd::ClientOptions& options) {
  using namespace nimbus::cloud::etcd;
  if (abi != kEtcdBackendAbi || options_size != sizeof(ClientOptions))
    throw EtcdError("etcd: " + std::string(kEtcdModuleName) + " was built for another version of nimbus (ABI " +
                        std::to_string(kEtcdBackendAbi) + ", options " + std::to_string(sizeof(ClientOptions)) +
                        " bytes; the binary has ABI " + std::to_string(abi) + ", " + std::to_string(options_size) +
                        " bytes): install the module built with this binary",
                    false);
  // gRPC starts its threads (executors, timers, event engine) when the first channel opens and,
  // unless someone holds a grpc_init() reference, stops them when the last one closes; a process
  // making one short-lived Client after another spun them up and down each time, and their exits
  // could still be running when the process ended (LeakSanitizer's stop-the-world at exit then
  // crashed on a thread half gone). The module holds one reference for the life of the process:
  // the threads start once and idle between clients, as gRPC intends for long-running programs.
  // The default EventEngine (its poller, thread pool and timer threads) is held by gRPC only
  // weakly, so it is kept too, and never destroyed: destroying it at exit would stop its threads
  // exactly then.
  static const auto* const kept_engine = [] {
    grpc_init();
    return new std::shared_ptr<grpc_event_engine::experimental::EventEngine>(
        grpc_event_engine::experimental::GetDefaultEventEngine());
  }();
  (void)kept_engine;
  return new GrpcBackend(options);
}

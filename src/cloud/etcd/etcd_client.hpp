#pragma once
// A small client for etcd v3 through its JSON gateway (HTTP/1.1 + JSON, cpp-httplib), the one
// interface every cloud component uses to reach the store. Keys and values are raw bytes here;
// the gateway's base64 and string-encoded 64-bit numbers stay inside etcd_client.cpp.
//
// Thread safety: every call may come from any thread (each call takes its own connection from a
// small pool). A Watch runs its own thread and calls its callback from it.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace nimbus::cloud::etcd {

// Any failure to get an answer from etcd (connection refused, timeout, HTTP error, malformed
// reply). `unavailable()` tells a transport failure (retry later) from an answer that refused.
class EtcdError : public std::runtime_error {
 public:
  EtcdError(const std::string& what, bool unavailable) : std::runtime_error(what), unavailable_(unavailable) {}
  bool unavailable() const { return unavailable_; }

 private:
  bool unavailable_;
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;  // 0 never appears in a returned kv; a compare on version 0 means "absent"
  int64_t lease = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;  // the store's revision when the range was served
  bool more = false;
  int64_t count = 0;
};

// One condition of a transaction (etcd's Compare). Build with the helpers below.
struct Compare {
  enum class Target { Version, CreateRevision, ModRevision, Value, Lease };
  enum class Result { Equal, Greater, Less, NotEqual };
  std::string key;
  Target target = Target::ModRevision;
  Result result = Result::Equal;
  int64_t number = 0;  // for Version, CreateRevision, ModRevision, Lease
  std::string value;   // for Value

  static Compare mod_revision_is(std::string key, int64_t revision);  // 0: key absent
  static Compare absent(std::string key);                               // version == 0
  static Compare value_is(std::string key, std::string value);
};

// One operation of a transaction (etcd's RequestOp).
struct Op {
  enum class Kind { Put, Delete, DeletePrefix, Get, GetPrefix };
  Kind kind = Kind::Put;
  std::string key;
  std::string value;
  int64_t lease = 0;

  static Op put(std::string key, std::string value, int64_t lease = 0);
  static Op del(std::string key);
  static Op del_prefix(std::string prefix);
  static Op get(std::string key);
  static Op get_prefix(std::string prefix);
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::vector<RangeResult> ranges;  // one per Get/GetPrefix op of the branch taken, in order
};

enum class EventType { Put, Delete };
struct WatchEvent {
  EventType type = EventType::Put;
  KeyValue kv;  // for Delete: key and mod_revision only
};

struct ClientOptions {
  // "http://127.0.0.1:2379" or "https://..."; several for a cluster (tried in turn on failure).
  std::vector<std::string> endpoints{"http://127.0.0.1:2379"};
  std::chrono::milliseconds request_timeout{2000};
  // TLS to etcd (https endpoints): CA bundle to verify the server, optional client certificate.
  std::string ca_file, cert_file, key_file;
  // A watch whose stream keeps failing (every endpoint down) for this long calls on_error and
  // stops; 0: retry for ever. Each retry resumes from the revision after the last delivered one.
  std::chrono::milliseconds watch_retry_budget{30000};
  // An idle watch stream receives nothing; after this long without a byte it is reopened (from
  // where it was), which bounds how long a silently dead connection (etcd frozen, network cut)
  // goes unnoticed.
  std::chrono::milliseconds watch_idle_reconnect{30000};
};

class Watch;

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  std::optional<KeyValue> get(const std::string& key);
  RangeResult get_prefix(const std::string& prefix, int64_t limit = 0);
  int64_t put(const std::string& key, const std::string& value, int64_t lease = 0);  // new revision
  int64_t del(const std::string& key);               // how many keys were deleted (0 or 1)
  int64_t del_prefix(const std::string& prefix);     // how many keys were deleted
  TxnResult txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                const std::vector<Op>& failure = {});

  // Leases: grant returns the lease id; keepalive returns the remaining TTL in seconds (0 or
  // less: the lease is gone and cannot be renewed); revoke deletes every key bound to it (a lease
  // that is already gone is not an error).
  //
  // Errors: every call throws EtcdError naming the gateway path and each endpoint tried with
  // what failed there. Endpoints are tried in turn (starting with the one that answered last)
  // on transport failures and "unavailable" answers; a call takes at most about
  // request_timeout per endpoint.
  int64_t lease_grant(int64_t ttl_seconds);
  int64_t lease_keepalive(int64_t lease);
  void lease_revoke(int64_t lease);

  // Watches `prefix` from `start_revision` (0: from now) on a thread of its own. The callback gets
  // events in revision order; `on_error` is called once if the stream breaks for good (e.g.
  // compacted revision, etcd gone past the retry budget) and the watch then stops.
  std::unique_ptr<Watch> watch_prefix(const std::string& prefix, int64_t start_revision,
                                      std::function<void(const std::vector<WatchEvent>&, int64_t revision)> on_events,
                                      std::function<void(const std::string&)> on_error = {});

  const ClientOptions& options() const { return options_; }

 private:
  struct Impl;
  ClientOptions options_;
  std::unique_ptr<Impl> impl_;
  friend class Watch;
};

// A running watch; destroying it stops the stream and joins its thread.
class Watch {
 public:
  virtual ~Watch() = default;
  virtual void stop() = 0;
  virtual bool running() const = 0;
};

// The gateway's replies to a range and to a transaction, decoded (keys and values from base64,
// int64 fields from decimal strings). A malformed reply throws std::exception (the client turns
// it into EtcdError). Exposed for the etcd_values fuzz target.
RangeResult decode_range_reply(const nlohmann::json& reply);
TxnResult decode_txn_reply(const nlohmann::json& reply);

// The half-open range etcd means by a prefix: [prefix, prefix_end(prefix)).
std::string prefix_end(const std::string& prefix);

} // namespace nimbus::cloud::etcd

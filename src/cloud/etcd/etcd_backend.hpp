#pragma once
// The seam between etcd::Client and its transport. The gRPC implementation lives in a module of
// its own (nimbus-etcd-grpc.so, src/cloud/etcd/grpc/) that the `nimbus` binary loads on the first
// etcd::Client, so processes that never talk to etcd (every VMM, `nimbus --version`) do not load
// gRPC, protobuf and abseil (48 shared libraries, ≈ 13 ms of CPU per exec; docs/cloud.md).
//
// The module is built from the same sources by the same compiler as the binary, so C++ types
// (std::string, std::function, EtcdError) cross the boundary as they are; the factory's name and
// `kEtcdBackendAbi` guard against a module left over from another build.
#include "cloud/etcd/etcd_client.hpp"

namespace nimbus::cloud::etcd {

// What a Client does; each method has the contract of the Client method of the same name.
class ClientBackend {
 public:
  virtual ~ClientBackend() = default;
  virtual std::optional<KeyValue> get(const std::string& key) = 0;
  virtual RangeResult get_prefix(const std::string& prefix, int64_t limit) = 0;
  virtual int64_t put(const std::string& key, const std::string& value, int64_t lease) = 0;
  virtual int64_t del(const std::string& key) = 0;
  virtual int64_t del_prefix(const std::string& prefix) = 0;
  virtual TxnResult txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                        const std::vector<Op>& failure) = 0;
  virtual int64_t lease_grant(int64_t ttl_seconds) = 0;
  virtual int64_t lease_keepalive(int64_t lease) = 0;
  virtual void lease_revoke(int64_t lease) = 0;
  virtual std::unique_ptr<Watch> watch_prefix(const std::string& prefix, int64_t start_revision,
                                              std::function<void(const std::vector<WatchEvent>&, int64_t)> on_events,
                                              std::function<void(const std::string&)> on_error) = 0;
};

// Bumped whenever ClientBackend, ClientOptions or the types above change shape.
inline constexpr int kEtcdBackendAbi = 1;

// The module's one exported symbol. Returns a new backend for `options` (endpoints already
// validated), or throws EtcdError. `abi` and `options_size` must match the module's own.
#define NIMBUS_ETCD_BACKEND_FACTORY "nimbus_etcd_grpc_backend_v1"
using EtcdBackendFactory = ClientBackend* (*)(int abi, std::size_t options_size, const ClientOptions& options);

// The module's file name, looked for beside the executable (etcd_module.cpp).
inline constexpr const char* kEtcdModuleName = "nimbus-etcd-grpc.so";

// Loads the module once per process (thread-safe) and returns its factory; throws EtcdError
// naming every path tried when it cannot (etcd_module.cpp).
EtcdBackendFactory etcd_backend_factory();

} // namespace nimbus::cloud::etcd

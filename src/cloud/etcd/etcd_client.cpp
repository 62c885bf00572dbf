// etcd::Client: checks its endpoints, then hands every call to the gRPC backend loaded from
// nimbus-etcd-grpc.so (etcd_backend.hpp, etcd_module.cpp; the transport is grpc/grpc_backend.cpp).
#include "cloud/etcd/etcd_client.hpp"

#include "cloud/etcd/etcd_backend.hpp"

namespace nimbus::cloud::etcd {

namespace {

// "http://HOST:PORT" or "https://HOST:PORT", nothing after the port: what the backend accepts.
bool valid_endpoint(const std::string& url) {
  std::string rest;
  if (url.rfind("http://", 0) == 0) rest = url.substr(7);
  else if (url.rfind("https://", 0) == 0) rest = url.substr(8);
  else return false;
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  return !rest.empty() && rest.find('/') == std::string::npos;
}

} // namespace

Client::Client(ClientOptions options) : options_(std::move(options)) {
  for (const auto& url : options_.endpoints)
    if (!valid_endpoint(url))
      throw EtcdError("etcd: invalid endpoint '" + url + "' (want http://HOST:PORT or https://HOST:PORT)", false);
  impl_.reset(etcd_backend_factory()(kEtcdBackendAbi, sizeof(ClientOptions), options_));
}

Client::~Client() = default;

std::optional<KeyValue> Client::get(const std::string& key) { return impl_->get(key); }

RangeResult Client::get_prefix(const std::string& prefix, int64_t limit) { return impl_->get_prefix(prefix, limit); }

int64_t Client::put(const std::string& key, const std::string& value, int64_t lease) { return impl_->put(key, value, lease); }

int64_t Client::del(const std::string& key) { return impl_->del(key); }

int64_t Client::del_prefix(const std::string& prefix) { return impl_->del_prefix(prefix); }

TxnResult Client::txn(const std::vector<Compare>& compares, const std::vector<Op>& success,
                      const std::vector<Op>& failure) {
  return impl_->txn(compares, success, failure);
}

int64_t Client::lease_grant(int64_t ttl_seconds) { return impl_->lease_grant(ttl_seconds); }

int64_t Client::lease_keepalive(int64_t lease) { return impl_->lease_keepalive(lease); }

void Client::lease_revoke(int64_t lease) { impl_->lease_revoke(lease); }

std::unique_ptr<Watch> Client::watch_prefix(const std::string& prefix, int64_t start_revision,
                                            std::function<void(const std::vector<WatchEvent>&, int64_t)> on_events,
                                            std::function<void(const std::string&)> on_error) {
  if (options_.endpoints.empty()) throw EtcdError("etcd: no endpoints configured", false);
  return impl_->watch_prefix(prefix, start_revision, std::move(on_events), std::move(on_error));
}

} // namespace nimbus::cloud::etcd

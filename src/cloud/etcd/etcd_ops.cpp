// The transaction building blocks (Compare, Op) and prefix_end: plain values with no transport,
// so code that only builds transactions (the controller's logic, its fuzz target) needs no gRPC.
#include "cloud/etcd/etcd_client.hpp"

namespace nimbus::cloud::etcd {

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

} // namespace nimbus::cloud::etcd

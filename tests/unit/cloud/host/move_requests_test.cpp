// The host agent's snapshot and migrate request bodies: precise errors for bad requests.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cloud/host/move_requests.hpp"
#include "cloud/host/vm_spec.hpp"

namespace nimbus::cloud::host {
namespace {

using nlohmann::json;

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const SpecError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SnapshotRequest, EmptyOrAnAbsoluteDirectory) {
  EXPECT_EQ(parse_snapshot_request(json::object()).to, "");
  EXPECT_EQ(parse_snapshot_request(json{{"to", nullptr}}).to, "");
  EXPECT_EQ(parse_snapshot_request(json{{"to", "/var/lib/snap/vm1"}}).to, "/var/lib/snap/vm1");
  auto err = [](json j) { return error_of([&] { parse_snapshot_request(j); }); };
  EXPECT_EQ(err(json::array()), "the body must be a JSON object");
  EXPECT_EQ(err(json{{"to", "snap"}}), "field 'to': must be an absolute directory, got \"snap\"");
  EXPECT_EQ(err(json{{"to", ""}}), "field 'to': must be an absolute directory, got \"\"");
  EXPECT_EQ(err(json{{"to", 5}}), "field 'to': must be a string (an absolute directory), got 5");
  EXPECT_EQ(err(json{{"to", "/a/../etc"}}), "field 'to': \"/a/../etc\" has a '..' component");
  EXPECT_EQ(err(json{{"to", "/a/.."}}), "field 'to': \"/a/..\" has a '..' component");
  EXPECT_EQ(err(json{{"to", "/a\nb"}}), "field 'to': contains a control character");
  EXPECT_EQ(err(json{{"dir", "/a"}}), "unknown field 'dir' (known: to)");
  EXPECT_EQ(parse_snapshot_request(json{{"to", "/a/..b/c"}}).to, "/a/..b/c");  // only a whole '..' climbs
}

TEST(MigrateRequest, AddressAndDowntime) {
  const MigrateRequest r = parse_migrate_request(json{{"to", "tcp:127.0.0.1:4444"}});
  EXPECT_EQ(r.to, "tcp:127.0.0.1:4444");
  EXPECT_EQ(r.max_downtime_ms, 300);
  EXPECT_EQ(parse_migrate_request(json{{"to", "tcp:h:1"}, {"max_downtime_ms", 50}}).max_downtime_ms, 50);
  EXPECT_EQ(parse_migrate_request(json{{"to", "tls:h:1"}}).to, "tls:h:1");   // a destination agent with TLS
  auto err = [](json j) { return error_of([&] { parse_migrate_request(j); }); };
  EXPECT_EQ(err(json::object()), "field 'to': required, tcp:HOST:PORT or tls:HOST:PORT where the destination VMM waits");
  EXPECT_EQ(err(json{{"to", 4444}}), "field 'to': must be a string tcp:HOST:PORT or tls:HOST:PORT, got 4444");
  EXPECT_EQ(err(json{{"to", "udp:h:1"}}), "field 'to': must be tcp:HOST:PORT or tls:HOST:PORT, got \"udp:h:1\"");
  EXPECT_EQ(err(json{{"to", "tcp:h:x"}}), "field 'to': port must be 1..65535, got \"x\"");
  EXPECT_EQ(err(json{{"to", "tcp:h:1"}, {"max_downtime_ms", 0}}), "field 'max_downtime_ms': must be 1..60000, got 0");
  EXPECT_EQ(err(json{{"to", "tcp:h:1"}, {"max_downtime_ms", 1.5}}),
            "field 'max_downtime_ms': must be an integer 1..60000, got 1.5");
  EXPECT_EQ(err(json{{"to", "tcp:h:1"}, {"max_downtime_ms", -1}}), "field 'max_downtime_ms': must be 1..60000, got -1");
  EXPECT_EQ(err(json{{"to", "tcp:h:1"}, {"downtime", 1}}), "unknown field 'downtime' (known: to, max_downtime_ms)");
}

} // namespace
} // namespace nimbus::cloud::host

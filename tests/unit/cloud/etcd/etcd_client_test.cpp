// The etcd client against a real etcd (Debian etcd-server) started once for the suite on random
// loopback ports with a temporary data dir. Each test works under a prefix of its own.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cloud/etcd/etcd_client.hpp"
#include "cloud/etcd/etcd_process.hpp"
#include <httplib.h>

namespace nimbus::cloud::etcd {
namespace {

using namespace std::chrono_literals;

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    etcd_ = new EtcdProcess();
    try {
      etcd_->start();
    } catch (const std::exception& e) {
      start_error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete etcd_;
    etcd_ = nullptr;
  }
  void SetUp() override {
    if (!start_error_.empty()) GTEST_SKIP() << "etcd did not start: " << start_error_;
    ClientOptions o;
    o.endpoints = {etcd_->endpoint()};
    client_ = std::make_unique<Client>(o);
    prefix_ = std::string("/test/") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "/";
  }

  static EtcdProcess* etcd_;
  static std::string start_error_;
  std::unique_ptr<Client> client_;
  std::string prefix_;
};

EtcdProcess* EtcdClientTest::etcd_ = nullptr;
std::string EtcdClientTest::start_error_;

// Collects watch events for a test to wait on.
struct EventLog {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<WatchEvent> events;
  std::vector<std::string> errors;

  void add(const std::vector<WatchEvent>& evs) {
    std::lock_guard lock(mutex);
    events.insert(events.end(), evs.begin(), evs.end());
    cv.notify_all();
  }
  void error(const std::string& e) {
    std::lock_guard lock(mutex);
    errors.push_back(e);
    cv.notify_all();
  }
  bool wait_for(size_t n, std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, timeout, [&] { return events.size() >= n; });
  }
  bool wait_error(std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, timeout, [&] { return !errors.empty(); });
  }
};

TEST(EtcdPrefixEnd, IncrementsTheLastByteAndDropsTrailing0xff) {
  EXPECT_EQ(prefix_end("/a/"), "/a0");
  EXPECT_EQ(prefix_end("ab\xff"), "ac");
  EXPECT_EQ(prefix_end(std::string("\xff\xff")), std::string(1, '\0'));
}

TEST_F(EtcdClientTest, PutGetAndMissingKey) {
  const int64_t rev = client_->put(prefix_ + "a", "value one");
  EXPECT_GT(rev, 0);
  auto kv = client_->get(prefix_ + "a");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->key, prefix_ + "a");
  EXPECT_EQ(kv->value, "value one");
  EXPECT_EQ(kv->mod_revision, rev);
  EXPECT_EQ(kv->create_revision, rev);
  EXPECT_EQ(kv->version, 1);
  EXPECT_FALSE(client_->get(prefix_ + "missing"));
  // Binary-safe keys and values, and an empty value.
  const std::string bin("\x00\x01\xff\n\"", 5);
  client_->put(prefix_ + bin, bin);
  EXPECT_EQ(client_->get(prefix_ + bin)->value, bin);
  client_->put(prefix_ + "empty", "");
  auto empty = client_->get(prefix_ + "empty");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->value, "");
}

TEST_F(EtcdClientTest, PrefixRangeLimitAndDelete) {
  for (int i = 0; i < 5; ++i) client_->put(prefix_ + "k" + std::to_string(i), std::to_string(i));
  client_->put(prefix_.substr(0, prefix_.size() - 1) + "X", "outside the prefix");
  auto all = client_->get_prefix(prefix_);
  ASSERT_EQ(all.kvs.size(), 5u);
  EXPECT_EQ(all.count, 5);
  EXPECT_FALSE(all.more);
  EXPECT_GT(all.revision, 0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(all.kvs[i].value, std::to_string(i));  // sorted by key
  auto two = client_->get_prefix(prefix_, 2);
  EXPECT_EQ(two.kvs.size(), 2u);
  EXPECT_TRUE(two.more);
  EXPECT_EQ(two.count, 5);
  EXPECT_EQ(client_->del(prefix_ + "k0"), 1);
  EXPECT_EQ(client_->del(prefix_ + "k0"), 0);
  EXPECT_EQ(client_->del_prefix(prefix_), 4);
  EXPECT_TRUE(client_->get_prefix(prefix_).kvs.empty());
  EXPECT_TRUE(client_->get(prefix_.substr(0, prefix_.size() - 1) + "X"));
}

// gRPC caps a reply at 4 MB unless told otherwise; the controller reads every VM record in one
// range (several MB at 20,000 VMs). Three values of 1.4 MB (etcd takes at most 1.5 MiB a request)
// make a 4.2 MB reply.
TEST_F(EtcdClientTest, ARangeReplyLargerThan4MBArrivesWhole) {
  const std::string big(1400 * 1024, 'v');
  for (int i = 0; i < 3; ++i) client_->put(prefix_ + std::to_string(i), big + std::to_string(i));
  const auto all = client_->get_prefix(prefix_);
  ASSERT_EQ(all.kvs.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(all.kvs[i].value, big + std::to_string(i));
  client_->del_prefix(prefix_);
}

TEST_F(EtcdClientTest, TxnComparesModRevisionAndAbsence) {
  const std::string key = prefix_ + "alloc";
  // Create only if absent: succeeds once.
  auto created = client_->txn({Compare::absent(key)}, {Op::put(key, "v1")});
  EXPECT_TRUE(created.succeeded);
  auto again = client_->txn({Compare::absent(key)}, {Op::put(key, "v2")}, {Op::get(key)});
  EXPECT_FALSE(again.succeeded);
  ASSERT_EQ(again.ranges.size(), 1u);
  ASSERT_EQ(again.ranges[0].kvs.size(), 1u);
  EXPECT_EQ(again.ranges[0].kvs[0].value, "v1");
  const int64_t rev = again.ranges[0].kvs[0].mod_revision;

  // Optimistic update on mod_revision: the first writer wins, a stale one fails.
  auto first = client_->txn({Compare::mod_revision_is(key, rev)}, {Op::put(key, "v3"), Op::get(key)});
  EXPECT_TRUE(first.succeeded);
  ASSERT_EQ(first.ranges.size(), 1u);
  EXPECT_EQ(first.ranges[0].kvs[0].value, "v3");
  auto stale = client_->txn({Compare::mod_revision_is(key, rev)}, {Op::put(key, "v4")});
  EXPECT_FALSE(stale.succeeded);
  EXPECT_EQ(client_->get(key)->value, "v3");
  // mod_revision 0 means absent, as in the placement transaction.
  EXPECT_TRUE(client_->txn({Compare::mod_revision_is(prefix_ + "none", 0)}, {Op::put(prefix_ + "none", "x")}).succeeded);
  // Value compare, multi-key delete and prefix get in one transaction.
  client_->put(prefix_ + "p/1", "a");
  client_->put(prefix_ + "p/2", "b");
  auto multi = client_->txn({Compare::value_is(key, "v3")},
                            {Op::del(prefix_ + "none"), Op::get_prefix(prefix_ + "p/"), Op::del_prefix(prefix_ + "p/")});
  EXPECT_TRUE(multi.succeeded);
  ASSERT_EQ(multi.ranges.size(), 1u);
  EXPECT_EQ(multi.ranges[0].kvs.size(), 2u);
  EXPECT_FALSE(client_->get(prefix_ + "none"));
  EXPECT_TRUE(client_->get_prefix(prefix_ + "p/").kvs.empty());
  EXPECT_GT(multi.revision, rev);
}

TEST_F(EtcdClientTest, LeaseKeysVanishOnRevokeAndKeepaliveRenews) {
  const int64_t lease = client_->lease_grant(10);
  EXPECT_NE(lease, 0);
  client_->put(prefix_ + "presence", "here", lease);
  auto kv = client_->get(prefix_ + "presence");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->lease, lease);
  const int64_t ttl = client_->lease_keepalive(lease);
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 10);
  client_->lease_revoke(lease);
  EXPECT_FALSE(client_->get(prefix_ + "presence"));
  EXPECT_LE(client_->lease_keepalive(lease), 0);  // gone: cannot be renewed
  EXPECT_NO_THROW(client_->lease_revoke(lease));  // already gone is fine
  // A put bound to a lease that does not exist is refused, with etcd's reason.
  try {
    client_->put(prefix_ + "orphan", "x", lease);
    FAIL() << "put with a revoked lease succeeded";
  } catch (const EtcdError& e) {
    EXPECT_FALSE(e.unavailable());
    EXPECT_NE(std::string(e.what()).find("lease not found"), std::string::npos) << e.what();
  }
}

TEST_F(EtcdClientTest, LeaseExpiresWithoutKeepalive) {
  const int64_t lease = client_->lease_grant(1);
  client_->put(prefix_ + "short", "x", lease);
  // etcd's minimum TTL is a few seconds under load; wait until the key is gone (bounded).
  const auto deadline = std::chrono::steady_clock::now() + 8s;
  while (client_->get(prefix_ + "short") && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(client_->get(prefix_ + "short"));
}

TEST_F(EtcdClientTest, WatchDeliversEventsInOrderAndStopsPromptly) {
  EventLog log;
  auto watch = client_->watch_prefix(prefix_, 0, [&](const std::vector<WatchEvent>& evs, int64_t) { log.add(evs); },
                                     [&](const std::string& e) { log.error(e); });
  // The watch starts from "now" once created; give it a moment to be registered.
  std::this_thread::sleep_for(200ms);
  client_->put(prefix_ + "a", "1");
  client_->put(prefix_ + "b", "2");
  client_->put(prefix_ + "a", "3");
  client_->del(prefix_ + "b");
  client_->txn({}, {Op::put(prefix_ + "c", "4"), Op::put(prefix_ + "d", "5")});
  client_->put("/elsewhere/" + prefix_, "not watched");
  ASSERT_TRUE(log.wait_for(6));
  std::lock_guard lock(log.mutex);
  ASSERT_EQ(log.events.size(), 6u);
  EXPECT_EQ(log.events[0].type, EventType::Put);
  EXPECT_EQ(log.events[0].kv.key, prefix_ + "a");
  EXPECT_EQ(log.events[0].kv.value, "1");
  EXPECT_EQ(log.events[2].kv.value, "3");
  EXPECT_EQ(log.events[2].kv.version, 2);
  EXPECT_EQ(log.events[3].type, EventType::Delete);
  EXPECT_EQ(log.events[3].kv.key, prefix_ + "b");
  EXPECT_EQ(log.events[4].kv.mod_revision, log.events[5].kv.mod_revision);  // one txn
  for (size_t i = 1; i < log.events.size(); ++i)
    EXPECT_GE(log.events[i].kv.mod_revision, log.events[i - 1].kv.mod_revision);
  EXPECT_TRUE(log.errors.empty());
  EXPECT_TRUE(watch->running());
  const auto t0 = std::chrono::steady_clock::now();
  watch->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_FALSE(watch->running());
}

TEST_F(EtcdClientTest, WatchFromARevisionReplaysHistory) {
  const int64_t r1 = client_->put(prefix_ + "x", "1");
  client_->put(prefix_ + "x", "2");
  client_->put(prefix_ + "y", "3");
  EventLog log;
  auto watch = client_->watch_prefix(prefix_, r1 + 1, [&](const std::vector<WatchEvent>& evs, int64_t) { log.add(evs); });
  ASSERT_TRUE(log.wait_for(2));
  std::lock_guard lock(log.mutex);
  ASSERT_EQ(log.events.size(), 2u);
  EXPECT_EQ(log.events[0].kv.value, "2");
  EXPECT_EQ(log.events[1].kv.value, "3");
}

TEST_F(EtcdClientTest, ErrorsWhenEtcdIsDownAreClearAndBounded) {
  ClientOptions o;
  const int port = pick_free_port();
  o.endpoints = {"http://127.0.0.1:" + std::to_string(port)};
  o.request_timeout = 500ms;
  Client down(o);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    down.get("/x");
    FAIL() << "get from a closed port succeeded";
  } catch (const EtcdError& e) {
    EXPECT_TRUE(e.unavailable());
    const std::string what = e.what();
    EXPECT_NE(what.find("KV/Range"), std::string::npos) << what;
    EXPECT_NE(what.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << what;
    EXPECT_NE(what.find("could not connect"), std::string::npos) << what;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_THROW(Client(ClientOptions{.endpoints = {"localhost:2379"}}), EtcdError);
}

TEST_F(EtcdClientTest, SecondEndpointAnswersWhenTheFirstIsDown) {
  ClientOptions o;
  o.endpoints = {"http://127.0.0.1:" + std::to_string(pick_free_port()), etcd_->endpoint()};
  o.request_timeout = 500ms;
  Client two(o);
  two.put(prefix_ + "k", "v");
  EXPECT_EQ(two.get(prefix_ + "k")->value, "v");
}

// A frozen etcd (SIGSTOP) accepts connections but never answers: a call fails after the timeout
// instead of hanging, and works again once etcd is thawed. A watch survives the freeze.
TEST_F(EtcdClientTest, FrozenEtcdTimesOutAndWatchResumes) {
  ClientOptions o;
  o.endpoints = {etcd_->endpoint()};
  o.request_timeout = 400ms;
  o.watch_idle_reconnect = 1000ms;
  Client c(o);
  EventLog log;
  auto watch = c.watch_prefix(prefix_, 0, [&](const std::vector<WatchEvent>& evs, int64_t) { log.add(evs); },
                              [&](const std::string& e) { log.error(e); });
  std::this_thread::sleep_for(200ms);
  c.put(prefix_ + "before", "1");
  ASSERT_TRUE(log.wait_for(1));
  etcd_->pause();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    c.put(prefix_ + "during", "2");
    ADD_FAILURE() << "put to a frozen etcd succeeded";
  } catch (const EtcdError& e) {
    EXPECT_TRUE(e.unavailable()) << e.what();
    EXPECT_NE(std::string(e.what()).find("KV/Put"), std::string::npos) << e.what();
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 1500ms);
  std::this_thread::sleep_for(1200ms);  // longer than the watch's idle reconnect
  etcd_->resume();
  c.put(prefix_ + "after", "3");
  // The put that timed out may still be applied once etcd thaws (it sat in the socket): a
  // timeout means "unknown", not "not done". Either way the watch sees every write exactly once.
  const bool during_applied = c.get(prefix_ + "during").has_value();
  ASSERT_TRUE(log.wait_for(during_applied ? 3 : 2));
  std::this_thread::sleep_for(100ms);
  std::lock_guard lock(log.mutex);
  std::set<std::string> keys;
  for (const auto& e : log.events) keys.insert(e.kv.key);
  EXPECT_EQ(log.events.size(), keys.size());  // nothing repeated
  EXPECT_TRUE(keys.count(prefix_ + "after"));
  EXPECT_EQ(log.events.size(), during_applied ? 3u : 2u);
  EXPECT_TRUE(log.errors.empty());
}

TEST_F(EtcdClientTest, WatchOfACompactedRevisionReportsIt) {
  client_->put(prefix_ + "a", "1");
  const int64_t rev = client_->put(prefix_ + "a", "2");
  // Compact through the gateway directly (the client has no compaction call: nothing needs one).
  httplib::Client raw("127.0.0.1", etcd_->client_port());
  auto res = raw.Post("/v3/kv/compaction", "{\"revision\":\"" + std::to_string(rev) + "\",\"physical\":true}", "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EventLog log;
  auto watch = client_->watch_prefix(prefix_, rev - 1, [&](const std::vector<WatchEvent>& evs, int64_t) { log.add(evs); },
                                     [&](const std::string& e) { log.error(e); });
  ASSERT_TRUE(log.wait_error());
  std::lock_guard lock(log.mutex);
  EXPECT_NE(log.errors[0].find("compacted"), std::string::npos) << log.errors[0];
  EXPECT_TRUE(log.events.empty());
}

TEST_F(EtcdClientTest, WatchGivesUpAfterTheRetryBudgetWithoutEtcd) {
  ClientOptions o;
  o.endpoints = {"http://127.0.0.1:" + std::to_string(pick_free_port())};
  o.request_timeout = 200ms;
  o.watch_retry_budget = 600ms;
  Client down(o);
  EventLog log;
  auto watch = down.watch_prefix("/x/", 0, [&](const std::vector<WatchEvent>& evs, int64_t) { log.add(evs); },
                                 [&](const std::string& e) { log.error(e); });
  ASSERT_TRUE(log.wait_error(3s));
  std::lock_guard lock(log.mutex);
  EXPECT_NE(log.errors[0].find("gave up"), std::string::npos) << log.errors[0];
  EXPECT_NE(log.errors[0].find("could not connect"), std::string::npos) << log.errors[0];
}

// A watch survives etcd going away and coming back (same member, same data, same ports): it
// reconnects from the revision after the last one it delivered, so nothing is lost or repeated.
TEST(EtcdWatchReconnect, ResumesAfterEtcdRestarts) {
  EtcdProcess etcd;
  try {
    etcd.start();
  } catch (const std::exception& e) {
    GTEST_SKIP() << "etcd did not start: " << e.what();
  }
  ClientOptions o;
  o.endpoints = {etcd.endpoint()};
  o.request_timeout = 500ms;
  o.watch_retry_budget = 0ms;  // for ever
  Client c(o);
  EventLog log;
  auto watch = c.watch_prefix("/r/", 0, [&](const std::vector<WatchEvent>& evs, int64_t) { log.add(evs); },
                              [&](const std::string& e) { log.error(e); });
  std::this_thread::sleep_for(200ms);
  c.put("/r/1", "a");
  ASSERT_TRUE(log.wait_for(1));
  etcd.kill();
  EXPECT_THROW(c.put("/r/x", "never"), EtcdError);
  std::this_thread::sleep_for(500ms);
  etcd.start();
  c.put("/r/2", "b");
  c.put("/r/3", "c");
  ASSERT_TRUE(log.wait_for(3, 8000ms));
  std::this_thread::sleep_for(200ms);
  std::lock_guard lock(log.mutex);
  ASSERT_EQ(log.events.size(), 3u);
  EXPECT_EQ(log.events[1].kv.key, "/r/2");
  EXPECT_EQ(log.events[2].kv.key, "/r/3");
  EXPECT_TRUE(log.errors.empty());
  const auto t0 = std::chrono::steady_clock::now();
  watch->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST(EtcdProcessStart, AMissingBinaryIsAClearError) {
  EtcdProcessOptions o;
  o.binary = "/nonexistent/etcd";
  EtcdProcess etcd(o);
  try {
    etcd.start();
    FAIL() << "started a missing binary";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("exited at start"), std::string::npos) << what;
    EXPECT_NE(what.find("cannot run /nonexistent/etcd"), std::string::npos) << what;
  }
  EXPECT_FALSE(etcd.running());
}

} // namespace
} // namespace nimbus::cloud::etcd

// The Redis Streams publisher against a real redis-server: the one the test
// run shares (HERALD_TEST_REDIS_URL; scripts/test.sh starts it), each test on
// streams of its own (a prefix named after the test), and, for outages, a
// server this test starts on a port of its own and kills. The relay drains a
// SQLite outbox that an application fills in its own transactions; an
// independent hiredis client reads back what the streams hold (XRANGE).
#include "publish/redis/redis_publisher.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "herald/relay.h"
#include "herald/sqlite.h"
#include "herald/store.h"
#include "publish/redis/redis_server.h"
#include "testing/faulty_store.h"
#include "testing/seed.h"
#include "testing/sqlite_outbox.h"

namespace herald::publish {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RedisClient;
using testing::RedisServer;
using testing::StreamEntry;

using herald::testing::SeedFromTestName;
using herald::testing::SqliteOutbox;

// Collects the deliveries of direct Publish() calls.
class Deliveries {
 public:
  Publisher::DeliveryCallback Callback() {
    return [this](std::size_t index, Delivery delivery) {
      std::lock_guard<std::mutex> lock(mu_);
      got_[index].push_back(std::move(delivery));
      cv_.notify_all();
    };
  }
  bool WaitFor(std::size_t n, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return got_.size() >= n; });
  }
  // Checks that each of [0, n) was reported exactly once; returns them.
  std::vector<Delivery> ExactlyOnce(std::size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Delivery> out(n);
    EXPECT_EQ(got_.size(), n);
    for (const auto& [index, got] : got_) {
      EXPECT_EQ(got.size(), 1u) << "index " << index << " reported " << got.size() << " times";
      if (index < n && !got.empty()) out[index] = got[0];
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::size_t, std::vector<Delivery>> got_;
};

class RedisPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = SeedFromTestName();
    rng_.seed(seed_);
    std::cout << "seed " << seed_ << "\n";
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string token;
    for (char c : name.substr(0, 40)) {
      token.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
    }
    prefix_ = fmt::format("herald_test:{}_{}:", token, ::getpid());
    outbox_.Open();
    store_ = outbox_.OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    outbox_.Close();
    if (!url_.empty()) {
      RedisClient client(url_);
      client.DeleteMatching(prefix_ + "*");
      client.DeleteMatching("herald:dedup:" + prefix_ + "*");
    }
  }

  // The server the test run shares. A test that needs it fails without it.
  void RequireSharedServer() {
    url_ = testing::SharedRedisUrl();
    if (url_.empty()) {
      GTEST_FAIL() << "HERALD_TEST_REDIS_URL is unset: start a server with scripts/redis.sh "
                      "start (scripts/test.sh does) and export HERALD_TEST_REDIS_URL=$(scripts/"
                      "redis.sh url)";
    }
  }

  PublisherOptions Options() const {
    PublisherOptions options;
    options.properties = {{"herald.stream.prefix", prefix_},
                          {"herald.reply_timeout_ms", "2000"},
                          {"connect_timeout_ms", "500"},
                          {"reconnect_wait_ms", "50"},
                          {"reconnect_wait_max_ms", "500"}};
    return options;
  }

  std::unique_ptr<RedisPublisher> OpenRedis(const std::string& url, PublisherOptions options) {
    auto publisher = RedisPublisher::Open(url, options);
    EXPECT_TRUE(publisher.has_value()) << publisher.error().ToString();
    return publisher.has_value() ? std::move(*publisher) : nullptr;
  }

  // Commits `count` events of `topic`, keys drawn from `keys`, `per_tx` per
  // application transaction; every seventh has a binary payload. Returns
  // them in enqueue order.
  std::vector<Event> Commit(int count, const std::vector<std::string>& keys, int per_tx,
                            const std::string& topic = "orders") {
    std::vector<Event> all;
    for (int i = 0; i < count; i += per_tx) {
      outbox_.Exec("BEGIN IMMEDIATE");
      outbox_.Exec(fmt::format("INSERT INTO business (note) VALUES ('tx {}')", i));
      for (int j = i; j < std::min(count, i + per_tx); ++j) {
        Event e = Event::Make(topic, keys[rng_() % keys.size()], "OrderPlaced",
                              fmt::format(R"({{"n":{}}})", j));
        if (j % 7 == 3) {
          e.payload = std::string("\0\r\n*3\r\n$", 8) + std::to_string(j) + std::string(1, '\xff');
          e.content_type = "application/octet-stream";
        }
        e.headers["traceparent"] = fmt::format("00-{:032x}-{:016x}-01", j, j);
        Status s = sqlite::Enqueue(outbox_.app(), e);
        EXPECT_TRUE(s.ok()) << s.ToString();
        all.push_back(std::move(e));
      }
      outbox_.Exec("COMMIT");
    }
    return all;
  }

  static std::vector<std::string> Keys(int n, const std::string& prefix = "acct-") {
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i) keys.push_back(prefix + std::to_string(i));
    return keys;
  }

  RelayOptions RelayOpts() const {
    RelayOptions options;
    options.batch_size = 500;
    options.max_attempts = 0;
    options.backoff_initial = milliseconds(100);
    options.backoff_max = milliseconds(1000);
    options.poll_interval = milliseconds(100);
    options.exit_when_drained = true;
    options.seed = seed_;
    return options;
  }

  Status RunRelay(Store& store, Publisher& publisher, RelayStats* stats = nullptr) {
    Relay relay(store, publisher, RelayOpts());
    Status status = relay.Run();
    if (stats != nullptr) *stats = relay.stats();
    return status;
  }

  std::int64_t Pending() {
    auto stats = store_->Stats();
    EXPECT_TRUE(stats.has_value());
    return stats.has_value() ? stats->pending : -1;
  }

  std::vector<DeadLetter> DeadLetters() {
    DeadLetterFilter all;
    all.all = true;
    auto dead = store_->ListDeadLetters(all, 1000);
    EXPECT_TRUE(dead.has_value());
    return dead.value_or(std::vector<DeadLetter>{});
  }

  // Checks that `stored` (one stream, in stream order) holds every event of
  // `events` exactly as enqueued (every field), nothing else, and that for
  // each key the first copies follow enqueue order. Returns how many
  // duplicates the stream holds.
  std::size_t ExpectAllStoredInKeyOrder(const std::vector<Event>& events,
                                        const std::vector<StreamEntry>& stored,
                                        const std::string& source = "herald") const {
    std::map<std::string, const Event*> by_id;
    std::map<std::string, std::vector<std::string>> enqueued_per_key;
    for (const Event& e : events) {
      by_id[e.id.ToString()] = &e;
      enqueued_per_key[e.key].push_back(e.id.ToString());
    }
    std::set<std::string> seen;
    std::map<std::string, std::vector<std::string>> first_per_key;
    std::size_t duplicates = 0;
    for (const StreamEntry& m : stored) {
      const std::string id = m.Field("ce-id");
      auto it = by_id.find(id);
      if (it == by_id.end()) {
        ADD_FAILURE() << "unexpected entry " << m.id << " with ce-id " << id;
        continue;
      }
      const Event& e = *it->second;
      std::vector<std::pair<std::string, std::string>> expected = {
          {"ce-id", id},
          {"ce-type", e.type},
          {"ce-source", source},
          {"ce-time", FormatRfc3339(e.created_at)},
          {"ce-specversion", "1.0"}};
      if (!e.key.empty()) expected.emplace_back("ce-subject", e.key);
      expected.emplace_back("content-type", e.content_type);
      for (const auto& [name, value] : e.headers) expected.emplace_back(name, value);
      expected.emplace_back("data", e.payload);
      EXPECT_EQ(m.fields, expected) << "entry " << m.id;
      if (!seen.insert(id).second) {
        ++duplicates;
        continue;
      }
      first_per_key[e.key].push_back(id);
    }
    EXPECT_EQ(seen.size(), events.size()) << "events lost";
    for (const auto& [key, ids] : enqueued_per_key) {
      if (key.empty()) continue;  // no order to keep
      EXPECT_EQ(first_per_key[key], ids) << "order of key " << key;
    }
    return duplicates;
  }

  std::uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::string url_;
  std::string prefix_;
  SqliteOutbox outbox_{"herald_redis_test"};
  std::unique_ptr<Store> store_;
};

TEST_F(RedisPublisherTest, I1I3RelaysEveryCommittedEventExactlyAsEnqueuedInKeyOrder) {
  RequireSharedServer();
  std::vector<std::string> keys = Keys(12);
  keys.push_back("");  // no key: no ce-subject, no order
  std::vector<Event> events = Commit(1500, keys, /*per_tx=*/5);
  // A rolled-back transaction never reaches the bus.
  outbox_.Exec("BEGIN IMMEDIATE");
  ASSERT_TRUE(sqlite::Enqueue(outbox_.app(), Event::Make("orders", "acct-0", "Ghost", "{}")).ok());
  outbox_.Exec("ROLLBACK");

  PublisherOptions options = Options();
  options.properties["herald.ce.source"] = "/billing";
  auto publisher = OpenRedis(url_, options);
  ASSERT_NE(publisher, nullptr);
  EXPECT_FALSE(publisher->guarantees().keeps_key_order);
  EXPECT_TRUE(publisher->guarantees().deduplicates_by_id);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  EXPECT_EQ(stats.published, events.size());
  EXPECT_EQ(stats.retried + stats.unavailable + stats.dead_lettered, 0u);
  EXPECT_EQ(Pending(), 0);
  EXPECT_EQ(publisher->duplicates(), 0u);

  RedisClient client(url_);
  std::vector<StreamEntry> stored = client.ReadAll(prefix_ + "orders");
  EXPECT_EQ(ExpectAllStoredInKeyOrder(events, stored, "/billing"), 0u);
  EXPECT_EQ(stored.size(), events.size());
  // One de-duplication key per event, expiring.
  EXPECT_EQ(client.CountMatching("herald:dedup:" + prefix_ + "orders:*"), events.size());
  const std::string ttl =
      client.Run({"PTTL", "herald:dedup:" + prefix_ + "orders:" + events[0].id.ToString()});
  EXPECT_GT(std::stoll(ttl), 0) << ttl;
  EXPECT_LE(std::stoll(ttl), 600000) << ttl;
}

TEST_F(RedisPublisherTest, I4RepublishOfTheSameEventsAddsNoSecondEntry) {
  RequireSharedServer();
  auto publisher = OpenRedis(url_, Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 50; ++i) {
    events.push_back(Event::Make("orders", fmt::format("k{}", i % 5), "T", fmt::format("{}", i)));
  }
  for (int round = 0; round < 2; ++round) {
    Deliveries deliveries;
    publisher->Publish(events, deliveries.Callback());
    ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(10)));
    for (const Delivery& d : deliveries.ExactlyOnce(events.size())) {
      EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
    }
  }
  EXPECT_EQ(publisher->duplicates(), events.size());
  // A publisher of its own (a relay restarted after a crash) too.
  auto again = OpenRedis(url_, Options());
  ASSERT_NE(again, nullptr);
  Deliveries third;
  again->Publish(events, third.Callback());
  ASSERT_TRUE(third.WaitFor(events.size(), seconds(10)));
  for (const Delivery& d : third.ExactlyOnce(events.size())) {
    EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
  }
  EXPECT_EQ(again->duplicates(), events.size());
  RedisClient client(url_);
  EXPECT_EQ(client.Run({"XLEN", prefix_ + "orders"}), std::to_string(events.size()));
  EXPECT_EQ(ExpectAllStoredInKeyOrder(events, client.ReadAll(prefix_ + "orders")), 0u);
}

TEST_F(RedisPublisherTest, WithoutADedupWindowEveryPublishIsAPlainXadd) {
  RequireSharedServer();
  PublisherOptions options = Options();
  options.properties["herald.dedup_window_ms"] = "0";
  auto publisher = OpenRedis(url_, options);
  ASSERT_NE(publisher, nullptr);
  EXPECT_FALSE(publisher->guarantees().deduplicates_by_id);
  std::vector<Event> events = {Event::Make("orders", "k", "T", "1"),
                               Event::Make("orders", "", "T", std::string("\0x", 2))};
  for (int round = 0; round < 2; ++round) {
    Deliveries deliveries;
    publisher->Publish(events, deliveries.Callback());
    ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(10)));
    for (const Delivery& d : deliveries.ExactlyOnce(events.size())) {
      EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
    }
  }
  RedisClient client(url_);
  std::vector<StreamEntry> stored = client.ReadAll(prefix_ + "orders");
  EXPECT_EQ(ExpectAllStoredInKeyOrder(events, stored), 2u);
  EXPECT_EQ(client.CountMatching("herald:dedup:" + prefix_ + "*"), 0u);
}

TEST_F(RedisPublisherTest, AFlushedScriptCacheFallsBackToEval) {
  RequireSharedServer();
  auto publisher = OpenRedis(url_, Options());
  ASSERT_NE(publisher, nullptr);
  RedisClient client(url_);
  std::vector<Event> first = {Event::Make("orders", "k", "T", "1")};
  Deliveries d1;
  publisher->Publish(first, d1.Callback());
  ASSERT_TRUE(d1.WaitFor(1, seconds(10)));
  EXPECT_EQ(d1.ExactlyOnce(1)[0].outcome, Outcome::kPublished);
  ASSERT_EQ(client.Run({"SCRIPT", "FLUSH"}), "OK");
  std::vector<Event> more;
  for (int i = 0; i < 20; ++i) more.push_back(Event::Make("orders", "k", "T", std::to_string(i)));
  Deliveries d2;
  publisher->Publish(more, d2.Callback());
  ASSERT_TRUE(d2.WaitFor(more.size(), seconds(10)));
  for (const Delivery& d : d2.ExactlyOnce(more.size())) {
    EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
  }
  more.insert(more.begin(), first.begin(), first.end());
  EXPECT_EQ(ExpectAllStoredInKeyOrder(more, client.ReadAll(prefix_ + "orders")), 0u);
}

TEST_F(RedisPublisherTest, I6AWrongTypeAtTheStreamKeyIsDeadLetteredWithTheAnswerOthersFlow) {
  RequireSharedServer();
  RedisClient client(url_);
  ASSERT_EQ(client.Run({"SET", prefix_ + "audit", "not a stream"}), "OK");
  std::vector<Event> orders = Commit(200, Keys(6), /*per_tx=*/4);
  std::vector<Event> lost = Commit(5, {"lost-key"}, /*per_tx=*/1, "audit");
  std::vector<Event> more = Commit(200, Keys(6), /*per_tx=*/4);
  orders.insert(orders.end(), more.begin(), more.end());

  auto publisher = OpenRedis(url_, Options());
  ASSERT_NE(publisher, nullptr);
  ASSERT_TRUE(RunRelay(*store_, *publisher).ok());
  EXPECT_EQ(Pending(), 0);
  std::vector<DeadLetter> dead = DeadLetters();
  ASSERT_EQ(dead.size(), lost.size());
  for (const DeadLetter& d : dead) {
    EXPECT_EQ(d.event.topic, "audit");
    EXPECT_THAT(d.error, HasSubstr("WRONGTYPE"));
    EXPECT_THAT(d.error, HasSubstr(prefix_ + "audit"));
  }
  // The failed XADD left no de-duplication key: once the key is fixed, a
  // retried dead letter lands.
  EXPECT_EQ(client.CountMatching("herald:dedup:" + prefix_ + "audit:*"), 0u);
  ExpectAllStoredInKeyOrder(orders, client.ReadAll(prefix_ + "orders"));
}

TEST_F(RedisPublisherTest, MaxlenTrimsTheStreamApproximately) {
  RequireSharedServer();
  PublisherOptions options = Options();
  options.properties["herald.maxlen"] = "100";
  auto publisher = OpenRedis(url_, options);
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 1000; ++i) events.push_back(Event::Make("orders", "", "T", "{}"));
  Deliveries deliveries;
  publisher->Publish(events, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(10)));
  for (const Delivery& d : deliveries.ExactlyOnce(events.size())) {
    EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
  }
  RedisClient client(url_);
  const long long len = std::stoll(client.Run({"XLEN", prefix_ + "orders"}));
  EXPECT_GE(len, 100);
  EXPECT_LT(len, 1000);
}

TEST_F(RedisPublisherTest, WaitWithoutEnoughReplicasIsRetryButTheEntryIsStoredOnce) {
  RequireSharedServer();
  PublisherOptions options = Options();
  options.properties["herald.wait"] = "1,50";  // the test server has no replica
  auto publisher = OpenRedis(url_, options);
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 10; ++i) events.push_back(Event::Make("orders", "k", "T", std::to_string(i)));
  for (int round = 0; round < 2; ++round) {
    Deliveries deliveries;
    publisher->Publish(events, deliveries.Callback());
    ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(10)));
    for (const Delivery& d : deliveries.ExactlyOnce(events.size())) {
      EXPECT_EQ(d.outcome, Outcome::kRetry) << d.error;
      EXPECT_THAT(d.error, HasSubstr("0 of 1 replicas"));
    }
  }
  RedisClient client(url_);
  EXPECT_EQ(client.Run({"XLEN", prefix_ + "orders"}), std::to_string(events.size()));

  options.properties["herald.wait"] = "0";  // no WAIT
  auto zero = OpenRedis(url_, options);
  ASSERT_NE(zero, nullptr);
  Deliveries deliveries;
  zero->Publish(events, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(10)));
  for (const Delivery& d : deliveries.ExactlyOnce(events.size())) {
    EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
  }
}

TEST_F(RedisPublisherTest, UnreachableServerReportsEveryEventUnavailableWithoutThePassword) {
  RedisServer server;  // never started: nothing listens on its port
  auto publisher =
      OpenRedis(fmt::format("redis://:hunter2@127.0.0.1:{}", server.port()), Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 20; ++i) events.push_back(Event::Make("orders", "k", "T", "{}"));
  for (int round = 0; round < 2; ++round) {  // the second within the reconnection backoff
    Deliveries deliveries;
    publisher->Publish(events, deliveries.Callback());
    ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(10)));
    for (const Delivery& d : deliveries.ExactlyOnce(events.size())) {
      EXPECT_EQ(d.outcome, Outcome::kUnavailable) << d.error;
      EXPECT_THAT(d.error, HasSubstr("no connection to redis://:***@127.0.0.1"));
      EXPECT_THAT(d.error, Not(HasSubstr("hunter2")));
    }
  }
  EXPECT_EQ(publisher->connections(), 0);
}

TEST_F(RedisPublisherTest, TheUrlsCredentialsAndDatabaseAreUsedAndAWrongPasswordIsUnavailable) {
  RedisServer server({"--requirepass", "s3cret"});
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  RedisClient client(server.url());
  ASSERT_EQ(client.Run({"AUTH", "s3cret"}), "OK");
  ASSERT_EQ(client.Run({"ACL", "SETUSER", "relay", "on", ">r%l@y", "~*", "+@all"}), "OK");
  std::vector<Event> events;
  for (int i = 0; i < 5; ++i) events.push_back(Event::Make("orders", "k", "T", std::to_string(i)));
  auto publish = [&](const std::string& url) {
    auto publisher = OpenRedis(url, Options());
    EXPECT_NE(publisher, nullptr);
    Deliveries deliveries;
    if (publisher != nullptr) publisher->Publish(events, deliveries.Callback());
    EXPECT_TRUE(deliveries.WaitFor(events.size(), seconds(10)));
    return deliveries.ExactlyOnce(events.size());
  };
  const std::string hostport = fmt::format("127.0.0.1:{}", server.port());
  // The default user's password, database 3.
  for (const Delivery& d : publish(fmt::format("redis://:s3cret@{}/3", hostport))) {
    EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
  }
  // An ACL user, its password percent-encoded, database 0.
  for (const Delivery& d : publish(fmt::format("redis://relay:r%25l%40y@{}", hostport))) {
    EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
  }
  EXPECT_EQ(client.Run({"XLEN", prefix_ + "orders"}), std::to_string(events.size()));
  ASSERT_EQ(client.Run({"SELECT", "3"}), "OK");
  EXPECT_EQ(client.Run({"XLEN", prefix_ + "orders"}), std::to_string(events.size()));
  // A password the server refuses: no connection, the password masked.
  for (const Delivery& d : publish(fmt::format("redis://:wr0ng@{}", hostport))) {
    EXPECT_EQ(d.outcome, Outcome::kUnavailable) << d.error;
    EXPECT_THAT(d.error, HasSubstr("AUTH"));
    EXPECT_THAT(d.error, Not(HasSubstr("wr0ng")));
  }
}

TEST_F(RedisPublisherTest, BadUrlsAndOptionsAreInvalidArgument) {
  for (std::string_view url : {"redis://", "redis://h", "redis://h:1/x", "rediss://h:1",
                               "redis://h:1?x=1"}) {
    if (url == "redis://h") continue;  // the default port: valid
    auto p = OpenPublisher(url);
    ASSERT_FALSE(p.has_value()) << url;
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument) << url;
  }
  PublisherOptions options;
  options.properties["herald.maxlen"] = "many";
  auto p = OpenPublisher("redis://127.0.0.1:1", options);
  ASSERT_FALSE(p.has_value());
  EXPECT_THAT(p.error().message(), HasSubstr("herald.maxlen"));
  auto tls = OpenPublisher("rediss://127.0.0.1:1");
  ASSERT_FALSE(tls.has_value());
  EXPECT_THAT(tls.error().message(), HasSubstr("not supported"));
}

TEST_F(RedisPublisherTest, AServerThatStopsAnsweringIsRetryThenTheRepublishAddsNoSecondEntry) {
  RedisServer server;
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  PublisherOptions options = Options();
  options.properties["herald.reply_timeout_ms"] = "300";
  auto publisher = OpenRedis(server.url(), options);
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 30; ++i) {
    events.push_back(Event::Make("orders", fmt::format("k{}", i % 3), "T", std::to_string(i)));
  }
  // Connected first, then the server stops answering with the entries on
  // their way: no reply within the timeout is kRetry, never kPublished.
  Deliveries warm;
  std::vector<Event> first = {Event::Make("orders", "w", "T", "{}")};
  publisher->Publish(first, warm.Callback());
  ASSERT_TRUE(warm.WaitFor(1, seconds(10)));
  ASSERT_EQ(warm.ExactlyOnce(1)[0].outcome, Outcome::kPublished);
  server.Pause();
  Deliveries stalled;
  publisher->Publish(events, stalled.Callback());
  ASSERT_TRUE(stalled.WaitFor(events.size(), seconds(10)));
  for (const Delivery& d : stalled.ExactlyOnce(events.size())) {
    EXPECT_EQ(d.outcome, Outcome::kRetry) << d.error;
    EXPECT_THAT(d.error, HasSubstr("no reply within 300 ms"));
  }
  // Answering again, the server runs what it had received; the re-publish
  // finds those entries and adds nothing.
  server.Resume();
  std::vector<Delivery> last;
  for (int attempt = 0; attempt < 20; ++attempt) {
    Deliveries again;
    publisher->Publish(events, again.Callback());
    ASSERT_TRUE(again.WaitFor(events.size(), seconds(10)));
    last = again.ExactlyOnce(events.size());
    if (std::all_of(last.begin(), last.end(),
                    [](const Delivery& d) { return d.outcome == Outcome::kPublished; })) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  for (const Delivery& d : last) EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
  RedisClient client(server.url());
  events.insert(events.begin(), first.begin(), first.end());
  EXPECT_EQ(ExpectAllStoredInKeyOrder(events, client.ReadAll(prefix_ + "orders")), 0u);
  std::cout << "duplicates found " << publisher->duplicates() << "\n";
}

TEST_F(RedisPublisherTest, I6OverMaxmemoryIsRejectedWithTheServersAnswer) {
  RedisServer server({"--maxmemory-policy", "noeviction"});
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  RedisClient client(server.url());
  // 8 MiB stored, then a limit below it: every write is refused.
  ASSERT_EQ(client.Run({"SET", "ballast", std::string(8 << 20, 'b')}), "OK");
  ASSERT_EQ(client.Run({"CONFIG", "SET", "maxmemory", "2mb"}), "OK");
  ASSERT_THAT(client.Run({"SET", "x", "y"}), HasSubstr("OOM"));
  auto publisher = OpenRedis(server.url(), Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events = {Event::Make("orders", "k", "T", "{}")};
  Deliveries deliveries;
  publisher->Publish(events, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(1, seconds(10)));
  const Delivery d = deliveries.ExactlyOnce(1)[0];
  EXPECT_EQ(d.outcome, Outcome::kRejected) << d.error;
  EXPECT_THAT(d.error, HasSubstr("OOM"));
  EXPECT_EQ(client.Run({"EXISTS", prefix_ + "orders"}), "0");
}

TEST_F(RedisPublisherTest, I2ServerKilledMidDrainThenRestartedLosesNothing) {
  // AOF fsync on every write: a process kill loses nothing the server
  // acknowledged (with everysec that holds for a process kill too, but a
  // slow disk may postpone the write; see docs/redis.md).
  RedisServer server({"--appendfsync", "always"});
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  constexpr int kEvents = 20000;
  std::vector<Event> events = Commit(kEvents, Keys(200), /*per_tx=*/100);
  PublisherOptions options = Options();
  options.properties["herald.reply_timeout_ms"] = "1000";
  auto publisher = OpenRedis(server.url(), options);
  ASSERT_NE(publisher, nullptr);

  // At the 6th settlement the server is killed (SIGKILL) for three seconds.
  herald::testing::FaultyStore faulty(*store_);
  std::atomic<bool> killed{false};
  std::jthread restarter;
  faulty.OnSettle([&](int n) {
    if (n != 6) return;
    server.Kill();
    killed = true;
    restarter = std::jthread([&] {
      std::this_thread::sleep_for(seconds(3));
      std::string why;
      EXPECT_TRUE(server.Start(&why)) << why;
    });
  });
  RelayStats stats;
  ASSERT_TRUE(RunRelay(faulty, *publisher, &stats).ok());
  if (restarter.joinable()) restarter.join();
  ASSERT_TRUE(killed.load()) << "the outage never started";
  std::cout << "published " << stats.published << ", unavailable " << stats.unavailable
            << ", retried " << stats.retried << ", duplicates found " << publisher->duplicates()
            << ", connections " << publisher->connections() << "\n";
  EXPECT_GT(stats.unavailable + stats.retried, 0u) << "the outage was not seen";
  EXPECT_GE(publisher->connections(), 2);
  EXPECT_EQ(Pending(), 0);
  EXPECT_TRUE(DeadLetters().empty());

  RedisClient client(server.url());
  std::vector<StreamEntry> stored = client.ReadAll(prefix_ + "orders");
  const std::size_t duplicates = ExpectAllStoredInKeyOrder(events, stored);
  std::cout << "stored " << stored.size() << ", duplicates stored " << duplicates << "\n";
  // Re-publishes carry the same event id within the window: the script
  // finds the key (kept in the AOF) and adds nothing.
  EXPECT_EQ(duplicates, 0u);
}

}  // namespace
}  // namespace herald::publish

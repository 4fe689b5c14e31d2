// The RabbitMQ publisher against a real rabbitmq-server: the node the test
// run shares (HERALD_TEST_RABBITMQ_URL; scripts/test.sh starts it), each test
// on exchanges and queues of its own, and, for outages, a node this test
// starts on ports of its own and kills. The relay drains a SQLite outbox that
// an application fills in its own transactions; an independent rabbitmq-c
// consumer reads back what a queue bound to the exchange holds.
#include "publish/rabbitmq/rabbitmq_publisher.h"

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
#include <filesystem>
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
#include "publish/rabbitmq/rabbitmq_server.h"
#include "testing/faulty_store.h"
#include "testing/seed.h"
#include "testing/sqlite_outbox.h"

namespace herald::publish {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using testing::AmqpClient;
using testing::AmqpMessage;
using testing::RabbitMqServer;

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
      EXPECT_LT(index, n);
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

class RabbitMqPublisherTest : public ::testing::Test {
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
    token += fmt::format("_{}", ::getpid());
    exchange_ = "herald_test." + token;
    queue_ = "herald_test_q." + token;
    outbox_.Open();
    store_ = outbox_.OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    outbox_.Close();
  }

  // The node the test run shares. A test that needs it fails without it.
  void RequireSharedServer() {
    url_ = testing::SharedRabbitMqUrl();
    if (url_.empty()) {
      GTEST_FAIL() << "HERALD_TEST_RABBITMQ_URL is unset: start a node with scripts/rabbitmq.sh "
                      "start (scripts/test.sh does) and export "
                      "HERALD_TEST_RABBITMQ_URL=$(scripts/rabbitmq.sh url)";
    }
  }

  // This test's topic exchange and a durable queue bound to it for `key`.
  void MakeExchangeAndQueue(AmqpClient& client, const std::string& key = "#") {
    ASSERT_TRUE(client.DeclareExchange(exchange_, "topic"));
    ASSERT_TRUE(client.DeclareQueue(queue_));
    ASSERT_TRUE(client.Bind(queue_, exchange_, key));
  }
  void Cleanup(AmqpClient& client) {
    client.DeleteQueue(queue_);
    client.DeleteExchange(exchange_);
  }

  PublisherOptions Options() const {
    PublisherOptions options;
    options.properties = {{"confirm_timeout_ms", "3000"}, {"connect_timeout_ms", "1000"}};
    return options;
  }

  std::unique_ptr<RabbitMqPublisher> OpenRabbit(const std::string& url,
                                                PublisherOptions options) {
    auto publisher = RabbitMqPublisher::Open(url, options);
    EXPECT_TRUE(publisher.has_value()) << publisher.error().ToString();
    return publisher.has_value() ? std::move(*publisher) : nullptr;
  }

  // Commits `count` events of `topic` (default: this test's exchange, routing
  // key orders.placed), keys drawn from `keys`, `per_tx` per application
  // transaction. Returns them in enqueue order.
  std::vector<Event> Commit(int count, const std::vector<std::string>& keys, int per_tx,
                            std::string topic = "", std::size_t pad = 0) {
    if (topic.empty()) topic = exchange_ + "/orders.placed";
    std::vector<Event> all;
    for (int i = 0; i < count; i += per_tx) {
      outbox_.Exec("BEGIN IMMEDIATE");
      outbox_.Exec(fmt::format("INSERT INTO business (note) VALUES ('tx {}')", i));
      for (int j = i; j < std::min(count, i + per_tx); ++j) {
        Event e = Event::Make(topic, keys[rng_() % keys.size()], "OrderPlaced",
                              fmt::format(R"({{"n":{},"pad":"{}"}})", j, std::string(pad, 'p')));
        e.headers["traceparent"] = fmt::format("00-{:032x}-{:016x}-01", j, j);
        Status s = sqlite::Enqueue(outbox_.app(), e);
        EXPECT_TRUE(s.ok()) << s.ToString();
        all.push_back(std::move(e));
      }
      outbox_.Exec("COMMIT");
    }
    return all;
  }

  std::vector<Event> MakeEvents(int n, int keys, const std::string& topic) {
    std::vector<Event> events;
    for (int i = 0; i < n; ++i) {
      events.push_back(Event::Make(topic, fmt::format("k{}", rng_() % keys), "T",
                                   fmt::format(R"({{"n":{}}})", i)));
    }
    return events;
  }

  static std::vector<std::string> Keys(int n) {
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i) keys.push_back("acct-" + std::to_string(i));
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

  // Checks that `stored` holds every event of `events` exactly as enqueued
  // (exchange, routing key, payload, properties, CloudEvents and own
  // headers), nothing else, and that for each key the first copies follow
  // enqueue order. Returns how many duplicates the queue holds.
  std::size_t ExpectAllStoredInKeyOrder(const std::vector<Event>& events,
                                        const std::vector<AmqpMessage>& stored) const {
    std::map<std::string, const Event*> by_id;
    std::map<std::string, std::vector<std::string>> enqueued_per_key;
    for (const Event& e : events) {
      by_id[e.id.ToString()] = &e;
      enqueued_per_key[e.key].push_back(e.id.ToString());
    }
    std::set<std::string> seen;
    std::map<std::string, std::vector<std::string>> first_per_key;
    std::size_t duplicates = 0;
    for (const AmqpMessage& m : stored) {
      auto header = [&m](const std::string& name) {
        auto it = m.headers.find(name);
        return it == m.headers.end() ? std::string("<none>") : it->second;
      };
      auto it = by_id.find(m.message_id);
      if (it == by_id.end()) {
        ADD_FAILURE() << "unexpected message " << m.message_id;
        continue;
      }
      const Event& e = *it->second;
      const std::size_t slash = e.topic.find('/');
      EXPECT_EQ(m.exchange, e.topic.substr(0, slash));
      EXPECT_EQ(m.routing_key, e.topic.substr(slash + 1));
      EXPECT_EQ(m.body, e.payload);
      EXPECT_EQ(m.type, e.type);
      EXPECT_EQ(m.content_type, e.content_type);
      EXPECT_EQ(m.app_id, "herald");
      EXPECT_EQ(m.delivery_mode, 2);
      EXPECT_EQ(m.timestamp,
                static_cast<std::uint64_t>(std::chrono::duration_cast<seconds>(
                                               e.created_at.time_since_epoch())
                                               .count()));
      EXPECT_EQ(header("cloudEvents:id"), m.message_id);
      EXPECT_EQ(header("cloudEvents:type"), e.type);
      EXPECT_EQ(header("cloudEvents:specversion"), "1.0");
      EXPECT_EQ(header("cloudEvents:time"), FormatRfc3339(e.created_at));
      EXPECT_EQ(header("cloudEvents:subject"), e.key.empty() ? "<none>" : e.key);
      for (const auto& [name, value] : e.headers) EXPECT_EQ(header(name), value) << name;
      if (!seen.insert(m.message_id).second) {
        ++duplicates;
        continue;
      }
      first_per_key[e.key].push_back(m.message_id);
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
  std::string exchange_;
  std::string queue_;
  SqliteOutbox outbox_{"herald_rabbitmq_test"};
  std::unique_ptr<Store> store_;
};

TEST_F(RabbitMqPublisherTest, I1I3RelaysEveryCommittedEventExactlyAsEnqueuedInKeyOrder) {
  RequireSharedServer();
  AmqpClient client(url_);
  MakeExchangeAndQueue(client);
  std::vector<std::string> keys = Keys(12);
  keys.push_back("");  // no key: no cloudEvents:subject, no order
  std::vector<Event> events = Commit(1500, keys, /*per_tx=*/5);
  // A rolled-back transaction never reaches the bus.
  outbox_.Exec("BEGIN IMMEDIATE");
  ASSERT_TRUE(
      sqlite::Enqueue(outbox_.app(), Event::Make(exchange_ + "/x", "acct-0", "Ghost", "{}")).ok());
  outbox_.Exec("ROLLBACK");

  PublisherOptions options = Options();
  options.properties["ce.source"] = "/billing";
  auto publisher = OpenRabbit(url_, options);
  ASSERT_NE(publisher, nullptr);
  EXPECT_FALSE(publisher->guarantees().keeps_key_order);
  EXPECT_FALSE(publisher->guarantees().deduplicates_by_id);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  EXPECT_EQ(stats.published, events.size());
  EXPECT_EQ(stats.retried + stats.unavailable + stats.dead_lettered, 0u);
  EXPECT_EQ(Pending(), 0);
  EXPECT_EQ(publisher->connections(), 1);

  std::vector<AmqpMessage> stored = client.ReadAll(queue_, events.size() + 1, seconds(1));
  EXPECT_EQ(ExpectAllStoredInKeyOrder(events, stored), 0u);
  EXPECT_EQ(stored.size(), events.size());
  for (const AmqpMessage& m : stored) EXPECT_EQ(m.headers.at("cloudEvents:source"), "/billing");
  Cleanup(client);
}

TEST_F(RabbitMqPublisherTest, CallsInFlightEachReportEveryEventOnceAndATopicWithoutSlashUsesTheExchangeOption) {
  RequireSharedServer();
  AmqpClient client(url_);
  MakeExchangeAndQueue(client, "plain.#");
  PublisherOptions options = Options();
  options.properties["exchange"] = exchange_;
  options.properties["confirm_window"] = "16";  // far fewer than the events in flight
  auto publisher = OpenRabbit(url_, options);
  ASSERT_NE(publisher, nullptr);
  constexpr int kCalls = 5;
  std::vector<std::vector<Event>> calls;
  std::vector<std::unique_ptr<Deliveries>> deliveries;
  for (int c = 0; c < kCalls; ++c) {
    calls.push_back(MakeEvents(200, 7, fmt::format("plain.c{}", c)));
    deliveries.push_back(std::make_unique<Deliveries>());
  }
  for (int c = 0; c < kCalls; ++c) publisher->Publish(calls[c], deliveries[c]->Callback());
  std::set<std::string> ids;
  for (int c = 0; c < kCalls; ++c) {
    ASSERT_TRUE(deliveries[c]->WaitFor(calls[c].size(), seconds(20)));
    for (const Delivery& d : deliveries[c]->ExactlyOnce(calls[c].size())) {
      EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
    }
    for (const Event& e : calls[c]) ids.insert(e.id.ToString());
  }
  std::vector<AmqpMessage> stored = client.ReadAll(queue_, ids.size() + 1, seconds(1));
  ASSERT_EQ(stored.size(), ids.size());
  for (const AmqpMessage& m : stored) {
    EXPECT_EQ(m.exchange, exchange_);
    EXPECT_TRUE(m.routing_key.starts_with("plain.c")) << m.routing_key;
    EXPECT_EQ(ids.erase(m.message_id), 1u) << m.message_id;
  }
  Cleanup(client);
}

TEST_F(RabbitMqPublisherTest, I6AnUnroutableMessageIsRejectedWithTheBrokersReasonOthersFlow) {
  RequireSharedServer();
  AmqpClient client(url_);
  MakeExchangeAndQueue(client, "routed.#");
  auto publisher = OpenRabbit(url_, Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events = MakeEvents(30, 3, exchange_ + "/routed.a");
  for (int i : {3, 17, 29}) events[i].topic = exchange_ + "/nowhere.b";  // no queue bound
  Deliveries deliveries;
  publisher->Publish(events, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(20)));
  std::vector<Delivery> got = deliveries.ExactlyOnce(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].topic.ends_with("nowhere.b")) {
      EXPECT_EQ(got[i].outcome, Outcome::kRejected) << i;
      EXPECT_THAT(got[i].error, HasSubstr("312 NO_ROUTE"));
    } else {
      EXPECT_EQ(got[i].outcome, Outcome::kPublished) << i << ": " << got[i].error;
    }
  }
  EXPECT_EQ(client.ReadAll(queue_, events.size(), seconds(1)).size(), events.size() - 3);

  // Through the relay: dead-lettered with the reason, never dropped in silence.
  std::vector<Event> committed = Commit(40, Keys(4), 10, exchange_ + "/routed.x");
  std::vector<Event> lost = Commit(2, Keys(1), 1, exchange_ + "/nowhere.c");
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  EXPECT_EQ(stats.published, committed.size());
  EXPECT_EQ(stats.dead_lettered, lost.size());
  std::vector<DeadLetter> dead = DeadLetters();
  ASSERT_EQ(dead.size(), lost.size());
  for (const DeadLetter& d : dead) EXPECT_THAT(d.error, HasSubstr("NO_ROUTE"));
  Cleanup(client);
}

TEST_F(RabbitMqPublisherTest, I6AnExchangeThatDoesNotExistIsRejectedAndTheNextCallWorks) {
  RequireSharedServer();
  AmqpClient client(url_);
  MakeExchangeAndQueue(client);
  auto publisher = OpenRabbit(url_, Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events = MakeEvents(20, 4, exchange_ + "/orders.a");
  events[7].topic = exchange_ + "_missing/orders.a";
  Deliveries first;
  publisher->Publish(events, first.Callback());
  ASSERT_TRUE(first.WaitFor(events.size(), seconds(20)));
  std::vector<Delivery> got = first.ExactlyOnce(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i == 7) {
      EXPECT_EQ(got[i].outcome, Outcome::kRejected);
      EXPECT_THAT(got[i].error, HasSubstr("404"));
      EXPECT_THAT(got[i].error, HasSubstr(exchange_ + "_missing"));
    } else {
      EXPECT_EQ(got[i].outcome, Outcome::kPublished) << i << ": " << got[i].error;
    }
  }
  // The exchange deleted under a publisher that knew it: the broker closes
  // the channel, the events are rejected, and the channel is made anew.
  const std::string other = exchange_ + "_deleted";
  ASSERT_TRUE(client.DeclareExchange(other, "topic"));
  std::vector<Event> warm = MakeEvents(1, 1, other + "/x");
  Deliveries warmed;
  publisher->Publish(warm, warmed.Callback());
  ASSERT_TRUE(warmed.WaitFor(1, seconds(20)));
  EXPECT_EQ(warmed.ExactlyOnce(1)[0].outcome, Outcome::kRejected);  // no queue bound: returned
  client.DeleteExchange(other);
  std::vector<Event> gone = MakeEvents(3, 1, other + "/x");
  Deliveries deleted;
  publisher->Publish(gone, deleted.Callback());
  ASSERT_TRUE(deleted.WaitFor(gone.size(), seconds(20)));
  for (const Delivery& d : deleted.ExactlyOnce(gone.size())) {
    EXPECT_EQ(d.outcome, Outcome::kRejected) << d.error;
    EXPECT_THAT(d.error, HasSubstr("404"));
  }

  std::vector<Event> next = MakeEvents(10, 2, exchange_ + "/orders.b");
  Deliveries second;
  publisher->Publish(next, second.Callback());
  ASSERT_TRUE(second.WaitFor(next.size(), seconds(20)));
  for (const Delivery& d : second.ExactlyOnce(next.size())) {
    EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
  }
  EXPECT_EQ(client.ReadAll(queue_, 30, seconds(1)).size(), 29u);
  EXPECT_EQ(publisher->connections(), 1);
  Cleanup(client);
}

TEST_F(RabbitMqPublisherTest, I6AMessageOverTheBrokersMaxSizeIsDeadLetteredOthersFlow) {
  RabbitMqServer server({"max_message_size = 4096"});
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  AmqpClient client(server.url());
  MakeExchangeAndQueue(client);
  std::vector<Event> events = Commit(150, Keys(10), 10);
  std::vector<Event> big = Commit(1, {"acct-big"}, 1, "", /*pad=*/10000);
  std::vector<Event> after = Commit(150, Keys(10), 10);
  events.insert(events.end(), after.begin(), after.end());
  auto publisher = OpenRabbit(server.url(), Options());
  ASSERT_NE(publisher, nullptr);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  EXPECT_EQ(stats.published, events.size());
  EXPECT_EQ(stats.dead_lettered, 1u);
  EXPECT_EQ(Pending(), 0);
  std::vector<DeadLetter> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event.id, big[0].id);
  EXPECT_THAT(dead[0].error, HasSubstr("larger than"));
  std::vector<AmqpMessage> stored = client.ReadAll(queue_, events.size() * 2, seconds(1));
  ExpectAllStoredInKeyOrder(events, stored);
}

TEST_F(RabbitMqPublisherTest, AmqpsPublishesOverTlsWithTheCaGivenAndRefusesAnUntrustedBroker) {
  const std::filesystem::path certs = std::filesystem::temp_directory_path() /
                                      fmt::format("herald_rabbitmq_tls_{}", ::getpid());
  ASSERT_TRUE(testing::MakeTestCertificates(certs)) << "openssl could not make certificates";
  const int tls_port = testing::FreeLocalPort();
  RabbitMqServer server({fmt::format("listeners.ssl.default = 127.0.0.1:{}", tls_port),
                         fmt::format("ssl_options.cacertfile = {}", (certs / "ca.pem").string()),
                         fmt::format("ssl_options.certfile = {}", (certs / "server.pem").string()),
                         fmt::format("ssl_options.keyfile = {}", (certs / "server.key").string()),
                         "ssl_options.verify = verify_none",
                         "ssl_options.fail_if_no_peer_cert = false"});
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  AmqpClient client(server.url());
  MakeExchangeAndQueue(client);
  const std::string url = fmt::format("amqps://guest:guest@localhost:{}/", tls_port);
  std::vector<Event> events = MakeEvents(50, 5, exchange_ + "/orders.tls");

  PublisherOptions trusted = Options();
  trusted.properties["tls.ca"] = (certs / "ca.pem").string();
  auto publisher = OpenRabbit(url, trusted);
  ASSERT_NE(publisher, nullptr);
  Deliveries deliveries;
  publisher->Publish(events, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(20)));
  for (const Delivery& d : deliveries.ExactlyOnce(events.size())) {
    EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
  }
  EXPECT_EQ(client.ReadAll(queue_, events.size() + 1, seconds(1)).size(), events.size());

  // Without the test CA the broker's certificate is not trusted.
  auto untrusted = OpenRabbit(url, Options());
  ASSERT_NE(untrusted, nullptr);
  Deliveries refused;
  untrusted->Publish(events, refused.Callback());
  ASSERT_TRUE(refused.WaitFor(events.size(), seconds(20)));
  for (const Delivery& d : refused.ExactlyOnce(events.size())) {
    EXPECT_EQ(d.outcome, Outcome::kUnavailable) << d.error;
  }
  // Told not to verify, it connects.
  PublisherOptions unverified = Options();
  unverified.properties["tls.verify_peer"] = "false";
  unverified.properties["tls.verify_hostname"] = "false";
  auto insecure = OpenRabbit(url, unverified);
  ASSERT_NE(insecure, nullptr);
  Deliveries plain;
  insecure->Publish(events, plain.Callback());
  ASSERT_TRUE(plain.WaitFor(events.size(), seconds(20)));
  for (const Delivery& d : plain.ExactlyOnce(events.size())) {
    EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
  }
  std::error_code ignored;
  std::filesystem::remove_all(certs, ignored);
}

TEST_F(RabbitMqPublisherTest, AnUnreachableBrokerReportsEveryEventUnavailable) {
  // A port nothing listens on: a node of our own never started.
  RabbitMqServer server;
  auto publisher = OpenRabbit(server.url(), Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events = MakeEvents(10, 2, "anything");
  Deliveries deliveries;
  publisher->Publish(events, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(20)));
  for (const Delivery& d : deliveries.ExactlyOnce(events.size())) {
    EXPECT_EQ(d.outcome, Outcome::kUnavailable);
    EXPECT_THAT(d.error, HasSubstr("no connection"));
  }
}

TEST_F(RabbitMqPublisherTest, WrongCredentialsAreUnavailableWithTheBrokersReasonAndNoPassword) {
  RequireSharedServer();
  std::string url = url_;
  const std::size_t at = url.find('@');
  ASSERT_NE(at, std::string::npos);
  url = "amqp://guest:wrongsecret" + url.substr(at);
  auto publisher = OpenRabbit(url, Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events = MakeEvents(3, 1, "anything");
  Deliveries deliveries;
  publisher->Publish(events, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(20)));
  for (const Delivery& d : deliveries.ExactlyOnce(events.size())) {
    EXPECT_EQ(d.outcome, Outcome::kUnavailable);
    EXPECT_THAT(d.error, ::testing::Not(HasSubstr("wrongsecret")));
  }
}

TEST_F(RabbitMqPublisherTest, ClosingWithCallsInFlightReportsEveryEventOnce) {
  RequireSharedServer();
  AmqpClient client(url_);
  MakeExchangeAndQueue(client);
  std::vector<std::vector<Event>> calls;
  std::vector<std::unique_ptr<Deliveries>> deliveries;
  for (int c = 0; c < 4; ++c) {
    calls.push_back(MakeEvents(500, 5, exchange_ + "/x"));
    deliveries.push_back(std::make_unique<Deliveries>());
  }
  {
    auto publisher = OpenRabbit(url_, Options());
    ASSERT_NE(publisher, nullptr);
    for (int c = 0; c < 4; ++c) publisher->Publish(calls[c], deliveries[c]->Callback());
  }  // destroyed at once
  std::size_t published = 0;
  for (int c = 0; c < 4; ++c) {
    ASSERT_TRUE(deliveries[c]->WaitFor(calls[c].size(), milliseconds(0)))
        << "the destructor returned before every event was reported";
    for (const Delivery& d : deliveries[c]->ExactlyOnce(calls[c].size())) {
      EXPECT_TRUE(d.outcome == Outcome::kPublished || d.outcome == Outcome::kRetry)
          << OutcomeName(d.outcome);
      if (d.outcome == Outcome::kPublished) ++published;
    }
  }
  // Published means stored.
  EXPECT_GE(client.ReadAll(queue_, 2000, seconds(1)).size(), published);
  Cleanup(client);
}

TEST_F(RabbitMqPublisherTest, I2AConnectionLostWithConfirmsOutstandingIsRetriedAndLosesNothing) {
  RabbitMqServer server;
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  {
    AmqpClient client(server.url());
    MakeExchangeAndQueue(client);
  }
  PublisherOptions options = Options();
  options.properties["confirm_timeout_ms"] = "2000";
  auto publisher = OpenRabbit(server.url(), options);
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events = MakeEvents(5000, 50, exchange_ + "/orders.a");
  // The node is killed while the first call's confirms are outstanding.
  std::atomic<int> reported{0};
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::size_t, std::vector<Delivery>> got;
  bool killed = false;
  publisher->Publish(events, [&](std::size_t i, Delivery d) {
    std::lock_guard<std::mutex> lock(mu);
    got[i].push_back(std::move(d));
    ++reported;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, seconds(20), [&] { return reported.load() >= 500; });
  }
  server.Kill();
  killed = true;
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, seconds(20), [&] { return got.size() == events.size(); }));
  }
  ASSERT_TRUE(killed);
  std::vector<Event> again;
  std::size_t published = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(got[i].size(), 1u) << i;
    const Delivery& d = got[i][0];
    if (d.outcome == Outcome::kPublished) {
      ++published;
      continue;
    }
    EXPECT_TRUE(d.outcome == Outcome::kRetry || d.outcome == Outcome::kUnavailable)
        << OutcomeName(d.outcome) << ": " << d.error;
    again.push_back(events[i]);
  }
  std::cout << "published before the cut " << published << ", to publish again "
            << again.size() << "\n";
  EXPECT_FALSE(again.empty()) << "the cut came after every confirm";

  ASSERT_TRUE(server.Start(&error)) << error;
  // The next calls connect anew and publish the rest.
  for (int attempt = 0; attempt < 10 && !again.empty(); ++attempt) {
    Deliveries next;
    publisher->Publish(again, next.Callback());
    ASSERT_TRUE(next.WaitFor(again.size(), seconds(20)));
    std::vector<Delivery> outcome = next.ExactlyOnce(again.size());
    std::vector<Event> left;
    for (std::size_t i = 0; i < again.size(); ++i) {
      if (outcome[i].outcome != Outcome::kPublished) left.push_back(again[i]);
    }
    again = std::move(left);
  }
  EXPECT_TRUE(again.empty());
  EXPECT_GE(publisher->connections(), 2);
  AmqpClient client(server.url());
  std::vector<AmqpMessage> stored = client.ReadAll(queue_, events.size() * 2, seconds(1));
  std::set<std::string> ids;
  for (const AmqpMessage& m : stored) ids.insert(m.message_id);
  std::cout << "stored " << stored.size() << ", distinct " << ids.size() << "\n";
  for (const Event& e : events) EXPECT_TRUE(ids.contains(e.id.ToString())) << "lost " << e.id.ToString();
}

TEST_F(RabbitMqPublisherTest, I2TheBrokerClosingTheConnectionMidCallIsRetriedAndLosesNothing) {
  RabbitMqServer server;
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  AmqpClient client(server.url());
  MakeExchangeAndQueue(client);
  auto publisher = OpenRabbit(server.url(), Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events = MakeEvents(30000, 50, exchange_ + "/orders.a");
  Deliveries first;
  publisher->Publish(events, first.Callback());
  ASSERT_TRUE(first.WaitFor(1000, seconds(20)));
  // The reader's own connection is closed too: it is made again below.
  ASSERT_TRUE(server.CloseAllConnections(&error)) << error;
  ASSERT_TRUE(first.WaitFor(events.size(), seconds(30)));
  std::vector<Event> again;
  for (std::size_t i = 0; const Delivery& d : first.ExactlyOnce(events.size())) {
    if (d.outcome != Outcome::kPublished) {
      EXPECT_TRUE(d.outcome == Outcome::kRetry || d.outcome == Outcome::kUnavailable)
          << OutcomeName(d.outcome) << ": " << d.error;
      again.push_back(events[i]);
    }
    ++i;
  }
  std::cout << "to publish again after the broker closed the connection: " << again.size()
            << "\n";
  for (int attempt = 0; attempt < 10 && !again.empty(); ++attempt) {
    Deliveries next;
    publisher->Publish(again, next.Callback());
    ASSERT_TRUE(next.WaitFor(again.size(), seconds(20)));
    std::vector<Delivery> outcome = next.ExactlyOnce(again.size());
    std::vector<Event> left;
    for (std::size_t i = 0; i < again.size(); ++i) {
      if (outcome[i].outcome != Outcome::kPublished) left.push_back(again[i]);
    }
    again = std::move(left);
  }
  EXPECT_TRUE(again.empty());
  // Closed by the broker, the connection was made anew (during the call or
  // for the next one, had the call been confirmed before the close).
  Deliveries last;
  std::vector<Event> one = MakeEvents(1, 1, exchange_ + "/orders.a");
  publisher->Publish(one, last.Callback());
  ASSERT_TRUE(last.WaitFor(1, seconds(20)));
  EXPECT_EQ(last.ExactlyOnce(1)[0].outcome, Outcome::kPublished);
  EXPECT_GE(publisher->connections(), 2);
  events.push_back(one[0]);
  AmqpClient reader(server.url());
  std::set<std::string> ids;
  for (const AmqpMessage& m : reader.ReadAll(queue_, events.size() * 2, seconds(1))) {
    ids.insert(m.message_id);
  }
  for (const Event& e : events) {
    EXPECT_TRUE(ids.contains(e.id.ToString())) << "lost " << e.id.ToString();
  }
}

TEST_F(RabbitMqPublisherTest, AConfirmThatNeverComesIsRetriedAfterTheTimeoutAndTheNextCallPublishes) {
  RabbitMqServer server;
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  AmqpClient client(server.url());
  MakeExchangeAndQueue(client);
  PublisherOptions options = Options();
  options.properties["confirm_timeout_ms"] = "1000";
  auto publisher = OpenRabbit(server.url(), options);
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> warm = MakeEvents(1, 1, exchange_ + "/orders.a");
  Deliveries warmed;
  publisher->Publish(warm, warmed.Callback());
  ASSERT_TRUE(warmed.WaitFor(1, seconds(20)));
  ASSERT_EQ(warmed.ExactlyOnce(1)[0].outcome, Outcome::kPublished);

  // The node answers nothing: no confirm comes.
  server.Pause();
  std::vector<Event> events = MakeEvents(200, 10, exchange_ + "/orders.a");
  Deliveries paused;
  publisher->Publish(events, paused.Callback());
  const bool all = paused.WaitFor(events.size(), seconds(20));
  server.Resume();
  ASSERT_TRUE(all);
  for (const Delivery& d : paused.ExactlyOnce(events.size())) {
    EXPECT_EQ(d.outcome, Outcome::kRetry) << OutcomeName(d.outcome) << ": " << d.error;
    EXPECT_THAT(d.error, HasSubstr("no confirm from the broker within 1000 ms"));
  }
  // The late confirms of those messages are ignored; the next call publishes
  // on the same connection.
  Deliveries next;
  publisher->Publish(events, next.Callback());
  ASSERT_TRUE(next.WaitFor(events.size(), seconds(20)));
  for (const Delivery& d : next.ExactlyOnce(events.size())) {
    EXPECT_EQ(d.outcome, Outcome::kPublished) << d.error;
  }
  EXPECT_EQ(publisher->connections(), 1);
  // Both copies landed: RabbitMQ does not de-duplicate.
  std::map<std::string, int> copies;
  for (const AmqpMessage& m : client.ReadAll(queue_, 1000, seconds(1))) ++copies[m.message_id];
  for (const Event& e : events) EXPECT_EQ(copies[e.id.ToString()], 2) << e.id.ToString();
}

TEST_F(RabbitMqPublisherTest, I2BrokerKilledMidDrainThenRestartedLosesNothing) {
  RabbitMqServer server;
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  {
    AmqpClient client(server.url());
    MakeExchangeAndQueue(client);
  }
  constexpr int kEvents = 8000;
  std::vector<Event> events = Commit(kEvents, Keys(200), /*per_tx=*/100);
  PublisherOptions options = Options();
  options.properties["confirm_timeout_ms"] = "2000";
  auto publisher = OpenRabbit(server.url(), options);
  ASSERT_NE(publisher, nullptr);

  // At the 4th settlement the node is killed (SIGKILL) for three seconds.
  herald::testing::FaultyStore faulty(*store_);
  std::atomic<bool> killed{false};
  std::jthread restarter;
  faulty.OnSettle([&](int n) {
    if (n != 4) return;
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
            << ", retried " << stats.retried << ", connections " << publisher->connections()
            << "\n";
  EXPECT_GT(stats.unavailable + stats.retried, 0u) << "the outage was not seen";
  EXPECT_EQ(Pending(), 0);
  EXPECT_TRUE(DeadLetters().empty());

  AmqpClient client(server.url());
  std::vector<AmqpMessage> stored = client.ReadAll(queue_, events.size() * 2, seconds(1));
  const std::size_t duplicates = ExpectAllStoredInKeyOrder(events, stored);
  // RabbitMQ does not de-duplicate: a message stored whose confirm was lost
  // with the connection is stored again; the consumer's inbox drops it.
  std::cout << "stored " << stored.size() << ", duplicates stored " << duplicates << "\n";
}

}  // namespace
}  // namespace herald::publish

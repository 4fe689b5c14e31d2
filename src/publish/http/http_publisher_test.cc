// The HTTP webhook publisher against real HTTP endpoints: receivers this test
// starts as separate processes (testdata/receiver.py under python3), each
// recording every request it gets and answering as scripted. The relay
// drains a SQLite outbox that an application fills in its own transactions;
// the test reads back what the receiver recorded, and an independent Python
// check (testdata/verify_signatures.py) verifies every signature.
#include "publish/http/http_publisher.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "herald/relay.h"
#include "herald/sqlite.h"
#include "herald/store.h"
#include "publish/http/http_config.h"
#include "publish/http/http_receiver.h"
#include "publish/http/webhook_signature.h"
#include "testing/faulty_store.h"
#include "testing/seed.h"
#include "testing/sqlite_outbox.h"

namespace herald::publish {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using testing::HttpReceiver;
using testing::ReceivedRequest;

using herald::testing::SeedFromTestName;
using herald::testing::SqliteOutbox;

constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr const char* kPath = "/hooks/{topic}?key={key}";

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
  std::map<std::size_t, std::vector<Delivery>> got() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::size_t, std::vector<Delivery>> got_;
};

class HttpPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = SeedFromTestName();
    rng_.seed(seed_);
    std::cout << "seed " << seed_ << "\n";
    outbox_.Open();
    store_ = outbox_.OpenStore();
    ASSERT_NE(store_, nullptr);
    secret_file_ = std::filesystem::temp_directory_path() /
                   fmt::format("herald_http_test_secret_{}", ::getpid());
    std::ofstream(secret_file_) << kSecret << "\n";
  }

  void TearDown() override {
    store_.reset();
    outbox_.Close();
    std::error_code ignored;
    std::filesystem::remove(secret_file_, ignored);
  }

  PublisherOptions Options() const {
    PublisherOptions options;
    options.properties = {{"herald.signing_secret_file", secret_file_.string()},
                          {"herald.request_timeout_ms", "10000"},
                          {"herald.connect_timeout_ms", "2000"},
                          {"herald.max_in_flight", "16"}};
    return options;
  }

  std::unique_ptr<HttpPublisher> OpenHttp(const std::string& url, PublisherOptions options) {
    auto publisher = HttpPublisher::Open(url, options);
    EXPECT_TRUE(publisher.has_value()) << publisher.error().ToString();
    return publisher.has_value() ? std::move(*publisher) : nullptr;
  }

  std::vector<Event> Commit(int count, const std::vector<std::string>& keys, int per_tx,
                            const std::string& topic = "orders") {
    std::vector<Event> all;
    for (int i = 0; i < count; i += per_tx) {
      outbox_.Exec("BEGIN IMMEDIATE");
      outbox_.Exec(fmt::format("INSERT INTO business (note) VALUES ('tx {}')", i));
      for (int j = i; j < std::min(count, i + per_tx); ++j) {
        Event e = Event::Make(topic, keys[rng_() % keys.size()], "OrderPlaced",
                              fmt::format(R"({{"n":{}}})", j));
        e.headers["traceparent"] = fmt::format("00-{:032x}-{:016x}-01", j, j);
        Status s = sqlite::Enqueue(outbox_.app(), e);
        EXPECT_TRUE(s.ok()) << s.ToString();
        all.push_back(std::move(e));
      }
      outbox_.Exec("COMMIT");
    }
    return all;
  }

  static std::vector<std::string> Keys(int n) {
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i) keys.push_back("acct " + std::to_string(i));  // a space: encoded
    return keys;
  }

  RelayOptions RelayOpts() const {
    RelayOptions options;
    options.batch_size = 200;
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

  // Checks that the 2xx-answered requests of `received` (single mode) hold
  // every event of `events` exactly as enqueued (path, body, CloudEvents and
  // own headers, Idempotency-Key), nothing else, and that for each key the
  // first copies follow enqueue order. Returns how many duplicates there are.
  std::size_t ExpectAllReceivedInKeyOrder(const std::vector<Event>& events,
                                          const std::vector<ReceivedRequest>& received) {
    std::map<std::string, const Event*> by_id;
    std::map<std::string, std::vector<std::string>> enqueued_per_key;
    for (const Event& e : events) {
      by_id[e.id.ToString()] = &e;
      enqueued_per_key[e.key].push_back(e.id.ToString());
    }
    std::set<std::string> seen;
    std::map<std::string, std::vector<std::string>> first_per_key;
    std::size_t duplicates = 0;
    for (const ReceivedRequest& r : received) {
      if (r.status < 200 || r.status >= 300) continue;
      const std::string id = r.Header("idempotency-key");
      auto it = by_id.find(id);
      if (it == by_id.end()) {
        ADD_FAILURE() << "unexpected request " << r.path << " id " << id;
        continue;
      }
      const Event& e = *it->second;
      EXPECT_EQ(r.method, "POST");
      EXPECT_EQ(r.path, fmt::format("/hooks/{}?key={}", PercentEncode(e.topic),
                                    PercentEncode(e.key)));
      EXPECT_EQ(r.body, e.payload);
      EXPECT_EQ(r.Header("ce-id"), id);
      EXPECT_EQ(r.Header("webhook-id"), id);
      EXPECT_EQ(r.Header("ce-type"), e.type);
      EXPECT_EQ(r.Header("ce-specversion"), "1.0");
      EXPECT_EQ(r.Header("ce-time"), FormatRfc3339(e.created_at));
      EXPECT_EQ(r.Header("ce-subject"), e.key);
      EXPECT_EQ(r.Header("content-type"), e.content_type);
      for (const auto& [name, value] : e.headers) EXPECT_EQ(r.Header(name), value) << name;
      if (!seen.insert(id).second) {
        ++duplicates;
        continue;
      }
      first_per_key[e.key].push_back(id);
    }
    EXPECT_EQ(seen.size(), events.size()) << "events lost";
    for (const auto& [key, ids] : enqueued_per_key) {
      if (key.empty()) continue;
      EXPECT_EQ(first_per_key[key], ids) << "order of key " << key;
    }
    return duplicates;
  }

  void ExpectSigned(const HttpReceiver& receiver) {
    std::string output;
    EXPECT_TRUE(receiver.VerifySignatures(kSecret, &output)) << output;
    std::cout << "signatures: " << output;
  }

  std::uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  SqliteOutbox outbox_{"herald_http_test"};
  std::unique_ptr<Store> store_;
  std::filesystem::path secret_file_;
};

TEST_F(HttpPublisherTest, I1I3RelaysEveryCommittedEventSignedOnceAndInKeyOrder) {
  HttpReceiver receiver;
  std::string error;
  ASSERT_TRUE(receiver.Start(&error)) << error;
  std::vector<Event> events = Commit(600, Keys(12), /*per_tx=*/5);
  outbox_.Exec("BEGIN IMMEDIATE");
  ASSERT_TRUE(sqlite::Enqueue(outbox_.app(), Event::Make("orders", "acct 0", "Ghost", "{}")).ok());
  outbox_.Exec("ROLLBACK");

  PublisherOptions options = Options();
  options.properties["herald.ce.source"] = "/billing";
  auto publisher = OpenHttp(receiver.url(kPath), options);
  ASSERT_NE(publisher, nullptr);
  EXPECT_FALSE(publisher->guarantees().keeps_key_order);
  EXPECT_FALSE(publisher->guarantees().deduplicates_by_id);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  EXPECT_EQ(stats.published, events.size());
  EXPECT_EQ(stats.retried + stats.unavailable + stats.dead_lettered, 0u);
  EXPECT_EQ(Pending(), 0);

  std::vector<ReceivedRequest> received = receiver.Requests();
  EXPECT_EQ(received.size(), events.size());
  EXPECT_EQ(ExpectAllReceivedInKeyOrder(events, received), 0u);
  for (const ReceivedRequest& r : received) EXPECT_EQ(r.Header("ce-source"), "/billing");
  ExpectSigned(receiver);
}

TEST_F(HttpPublisherTest, ThrottlingAndServerErrorsAreRetriedUntilTheyPass) {
  // The first two requests get 429 with Retry-After, the next two 503.
  HttpReceiver receiver(R"([{"path": "/hooks/", "status": 429, "times": 2,
                             "headers": {"Retry-After": "1"}},
                            {"path": "/hooks/", "status": 503, "times": 2}])");
  std::string error;
  ASSERT_TRUE(receiver.Start(&error)) << error;
  std::vector<Event> events = Commit(40, Keys(4), /*per_tx=*/10);
  auto publisher = OpenHttp(receiver.url(kPath), Options());
  ASSERT_NE(publisher, nullptr);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  EXPECT_EQ(stats.published, events.size());
  EXPECT_EQ(stats.retried, 4u);
  EXPECT_EQ(stats.dead_lettered, 0u);
  EXPECT_EQ(Pending(), 0);
  std::vector<ReceivedRequest> received = receiver.Requests();
  std::map<int, int> statuses;
  for (const ReceivedRequest& r : received) ++statuses[r.status];
  EXPECT_EQ(statuses[429], 2);
  EXPECT_EQ(statuses[503], 2);
  EXPECT_EQ(ExpectAllReceivedInKeyOrder(events, received), 0u);
  ExpectSigned(receiver);
}

TEST_F(HttpPublisherTest, A429SaysItsRetryAfterInTheError) {
  HttpReceiver receiver(R"([{"path": "/hooks/", "status": 429, "times": 1,
                             "headers": {"Retry-After": "1"}, "body": "slow down"}])");
  std::string error;
  ASSERT_TRUE(receiver.Start(&error)) << error;
  auto publisher = OpenHttp(receiver.url(kPath), Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events = {Event::Make("orders", "k", "T", "{}")};
  Deliveries first;
  publisher->Publish(events, first.Callback());
  ASSERT_TRUE(first.WaitFor(1, seconds(20)));
  Delivery d = first.got()[0][0];
  EXPECT_EQ(d.outcome, Outcome::kRetry);
  EXPECT_THAT(d.error, HasSubstr("429"));
  EXPECT_THAT(d.error, HasSubstr("Retry-After: 1 s"));
  // The next request waits out the Retry-After, then passes.
  Deliveries second;
  publisher->Publish(events, second.Callback());
  ASSERT_TRUE(second.WaitFor(1, seconds(20)));
  EXPECT_EQ(second.got()[0][0].outcome, Outcome::kPublished) << second.got()[0][0].error;
}

TEST_F(HttpPublisherTest, I6A400IsDeadLetteredWithTheStatusAndBodyWhileOtherKeysFlow) {
  HttpReceiver receiver(R"([{"path": "key=poison", "status": 400,
                             "body": "field 'amount' is missing"}])");
  std::string error;
  ASSERT_TRUE(receiver.Start(&error)) << error;
  std::vector<Event> good = Commit(200, Keys(6), /*per_tx=*/10);
  std::vector<Event> poison = Commit(3, {"poison"}, /*per_tx=*/1);
  std::vector<Event> more = Commit(100, Keys(6), /*per_tx=*/10);
  good.insert(good.end(), more.begin(), more.end());
  auto publisher = OpenHttp(receiver.url(kPath), Options());
  ASSERT_NE(publisher, nullptr);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  EXPECT_EQ(stats.published, good.size());
  EXPECT_EQ(stats.dead_lettered, poison.size());
  EXPECT_EQ(Pending(), 0);
  std::vector<DeadLetter> dead = DeadLetters();
  ASSERT_EQ(dead.size(), poison.size());
  for (const DeadLetter& d : dead) {
    EXPECT_EQ(d.event.key, "poison");
    EXPECT_THAT(d.error, HasSubstr("400"));
    EXPECT_THAT(d.error, HasSubstr("Bad Request"));
    EXPECT_THAT(d.error, HasSubstr("field 'amount' is missing"));
  }
  EXPECT_EQ(ExpectAllReceivedInKeyOrder(good, receiver.Requests()), 0u);
}

TEST_F(HttpPublisherTest, ARefusalCarriesTheStatusLineAndAtMost200BytesOfTheBody) {
  HttpReceiver receiver(R"([{"path": "/", "status": 422, "body": ")" + std::string(1000, 'x') +
                        R"("}])");
  std::string error;
  ASSERT_TRUE(receiver.Start(&error)) << error;
  auto publisher = OpenHttp(receiver.url(kPath), Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events = {Event::Make("orders", "k", "T", "{}")};
  Deliveries deliveries;
  publisher->Publish(events, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(1, seconds(20)));
  Delivery d = deliveries.got()[0][0];
  EXPECT_EQ(d.outcome, Outcome::kRejected);
  EXPECT_THAT(d.error, HasSubstr("HTTP/1.1 422"));
  EXPECT_THAT(d.error, HasSubstr(std::string(200, 'x')));
  EXPECT_THAT(d.error, ::testing::Not(HasSubstr(std::string(201, 'x'))));
}

TEST_F(HttpPublisherTest, AnEventWhoseHeadersCannotBeSentIsRejectedAndNeverSent) {
  HttpReceiver receiver;
  std::string error;
  ASSERT_TRUE(receiver.Start(&error)) << error;
  auto publisher = OpenHttp(receiver.url(kPath), Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events = {Event::Make("orders", "k", "T", "{}"),
                               Event::Make("orders", "k2", "T", "{}")};
  events[0].headers["x-note"] = "one\r\nInjected: yes";
  Deliveries deliveries;
  publisher->Publish(events, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(2, seconds(20)));
  auto got = deliveries.got();
  EXPECT_EQ(got[0][0].outcome, Outcome::kRejected);
  EXPECT_THAT(got[0][0].error, HasSubstr("x-note"));
  EXPECT_EQ(got[1][0].outcome, Outcome::kPublished) << got[1][0].error;
  std::vector<ReceivedRequest> received = receiver.Requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].Header("ce-id"), events[1].id.ToString());
  EXPECT_EQ(received[0].Header("injected"), "");
}

TEST_F(HttpPublisherTest, ClosingWithRequestsInFlightReportsEveryEventOnce) {
  // Each request waits 300 ms for its answer: most are in flight or not yet
  // started when the publisher is destroyed.
  HttpReceiver receiver(R"([{"path": "/", "status": 200, "delay_ms": 300}])");
  std::string error;
  ASSERT_TRUE(receiver.Start(&error)) << error;
  std::vector<Event> events;
  for (int i = 0; i < 100; ++i) {
    events.push_back(Event::Make("orders", fmt::format("k{}", i), "T", "{}"));
  }
  Deliveries deliveries;
  {
    PublisherOptions options = Options();
    options.properties["herald.max_in_flight"] = "8";
    auto publisher = OpenHttp(receiver.url(kPath), options);
    ASSERT_NE(publisher, nullptr);
    publisher->Publish(events, deliveries.Callback());
    // Close once the first requests have reached the receiver.
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (receiver.Requests().empty() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(10));
    }
  }
  // The destructor has returned: every event has been reported, once.
  auto got = deliveries.got();
  ASSERT_EQ(got.size(), events.size());
  std::size_t published = 0;
  for (const auto& [index, outcomes] : got) {
    ASSERT_EQ(outcomes.size(), 1u) << index;
    if (outcomes[0].outcome == Outcome::kPublished) {
      ++published;
    } else {
      EXPECT_EQ(outcomes[0].outcome, Outcome::kRetry) << outcomes[0].error;
    }
  }
  // What was reported published was received.
  std::set<std::string> received;
  for (const ReceivedRequest& r : receiver.Requests()) received.insert(r.Header("ce-id"));
  for (const auto& [index, outcomes] : got) {
    if (outcomes[0].outcome == Outcome::kPublished) {
      EXPECT_TRUE(received.contains(events[index].id.ToString())) << index;
    }
  }
  std::cout << "published before the close: " << published << "\n";
  // The requests in flight at the close were waited for.
  EXPECT_GE(published, 1u);
  EXPECT_LT(published, events.size());
}

TEST_F(HttpPublisherTest, AnEndpointThatIsNotThereIsUnavailable) {
  HttpReceiver nobody;  // never started: its port refuses
  auto publisher = OpenHttp(nobody.url(kPath), Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 10; ++i) events.push_back(Event::Make("orders", "k", "T", "{}"));
  Deliveries deliveries;
  publisher->Publish(events, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(20)));
  for (const auto& [index, got] : deliveries.got()) {
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].outcome, Outcome::kUnavailable) << got[0].error;
    EXPECT_THAT(got[0].error, HasSubstr("no connection"));
  }
}

TEST_F(HttpPublisherTest, I2ReceiverKilledMidDrainThenRestartedLosesNothing) {
  HttpReceiver receiver;
  std::string error;
  ASSERT_TRUE(receiver.Start(&error)) << error;
  std::vector<Event> events = Commit(3000, Keys(100), /*per_tx=*/50);
  auto publisher = OpenHttp(receiver.url(kPath), Options());
  ASSERT_NE(publisher, nullptr);

  // At the 4th settlement the receiver is killed (SIGKILL) for two seconds.
  herald::testing::FaultyStore faulty(*store_);
  std::atomic<bool> killed{false};
  std::jthread restarter;
  faulty.OnSettle([&](int n) {
    if (n != 4) return;
    receiver.Kill();
    killed = true;
    restarter = std::jthread([&] {
      std::this_thread::sleep_for(seconds(2));
      std::string why;
      EXPECT_TRUE(receiver.Start(&why)) << why;
    });
  });
  RelayStats stats;
  ASSERT_TRUE(RunRelay(faulty, *publisher, &stats).ok());
  if (restarter.joinable()) restarter.join();
  ASSERT_TRUE(killed.load()) << "the outage never started";
  std::cout << "published " << stats.published << ", unavailable " << stats.unavailable
            << ", retried " << stats.retried << ", requests " << publisher->requests() << "\n";
  EXPECT_GT(stats.unavailable + stats.retried, 0u) << "the outage was not seen";
  EXPECT_EQ(Pending(), 0);
  EXPECT_TRUE(DeadLetters().empty());
  std::vector<ReceivedRequest> received = receiver.Requests();
  const std::size_t duplicates = ExpectAllReceivedInKeyOrder(events, received);
  std::cout << "received " << received.size() << ", duplicates " << duplicates << "\n";
  ExpectSigned(receiver);
}

TEST_F(HttpPublisherTest, BatchModeSendsCloudEventsBatchesHoldingEveryEventOnceInKeyOrder) {
  HttpReceiver receiver;
  std::string error;
  ASSERT_TRUE(receiver.Start(&error)) << error;
  // Many keys: the relay has one event per key in flight, so a call holds
  // at most one event of each key.
  std::vector<Event> events = Commit(1000, Keys(200), /*per_tx=*/20);
  PublisherOptions options = Options();
  options.properties["herald.batch"] = "true";
  options.properties["herald.batch_max_events"] = "50";
  auto publisher = OpenHttp(receiver.url("/batch/{topic}"), options);
  ASSERT_NE(publisher, nullptr);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  EXPECT_EQ(stats.published, events.size());
  EXPECT_EQ(Pending(), 0);

  std::map<std::string, const Event*> by_id;
  std::map<std::string, std::vector<std::string>> enqueued_per_key, received_per_key;
  for (const Event& e : events) {
    by_id[e.id.ToString()] = &e;
    enqueued_per_key[e.key].push_back(e.id.ToString());
  }
  std::set<std::string> seen;
  std::vector<ReceivedRequest> received = receiver.Requests();
  EXPECT_LT(received.size(), events.size() / 5);
  for (const ReceivedRequest& r : received) {
    EXPECT_EQ(r.path, "/batch/orders");
    EXPECT_EQ(r.Header("content-type"), "application/cloudevents-batch+json");
    EXPECT_EQ(r.Header("idempotency-key"), r.Header("webhook-id"));
    auto batch = nlohmann::json::parse(r.body);
    ASSERT_TRUE(batch.is_array());
    EXPECT_LE(batch.size(), 50u);
    for (const auto& ce : batch) {
      const std::string id = ce["id"].get<std::string>();
      auto it = by_id.find(id);
      ASSERT_NE(it, by_id.end()) << id;
      EXPECT_EQ(ce["specversion"], "1.0");
      EXPECT_EQ(ce["type"], it->second->type);
      EXPECT_EQ(ce["subject"], it->second->key);
      EXPECT_EQ(ce["data"], nlohmann::json::parse(it->second->payload));
      EXPECT_EQ(ce["traceparent"], it->second->headers.at("traceparent"));
      EXPECT_TRUE(seen.insert(id).second) << "received twice: " << id;
      received_per_key[it->second->key].push_back(id);
    }
  }
  EXPECT_EQ(seen.size(), events.size());
  for (const auto& [key, ids] : enqueued_per_key) {
    EXPECT_EQ(received_per_key[key], ids) << "order of key " << key;
  }
  ExpectSigned(receiver);
}

TEST_F(HttpPublisherTest, HttpsVerifiesTheServerAgainstTlsCaUnlessToldToSkip) {
  HttpReceiver receiver;
  std::string error;
  ASSERT_TRUE(receiver.UseTls(&error)) << error;
  ASSERT_TRUE(receiver.Start(&error)) << error;
  std::vector<Event> events = {Event::Make("orders", "k", "T", "{}")};
  auto publish_one = [&](PublisherOptions options) {
    auto publisher = OpenHttp(receiver.url(kPath), options);
    EXPECT_NE(publisher, nullptr);
    if (publisher == nullptr) return Delivery{Outcome::kRetry, "no publisher"};
    Deliveries deliveries;
    publisher->Publish(events, deliveries.Callback());
    EXPECT_TRUE(deliveries.WaitFor(1, seconds(20)));
    return deliveries.got()[0][0];
  };
  // The system's CAs do not trust the receiver's certificate.
  Delivery untrusted = publish_one(Options());
  EXPECT_EQ(untrusted.outcome, Outcome::kUnavailable) << untrusted.error;
  EXPECT_THAT(untrusted.error, HasSubstr("no connection"));
  PublisherOptions with_ca = Options();
  with_ca.properties["tls.ca"] = receiver.ca();
  Delivery trusted = publish_one(with_ca);
  EXPECT_EQ(trusted.outcome, Outcome::kPublished) << trusted.error;
  PublisherOptions skip = Options();
  skip.properties["tls.skip_verify"] = "true";
  Delivery skipped = publish_one(skip);
  EXPECT_EQ(skipped.outcome, Outcome::kPublished) << skipped.error;
  std::vector<ReceivedRequest> received = receiver.Requests();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].Header("idempotency-key"), events[0].id.ToString());
  ExpectSigned(receiver);
}

TEST_F(HttpPublisherTest, BadUrlsAndOptionsAreInvalidArgumentNamingThem) {
  auto bad_url = OpenPublisher("http://u:topsecret@h/{nope}");
  ASSERT_FALSE(bad_url.has_value());
  EXPECT_EQ(bad_url.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(bad_url.error().message(), HasSubstr("{nope}"));
  EXPECT_THAT(bad_url.error().message(), ::testing::Not(HasSubstr("topsecret")));
  PublisherOptions options;
  options.properties["acks"] = "all";
  auto bad_option = OpenPublisher("https://h/x", options);
  ASSERT_FALSE(bad_option.has_value());
  EXPECT_EQ(bad_option.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(bad_option.error().message(), HasSubstr("'acks'"));
  PublisherOptions ca;
  ca.properties["tls.ca"] = "/nonexistent/ca.pem";
  auto bad_ca = OpenPublisher("https://h/x", ca);
  ASSERT_FALSE(bad_ca.has_value());
  EXPECT_EQ(bad_ca.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(bad_ca.error().message(), HasSubstr("/nonexistent/ca.pem"));
}

}  // namespace
}  // namespace herald::publish

// The Kafka publisher against librdkafka's in-process mock cluster (three
// brokers), driven by the relay from a SQLite outbox that an application
// fills in its own transactions. A plain consumer reads back what landed.
#include "publish/kafka/kafka_publisher.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#ifdef HERALD_WITH_POSTGRES
#include <libpq-fe.h>

#include "herald/postgres.h"
#endif
#include "herald/relay.h"
#include "herald/sqlite.h"
#include "herald/store.h"
#include "publish/kafka/mock_cluster.h"
#include "testing/faulty_store.h"
#include "testing/observing_publisher.h"
#include "testing/postgres_server.h"
#include "testing/seed.h"
#include "testing/sqlite_outbox.h"

namespace herald::publish {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using testing::ConsumedMessage;
using testing::MockCluster;

constexpr int kPartitions = 4;

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
  // Waits until `n` distinct indexes were reported; false on timeout.
  bool WaitFor(std::size_t n, std::chrono::milliseconds timeout) {
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

class KafkaPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = SeedFromTestName();
    rng_.seed(seed_);
    std::cout << "seed " << seed_ << "\n";
    outbox_.Open();
    store_ = outbox_.OpenStore();
    ASSERT_NE(store_, nullptr);
    cluster_.CreateTopic("orders", kPartitions);
  }

  void TearDown() override {
    store_.reset();
    outbox_.Close();
  }

  // Commits `count` events of `topic`, keys drawn from `keys`, `per_tx` per
  // application transaction. Returns them in enqueue order.
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

  static std::vector<std::string> Keys(int n, const std::string& prefix = "acct-") {
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i) keys.push_back(prefix + std::to_string(i));
    return keys;
  }

  // librdkafka settings for a test: quick reconnects after an outage and a
  // message timeout of a few seconds.
  static PublisherOptions TestOptions() {
    PublisherOptions options;
    options.properties = {{"reconnect.backoff.ms", "100"},
                          {"reconnect.backoff.max.ms", "500"},
                          {"message.timeout.ms", "3000"},
                          {"linger.ms", "5"}};
    return options;
  }

  std::unique_ptr<KafkaPublisher> OpenKafka(PublisherOptions options = TestOptions()) {
    auto publisher = KafkaPublisher::Open(cluster_.url(), options);
    EXPECT_TRUE(publisher.has_value()) << publisher.error().ToString();
    return publisher.has_value() ? std::move(*publisher) : nullptr;
  }

  RelayOptions Options() const {
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
    Relay relay(store, publisher, Options());
    Status status = relay.Run();
    if (stats != nullptr) *stats = relay.stats();
    return status;
  }

  std::vector<ConsumedMessage> ConsumeAll(const std::string& topic, std::size_t count) {
    return testing::Consume(cluster_.bootstraps(), topic, kPartitions, count, seconds(30));
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

  // Checks that `landed` holds every event of `events` (ids, keys, values),
  // that nothing else landed, and that for each key the first deliveries
  // follow enqueue order. Returns how many duplicates landed.
  static std::size_t ExpectAllLandedInKeyOrder(const std::vector<Event>& events,
                                               const std::vector<ConsumedMessage>& landed) {
    std::map<std::string, const Event*> by_id;
    std::map<std::string, std::vector<std::string>> enqueued_per_key;
    for (const Event& e : events) {
      by_id[e.id.ToString()] = &e;
      enqueued_per_key[e.key].push_back(e.id.ToString());
    }
    std::set<std::string> seen;
    std::map<std::string, std::vector<std::string>> first_per_key;
    std::size_t duplicates = 0;
    for (const ConsumedMessage& m : landed) {
      const std::string id = m.Header("ce_id");
      auto it = by_id.find(id);
      if (it == by_id.end()) {
        ADD_FAILURE() << "unexpected message " << id << " at " << m.partition << "/" << m.offset;
        continue;
      }
      EXPECT_EQ(m.key, it->second->key);
      EXPECT_EQ(m.value, it->second->payload);
      if (!seen.insert(id).second) {
        ++duplicates;
        continue;
      }
      first_per_key[m.key].push_back(id);
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
  SqliteOutbox outbox_{"herald_kafka_test"};
  std::unique_ptr<Store> store_;
  MockCluster cluster_{3};
};

TEST_F(KafkaPublisherTest, RelaysEveryCommittedEventOnceKeyedWithCloudEventsHeaders) {
  cluster_.CreateTopic("prod.orders", kPartitions);
  std::vector<std::string> keys = Keys(12);
  keys.push_back("");  // no key: a null Kafka key
  std::vector<Event> events = Commit(1500, keys, /*per_tx=*/5);
  // A rolled-back transaction never reaches the bus.
  outbox_.Exec("BEGIN IMMEDIATE");
  ASSERT_TRUE(sqlite::Enqueue(outbox_.app(), Event::Make("orders", "acct-0", "Ghost", "{}")).ok());
  outbox_.Exec("ROLLBACK");

  PublisherOptions options = TestOptions();
  options.properties["herald.topic.template"] = "prod.{topic}";
  options.properties["herald.ce.source"] = "/billing";
  auto publisher = OpenKafka(options);
  ASSERT_NE(publisher, nullptr);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  EXPECT_EQ(stats.published, events.size());
  EXPECT_EQ(Pending(), 0);

  std::vector<ConsumedMessage> landed = ConsumeAll("prod.orders", events.size());
  EXPECT_EQ(ExpectAllLandedInKeyOrder(events, landed), 0u);
  EXPECT_EQ(landed.size(), events.size());
  std::map<std::string, const Event*> by_id;
  for (const Event& e : events) by_id[e.id.ToString()] = &e;
  std::map<std::string, std::set<int>> partitions_of_key;
  for (const ConsumedMessage& m : landed) {
    auto it = by_id.find(m.Header("ce_id"));
    ASSERT_NE(it, by_id.end());
    const Event& e = *it->second;
    EXPECT_EQ(m.has_key, !e.key.empty());
    EXPECT_EQ(m.Header("ce_type"), "OrderPlaced");
    EXPECT_EQ(m.Header("ce_source"), "/billing");
    EXPECT_EQ(m.Header("ce_specversion"), "1.0");
    EXPECT_EQ(m.Header("ce_time"), FormatRfc3339(e.created_at));
    EXPECT_EQ(m.Header("content-type"), "application/json");
    EXPECT_EQ(m.Header("traceparent"), e.headers.at("traceparent"));
    if (m.has_key) partitions_of_key[m.key].insert(m.partition);
  }
  for (const auto& [key, partitions] : partitions_of_key) {
    EXPECT_EQ(partitions.size(), 1u) << "key " << key << " spread over partitions";
  }
}

TEST_F(KafkaPublisherTest, AllBrokersDownMidDrainLosesNothingAndSparesTheStore) {
  constexpr int kEvents = 20000;
  std::vector<Event> events = Commit(kEvents, Keys(50), /*per_tx=*/100);
  auto publisher = OpenKafka();
  ASSERT_NE(publisher, nullptr);

  // At the 8th settlement (4,000 events in), every broker goes down for
  // five seconds.
  herald::testing::FaultyStore faulty(*store_);
  std::atomic<int> claims_at_down{-1};
  std::atomic<int> claims_at_up{-1};
  std::atomic<int> claims_at_first_unavailable{-1};
  std::jthread restorer;
  faulty.OnSettle([&](int n) {
    if (n != 8) return;
    cluster_.SetAllBrokersDown();
    claims_at_down = faulty.claims();
    restorer = std::jthread([&] {
      std::this_thread::sleep_for(seconds(5));
      claims_at_up = faulty.claims();
      cluster_.SetAllBrokersUp();
    });
  });
  herald::testing::ObservingPublisher observed(*publisher, [&](const Delivery& d) {
    int none = -1;
    if (d.outcome == Outcome::kUnavailable) {
      claims_at_first_unavailable.compare_exchange_strong(none, faulty.claims());
    }
  });
  RelayStats stats;
  ASSERT_TRUE(RunRelay(faulty, observed, &stats).ok());
  restorer.join();
  ASSERT_GE(claims_at_down.load(), 0) << "the outage never started";
  ASSERT_GE(claims_at_first_unavailable.load(), 0) << "the outage was not seen";
  const int claims_while_down = claims_at_up - claims_at_down;
  const int probes = claims_at_up - claims_at_first_unavailable;
  std::cout << "claims while down: " << claims_while_down << " (" << probes
            << " after the outage was seen), unavailable outcomes " << stats.unavailable
            << ", retried " << stats.retried << "\n";
  // Until the first messages time out (message.timeout.ms, 3 s) the relay
  // cannot tell: it fills its window and no more. Once it can tell, each
  // probe waits for a timeout plus a backoff: a 5 s outage costs the store
  // a handful of claims, not a storm.
  const RelayOptions options = Options();
  EXPECT_LE(claims_at_first_unavailable - claims_at_down,
            static_cast<int>(options.max_in_flight_events / options.batch_size) + 1);
  EXPECT_LE(probes, 6);
  EXPECT_EQ(Pending(), 0);
  EXPECT_TRUE(DeadLetters().empty());

  std::vector<ConsumedMessage> landed = ConsumeAll("orders", events.size());
  std::size_t duplicates = ExpectAllLandedInKeyOrder(events, landed);
  std::cout << "landed " << landed.size() << ", duplicates " << duplicates << "\n";
}

TEST_F(KafkaPublisherTest, InjectedProduceErrorsRetryAndAPermanentOneIsDeadLettered) {
  PublisherOptions options = TestOptions();
  options.properties["retries"] = "1";
  options.properties["retry.backoff.ms"] = "10";
  auto publisher = OpenKafka(options);
  ASSERT_NE(publisher, nullptr);

  // More retriable failures than librdkafka retries on its own: some events
  // come back to the relay as kRetry, and all of them land later.
  cluster_.PushProduceErrors({RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                              RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
                              RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                              RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                              RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                              RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS});
  std::vector<Event> orders = Commit(300, Keys(8), /*per_tx=*/3);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  std::cout << "retried " << stats.retried << ", rebuilds " << publisher->rebuilds() << "\n";
  EXPECT_GE(stats.retried, 1u) << "no injected error reached the relay";
  EXPECT_EQ(Pending(), 0);

  // A permanent refusal of the audit topic's produce request: its events
  // are dead-lettered with the broker's reason; orders keep flowing.
  cluster_.CreateTopic("audit", 1);
  std::vector<Event> audit = Commit(3, {"auditor"}, /*per_tx=*/1, "audit");
  cluster_.PushProduceErrors({RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED});
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  std::vector<Event> more = Commit(300, Keys(8), /*per_tx=*/3);
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  orders.insert(orders.end(), more.begin(), more.end());
  EXPECT_EQ(Pending(), 0);

  // librdkafka fails the refused message and, to keep the partition
  // gapless, raises a fatal error: the rest of that request comes back as
  // kRetry behind it and lands after the producer is made anew.
  EXPECT_EQ(publisher->rebuilds(), 1);
  std::vector<DeadLetter> dead = DeadLetters();
  ASSERT_GE(dead.size(), 1u);
  std::set<EventId> dead_ids;
  for (const DeadLetter& d : dead) {
    dead_ids.insert(d.event.id);
    EXPECT_EQ(d.event.topic, "audit");
    EXPECT_THAT(d.error, HasSubstr("TOPIC_AUTHORIZATION_FAILED"));
    EXPECT_THAT(d.error, HasSubstr("audit"));
  }
  EXPECT_EQ(dead[0].event.id, audit[0].id) << "the first refused event is the one dead-lettered";
  std::vector<Event> audit_landed;
  for (const Event& e : audit) {
    if (!dead_ids.contains(e.id)) audit_landed.push_back(e);
  }
  ExpectAllLandedInKeyOrder(audit_landed, testing::Consume(cluster_.bootstraps(), "audit", 1,
                                                           audit_landed.size(), seconds(30)));
  ExpectAllLandedInKeyOrder(orders, ConsumeAll("orders", orders.size()));
}

TEST_F(KafkaPublisherTest, OversizedEventIsRejectedAndOnlyItsKeyWaits) {
  PublisherOptions options = TestOptions();
  options.properties["message.max.bytes"] = "10000";
  std::vector<Event> before = Commit(50, Keys(5), /*per_tx=*/5);
  outbox_.Exec("BEGIN IMMEDIATE");
  Event big = Event::Make("orders", "acct-big", "Huge", std::string(20000, 'x'));
  Event after_big = Event::Make("orders", "acct-big", "Small", "{}");
  ASSERT_TRUE(sqlite::Enqueue(outbox_.app(), big).ok());
  ASSERT_TRUE(sqlite::Enqueue(outbox_.app(), after_big).ok());
  outbox_.Exec("COMMIT");
  std::vector<Event> after = Commit(50, Keys(5), /*per_tx=*/5);

  auto publisher = OpenKafka(options);
  ASSERT_NE(publisher, nullptr);
  ASSERT_TRUE(RunRelay(*store_, *publisher).ok());

  std::vector<DeadLetter> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event.id, big.id);
  EXPECT_THAT(dead[0].error, HasSubstr("MSG_SIZE_TOO_LARGE"));
  EXPECT_EQ(Pending(), 0);
  std::vector<Event> landed_expected = before;
  landed_expected.push_back(after_big);
  landed_expected.insert(landed_expected.end(), after.begin(), after.end());
  ExpectAllLandedInKeyOrder(landed_expected, ConsumeAll("orders", landed_expected.size()));
}

TEST_F(KafkaPublisherTest, UnreachableClusterReportsEveryEventUnavailable) {
  PublisherOptions options = TestOptions();
  options.properties["message.timeout.ms"] = "1000";
  cluster_.SetAllBrokersDown();
  auto publisher = OpenKafka(options);
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 20; ++i) events.push_back(Event::Make("orders", "k", "T", "{}"));
  Deliveries deliveries;
  publisher->Publish(events, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(10)));
  for (const auto& [index, got] : deliveries.got()) {
    ASSERT_EQ(got.size(), 1u) << "index " << index << " reported more than once";
    EXPECT_EQ(got[0].outcome, Outcome::kUnavailable) << got[0].error;
    EXPECT_THAT(got[0].error, HasSubstr("MSG_TIMED_OUT"));
  }
  cluster_.SetAllBrokersUp();
}

TEST_F(KafkaPublisherTest, FatalProducerErrorRetriesOutstandingAndRebuilds) {
  auto publisher = OpenKafka();
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 200; ++i) {
    events.push_back(Event::Make("orders", fmt::format("k{}", i % 7), "T", "{}"));
  }
  Deliveries first;
  publisher->Publish(events, first.Callback());
  publisher->InjectFatalErrorForTesting("injected by the test");
  ASSERT_TRUE(first.WaitFor(events.size(), seconds(15)));
  std::vector<Event> again;
  for (const auto& [index, got] : first.got()) {
    ASSERT_EQ(got.size(), 1u);
    EXPECT_NE(got[0].outcome, Outcome::kRejected) << got[0].error;
    EXPECT_NE(got[0].outcome, Outcome::kUnavailable) << got[0].error;
    if (got[0].outcome != Outcome::kPublished) again.push_back(events[index]);
  }
  std::cout << again.size() << " of " << events.size() << " reported kRetry\n";

  // The failed keys stay closed until the caller resumes them: a call now
  // sends none of their events.
  ASSERT_FALSE(again.empty());
  std::vector<Event> early = {again[0]};
  Deliveries held;
  publisher->Publish(early, held.Callback());
  ASSERT_TRUE(held.WaitFor(1, seconds(15)));
  EXPECT_EQ(held.got().at(0).at(0).outcome, Outcome::kRetry);
  EXPECT_THAT(held.got().at(0).at(0).error, ::testing::HasSubstr("held back"));
  std::vector<std::string> keys;
  for (const Event& e : again) keys.push_back(e.key);
  publisher->Resume(keys);

  // The next call runs on a new producer; every event gets through.
  std::vector<Event> next = again;
  next.push_back(Event::Make("orders", "k0", "T", "{}"));
  Deliveries second;
  publisher->Publish(next, second.Callback());
  ASSERT_TRUE(second.WaitFor(next.size(), seconds(15)));
  for (const auto& [index, got] : second.got()) {
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].outcome, Outcome::kPublished) << got[0].error;
  }
  EXPECT_EQ(publisher->rebuilds(), 1);
}


#ifdef HERALD_WITH_POSTGRES
// The same happy path from PostgreSQL: events enqueued through the
// application's own libpq connection inside its transactions, relayed by a
// PostgreSQL store (its partitions leased to this one relay).
TEST_F(KafkaPublisherTest, RelaysEveryCommittedEventFromPostgresOnceKeyedInOrder) {
  std::string server;
  herald::testing::RequirePostgres(server);
  if (server.empty()) return;
  const std::string schema = fmt::format("t_kafka_happy_{}", ::getpid());
  std::unique_ptr<PGconn, void (*)(PGconn*)> app(PQconnectdb(server.c_str()), PQfinish);
  ASSERT_EQ(PQstatus(app.get()), CONNECTION_OK) << PQerrorMessage(app.get());
  PQsetNoticeProcessor(app.get(), [](void*, const char*) {}, nullptr);
  auto exec = [&](const std::string& sql) {
    PGresult* r = PQexec(app.get(), sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    EXPECT_TRUE(ok) << sql << ": " << PQerrorMessage(app.get());
    PQclear(r);
  };
  exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  ASSERT_TRUE(postgres::Migrate(app.get(), {.schema = schema, .partitions = 8}).ok());
  exec("CREATE TABLE " + schema + ".business (id bigserial PRIMARY KEY, note text NOT NULL)");

  const std::vector<std::string> keys = Keys(10);
  std::vector<Event> events;
  const postgres::EnqueueOptions enqueue{.schema = schema};
  for (int i = 0; i < 1000; i += 10) {
    exec("BEGIN");
    exec(fmt::format("INSERT INTO {}.business (note) VALUES ('tx {}')", schema, i));
    std::vector<Event> tx;
    for (int j = i; j < i + 10; ++j) {
      tx.push_back(Event::Make("orders", keys[rng_() % keys.size()], "OrderPlaced",
                               fmt::format(R"({{"n":{}}})", j)));
    }
    ASSERT_TRUE(postgres::EnqueueBatch(app.get(), tx, enqueue).ok());
    const bool roll_back = (i / 10) % 5 == 4;  // one transaction in five
    exec(roll_back ? "ROLLBACK" : "COMMIT");
    if (!roll_back) events.insert(events.end(), tx.begin(), tx.end());
  }

  auto store = OpenStore(fmt::format("{}{}schema={}&lease=2s", server,
                                     std::string_view(server).find('?') == std::string::npos
                                         ? "?"
                                         : "&",
                                     schema));
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto publisher = OpenKafka();
  ASSERT_NE(publisher, nullptr);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(**store, *publisher, &stats).ok());
  EXPECT_EQ(stats.published, events.size());
  auto outbox = (*store)->Stats();
  ASSERT_TRUE(outbox.has_value());
  EXPECT_EQ(outbox->pending, 0);

  std::vector<ConsumedMessage> landed = ConsumeAll("orders", events.size());
  EXPECT_EQ(ExpectAllLandedInKeyOrder(events, landed), 0u);
  EXPECT_EQ(landed.size(), events.size());
  for (const ConsumedMessage& m : landed) {
    EXPECT_EQ(m.Header("ce_type"), "OrderPlaced");
    EXPECT_EQ(m.Header("ce_specversion"), "1.0");
  }
  store->reset();
  exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
}
#endif  // HERALD_WITH_POSTGRES

}  // namespace
}  // namespace herald::publish

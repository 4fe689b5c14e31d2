// The NATS JetStream publisher against a real nats-server: the one the test
// run shares (HERALD_TEST_NATS_URL; scripts/test.sh starts it), each test on
// streams and subjects of its own, and, for outages, a server this test
// starts on a port of its own and kills. The relay drains a SQLite outbox
// that an application fills in its own transactions; an independent cnats
// consumer reads back what the stream holds.
#include "publish/nats/nats_publisher.h"

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

#ifdef HERALD_WITH_POSTGRES
#include <libpq-fe.h>

#include "herald/postgres.h"
#endif
#include "herald/relay.h"
#include "herald/sqlite.h"
#include "herald/store.h"
#include "publish/nats/nats_server.h"
#include "testing/faulty_store.h"
#include "testing/postgres_server.h"
#include "testing/seed.h"
#include "testing/sqlite_outbox.h"

namespace herald::publish {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using testing::JetStreamClient;
using testing::NatsServer;
using testing::StoredMessage;
using testing::StreamSpec;

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
  std::map<std::size_t, std::vector<Delivery>> got() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::size_t, std::vector<Delivery>> got_;
};

class NatsPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = SeedFromTestName();
    rng_.seed(seed_);
    std::cout << "seed " << seed_ << "\n";
    // Names of this test's own: a subject token and a stream name.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string token;
    for (char c : name.substr(0, 40)) {
      token.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
    }
    token += fmt::format("_{}", ::getpid());
    prefix_ = "herald_test." + token + ".";
    stream_ = "T_" + token;
    outbox_.Open();
    store_ = outbox_.OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    outbox_.Close();
  }

  // The server the test run shares. A test that needs it fails without it.
  void RequireSharedServer() {
    url_ = testing::SharedNatsUrl();
    if (url_.empty()) {
      GTEST_FAIL() << "HERALD_TEST_NATS_URL is unset: start a server with scripts/nats.sh start "
                      "(scripts/test.sh does) and export HERALD_TEST_NATS_URL=$(scripts/nats.sh "
                      "url)";
    }
  }

  // A stream on this test's subjects (prefix_ + ">").
  void MakeStream(JetStreamClient& client, StreamSpec spec = {}) {
    spec.name = stream_;
    spec.subjects = {prefix_ + ">"};
    ASSERT_TRUE(client.CreateStream(spec));
  }

  PublisherOptions Options() const {
    PublisherOptions options;
    options.properties = {{"herald.subject.prefix", prefix_},
                          {"herald.ack_timeout_ms", "2000"},
                          {"reconnect_wait_ms", "100"},
                          {"ping_interval_ms", "1000"}};
    return options;
  }

  std::unique_ptr<NatsPublisher> OpenNats(const std::string& url, PublisherOptions options) {
    auto publisher = NatsPublisher::Open(url, options);
    EXPECT_TRUE(publisher.has_value()) << publisher.error().ToString();
    return publisher.has_value() ? std::move(*publisher) : nullptr;
  }

  // Commits `count` events of `topic`, keys drawn from `keys`, `per_tx` per
  // application transaction. Returns them in enqueue order.
  std::vector<Event> Commit(int count, const std::vector<std::string>& keys, int per_tx,
                            const std::string& topic = "orders", std::size_t payload_bytes = 0) {
    std::vector<Event> all;
    for (int i = 0; i < count; i += per_tx) {
      outbox_.Exec("BEGIN IMMEDIATE");
      outbox_.Exec(fmt::format("INSERT INTO business (note) VALUES ('tx {}')", i));
      for (int j = i; j < std::min(count, i + per_tx); ++j) {
        std::string payload = fmt::format(R"({{"n":{},"pad":"{}"}})", j,
                                          std::string(payload_bytes, 'p'));
        Event e = Event::Make(topic, keys[rng_() % keys.size()], "OrderPlaced", payload);
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

  // Checks that `stored` holds every event of `events` exactly as enqueued
  // (subject, payload, Nats-Msg-Id, CloudEvents and own headers), nothing
  // else, and that for each key the first copies follow enqueue order.
  // Returns how many duplicates the stream holds.
  std::size_t ExpectAllStoredInKeyOrder(const std::vector<Event>& events,
                                        const std::vector<StoredMessage>& stored) const {
    std::map<std::string, const Event*> by_id;
    std::map<std::string, std::vector<std::string>> enqueued_per_key;
    for (const Event& e : events) {
      by_id[e.id.ToString()] = &e;
      enqueued_per_key[e.key].push_back(e.id.ToString());
    }
    std::set<std::string> seen;
    std::map<std::string, std::vector<std::string>> first_per_key;
    std::size_t duplicates = 0;
    std::uint64_t last_sequence = 0;
    for (const StoredMessage& m : stored) {
      EXPECT_GT(m.sequence, last_sequence) << "not in stream order";
      last_sequence = m.sequence;
      auto header = [&m](const std::string& name) {
        auto it = m.headers.find(name);
        return it == m.headers.end() ? std::string("<none>") : it->second;
      };
      const std::string id = header("Nats-Msg-Id");
      auto it = by_id.find(id);
      if (it == by_id.end()) {
        ADD_FAILURE() << "unexpected message " << id << " at sequence " << m.sequence;
        continue;
      }
      const Event& e = *it->second;
      EXPECT_EQ(m.subject, prefix_ + e.topic);
      EXPECT_EQ(m.data, e.payload);
      EXPECT_EQ(header("ce-id"), id);
      EXPECT_EQ(header("ce-type"), e.type);
      EXPECT_EQ(header("ce-specversion"), "1.0");
      EXPECT_EQ(header("ce-time"), FormatRfc3339(e.created_at));
      EXPECT_EQ(header("ce-subject"), e.key.empty() ? "<none>" : e.key);
      EXPECT_EQ(header("content-type"), e.content_type);
      for (const auto& [name, value] : e.headers) EXPECT_EQ(header(name), value) << name;
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
  std::string stream_;
  SqliteOutbox outbox_{"herald_nats_test"};
  std::unique_ptr<Store> store_;
};

TEST_F(NatsPublisherTest, I1I3RelaysEveryCommittedEventExactlyAsEnqueuedInKeyOrder) {
  RequireSharedServer();
  JetStreamClient client(url_);
  MakeStream(client);
  std::vector<std::string> keys = Keys(12);
  keys.push_back("");  // no key: no ce-subject, no order
  std::vector<Event> events = Commit(1500, keys, /*per_tx=*/5);
  // A rolled-back transaction never reaches the bus.
  outbox_.Exec("BEGIN IMMEDIATE");
  ASSERT_TRUE(sqlite::Enqueue(outbox_.app(), Event::Make("orders", "acct-0", "Ghost", "{}")).ok());
  outbox_.Exec("ROLLBACK");

  PublisherOptions options = Options();
  options.properties["herald.ce.source"] = "/billing";
  auto publisher = OpenNats(url_, options);
  ASSERT_NE(publisher, nullptr);
  EXPECT_FALSE(publisher->guarantees().keeps_key_order);
  EXPECT_TRUE(publisher->guarantees().deduplicates_by_id);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  EXPECT_EQ(stats.published, events.size());
  EXPECT_EQ(stats.retried + stats.unavailable + stats.dead_lettered, 0u);
  EXPECT_EQ(Pending(), 0);
  EXPECT_EQ(publisher->duplicates(), 0u);

  std::vector<StoredMessage> stored = client.ReadAll(stream_, prefix_ + ">", events.size() + 1,
                                                     seconds(2));
  EXPECT_EQ(ExpectAllStoredInKeyOrder(events, stored), 0u);
  EXPECT_EQ(stored.size(), events.size());
  for (const StoredMessage& m : stored) EXPECT_EQ(m.headers.at("ce-source"), "/billing");
  client.DeleteStream(stream_);
}

TEST_F(NatsPublisherTest, I4RepublishOfAStoredEventIsDroppedByTheServerAsDuplicate) {
  RequireSharedServer();
  JetStreamClient client(url_);
  MakeStream(client);
  auto publisher = OpenNats(url_, Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 50; ++i) {
    events.push_back(Event::Make("orders", fmt::format("k{}", i % 5), "T", fmt::format("{}", i)));
  }
  for (int round = 0; round < 2; ++round) {
    Deliveries deliveries;
    publisher->Publish(events, deliveries.Callback());
    ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(10)));
    for (const auto& [index, got] : deliveries.got()) {
      ASSERT_EQ(got.size(), 1u) << "index " << index << " reported more than once";
      EXPECT_EQ(got[0].outcome, Outcome::kPublished) << got[0].error;
    }
  }
  // The second round is acked (the stream holds those events) and counted
  // as duplicates; the stream holds each event once.
  EXPECT_EQ(publisher->duplicates(), events.size());
  EXPECT_EQ(client.MessageCount(stream_), static_cast<std::int64_t>(events.size()));
  std::vector<StoredMessage> stored =
      client.ReadAll(stream_, prefix_ + ">", events.size() + 1, seconds(1));
  EXPECT_EQ(ExpectAllStoredInKeyOrder(events, stored), 0u);
  client.DeleteStream(stream_);
}

TEST_F(NatsPublisherTest, I6NoStreamForTheSubjectIsDeadLetteredWithTheReasonOthersFlow) {
  RequireSharedServer();
  JetStreamClient client(url_);
  // The stream holds this test's "orders"; nothing stores its "audit".
  StreamSpec spec;
  spec.name = stream_;
  spec.subjects = {prefix_ + "orders"};
  ASSERT_TRUE(client.CreateStream(spec));
  std::vector<Event> orders = Commit(200, Keys(6), /*per_tx=*/4);
  std::vector<Event> lost = Commit(5, {"lost-key"}, /*per_tx=*/1, "audit");
  std::vector<Event> more = Commit(200, Keys(6), /*per_tx=*/4);
  orders.insert(orders.end(), more.begin(), more.end());

  auto publisher = OpenNats(url_, Options());
  ASSERT_NE(publisher, nullptr);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, *publisher, &stats).ok());
  EXPECT_EQ(Pending(), 0);
  std::vector<DeadLetter> dead = DeadLetters();
  ASSERT_EQ(dead.size(), lost.size());
  for (const DeadLetter& d : dead) {
    EXPECT_EQ(d.event.topic, "audit");
    EXPECT_THAT(d.error, HasSubstr("no JetStream stream for subject"));
    EXPECT_THAT(d.error, HasSubstr(prefix_ + "audit"));
  }
  ExpectAllStoredInKeyOrder(orders,
                            client.ReadAll(stream_, prefix_ + "orders", orders.size() + 1,
                                           seconds(1)));
  client.DeleteStream(stream_);
}

TEST_F(NatsPublisherTest, I6TooLargeMessagesAreRejectedAndOnlyTheyAreDeadLettered) {
  RequireSharedServer();
  JetStreamClient client(url_);
  StreamSpec spec;
  spec.max_msg_size = 4000;
  MakeStream(client, spec);
  std::vector<Event> before = Commit(50, Keys(5), /*per_tx=*/5);
  outbox_.Exec("BEGIN IMMEDIATE");
  Event big = Event::Make("orders", "acct-big", "Huge", std::string(20000, 'x'));
  Event after_big = Event::Make("orders", "acct-big", "Small", "{}");
  ASSERT_TRUE(sqlite::Enqueue(outbox_.app(), big).ok());
  ASSERT_TRUE(sqlite::Enqueue(outbox_.app(), after_big).ok());
  outbox_.Exec("COMMIT");
  std::vector<Event> after = Commit(50, Keys(5), /*per_tx=*/5);

  auto publisher = OpenNats(url_, Options());
  ASSERT_NE(publisher, nullptr);
  ASSERT_TRUE(RunRelay(*store_, *publisher).ok());
  std::vector<DeadLetter> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event.id, big.id);
  EXPECT_THAT(dead[0].error, HasSubstr("message size exceeds maximum allowed"));
  EXPECT_EQ(Pending(), 0);
  std::vector<Event> expected = before;
  expected.push_back(after_big);
  expected.insert(expected.end(), after.begin(), after.end());
  ExpectAllStoredInKeyOrder(expected, client.ReadAll(stream_, prefix_ + ">",
                                                     expected.size() + 1, seconds(1)));

  // Over the server's max_payload (1 MiB), cnats refuses it before sending.
  std::vector<Event> huge = {Event::Make("orders", "k", "T", std::string(1100000, 'y'))};
  Deliveries deliveries;
  publisher->Publish(huge, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(1, seconds(5)));
  const Delivery d = deliveries.got().at(0).at(0);
  EXPECT_EQ(d.outcome, Outcome::kRejected) << d.error;
  EXPECT_THAT(d.error, HasSubstr("maximum allowed"));
  client.DeleteStream(stream_);
}

TEST_F(NatsPublisherTest, TheStreamIsCreatedWhenMissingOnlyWhenAsked) {
  RequireSharedServer();
  JetStreamClient client(url_);
  client.DeleteStream(stream_);
  PublisherOptions options = Options();
  options.properties["herald.stream.create"] = stream_;
  options.properties["herald.stream.subjects"] = prefix_ + ">";
  auto publisher = OpenNats(url_, options);
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events = Commit(100, Keys(4), /*per_tx=*/10);
  ASSERT_TRUE(RunRelay(*store_, *publisher).ok());
  EXPECT_EQ(Pending(), 0);
  EXPECT_TRUE(DeadLetters().empty());
  ExpectAllStoredInKeyOrder(events,
                            client.ReadAll(stream_, prefix_ + ">", events.size() + 1, seconds(1)));
  client.DeleteStream(stream_);
}

TEST_F(NatsPublisherTest, UnreachableServerReportsEveryEventUnavailable) {
  NatsServer server;  // never started: nothing listens on its port
  auto publisher = OpenNats(server.url(), Options());
  ASSERT_NE(publisher, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 20; ++i) events.push_back(Event::Make("orders", "k", "T", "{}"));
  Deliveries deliveries;
  publisher->Publish(events, deliveries.Callback());
  ASSERT_TRUE(deliveries.WaitFor(events.size(), seconds(10)));
  for (const auto& [index, got] : deliveries.got()) {
    ASSERT_EQ(got.size(), 1u) << "index " << index << " reported more than once";
    EXPECT_EQ(got[0].outcome, Outcome::kUnavailable) << got[0].error;
    EXPECT_THAT(got[0].error, HasSubstr("not connected"));
  }
}

TEST_F(NatsPublisherTest, I6APublishThePermissionsRefuseIsDeadLetteredOthersFlow) {
  NatsServer server;
  server.set_extra_args({"-c", (server.dir() / "server.conf").string()});
  {
    std::ofstream conf(server.dir() / "server.conf");
    conf << "authorization { users = [\n"
         << "  {user: relay, password: pw, permissions: {publish: {allow: [\"" << prefix_
         << "orders\"]}, subscribe: {allow: [\"_INBOX.>\"]}}}\n"
         << "  {user: admin, password: pw}\n"
         << "] }\n";
  }
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  JetStreamClient admin(server.url("admin:pw"));
  MakeStream(admin);  // it would store both topics
  std::vector<Event> orders = Commit(100, Keys(4), /*per_tx=*/4);
  std::vector<Event> audit = Commit(3, {"auditor"}, /*per_tx=*/1, "audit");
  std::vector<Event> more = Commit(100, Keys(4), /*per_tx=*/4);
  orders.insert(orders.end(), more.begin(), more.end());

  PublisherOptions options = Options();
  options.properties["user"] = "relay";
  options.properties["password"] = "pw";
  auto publisher = OpenNats(server.url(), options);
  ASSERT_NE(publisher, nullptr);
  ASSERT_TRUE(RunRelay(*store_, *publisher).ok());
  EXPECT_EQ(Pending(), 0);
  std::vector<DeadLetter> dead = DeadLetters();
  ASSERT_EQ(dead.size(), audit.size());
  for (const DeadLetter& d : dead) {
    EXPECT_EQ(d.event.topic, "audit");
    EXPECT_THAT(d.error, HasSubstr("Permissions Violation for Publish to"));
    EXPECT_THAT(d.error, HasSubstr(prefix_ + "audit"));
  }
  ExpectAllStoredInKeyOrder(orders, admin.ReadAll(stream_, prefix_ + ">", orders.size() + 1,
                                                  seconds(1)));
}

TEST_F(NatsPublisherTest, AConnectionCnatsGaveUpIsMadeAnew) {
  // The server comes back with other credentials: cnats meets the same
  // authentication error twice and closes the connection for good.
  NatsServer server({"--user", "relay", "--pass", "one"});
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  {
    JetStreamClient client(server.url("relay:one"));
    MakeStream(client);
  }
  PublisherOptions options = Options();
  options.properties["user"] = "relay";
  options.properties["password"] = "one";
  auto publisher = OpenNats(server.url(), options);
  ASSERT_NE(publisher, nullptr);
  auto publish_one = [&] {
    std::vector<Event> events = {Event::Make("orders", "k", "T", "{}")};
    Deliveries deliveries;
    publisher->Publish(events, deliveries.Callback());
    EXPECT_TRUE(deliveries.WaitFor(1, seconds(10)));
    return deliveries.got().at(0).at(0);
  };
  EXPECT_EQ(publish_one().outcome, Outcome::kPublished);

  server.Kill();
  server.set_extra_args({"--user", "relay", "--pass", "two"});
  ASSERT_TRUE(server.Start(&error)) << error;
  std::this_thread::sleep_for(seconds(2));  // reconnects, refused twice
  EXPECT_FALSE(publisher->connected());
  EXPECT_EQ(publish_one().outcome, Outcome::kUnavailable);

  server.Kill();
  server.set_extra_args({"--user", "relay", "--pass", "one"});
  ASSERT_TRUE(server.Start(&error)) << error;
  Delivery last;
  for (int attempt = 0; attempt < 20; ++attempt) {
    last = publish_one();
    if (last.outcome == Outcome::kPublished) break;
    std::this_thread::sleep_for(milliseconds(250));
  }
  EXPECT_EQ(last.outcome, Outcome::kPublished) << last.error;
  EXPECT_GE(publisher->rebuilds(), 1);
}

TEST_F(NatsPublisherTest, I2ServerKilledMidDrainThenRestartedLosesNothing) {
  NatsServer server;
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  {
    JetStreamClient client(server.url());
    MakeStream(client);
  }
  constexpr int kEvents = 20000;
  std::vector<Event> events = Commit(kEvents, Keys(200), /*per_tx=*/100);
  PublisherOptions options = Options();
  options.properties["herald.ack_timeout_ms"] = "1000";
  auto publisher = OpenNats(server.url(), options);
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
            << ", retried " << stats.retried << ", server duplicates " << publisher->duplicates()
            << "\n";
  EXPECT_GT(stats.unavailable + stats.retried, 0u) << "the outage was not seen";
  EXPECT_EQ(Pending(), 0);
  EXPECT_TRUE(DeadLetters().empty());

  JetStreamClient client(server.url());
  std::vector<StoredMessage> stored =
      client.ReadAll(stream_, prefix_ + ">", events.size() * 2, seconds(2));
  const std::size_t duplicates = ExpectAllStoredInKeyOrder(events, stored);
  std::cout << "stored " << stored.size() << ", duplicates stored " << duplicates << "\n";
  // Re-publishes carry the same Nats-Msg-Id and fall inside the duplicate
  // window: the server drops them, and the stream holds each event once.
  EXPECT_EQ(duplicates, 0u);
}

#ifdef HERALD_WITH_POSTGRES
// The happy path from PostgreSQL: events enqueued through the application's
// own libpq connection inside its transactions (one in five rolled back),
// relayed by a PostgreSQL store.
TEST_F(NatsPublisherTest, I1I3RelaysEveryCommittedEventFromPostgresExactlyInKeyOrder) {
  RequireSharedServer();
  std::string server;
  herald::testing::RequirePostgres(server);
  if (server.empty()) return;
  const std::string schema = herald::testing::SchemaForCurrentTest();
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
    const bool roll_back = (i / 10) % 5 == 4;
    exec(roll_back ? "ROLLBACK" : "COMMIT");
    if (!roll_back) events.insert(events.end(), tx.begin(), tx.end());
  }

  JetStreamClient client(url_);
  MakeStream(client);
  auto store = OpenStore(fmt::format("{}{}schema={}&lease=2s", server,
                                     server.find('?') == std::string::npos ? "?" : "&", schema));
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  auto publisher = OpenNats(url_, Options());
  ASSERT_NE(publisher, nullptr);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(**store, *publisher, &stats).ok());
  EXPECT_EQ(stats.published, events.size());
  auto outbox = (*store)->Stats();
  ASSERT_TRUE(outbox.has_value());
  EXPECT_EQ(outbox->pending, 0);
  std::vector<StoredMessage> stored =
      client.ReadAll(stream_, prefix_ + ">", events.size() + 1, seconds(2));
  EXPECT_EQ(ExpectAllStoredInKeyOrder(events, stored), 0u);
  EXPECT_EQ(stored.size(), events.size());
  store->reset();
  exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  client.DeleteStream(stream_);
}
#endif  // HERALD_WITH_POSTGRES

}  // namespace
}  // namespace herald::publish

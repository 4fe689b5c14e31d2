// The relay engine against the SQLite store and a scripted bus. Events are
// enqueued the way applications do it: a business row and the events in one
// transaction on the application's own connection, committed or rolled back.
// Time is virtual (FakeClock), so backoff and outages cost no real time.
#include "herald/relay.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "herald/sqlite.h"
#include "herald/store.h"
#include "testing/fake_clock.h"
#include "testing/faulty_store.h"
#include "testing/scripted_publisher.h"
#include "testing/seed.h"
#include "testing/sqlite_outbox.h"

namespace herald {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using testing::FakeClock;
using testing::FaultyStore;
using testing::ScriptedPublisher;
using testing::SqliteOutbox;

// A publisher that is handed more calls than this in one test has made the
// relay spin: the guard stops the relay so that the test fails instead of
// hanging.
constexpr int kCallGuard = 20000;

using herald::testing::SeedFromTestName;

std::set<EventId> IdsOf(const std::vector<Event>& events) {
  std::set<EventId> ids;
  for (const Event& e : events) ids.insert(e.id);
  return ids;
}

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = SeedFromTestName();
    rng_.seed(seed_);
    std::cout << "seed " << seed_ << "\n";
    outbox_.Open();
    store_ = outbox_.OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    outbox_.Close();
  }

  // One application transaction: a business row and `events`, committed or
  // rolled back.
  void AppTransaction(const std::vector<Event>& events, bool commit) {
    outbox_.Exec("BEGIN IMMEDIATE");
    outbox_.Exec(fmt::format("INSERT INTO business (note) VALUES ('{} events')", events.size()));
    for (const Event& event : events) {
      Status s = sqlite::Enqueue(outbox_.app(), event);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    outbox_.Exec(commit ? "COMMIT" : "ROLLBACK");
  }

  // Commits `count` events, round-robin over `keys`, `per_transaction` per
  // transaction. Returns them in enqueue order.
  std::vector<Event> CommitEvents(int count, const std::vector<std::string>& keys,
                                  int per_transaction = 1) {
    std::vector<Event> all;
    std::vector<Event> tx;
    for (int i = 0; i < count; ++i) {
      tx.push_back(Event::Make("orders", keys[i % keys.size()], "OrderPlaced",
                               fmt::format(R"({{"n":{}}})", i)));
      if (static_cast<int>(tx.size()) == per_transaction || i + 1 == count) {
        AppTransaction(tx, /*commit=*/true);
        all.insert(all.end(), tx.begin(), tx.end());
        tx.clear();
      }
    }
    return all;
  }

  static std::vector<std::string> Keys(int n, const std::string& prefix = "key-") {
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i) keys.push_back(prefix + std::to_string(i));
    return keys;
  }

  RelayOptions Options() {
    RelayOptions options;
    options.batch_size = 100;
    options.max_attempts = 0;
    options.backoff_initial = milliseconds(100);
    options.backoff_max = milliseconds(5000);
    // Longer than any backoff: every wait for a retry then goes through the
    // virtual clock, never through a real-time wait on the store.
    options.poll_interval = milliseconds(60000);
    options.exit_when_drained = true;
    options.clock = &clock_;
    options.seed = seed_;
    return options;
  }

  // Runs a relay to completion on `store`. The publisher's call hook is
  // replaced by `on_call` (may be empty) plus the spin guard.
  Status RunRelay(Store& store, ScriptedPublisher& publisher, RelayOptions options,
                  std::function<void(Relay&, int)> on_call = {}, RelayStats* stats = nullptr) {
    Relay relay(store, publisher, options);
    publisher.OnCall([&](int call) {
      if (on_call) on_call(relay, call);
      if (call > kCallGuard) relay.Stop();
    });
    Status status = relay.Run();
    publisher.OnCall({});
    EXPECT_LE(publisher.calls(), kCallGuard) << "the relay spun";
    if (stats != nullptr) *stats = relay.stats();
    return status;
  }

  OutboxStats StoreStats() {
    Result<OutboxStats> stats = store_->Stats();
    EXPECT_TRUE(stats.has_value()) << stats.error().ToString();
    return stats.value_or(OutboxStats{});
  }

  // The ids still in the outbox, read through the application's connection.
  std::set<EventId> PendingIds() {
    std::set<EventId> ids;
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(outbox_.app(), "SELECT event_id FROM herald_outbox", -1, &stmt,
                                 nullptr),
              SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const char* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      std::optional<EventId> id = EventId::Parse(text);
      EXPECT_TRUE(id.has_value()) << text;
      if (id) ids.insert(*id);
    }
    sqlite3_finalize(stmt);
    return ids;
  }

  std::vector<DeadLetter> DeadLetters() {
    DeadLetterFilter all;
    all.all = true;
    Result<std::vector<DeadLetter>> dead = store_->ListDeadLetters(all, 1000);
    EXPECT_TRUE(dead.has_value()) << dead.error().ToString();
    return dead.value_or(std::vector<DeadLetter>{});
  }

  // For each key, the ids of `events` in enqueue order.
  static std::map<std::string, std::vector<EventId>> EnqueueOrderByKey(
      const std::vector<Event>& events) {
    std::map<std::string, std::vector<EventId>> order;
    for (const Event& e : events) order[e.key].push_back(e.id);
    return order;
  }

  std::uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  SqliteOutbox outbox_{"herald_relay_test"};
  std::unique_ptr<Store> store_;
  FakeClock clock_;
};

// ---- I1: published if and only if committed -------------------------------

TEST_F(RelayTest, I1DeliversExactlyTheCommittedTransactions) {
  ScriptedPublisher publisher;
  std::bernoulli_distribution rolled_back(0.2);
  std::vector<Event> committed;
  std::vector<Event> discarded;

  // The relay runs while the application writes, so a rolled-back
  // transaction's rows are never visible to it, not even for a moment.
  Relay relay(*store_, publisher, [&] {
    RelayOptions options = Options();
    options.exit_when_drained = false;
    options.poll_interval = milliseconds(20);
    return options;
  }());
  auto run = std::async(std::launch::async, [&] { return relay.Run(); });
  const std::vector<std::string> keys = Keys(7);
  for (int tx = 0; tx < 150; ++tx) {
    std::vector<Event> events;
    const int n = 1 + static_cast<int>(rng_() % 3);
    for (int i = 0; i < n; ++i) {
      events.push_back(Event::Make("orders", keys[rng_() % keys.size()], "OrderPlaced", "{}"));
    }
    const bool commit = !rolled_back(rng_);
    AppTransaction(events, commit);
    (commit ? committed : discarded).insert((commit ? committed : discarded).end(),
                                            events.begin(), events.end());
  }
  ASSERT_FALSE(discarded.empty());

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (publisher.DeliveredIds().size() < committed.size() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  // A drain pass after the last commit catches anything a concurrent claim
  // could have missed.
  relay.Stop();
  ASSERT_TRUE(run.get().ok());
  ASSERT_TRUE(RunRelay(*store_, publisher, Options()).ok());

  EXPECT_EQ(publisher.DeliveredIds(), IdsOf(committed));
  EXPECT_TRUE(publisher.Duplicates().empty());
  EXPECT_EQ(StoreStats().pending, 0);
}

// ---- I2: every committed event is delivered, whatever happens --------------

TEST_F(RelayTest, I2NothingIsLostThroughBusFaultsAndCrashes) {
  std::vector<Event> events = CommitEvents(300, Keys(10), /*per_transaction=*/3);
  ScriptedPublisher publisher;
  publisher.ConfirmOutOfOrder(seed_);
  publisher.DownUntil(clock_, clock_.Now() + minutes(10));
  for (int call : {2, 5, 9}) publisher.FailCall(call);
  std::set<EventId> lost;
  for (int i = 0; i < 5; ++i) {
    const Event& e = events[rng_() % events.size()];
    publisher.LoseConfirmation(e.id);
    lost.insert(e.id);
  }

  // Crash 1: the relay dies after publishing a batch, before settling it.
  {
    FaultyStore faulty(*store_);
    Relay* running = nullptr;
    faulty.OnSettle([&](int n) {
      if (n == 3) running->Stop();
    });
    faulty.FailSettles(3, 1000, Unavailable("connection lost"));
    RelayStats stats;
    ASSERT_TRUE(RunRelay(faulty, publisher, Options(),
                         [&](Relay& relay, int) { running = &relay; }, &stats)
                    .ok());
    EXPECT_GE(stats.settle_failures, 1u);
    EXPECT_GE(stats.unavailable, 1u) << "the outage was not met";
  }
  const std::int64_t pending_after_first = StoreStats().pending;
  EXPECT_GT(pending_after_first, 0);

  // Crash 2: a fresh store and relay on the same file; this one dies while a
  // call is failing on the bus.
  store_.reset();
  store_ = outbox_.OpenStore();
  const int crash_call = publisher.calls() + 3;
  publisher.FailCall(crash_call);
  ASSERT_TRUE(RunRelay(*store_, publisher, Options(), [&](Relay& relay, int call) {
                if (call == crash_call) relay.Stop();
              }).ok());
  EXPECT_GT(StoreStats().pending, 0);

  // Recovery: a third relay drains the outbox.
  store_.reset();
  store_ = outbox_.OpenStore();
  ASSERT_TRUE(RunRelay(*store_, publisher, Options()).ok());

  std::set<EventId> delivered = publisher.DeliveredIds();
  for (const Event& e : events) EXPECT_TRUE(delivered.contains(e.id)) << e.id.ToString();
  EXPECT_EQ(delivered.size(), events.size());
  EXPECT_EQ(StoreStats().pending, 0);
  EXPECT_TRUE(DeadLetters().empty());
  for (const EventId& id : lost) EXPECT_TRUE(publisher.Duplicates().contains(id));
}

// ---- I3: per-key order, and a failing key holds back only itself -----------

class RelayOrderTest : public RelayTest, public ::testing::WithParamInterface<bool> {};

TEST_P(RelayOrderTest, I3FirstDeliveriesFollowEnqueueOrderPerKey) {
  std::vector<std::string> keys = Keys(25);
  keys.push_back("");  // events without a key have no order to keep
  std::vector<Event> events;
  for (int tx = 0; tx < 120; ++tx) {
    std::vector<Event> batch;
    for (int i = 0; i < 4; ++i) {
      batch.push_back(Event::Make("orders", keys[rng_() % keys.size()], "OrderPlaced", "{}"));
    }
    AppTransaction(batch, true);
    events.insert(events.end(), batch.begin(), batch.end());
  }
  ScriptedPublisher publisher({.keeps_key_order = GetParam()});
  publisher.FailRandomly(0.25, seed_);
  publisher.ConfirmOutOfOrder(seed_ + 1);
  for (int i = 0; i < 10; ++i) publisher.LoseConfirmation(events[rng_() % events.size()].id);

  RelayOptions options = Options();
  options.batch_size = 64;
  ASSERT_TRUE(RunRelay(*store_, publisher, options).ok());

  std::map<std::string, std::vector<EventId>> delivered = publisher.FirstDeliveryOrderByKey();
  std::map<std::string, std::vector<EventId>> expected = EnqueueOrderByKey(events);
  for (const auto& [key, ids] : expected) {
    if (key.empty()) continue;
    EXPECT_EQ(delivered[key], ids) << "key " << key;
  }
  EXPECT_EQ(publisher.DeliveredIds(), IdsOf(events));
  EXPECT_EQ(StoreStats().pending, 0);
}

TEST_P(RelayOrderTest, I3AFailingKeyHoldsBackOnlyItself) {
  std::vector<Event> stuck = CommitEvents(2, {"stuck"});
  std::vector<Event> others = CommitEvents(200, Keys(10));
  ScriptedPublisher publisher({.keeps_key_order = GetParam()});
  publisher.Fail([&](const Event& e) { return e.id == stuck[0].id; }, "leader not available", 3);

  RelayOptions options = Options();
  options.max_attempts = 10;
  options.batch_size = 500;
  ASSERT_TRUE(RunRelay(*store_, publisher, options).ok());

  // The head of "stuck" was offered 4 times (3 failures, then success).
  std::vector<int> stuck_calls;
  for (const testing::Offer& offer : publisher.offers()) {
    if (offer.id == stuck[0].id) stuck_calls.push_back(offer.call);
  }
  ASSERT_EQ(stuck_calls.size(), 4u);
  // Every other key was fully delivered before the stuck head's first retry.
  std::map<EventId, int> first_call;
  for (const testing::Arrival& a : publisher.arrivals()) first_call.emplace(a.id, a.call);
  for (const Event& e : others) {
    ASSERT_TRUE(first_call.contains(e.id));
    EXPECT_LT(first_call[e.id], stuck_calls[1]) << "key " << e.key << " waited for 'stuck'";
  }
  // And "stuck" itself kept its order: its second event came after the head.
  EXPECT_EQ(publisher.FirstDeliveryOrderByKey()["stuck"],
            std::vector<EventId>({stuck[0].id, stuck[1].id}));
  EXPECT_GE(first_call[stuck[1].id], stuck_calls.back());
}

// An outage with the window full: the calls in flight come back
// unavailable, their events are left pending below the claim cursor, and
// each key's later events must still wait for them, however the claims
// that follow read the table.
TEST_P(RelayOrderTest, I3AnOutageWithAFullWindowKeepsKeyOrder) {
  std::vector<Event> events = CommitEvents(4000, Keys(50), /*per_transaction=*/20);
  ScriptedPublisher publisher({.keeps_key_order = GetParam()});
  publisher.ConfirmOutOfOrder(seed_);
  publisher.GoDown(6, 9);
  publisher.GoDown(20, 24);
  publisher.FailRandomly(0.02, seed_ + 1);

  RelayOptions options = Options();
  options.batch_size = 50;
  options.max_in_flight_events = 1000;
  ASSERT_TRUE(RunRelay(*store_, publisher, options).ok());

  std::map<std::string, std::vector<EventId>> delivered = publisher.FirstDeliveryOrderByKey();
  for (const auto& [key, ids] : EnqueueOrderByKey(events)) {
    EXPECT_EQ(delivered[key], ids) << "key " << key;
  }
  EXPECT_EQ(publisher.DeliveredIds(), IdsOf(events));
  EXPECT_EQ(StoreStats().pending, 0);
}

INSTANTIATE_TEST_SUITE_P(Publishers, RelayOrderTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "KeepsKeyOrder" : "OneEventPerKeyInFlight";
                         });

// ---- I4: duplicates only from lost confirmations, with the same id ---------

TEST_F(RelayTest, I4NoFaultsMeansExactlyOnce) {
  std::vector<Event> events = CommitEvents(500, Keys(40), 10);
  ScriptedPublisher publisher;
  publisher.ConfirmOutOfOrder(seed_);
  ASSERT_TRUE(RunRelay(*store_, publisher, Options()).ok());
  EXPECT_EQ(publisher.arrivals().size(), events.size());
  EXPECT_EQ(publisher.DeliveredIds(), IdsOf(events));
  EXPECT_TRUE(publisher.Duplicates().empty());
}

TEST_F(RelayTest, I4LostConfirmationsAreTheOnlyDuplicates) {
  std::vector<Event> events = CommitEvents(500, Keys(40), 10);
  std::shuffle(events.begin(), events.end(), rng_);
  constexpr int kLost = 7;
  ScriptedPublisher publisher;
  std::map<EventId, int> expected;
  for (int i = 0; i < kLost; ++i) {
    publisher.LoseConfirmation(events[i].id);
    expected[events[i].id] = 2;
  }
  ASSERT_TRUE(RunRelay(*store_, publisher, Options()).ok());
  EXPECT_EQ(publisher.Duplicates(), expected);
  EXPECT_EQ(publisher.arrivals().size(), events.size() + kLost);
  // Both deliveries of a duplicate are the same event: same id, key, topic.
  std::map<EventId, std::set<std::pair<std::string, std::string>>> seen;
  for (const testing::Arrival& a : publisher.arrivals()) seen[a.id].insert({a.key, a.topic});
  for (const auto& [id, variants] : seen) EXPECT_EQ(variants.size(), 1u);
  EXPECT_EQ(StoreStats().pending, 0);
}

// ---- I6: poison is isolated and nothing spins -------------------------------

TEST_F(RelayTest, I6RejectedEventIsDeadLetteredAndOthersFlow) {
  std::vector<Event> events = CommitEvents(60, {"a", "b", "c", ""}, 4);
  const Event& poison = events[4];  // key "a", with later "a" events behind it
  ASSERT_EQ(poison.key, "a");
  ScriptedPublisher publisher;
  publisher.Reject(poison.id, "message too large");

  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, publisher, Options(), {}, &stats).ok());

  std::vector<DeadLetter> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event.id, poison.id);
  EXPECT_EQ(dead[0].error, "message too large");
  std::set<EventId> expected = IdsOf(events);
  expected.erase(poison.id);
  EXPECT_EQ(publisher.DeliveredIds(), expected);
  EXPECT_EQ(StoreStats().pending, 0);
  EXPECT_EQ(stats.dead_lettered, 1u);
  int offered = 0;
  for (const testing::Offer& offer : publisher.offers()) offered += offer.id == poison.id;
  EXPECT_EQ(offered, 1) << "a rejected event is not retried";
}

TEST_F(RelayTest, I6MaxAttemptsDeadLettersAfterExactlyThatManyAttempts) {
  std::vector<Event> events = CommitEvents(30, {"a", "b", "c"});
  const Event& poison = events[0];
  constexpr int kMaxAttempts = 5;
  ScriptedPublisher publisher;
  publisher.Fail([&](const Event& e) { return e.id == poison.id; }, "timed out");

  RelayOptions options = Options();
  options.max_attempts = kMaxAttempts;
  ASSERT_TRUE(RunRelay(*store_, publisher, options).ok());

  std::vector<DeadLetter> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event.id, poison.id);
  EXPECT_EQ(dead[0].error, fmt::format("gave up after {} attempts: timed out", kMaxAttempts));
  EXPECT_EQ(dead[0].attempts, kMaxAttempts);
  int offered = 0;
  for (const testing::Offer& offer : publisher.offers()) offered += offer.id == poison.id;
  EXPECT_EQ(offered, kMaxAttempts);
  std::set<EventId> expected = IdsOf(events);
  expected.erase(poison.id);
  EXPECT_EQ(publisher.DeliveredIds(), expected);
  // Nothing spins: the poison's attempts plus one call per later event of
  // its key (one in flight per key) plus the first wave of the others.
  EXPECT_LE(publisher.calls(), kMaxAttempts + 10 + 10);
}

// ---- what the relay tells its listener ------------------------------------

// Records every call, as a metrics exporter would count them.
class RecordingListener final : public RelayListener {
 public:
  void OnPublished(const Event& event, milliseconds age) override {
    published.push_back(event.id);
    ages.push_back(age);
  }
  void OnRetry(const Event& event, std::string_view) override { retried.push_back(event.id); }
  void OnDeadLetter(const Event& event, std::string_view error) override {
    dead.emplace_back(event.id, std::string(error));
  }
  void OnClaim(std::size_t events, std::chrono::microseconds, bool ok) override {
    ++claims;
    claimed += events;
    claims_failed += ok ? 0 : 1;
  }
  void OnSettle(std::size_t events, std::chrono::microseconds, bool ok) override {
    ++settles;
    if (ok) settled += events;
  }
  void OnBusState(bool available) override { bus_states.push_back(available); }

  std::vector<EventId> published;
  std::vector<milliseconds> ages;
  std::vector<EventId> retried;
  std::vector<std::pair<EventId, std::string>> dead;
  int claims = 0;
  int claims_failed = 0;
  std::size_t claimed = 0;
  int settles = 0;
  std::size_t settled = 0;
  std::vector<bool> bus_states;
};

TEST_F(RelayTest, TheListenerHearsEveryOutcomeClaimSettlementAndOutage) {
  // Stamped on the relay's clock, so that their age is known.
  std::vector<Event> events;
  for (int i = 0; i < 40; ++i) {
    Event e = Event::Make("orders", fmt::format("key-{}", i % 4), "OrderPlaced", "{}");
    e.created_at = clock_.Now();
    events.push_back(std::move(e));
  }
  AppTransaction(events, /*commit=*/true);
  const Event& poison = events[1];
  const Event& flaky = events[2];
  ScriptedPublisher publisher;
  publisher.Reject(poison.id, "too large");
  publisher.Fail([&](const Event& e) { return e.id == flaky.id; }, "timed out", 2);
  clock_.Advance(milliseconds(250));  // every event is 250 ms old when first offered
  publisher.DownUntil(clock_, clock_.Now() + std::chrono::seconds(5));

  RecordingListener listener;
  RelayOptions options = Options();
  options.listener = &listener;
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, publisher, options, {}, &stats).ok());

  std::set<EventId> published(listener.published.begin(), listener.published.end());
  std::set<EventId> expected = IdsOf(events);
  expected.erase(poison.id);
  EXPECT_EQ(published, expected);
  EXPECT_EQ(listener.published.size(), expected.size()) << "one report per confirmation";
  EXPECT_EQ(stats.published, expected.size());
  for (milliseconds age : listener.ages) EXPECT_GE(age, milliseconds(250));
  EXPECT_EQ(listener.retried, (std::vector<EventId>{flaky.id, flaky.id}));
  ASSERT_EQ(listener.dead.size(), 1u);
  EXPECT_EQ(listener.dead[0].first, poison.id);
  EXPECT_EQ(listener.dead[0].second, "too large");
  EXPECT_EQ(listener.bus_states, (std::vector<bool>{false, true}));
  EXPECT_EQ(static_cast<std::uint64_t>(listener.claims), stats.claims);
  EXPECT_EQ(listener.claims_failed, 0);
  EXPECT_GE(listener.claimed, events.size());
  EXPECT_EQ(static_cast<std::uint64_t>(listener.settles), stats.settles);
  EXPECT_EQ(listener.settled, expected.size() + 2 + 1);  // published, 2 retries, 1 dead
  // Once Run() has returned, the gauges say so.
  EXPECT_FALSE(stats.holds_role);
  EXPECT_FALSE(stats.bus_down);
  EXPECT_FALSE(stats.store_failing);
  EXPECT_EQ(stats.in_flight_events, 0u);
  EXPECT_EQ(stats.in_flight_bytes, 0u);
}

// ---- I8: bounded batches, and a down bus costs a probe per interval --------

TEST_F(RelayTest, I8BacklogDrainsInBoundedBatches) {
  std::vector<Event> events = CommitEvents(20000, Keys(250), 500);
  ScriptedPublisher publisher;
  RelayStats stats;
  ASSERT_TRUE(RunRelay(*store_, publisher, Options(), {}, &stats).ok());
  EXPECT_EQ(publisher.max_call_size(), 100u);
  EXPECT_EQ(publisher.DeliveredIds().size(), events.size());
  EXPECT_TRUE(publisher.Duplicates().empty());
  // 200 full batches and at most two that found nothing: one while the
  // last batches were on the bus, one with everything settled.
  EXPECT_GE(stats.claims, 200u);
  EXPECT_LE(stats.claims, 202u);
  EXPECT_EQ(StoreStats().pending, 0);
}

TEST_F(RelayTest, I8DownBusCostsOneProbePerBackoffInterval) {
  std::vector<Event> events = CommitEvents(50, Keys(5));
  const auto outage = std::chrono::hours(2);
  ScriptedPublisher publisher;
  publisher.DownUntil(clock_, clock_.Now() + outage);
  FaultyStore counted(*store_);

  RelayOptions options = Options();
  options.max_attempts = 3;  // an outage is not the events' fault
  options.backoff_initial = milliseconds(200);
  options.backoff_max = milliseconds(30000);
  RelayStats stats;
  ASSERT_TRUE(RunRelay(counted, publisher, options, {}, &stats).ok());

  EXPECT_EQ(publisher.DeliveredIds(), IdsOf(events));
  EXPECT_TRUE(DeadLetters().empty());
  // Full jitter averages half the 30 s cap once it is reached, after about
  // eight doubling probes: about 480 probes in two hours. Without a breaker
  // the relay would claim once per publish, without bound.
  const auto mean_delay = options.backoff_max / 2;
  const int expected = static_cast<int>(outage / mean_delay) + 8;
  EXPECT_LE(counted.claims(), expected * 3 / 2);
  EXPECT_GE(counted.claims(), expected / 2);
  EXPECT_EQ(stats.claims, static_cast<std::uint64_t>(counted.claims()));
  // Each probe was one claim and one call: every claim but the last two (the
  // one that delivered everything, the one that found nothing) met the outage.
  std::set<int> down_calls;
  for (const testing::Offer& offer : publisher.offers()) {
    if (offer.outcome == Outcome::kUnavailable) down_calls.insert(offer.call);
  }
  EXPECT_EQ(static_cast<int>(down_calls.size()), counted.claims() - 2);
}

// ---- the window: several calls on the bus at once --------------------------

// Waits (bounded) until `done` holds; false if it never did.
template <typename Done>
bool Eventually(Done done, std::chrono::milliseconds limit = milliseconds(20000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// A relay running on a thread of its own for as long as the object lives.
// However a test ends, the relay is stopped and the publisher's held
// confirmations released, so a failed assertion cannot hang the test.
class Running {
 public:
  Running(Store& store, ScriptedPublisher& publisher, RelayOptions options)
      : publisher_(publisher), relay_(store, publisher, options),
        run_(std::async(std::launch::async, [this] { return relay_.Run(); })) {}
  ~Running() {
    if (!run_.valid()) return;
    relay_.Stop();
    publisher_.ReleaseAll();
    static_cast<void>(run_.get());
  }
  Relay& relay() { return relay_; }
  // Waits for Run() to return by itself (bounded): its status, or an
  // Internal error if it did not return.
  Status Finish(milliseconds limit = milliseconds(20000)) {
    if (run_.wait_for(limit) != std::future_status::ready) {
      return Internal("the relay did not finish");
    }
    return run_.get();
  }

 private:
  ScriptedPublisher& publisher_;
  Relay relay_;
  std::future<Status> run_;
};

class RelayWindowTest : public RelayTest, public ::testing::WithParamInterface<bool> {};

// With every confirmation held, the relay claims and hands over calls until
// its window is full, and no further. Released newest first, the calls are
// settled in that order: nothing is lost or repeated.
TEST_P(RelayWindowTest, SeveralCallsAreOnTheBusAndSettleInAnyOrder) {
  std::vector<Event> events = CommitEvents(400, Keys(400));
  ScriptedPublisher publisher({.keeps_key_order = GetParam()});
  publisher.HoldConfirmations();
  RelayOptions options = Options();
  options.batch_size = 50;
  options.max_in_flight_events = 200;  // four calls
  FaultyStore counted(*store_);
  Running running(counted, publisher, options);

  ASSERT_TRUE(Eventually([&] { return publisher.held_calls().size() == 4; }));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(publisher.calls(), 4) << "the window was full";
  EXPECT_EQ(counted.settles(), 0);
  ASSERT_TRUE(Eventually([&] {
    std::vector<int> held = publisher.held_calls();
    for (auto it = held.rbegin(); it != held.rend(); ++it) publisher.Release(*it);
    return publisher.DeliveredIds().size() == events.size() && publisher.held_calls().empty();
  }));
  ASSERT_TRUE(running.Finish().ok());
  EXPECT_LE(publisher.calls(), 100);
  EXPECT_EQ(publisher.max_outstanding_calls(), 4);
  EXPECT_EQ(publisher.DeliveredIds(), IdsOf(events));
  EXPECT_TRUE(publisher.Duplicates().empty());
  EXPECT_EQ(StoreStats().pending, 0);
}

INSTANTIATE_TEST_SUITE_P(Publishers, RelayWindowTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "KeepsKeyOrder" : "OneEventPerKeyInFlight";
                         });

// A publisher that keeps key order gets events of one key in several calls
// at once. The key's first event fails while its later ones are on the bus
// in later calls: those come back held back, are left pending without an
// attempt counted, and go out after the first one, in order.
TEST_F(RelayTest, I3AFailureEarlyInTheWindowHoldsBackItsKeyInLaterCalls) {
  std::vector<Event> events = CommitEvents(200, {"hot", "a", "b", "c"});
  const Event& head = events[0];
  ASSERT_EQ(head.key, "hot");
  ScriptedPublisher publisher({.keeps_key_order = true});
  publisher.Fail([&](const Event& e) { return e.id == head.id; }, "leader not available", 1);
  publisher.HoldConfirmations();
  RelayOptions options = Options();
  options.batch_size = 20;
  options.max_in_flight_events = 200;  // ten calls, each with five "hot" events
  Running running(*store_, publisher, options);
  ASSERT_TRUE(Eventually([&] { return publisher.held_calls().size() == 10; }));
  // Confirmations come newest call first: the held-back "hot" events of the
  // later calls are reported before the failure that closed their key.
  ASSERT_TRUE(Eventually([&] {
    std::vector<int> held = publisher.held_calls();
    for (auto it = held.rbegin(); it != held.rend(); ++it) publisher.Release(*it);
    return publisher.DeliveredIds().size() == events.size() && publisher.held_calls().empty();
  })) << publisher.DeliveredIds().size() << " of " << events.size() << " delivered";
  ASSERT_TRUE(running.Finish().ok());
  EXPECT_LE(publisher.calls(), 200);
  RelayStats stats = running.relay().stats();

  EXPECT_EQ(stats.retried, 1u) << "only the head's own failure counts as an attempt";
  EXPECT_EQ(publisher.FirstDeliveryOrderByKey(), EnqueueOrderByKey(events));
  EXPECT_TRUE(publisher.Duplicates().empty());
  EXPECT_GE(publisher.max_in_flight_per_key(), 10);
  int held_back = 0;
  for (const testing::Offer& offer : publisher.offers()) {
    if (offer.key == "hot" && offer.id != head.id && offer.outcome == Outcome::kRetry) ++held_back;
  }
  EXPECT_EQ(held_back, 49) << "every later 'hot' event in flight was held back once";
  EXPECT_EQ(StoreStats().pending, 0);
}

// Without key order from the publisher: at most one event per key on the
// bus, and a key whose event is slow to be confirmed holds back nothing but
// itself (no wave waits for the slowest key).
TEST_F(RelayTest, I3OneEventPerKeyInFlightAndNoKeyWaitsForTheSlowest) {
  std::vector<Event> slow = CommitEvents(3, {"slow"});
  std::vector<Event> others = CommitEvents(300, Keys(20));
  ScriptedPublisher publisher({.keeps_key_order = false});
  publisher.HoldConfirmations([&](const Event& e) { return e.key == "slow"; });
  RelayOptions options = Options();
  options.batch_size = 50;
  Running running(*store_, publisher, options);

  ASSERT_TRUE(Eventually([&] { return publisher.DeliveredIds().size() >= others.size() + 1; }));
  EXPECT_EQ(publisher.held_calls().size(), 1u) << "the slow head is still on the bus";
  std::set<EventId> delivered = publisher.DeliveredIds();
  for (const Event& e : others) EXPECT_TRUE(delivered.contains(e.id));
  EXPECT_FALSE(delivered.contains(slow[1].id));
  publisher.ReleaseAll();
  ASSERT_TRUE(running.Finish().ok());

  EXPECT_EQ(publisher.max_in_flight_per_key(), 1);
  EXPECT_EQ(publisher.FirstDeliveryOrderByKey()["slow"],
            std::vector<EventId>({slow[0].id, slow[1].id, slow[2].id}));
  EXPECT_TRUE(publisher.Duplicates().empty());
  EXPECT_EQ(StoreStats().pending, 0);
}

// ---- shutdown and settlement failures -----------------------------------------

TEST_F(RelayTest, StopDuringAWaveSettlesItsDeliveriesAndLeavesTheRestPending) {
  std::vector<Event> events = CommitEvents(60, Keys(60));
  ScriptedPublisher publisher;
  publisher.ConfirmSlowly(milliseconds(3));
  RelayOptions options = Options();
  options.batch_size = 20;
  options.exit_when_drained = false;

  // Stop() comes from this thread while call 2 is in flight; the call's
  // confirmations arrive afterwards, from the publisher's own thread.
  std::promise<void> in_call_two;
  std::promise<void> stopped;
  std::shared_future<void> stopped_future = stopped.get_future().share();
  Relay relay(*store_, publisher, options);
  publisher.OnCall([&](int call) {
    if (call == 2) {
      in_call_two.set_value();
      stopped_future.wait();
    }
  });
  auto run = std::async(std::launch::async, [&] { return relay.Run(); });
  in_call_two.get_future().wait();
  relay.Stop();
  stopped.set_value();
  ASSERT_TRUE(run.get().ok());
  publisher.OnCall({});

  EXPECT_EQ(publisher.calls(), 2);
  std::set<EventId> delivered = publisher.DeliveredIds();
  EXPECT_EQ(delivered.size(), 40u);
  std::set<EventId> expected_pending;
  for (const Event& e : events) {
    if (!delivered.contains(e.id)) expected_pending.insert(e.id);
  }
  EXPECT_EQ(PendingIds(), expected_pending) << "confirmed events must be gone, the rest pending";

  ASSERT_TRUE(RunRelay(*store_, publisher, Options()).ok());
  EXPECT_EQ(publisher.DeliveredIds(), IdsOf(events));
  EXPECT_TRUE(publisher.Duplicates().empty());
  EXPECT_TRUE(PendingIds().empty());
}

// A bus that takes every call and never answers (a broker that hangs).
class SilentPublisher final : public Publisher {
 public:
  Guarantees guarantees() const override { return {}; }
  void Publish(std::span<const Event> events, DeliveryCallback on_delivery) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back({events.size(), std::move(on_delivery)});
  }
  std::size_t calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.size();
  }
  // Answers every call at last: late, after the relay is gone.
  void AnswerAll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [size, callback] : calls_) {
      for (std::size_t i = 0; i < size; ++i) callback(i, Delivery{});
    }
    calls_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::size_t, DeliveryCallback>> calls_;
};

TEST_F(RelayTest, StopWithASilentBusReturnsAfterTheShutdownTimeoutAndLosesNothing) {
  std::vector<Event> events = CommitEvents(20, Keys(4));
  SilentPublisher silent;
  RelayOptions options = Options();
  options.exit_when_drained = false;
  options.shutdown_timeout = milliseconds(100);
  Status status;
  {
    Relay relay(*store_, silent, options);
    std::thread run([&] { status = relay.Run(); });
    while (silent.calls() == 0) std::this_thread::sleep_for(milliseconds(1));
    relay.Stop();
    run.join();  // without the timeout this waits for ever
  }
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(PendingIds(), IdsOf(events)) << "nothing unconfirmed leaves the outbox";
  silent.AnswerAll();  // late deliveries reach nothing that is gone

  ScriptedPublisher publisher;
  ASSERT_TRUE(RunRelay(*store_, publisher, Options()).ok());
  EXPECT_EQ(publisher.DeliveredIds(), IdsOf(events));
  EXPECT_TRUE(PendingIds().empty());
}

TEST_F(RelayTest, StopBeforeRunReturnsAtOnce) {
  CommitEvents(5, Keys(5));
  ScriptedPublisher publisher;
  Relay relay(*store_, publisher, Options());
  relay.Stop();
  EXPECT_TRUE(relay.Run().ok());
  EXPECT_EQ(publisher.calls(), 0);
  EXPECT_EQ(StoreStats().pending, 5);
}

TEST_F(RelayTest, FailedSettlementIsRetriedUntilAppliedWithoutPublishingAgain) {
  std::vector<Event> events = CommitEvents(40, Keys(40));
  ScriptedPublisher publisher;
  FaultyStore faulty(*store_);
  faulty.FailSettles(1, 2, Unavailable("database is locked"));
  faulty.FailSettles(4, 8, Unavailable("disk I/O error"));
  RelayOptions options = Options();
  options.batch_size = 10;
  options.max_in_flight_events = 10;  // a settlement per batch
  RelayStats stats;
  ASSERT_TRUE(RunRelay(faulty, publisher, options, {}, &stats).ok());
  EXPECT_EQ(stats.settle_failures, 2u + 5u);
  EXPECT_EQ(publisher.DeliveredIds(), IdsOf(events));
  EXPECT_TRUE(publisher.Duplicates().empty()) << "a failed settlement publishes nothing again";
  EXPECT_EQ(StoreStats().pending, 0);
}

// A store that refuses every settlement for a long time (a missing
// permission, a full disk): the relay backs off, claims nothing new and
// publishes nothing again, then goes on once the store takes it.
TEST_F(RelayTest, ASettlementTheStoreKeepsRefusingCausesNoStorm) {
  std::vector<Event> events = CommitEvents(40, Keys(8));
  ScriptedPublisher publisher({.keeps_key_order = true});
  FaultyStore faulty(*store_);
  constexpr int kRefused = 300;
  faulty.FailSettles(1, kRefused,
                     FailedPrecondition("permission denied for table herald_outbox"));
  RelayOptions options = Options();
  options.batch_size = 10;
  options.max_in_flight_events = 10;
  RelayStats stats;
  const auto virtual_start = clock_.Now();
  ASSERT_TRUE(RunRelay(faulty, publisher, options, {}, &stats).ok());
  EXPECT_EQ(stats.settle_failures, static_cast<std::uint64_t>(kRefused));
  EXPECT_EQ(publisher.calls(), 4) << "nothing was published again";
  EXPECT_TRUE(publisher.Duplicates().empty());
  EXPECT_EQ(publisher.DeliveredIds(), IdsOf(events));
  // One claim per batch and the two that found nothing: none while refused.
  EXPECT_LE(faulty.claims(), 6);
  // The tries were spread over the backoff, capped at backoff_max.
  EXPECT_GE(clock_.Now() - virtual_start, (kRefused - 20) * options.backoff_max / 4);
  EXPECT_EQ(StoreStats().pending, 0);
}

TEST_F(RelayTest, StoreOutagesAreRetriedAndLastingErrorsReturned) {
  std::vector<Event> events = CommitEvents(20, Keys(4));
  ScriptedPublisher publisher;
  {
    FaultyStore faulty(*store_);
    faulty.FailClaims(1, 4, Unavailable("database is locked"));
    ASSERT_TRUE(RunRelay(faulty, publisher, Options()).ok());
    EXPECT_EQ(publisher.DeliveredIds(), IdsOf(events));
    EXPECT_GT(faulty.claims(), 4);
  }
  {
    CommitEvents(3, Keys(1));
    FaultyStore faulty(*store_);
    faulty.FailClaims(1, 1, FailedPrecondition("no herald schema; run `herald migrate`"));
    Status status = RunRelay(faulty, publisher, Options());
    EXPECT_EQ(status.code(), Code::kFailedPrecondition) << status.ToString();
    EXPECT_EQ(faulty.claims(), 1);
    EXPECT_EQ(StoreStats().pending, 3);
  }
}

TEST_F(RelayTest, SecondRelayOnTheFileIsRefusedOrWaitsAsStandby) {
  std::unique_ptr<Store> other = outbox_.OpenStore();
  ASSERT_TRUE(store_->AcquireRelayRole(false, {}).ok());
  ScriptedPublisher publisher;

  Relay refused(*other, publisher, Options());
  EXPECT_EQ(refused.Run().code(), Code::kFailedPrecondition);

  RelayOptions standby_options = Options();
  standby_options.standby = true;
  Relay standby(*other, publisher, standby_options);
  auto run = std::async(std::launch::async, [&] { return standby.Run(); });
  standby.Stop();
  EXPECT_TRUE(run.get().ok());
  EXPECT_EQ(publisher.calls(), 0);
}

}  // namespace
}  // namespace herald

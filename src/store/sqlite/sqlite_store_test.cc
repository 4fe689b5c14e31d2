// The SQLite Store: opening, claiming, settling, dead letters, the relay
// role and wake-ups.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <stop_token>
#include <thread>
#include <vector>

#include "herald/sqlite.h"
#include "store/sqlite/test_support.h"

namespace herald::sqlite_testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("outbox.db");
    store_ = OpenTestStore(path_);
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_->Migrate().ok());
    now_ = FromUnixMillis(ToUnixMillis(std::chrono::system_clock::now()));
  }

  // Enqueues through the store and returns the event.
  Event Add(std::string topic, std::string key, std::string payload = "{}") {
    Event e = FullEvent(std::move(topic), std::move(key), std::move(payload));
    Status s = store_->Enqueue(std::span<const Event>(&e, 1));
    EXPECT_TRUE(s.ok()) << s.ToString();
    return e;
  }

  Claim MustClaim(TimePoint now, std::size_t limit = 100) {
    Result<Claim> claim = store_->ClaimDue(now, limit, {});
    EXPECT_TRUE(claim.has_value()) << claim.error().ToString();
    return claim ? *claim : Claim{};
  }

  // The payloads of the events claimable at `now`, in claim order.
  std::vector<std::string> ClaimedPayloads(TimePoint now, std::size_t limit = 100) {
    std::vector<std::string> out;
    for (const PendingEvent& p : MustClaim(now, limit).events) out.push_back(p.event.payload);
    return out;
  }

  std::int64_t SeqOf(const Event& e) {
    for (const PendingEvent& p : MustClaim(now_ + std::chrono::hours(24 * 365)).events) {
      if (p.event.id == e.id) return p.seq;
    }
    ADD_FAILURE() << "event " << e.id.ToString() << " is not pending";
    return -1;
  }

  void MustSettle(const Settlement& s, TimePoint now) {
    Status status = store_->Settle(s, now);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  std::vector<DeadLetter> Dead(const DeadLetterFilter& filter, std::size_t limit = 100) {
    Result<std::vector<DeadLetter>> letters = store_->ListDeadLetters(filter, limit);
    EXPECT_TRUE(letters.has_value()) << letters.error().ToString();
    return letters ? *letters : std::vector<DeadLetter>{};
  }

  static DeadLetterFilter All() {
    DeadLetterFilter f;
    f.all = true;
    return f;
  }
  static DeadLetterFilter ByTopic(std::string topic) {
    DeadLetterFilter f;
    f.topic = std::move(topic);
    return f;
  }
  static DeadLetterFilter ByIds(std::vector<EventId> ids) {
    DeadLetterFilter f;
    f.ids = std::move(ids);
    return f;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  TimePoint now_;
};

// ---- opening --------------------------------------------------------------

TEST(SqliteStoreOpenTest, MissingFileWithoutCreateIsNotFoundAndCreatesNothing) {
  TempDir dir;
  std::string path = dir.File("missing.db");
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path, StoreOptions{});
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), Code::kNotFound);
  EXPECT_EQ(store.error().message(), "database file '" + path + "' does not exist");
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SqliteStoreOpenTest, MigrateSwitchesTheFileToWal) {
  TempDir dir;
  std::string path = dir.File("new.db");
  std::unique_ptr<Store> store = OpenTestStore(path);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  EXPECT_TRUE(std::filesystem::exists(path));
  RawDb db = OpenRaw(path);
  EXPECT_EQ(QueryText(db.get(), "PRAGMA journal_mode"), "wal");
  // An existing file opens without create_if_missing.
  EXPECT_TRUE(OpenSqliteStore(path, StoreOptions{}).has_value());
}

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// Someone else's database (no Herald schema) and an empty file are left
// byte for byte as they were, whether opened to read or to write: opening
// once switched them to WAL for good.
TEST(SqliteStoreOpenTest, ADatabaseWithoutHeraldsSchemaIsNeverChanged) {
  TempDir dir;
  const std::string app = dir.File("app.db");
  {
    RawDb db = OpenRaw(app);
    ASSERT_EQ(Exec(db.get(), "CREATE TABLE accounts (id TEXT PRIMARY KEY)"), SQLITE_OK);
  }
  const std::string empty = dir.File("empty.db");
  std::ofstream(empty).close();
  const std::string app_before = FileBytes(app);
  for (bool read_only : {true, false}) {
    for (const std::string& path : {app, empty}) {
      StoreOptions options;
      options.read_only = read_only;
      Result<std::unique_ptr<Store>> store = OpenSqliteStore(path, options);
      ASSERT_TRUE(store.has_value()) << store.error().ToString();
      EXPECT_EQ((*store)->CheckSchema().code(), Code::kFailedPrecondition);
    }
    EXPECT_EQ(FileBytes(app), app_before);
    EXPECT_EQ(std::filesystem::file_size(empty), 0u);
    RawDb db = OpenRaw(app);
    EXPECT_EQ(QueryText(db.get(), "PRAGMA journal_mode"), "delete");
  }
}

// Read commands (status, dlq list) open read-only: everything reads, every
// write fails, and the file does not change.
TEST(SqliteStoreOpenTest, AReadOnlyStoreReadsEverythingAndWritesNothing) {
  TempDir dir;
  const std::string path = dir.File("herald.db");
  {
    std::unique_ptr<Store> store = OpenTestStore(path);
    ASSERT_TRUE(store->Migrate().ok());
    std::vector<Event> events = {Event::Make("t", "k", "T", "{}")};
    ASSERT_TRUE(store->Enqueue(events).ok());
  }
  const std::string before = FileBytes(path);
  StoreOptions options;
  options.read_only = true;
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path, options);
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_TRUE((*store)->CheckSchema().ok());
  Result<OutboxStats> stats = (*store)->Stats();
  ASSERT_TRUE(stats.has_value()) << stats.error().ToString();
  EXPECT_EQ(stats->pending, 1);
  DeadLetterFilter all;
  all.all = true;
  Result<std::vector<DeadLetter>> letters = (*store)->ListDeadLetters(all, 10);
  ASSERT_TRUE(letters.has_value()) << letters.error().ToString();
  std::vector<Event> more = {Event::Make("t", "k", "T", "{}")};
  EXPECT_FALSE((*store)->Enqueue(more).ok());
  Result<Claim> claim = (*store)->ClaimDue(std::chrono::system_clock::now(), 10, {});
  ASSERT_TRUE(claim.has_value()) << claim.error().ToString();
  ASSERT_EQ(claim->events.size(), 1u);
  Settlement settlement;
  settlement.published.push_back(claim->events[0].seq);
  EXPECT_FALSE((*store)->Settle(settlement, std::chrono::system_clock::now()).ok());
  store->reset();
  EXPECT_EQ(FileBytes(path), before);
}

TEST(SqliteStoreOpenTest, FileThatIsNotADatabaseIsFailedPrecondition) {
  TempDir dir;
  std::string path = dir.File("junk.db");
  std::ofstream(path) << std::string(4096, 'j');
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path, StoreOptions{});
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), Code::kFailedPrecondition) << store.error().ToString();
}

TEST(SqliteStoreOpenTest, RelayCallsWithoutSchemaNameMigrate) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenTestStore(dir.File("bare.db"));
  Result<Claim> claim = store->ClaimDue(std::chrono::system_clock::now(), 10, {});
  ASSERT_FALSE(claim.has_value());
  EXPECT_EQ(claim.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(claim.error().message(), HasSubstr("herald migrate"));
}

// ---- claiming -------------------------------------------------------------

TEST_F(SqliteStoreTest, ClaimReturnsDueEventsInOrderUpToTheLimit) {
  for (int i = 0; i < 5; ++i) Add("t", "", std::to_string(i));
  EXPECT_THAT(ClaimedPayloads(now_, 3), ElementsAre("0", "1", "2"));
  // Claiming marks nothing: the same events come back.
  Claim all = MustClaim(now_, 10);
  ASSERT_EQ(all.events.size(), 5u);
  for (std::size_t i = 1; i < all.events.size(); ++i) {
    EXPECT_LT(all.events[i - 1].seq, all.events[i].seq);
  }
  EXPECT_FALSE(all.next_due.has_value());
  EXPECT_TRUE(MustClaim(now_, 0).events.empty());
}

TEST_F(SqliteStoreTest, ClaimLeavesOutTheEventsInFlight) {
  for (int i = 0; i < 6; ++i) Add("t", "k", std::to_string(i));
  Claim first = MustClaim(now_, 2);
  ASSERT_EQ(first.events.size(), 2u);
  std::vector<std::int64_t> in_flight = {first.events[0].seq, first.events[1].seq};
  Result<Claim> next = store_->ClaimDue(now_, 3, in_flight);
  ASSERT_TRUE(next.has_value()) << next.error().ToString();
  std::vector<std::string> payloads;
  for (const PendingEvent& p : next->events) payloads.push_back(p.event.payload);
  // Due events of a key whose earlier events are in flight are returned: the
  // caller decides when to publish them.
  EXPECT_THAT(payloads, ElementsAre("2", "3", "4"));
  // Naming only some of them leaves the others claimable.
  Result<Claim> partial = store_->ClaimDue(now_, 10, std::vector<std::int64_t>{in_flight[1]});
  ASSERT_TRUE(partial.has_value());
  EXPECT_EQ(partial->events.size(), 5u);
  EXPECT_EQ(partial->events[0].event.payload, "0");
}

TEST_F(SqliteStoreTest, ClaimHoldsBackOnlyTheFailingKey) {
  Event e0 = Add("t", "", "E0");
  Event a1 = Add("t", "A", "A1");
  Add("t", "B", "B1");
  Add("t", "A", "A2");
  Add("t", "", "E1");
  Add("t", "C", "C1");
  Add("t", "C", "C2");
  Add("t", "A", "A3");
  Add("t", "B", "B2");
  TimePoint a1_due = now_ + seconds(60);
  TimePoint e0_due = now_ + seconds(90);
  MustSettle({.published = {},
              .retries = {{SeqOf(a1), a1_due, "a1 failed"}, {SeqOf(e0), e0_due, "e0 failed"}},
              .dead = {}},
             now_);

  // A1 is not due: A2 and A3 wait behind it; B and C flow, and the empty key
  // is never held back by E0.
  Claim claim = MustClaim(now_);
  std::vector<std::string> got;
  for (const PendingEvent& p : claim.events) got.push_back(p.event.payload);
  EXPECT_THAT(got, ElementsAre("B1", "E1", "C1", "C2", "B2"));
  ASSERT_TRUE(claim.next_due.has_value());
  EXPECT_EQ(*claim.next_due, a1_due);

  // Once A1 is due, A's events come back in order; E0 is still waiting.
  Claim later = MustClaim(a1_due);
  got.clear();
  for (const PendingEvent& p : later.events) got.push_back(p.event.payload);
  EXPECT_THAT(got, ElementsAre("A1", "B1", "A2", "E1", "C1", "C2", "A3", "B2"));
  EXPECT_EQ(later.events[0].attempts, 1);
  ASSERT_TRUE(later.next_due.has_value());
  EXPECT_EQ(*later.next_due, e0_due);
  EXPECT_EQ(MustClaim(e0_due).events.size(), 9u);
  EXPECT_FALSE(MustClaim(e0_due).next_due.has_value());
}

TEST_F(SqliteStoreTest, NextDueIsNulloptWhenNothingIsPending) {
  Claim claim = MustClaim(now_);
  EXPECT_TRUE(claim.events.empty());
  EXPECT_FALSE(claim.next_due.has_value());
}

// ---- settling -------------------------------------------------------------

TEST_F(SqliteStoreTest, SettlePublishesRetriesAndBuriesInOneGo) {
  Event e1 = Add("t", "k1", "1");
  Event e2 = Add("t", "k2", "2");
  Event e3 = Add("t", "k3", "3");
  Event e4 = Add("t", "k4", "4");
  std::int64_t s1 = SeqOf(e1), s2 = SeqOf(e2), s3 = SeqOf(e3);
  TimePoint retry_at = now_ + seconds(30);
  MustSettle({.published = {s1}, .retries = {{s2, retry_at, "timeout"}}, .dead = {{s3, "poison"}}},
             now_);

  EXPECT_THAT(ClaimedPayloads(now_), ElementsAre("4"));
  Claim later = MustClaim(retry_at);
  ASSERT_EQ(later.events.size(), 2u);
  EXPECT_EQ(later.events[0].event.id, e2.id);
  EXPECT_EQ(later.events[0].attempts, 1);
  RawDb db = OpenRaw(path_);
  EXPECT_EQ(
      QueryText(db.get(), "SELECT last_error FROM herald_outbox WHERE seq = " + std::to_string(s2)),
      "timeout");

  std::vector<DeadLetter> dead = Dead(All());
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].seq, s3);
  ExpectSameEvent(dead[0].event, e3);
  EXPECT_EQ(dead[0].attempts, 1);
  EXPECT_EQ(dead[0].error, "poison");
  EXPECT_EQ(dead[0].failed_at, now_);
  static_cast<void>(e4);
}

TEST_F(SqliteStoreTest, SettleIsAllOrNothing) {
  Event e1 = Add("t", "k1", "1");
  Event e2 = Add("t", "k2", "2");
  Event e3 = Add("t", "k3", "3");
  std::int64_t s1 = SeqOf(e1), s2 = SeqOf(e2), s3 = SeqOf(e3);
  // Make the last step of the settlement fail inside the database.
  RawDb db = OpenRaw(path_);
  ASSERT_EQ(Exec(db.get(),
                 "CREATE TRIGGER fail_bury BEFORE INSERT ON herald_dead_letters "
                 "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"),
            SQLITE_OK);
  Settlement settlement{.published = {s1},
                        .retries = {{s2, now_ + seconds(30), "timeout"}},
                        .dead = {{s3, "poison"}}};
  Status s = store_->Settle(settlement, now_);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("injected failure"));

  Claim claim = MustClaim(now_);
  ASSERT_EQ(claim.events.size(), 3u) << "nothing may have been settled";
  for (const PendingEvent& p : claim.events) EXPECT_EQ(p.attempts, 0);
  EXPECT_TRUE(Dead(All()).empty());

  ASSERT_EQ(Exec(db.get(), "DROP TRIGGER fail_bury"), SQLITE_OK);
  MustSettle(settlement, now_);
  EXPECT_TRUE(MustClaim(now_).events.empty());
  EXPECT_EQ(Dead(All()).size(), 1u);
}

TEST_F(SqliteStoreTest, SettleSkipsSeqsNoLongerPendingSoRepeatingItIsHarmless) {
  Event e1 = Add("t", "k1", "1");
  Event e2 = Add("t", "k2", "2");
  Event e3 = Add("t", "k3", "3");
  Settlement settlement{.published = {SeqOf(e1)},
                        .retries = {{SeqOf(e2), now_ + seconds(30), "timeout"}},
                        .dead = {{SeqOf(e3), "poison"}, {999999, "never enqueued"}}};
  MustSettle(settlement, now_);
  MustSettle(settlement, now_);
  Claim claim = MustClaim(now_ + seconds(30));
  ASSERT_EQ(claim.events.size(), 1u);
  EXPECT_EQ(claim.events[0].attempts, 2) << "each application of a retry counts";
  std::vector<DeadLetter> dead = Dead(All());
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event.id, e3.id);
}

TEST_F(SqliteStoreTest, BusyDatabaseIsUnavailable) {
  std::unique_ptr<Store> impatient = OpenTestStore(path_, milliseconds(0));
  Event e = Add("t", "", "x");
  RawDb db = OpenRaw(path_);
  ASSERT_EQ(Exec(db.get(), "BEGIN IMMEDIATE"), SQLITE_OK);
  Status s = impatient->Settle({.published = {SeqOf(e)}, .retries = {}, .dead = {}}, now_);
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_TRUE(s.retriable());
  ASSERT_EQ(Exec(db.get(), "ROLLBACK"), SQLITE_OK);
  EXPECT_TRUE(impatient->Settle({.published = {SeqOf(e)}, .retries = {}, .dead = {}}, now_).ok());
}

// ---- operator side --------------------------------------------------------

TEST_F(SqliteStoreTest, EnqueueBatchIsAllOrNothing) {
  std::vector<Event> batch = {Event::Make("t", "", "T", "1"), Event::Make("t", "", "T", "2")};
  batch.push_back(batch[0]);
  EXPECT_EQ(store_->Enqueue(batch).code(), Code::kAlreadyExists);
  EXPECT_TRUE(MustClaim(now_).events.empty());
  batch.pop_back();
  ASSERT_TRUE(store_->Enqueue(batch).ok());
  EXPECT_EQ(MustClaim(now_).events.size(), 2u);
}

TEST_F(SqliteStoreTest, StatsCountPendingAndDeadPerTopic) {
  auto add_at = [&](std::string topic, std::int64_t created_ms) {
    Event e = Event::Make(std::move(topic), "", "T", "{}");
    e.created_at = FromUnixMillis(created_ms);
    EXPECT_TRUE(store_->Enqueue(std::span<const Event>(&e, 1)).ok());
    return e;
  };
  add_at("b", 3000);
  add_at("a", 5000);
  add_at("a", 4000);
  Event b_dead = add_at("b", 1000);
  Event c_dead = add_at("c", 2000);
  MustSettle({.published = {}, .retries = {}, .dead = {{SeqOf(b_dead), "x"}, {SeqOf(c_dead), "y"}}},
             now_);

  Result<OutboxStats> stats = store_->Stats();
  ASSERT_TRUE(stats.has_value()) << stats.error().ToString();
  EXPECT_EQ(stats->pending, 3);
  EXPECT_EQ(stats->dead_letters, 2);
  ASSERT_TRUE(stats->oldest_pending_created_at.has_value());
  EXPECT_EQ(ToUnixMillis(*stats->oldest_pending_created_at), 3000);
  ASSERT_EQ(stats->topics.size(), 3u);
  const TopicStats& a = stats->topics[0];
  const TopicStats& b = stats->topics[1];
  const TopicStats& c = stats->topics[2];
  EXPECT_EQ(a.topic, "a");
  EXPECT_EQ(a.pending, 2);
  EXPECT_EQ(a.dead_letters, 0);
  EXPECT_EQ(ToUnixMillis(a.oldest_pending_created_at.value()), 4000);
  EXPECT_EQ(b.topic, "b");
  EXPECT_EQ(b.pending, 1);
  EXPECT_EQ(b.dead_letters, 1);
  EXPECT_EQ(ToUnixMillis(b.oldest_pending_created_at.value()), 3000);
  EXPECT_EQ(c.topic, "c");
  EXPECT_EQ(c.pending, 0);
  EXPECT_EQ(c.dead_letters, 1);
  EXPECT_FALSE(c.oldest_pending_created_at.has_value());
}

TEST_F(SqliteStoreTest, StatsOfAnEmptyOutbox) {
  Result<OutboxStats> stats = store_->Stats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->pending, 0);
  EXPECT_EQ(stats->dead_letters, 0);
  EXPECT_FALSE(stats->oldest_pending_created_at.has_value());
  EXPECT_TRUE(stats->topics.empty());
}

class DeadLetterTest : public SqliteStoreTest {
 protected:
  void SetUp() override {
    SqliteStoreTest::SetUp();
    for (const char* topic : {"x", "y", "x", "y"}) events_.push_back(Add(topic, "", topic));
    Settlement settlement;
    for (const Event& e : events_) settlement.dead.push_back({SeqOf(e), "bad " + e.topic});
    MustSettle(settlement, now_);
  }

  std::vector<EventId> DeadIds(const DeadLetterFilter& filter, std::size_t limit = 100) {
    std::vector<EventId> ids;
    for (const DeadLetter& d : Dead(filter, limit)) ids.push_back(d.event.id);
    return ids;
  }

  std::vector<Event> events_;
};

TEST_F(DeadLetterTest, ListOldestFirstByIdTopicOrAll) {
  EXPECT_THAT(DeadIds(All()),
              ElementsAre(events_[0].id, events_[1].id, events_[2].id, events_[3].id));
  EXPECT_THAT(DeadIds(All(), 2), ElementsAre(events_[0].id, events_[1].id));
  EXPECT_THAT(DeadIds(ByTopic("y")), ElementsAre(events_[1].id, events_[3].id));
  EXPECT_THAT(DeadIds(ByIds({events_[3].id, events_[0].id, EventId::Generate()})),
              ElementsAre(events_[0].id, events_[3].id));
  std::vector<DeadLetter> first = Dead(ByIds({events_[0].id}));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].error, "bad x");
}

TEST_F(DeadLetterTest, EmptyOrAmbiguousFilterIsInvalidArgument) {
  DeadLetterFilter both = ByTopic("x");
  both.all = true;
  EXPECT_EQ(store_->ListDeadLetters({}, 10).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->RetryDeadLetters({}, now_).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->PurgeDeadLetters({}).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->PurgeDeadLetters(both).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(Dead(All()).size(), 4u);
}

TEST_F(DeadLetterTest, RetryMovesBackAsNewPendingEvents) {
  std::int64_t old_seq = Dead(ByIds({events_[2].id}))[0].seq;
  Result<std::int64_t> moved = store_->RetryDeadLetters(ByIds({events_[2].id}), now_);
  ASSERT_TRUE(moved.has_value()) << moved.error().ToString();
  EXPECT_EQ(*moved, 1);
  EXPECT_TRUE(MustClaim(now_ - milliseconds(1)).events.empty()) << "due at `now`, not before";
  Claim claim = MustClaim(now_);
  ASSERT_EQ(claim.events.size(), 1u);
  ExpectSameEvent(claim.events[0].event, events_[2]);
  EXPECT_EQ(claim.events[0].attempts, 0);
  EXPECT_GT(claim.events[0].seq, old_seq);
  EXPECT_THAT(DeadIds(All()), ElementsAre(events_[0].id, events_[1].id, events_[3].id));

  EXPECT_EQ(store_->RetryDeadLetters(ByTopic("y"), now_).value(), 2);
  EXPECT_THAT(DeadIds(All()), ElementsAre(events_[0].id));
  EXPECT_EQ(store_->RetryDeadLetters(All(), now_).value(), 1);
  EXPECT_TRUE(DeadIds(All()).empty());
  EXPECT_EQ(MustClaim(now_).events.size(), 4u);
  EXPECT_EQ(store_->RetryDeadLetters(All(), now_).value(), 0);
}

TEST_F(DeadLetterTest, RetryOfAnEventPendingAgainKeepsOneCopy) {
  ASSERT_TRUE(store_->Enqueue(std::span<const Event>(&events_[0], 1)).ok());
  EXPECT_EQ(store_->RetryDeadLetters(ByIds({events_[0].id}), now_).value(), 1);
  EXPECT_EQ(MustClaim(now_).events.size(), 1u);
  EXPECT_EQ(Dead(All()).size(), 3u);
}

TEST_F(DeadLetterTest, DyingAgainReplacesTheOldDeadLetter) {
  // The same event enqueued again while its dead letter exists, and buried
  // again, must not wedge Settle on the dead letter's unique event id.
  ASSERT_TRUE(store_->Enqueue(std::span<const Event>(&events_[1], 1)).ok());
  MustSettle({.published = {}, .retries = {}, .dead = {{SeqOf(events_[1]), "again"}}}, now_);
  std::vector<DeadLetter> dead = Dead(ByIds({events_[1].id}));
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].error, "again");
  EXPECT_EQ(Dead(All()).size(), 4u);
}

TEST_F(DeadLetterTest, PurgeByIdTopicOrAll) {
  EXPECT_EQ(store_->PurgeDeadLetters(ByIds({events_[1].id})).value(), 1);
  EXPECT_EQ(store_->PurgeDeadLetters(ByIds({events_[1].id})).value(), 0);
  EXPECT_EQ(store_->PurgeDeadLetters(ByTopic("x")).value(), 2);
  EXPECT_THAT(DeadIds(All()), ElementsAre(events_[3].id));
  EXPECT_EQ(store_->PurgeDeadLetters(All()).value(), 1);
  EXPECT_TRUE(DeadIds(All()).empty());
  EXPECT_TRUE(MustClaim(now_).events.empty()) << "purging never touches the outbox";
}

// ---- relay role -----------------------------------------------------------

TEST_F(SqliteStoreTest, SecondRelayIsRefusedWithTheHoldersPid) {
  ASSERT_TRUE(store_->AcquireRelayRole(false, {}).ok());
  EXPECT_TRUE(store_->AcquireRelayRole(false, {}).ok()) << "acquiring twice is harmless";
  std::unique_ptr<Store> second = OpenTestStore(path_);
  Status s = second->AcquireRelayRole(false, {});
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_EQ(s.message(), "another herald relay (pid " + std::to_string(::getpid()) +
                             ") is already relaying '" + path_ +
                             "'; run this one with --standby to wait for it");
}

// Status shows the relay of a file: the holder of its lock, found without
// touching the lock (a relay starting then is not disturbed).
TEST_F(SqliteStoreTest, StatsNameTheRelayHoldingTheFile) {
  std::unique_ptr<Store> reader = OpenTestStore(path_);
  Result<OutboxStats> before = reader->Stats();
  ASSERT_TRUE(before.has_value()) << before.error().ToString();
  EXPECT_TRUE(before->relays.empty());
  ASSERT_TRUE(store_->AcquireRelayRole(false, {}).ok());
  const std::string self = "pid " + std::to_string(::getpid());
  for (Store* s : {reader.get(), store_.get()}) {
    Result<OutboxStats> during = s->Stats();
    ASSERT_TRUE(during.has_value()) << during.error().ToString();
    ASSERT_EQ(during->relays.size(), 1u);
    EXPECT_EQ(during->relays[0].relay_id, self);
    EXPECT_TRUE(during->relays[0].partitions.empty());
    EXPECT_FALSE(during->relays[0].last_heartbeat.has_value());
  }
  // Probing left the lock alone: a second relay is still refused, and once
  // the relay is gone the next one takes the file.
  EXPECT_EQ(OpenTestStore(path_)->AcquireRelayRole(false, {}).code(), Code::kFailedPrecondition);
  store_.reset();
  Result<OutboxStats> after = reader->Stats();
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(after->relays.empty());
  EXPECT_TRUE(OpenTestStore(path_)->AcquireRelayRole(false, {}).ok());
}

TEST_F(SqliteStoreTest, StandbyTakesOverWhenTheRelayIsGone) {
  ASSERT_TRUE(store_->AcquireRelayRole(false, {}).ok());
  std::unique_ptr<Store> standby = OpenTestStore(path_);
  std::future<Status> acquired =
      std::async(std::launch::async, [&] { return standby->AcquireRelayRole(true, {}); });
  EXPECT_EQ(acquired.wait_for(milliseconds(300)), std::future_status::timeout)
      << "the standby must wait while the relay holds the role";
  store_.reset();
  ASSERT_EQ(acquired.wait_for(seconds(20)), std::future_status::ready);
  EXPECT_TRUE(acquired.get().ok());
  // And now the standby is the relay.
  std::unique_ptr<Store> third = OpenTestStore(path_);
  EXPECT_EQ(third->AcquireRelayRole(false, {}).code(), Code::kFailedPrecondition);
}

TEST_F(SqliteStoreTest, StopCancelsTheStandbyWait) {
  ASSERT_TRUE(store_->AcquireRelayRole(false, {}).ok());
  std::unique_ptr<Store> standby = OpenTestStore(path_);
  std::stop_source stop;
  std::future<Status> acquired = std::async(
      std::launch::async, [&] { return standby->AcquireRelayRole(true, stop.get_token()); });
  stop.request_stop();
  ASSERT_EQ(acquired.wait_for(seconds(20)), std::future_status::ready);
  EXPECT_EQ(acquired.get().code(), Code::kCancelled);
}

// ---- wake-ups -------------------------------------------------------------

TEST_F(SqliteStoreTest, WaitForWorkWakesWhenAnotherConnectionCommits) {
  ASSERT_TRUE(store_->ClaimDue(now_, 10, {}).has_value());
  RawDb app = OpenRaw(path_);
  std::future<Status> woke =
      std::async(std::launch::async, [&] { return store_->WaitForWork(seconds(30), {}); });
  ASSERT_EQ(Exec(app.get(), "BEGIN"), SQLITE_OK);
  ASSERT_TRUE(sqlite::Enqueue(app.get(), Event::Make("t", "", "T", "{}")).ok());
  ASSERT_EQ(Exec(app.get(), "COMMIT"), SQLITE_OK);
  ASSERT_EQ(woke.wait_for(seconds(10)), std::future_status::ready)
      << "must wake long before its 30 s timeout";
  EXPECT_TRUE(woke.get().ok());
}

TEST_F(SqliteStoreTest, WaitForWorkNoticesACommitBetweenClaimAndWait) {
  ASSERT_TRUE(store_->ClaimDue(now_, 10, {}).has_value());
  RawDb app = OpenRaw(path_);
  ASSERT_EQ(Exec(app.get(), "BEGIN"), SQLITE_OK);
  ASSERT_TRUE(sqlite::Enqueue(app.get(), Event::Make("t", "", "T", "{}")).ok());
  ASSERT_EQ(Exec(app.get(), "COMMIT"), SQLITE_OK);
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(store_->WaitForWork(seconds(30), {}).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10));
}

TEST_F(SqliteStoreTest, WaitForWorkTimesOutWithoutCommits) {
  ASSERT_TRUE(store_->ClaimDue(now_, 10, {}).has_value());
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(store_->WaitForWork(milliseconds(150), {}).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(150));
}

TEST_F(SqliteStoreTest, WaitForWorkReturnsWhenStopped) {
  std::stop_source stop;
  std::future<Status> woke = std::async(
      std::launch::async, [&] { return store_->WaitForWork(seconds(30), stop.get_token()); });
  stop.request_stop();
  ASSERT_EQ(woke.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_TRUE(woke.get().ok());
}

TEST_F(SqliteStoreTest, WaitForWorkReturnsAfterTheStoresOwnEnqueue) {
  ASSERT_TRUE(store_->ClaimDue(now_, 10, {}).has_value());
  Add("t", "", "mine");
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(store_->WaitForWork(seconds(30), {}).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10));
}

}  // namespace
}  // namespace herald::sqlite_testing

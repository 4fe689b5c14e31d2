// The PostgreSQL Store, one relay at a time: claim, settle, wait, dead
// letters, statistics, reconnection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "herald/postgres.h"
#include "herald/store.h"
#include "store/postgres/pg.h"
#include "store/postgres/test_support.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using pg_testing::PgTest;
using pg_testing::RawConn;
using std::chrono::milliseconds;

DeadLetterFilter All() {
  DeadLetterFilter f;
  f.all = true;
  return f;
}

std::vector<std::string> Payloads(const Claim& claim) {
  std::vector<std::string> out;
  for (const PendingEvent& p : claim.events) out.push_back(p.event.payload);
  return out;
}

class PgStoreTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Migrate(4);
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_->AcquireRelayRole(false, {}).ok());
  }

  void TearDown() override {
    store_.reset();
    PgTest::TearDown();
  }

  void Put(std::vector<Event> events) {
    Status s = store_->Enqueue(events);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  Claim ClaimNow(std::size_t limit = 100, TimePoint now = std::chrono::system_clock::now()) {
    Result<Claim> claim = store_->ClaimDue(now, limit, {});
    EXPECT_TRUE(claim.has_value()) << claim.error().ToString();
    return claim ? std::move(*claim) : Claim{};
  }

  std::unique_ptr<PostgresStore> store_;
};

TEST_F(PgStoreTest, ClaimReturnsEveryFieldInEnqueueOrder) {
  Event full = pg_testing::FullEvent("orders", "acct-1", std::string("\0\xff", 2));
  Put({full, Event::Make("orders", "", "T", "2"), Event::Make("audit", "acct-2", "T", "3")});
  Claim claim = ClaimNow();
  ASSERT_EQ(claim.events.size(), 3u);
  pg_testing::ExpectSameEvent(claim.events[0].event, full);
  EXPECT_EQ(claim.events[0].attempts, 0);
  EXPECT_LT(claim.events[0].seq, claim.events[1].seq);
  EXPECT_LT(claim.events[1].seq, claim.events[2].seq);
  EXPECT_FALSE(claim.next_due.has_value());
  // A claim marks nothing: the same events come again.
  EXPECT_EQ(ClaimNow().events.size(), 3u);
  EXPECT_EQ(ClaimNow(2).events.size(), 2u);
}

TEST_F(PgStoreTest, AFailingEventHoldsBackOnlyItsOwnKey) {
  Put({Event::Make("t", "k1", "T", "a"), Event::Make("t", "k1", "T", "b"),
       Event::Make("t", "k2", "T", "c"), Event::Make("t", "", "T", "d")});
  const TimePoint now = std::chrono::system_clock::now();
  Claim first = ClaimNow(100, now);
  ASSERT_EQ(Payloads(first), (std::vector<std::string>{"a", "b", "c", "d"}));
  Settlement s;
  const TimePoint retry_at = now + std::chrono::seconds(30);
  s.retries.push_back({first.events[0].seq, retry_at, "bus said no"});
  s.published = {first.events[2].seq};
  ASSERT_TRUE(store_->Settle(s, now).ok());

  Claim second = ClaimNow(100, now);
  EXPECT_EQ(Payloads(second), (std::vector<std::string>{"d"}));
  ASSERT_TRUE(second.next_due.has_value());
  EXPECT_EQ(ToUnixMillis(*second.next_due), ToUnixMillis(retry_at));

  Claim later = ClaimNow(100, retry_at);
  ASSERT_EQ(Payloads(later), (std::vector<std::string>{"a", "b", "d"}));
  EXPECT_EQ(later.events[0].attempts, 1);
  EXPECT_EQ(Text("SELECT last_error FROM " + schema_ + ".outbox WHERE seq = " +
                 std::to_string(first.events[0].seq)),
            "bus said no");
}

TEST_F(PgStoreTest, ARowThatCommitsLateIsStillClaimed) {
  RawConn slow = Connect();
  RawConn fast = Connect();
  Event early = Event::Make("t", "", "T", "early");
  ASSERT_TRUE(Exec(slow.get(), "BEGIN"));
  ASSERT_TRUE(postgres::Enqueue(slow.get(), early, WriteOptions()).ok());
  ASSERT_TRUE(Exec(fast.get(), "BEGIN"));
  ASSERT_TRUE(postgres::Enqueue(fast.get(), Event::Make("t", "", "T", "late"), WriteOptions()).ok());
  ASSERT_TRUE(Exec(fast.get(), "COMMIT"));

  Claim first = ClaimNow();
  ASSERT_EQ(Payloads(first), (std::vector<std::string>{"late"}));
  Settlement done;
  done.published = {first.events[0].seq};
  ASSERT_TRUE(store_->Settle(done, std::chrono::system_clock::now()).ok());
  EXPECT_TRUE(ClaimNow().events.empty());

  ASSERT_TRUE(Exec(slow.get(), "COMMIT"));
  Claim second = ClaimNow();
  ASSERT_EQ(Payloads(second), (std::vector<std::string>{"early"}));
  EXPECT_LT(second.events[0].seq, first.events[0].seq);
}

TEST_F(PgStoreTest, SettleAppliesEverythingAndSkipsWhatIsGone) {
  Put({Event::Make("t", "a", "T", "1"), Event::Make("t", "b", "T", "2"),
       Event::Make("u", "c", "T", "3")});
  const TimePoint now = std::chrono::system_clock::now();
  Claim claim = ClaimNow(100, now);
  ASSERT_EQ(claim.events.size(), 3u);
  Settlement s;
  s.published = {claim.events[0].seq, 999999};
  s.retries.push_back({claim.events[1].seq, now + std::chrono::hours(1), "later"});
  s.dead.push_back({claim.events[2].seq, "poison"});
  ASSERT_TRUE(store_->Settle(s, now).ok());
  EXPECT_EQ(OutboxCount(), 1);
  EXPECT_EQ(Int("SELECT attempts FROM " + schema_ + ".outbox"), 1);
  Settlement again = s;
  again.retries.clear();
  ASSERT_TRUE(store_->Settle(again, now).ok());  // what is gone is skipped
  EXPECT_EQ(OutboxCount(), 1);

  Result<std::vector<DeadLetter>> dead = store_->ListDeadLetters(All(), 10);
  ASSERT_TRUE(dead.has_value()) << dead.error().ToString();
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].error, "poison");
  EXPECT_EQ((*dead)[0].attempts, 1);
  EXPECT_EQ((*dead)[0].seq, claim.events[2].seq);
  pg_testing::ExpectSameEvent((*dead)[0].event, claim.events[2].event);
  EXPECT_EQ(ToUnixMillis((*dead)[0].failed_at), ToUnixMillis(now));
}

TEST_F(PgStoreTest, DeadLettersCanBeListedRetriedAndPurged) {
  Put({Event::Make("a", "1", "T", "1"), Event::Make("a", "2", "T", "2"),
       Event::Make("b", "3", "T", "3")});
  const TimePoint now = std::chrono::system_clock::now();
  Claim claim = ClaimNow(100, now);
  Settlement s;
  for (const PendingEvent& p : claim.events) s.dead.push_back({p.seq, "bad " + p.event.payload});
  ASSERT_TRUE(store_->Settle(s, now).ok());
  EXPECT_EQ(OutboxCount(), 0);

  DeadLetterFilter by_topic;
  by_topic.topic = "a";
  Result<std::vector<DeadLetter>> listed = store_->ListDeadLetters(by_topic, 10);
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->size(), 2u);
  EXPECT_EQ(store_->ListDeadLetters(All(), 1)->size(), 1u);
  EXPECT_EQ(store_->ListDeadLetters({}, 10).error().code(), Code::kInvalidArgument);

  DeadLetterFilter one;
  one.ids = {claim.events[0].event.id};
  Result<std::int64_t> retried = store_->RetryDeadLetters(one, now);
  ASSERT_TRUE(retried.has_value()) << retried.error().ToString();
  EXPECT_EQ(*retried, 1);
  Claim again = ClaimNow(100, now);
  ASSERT_EQ(again.events.size(), 1u);
  EXPECT_EQ(again.events[0].event.id, claim.events[0].event.id);
  EXPECT_EQ(again.events[0].attempts, 0);

  Result<OutboxStats> stats = store_->Stats();
  ASSERT_TRUE(stats.has_value()) << stats.error().ToString();
  EXPECT_EQ(stats->pending, 1);
  EXPECT_EQ(stats->dead_letters, 2);

  EXPECT_EQ(*store_->PurgeDeadLetters(by_topic), 1);
  EXPECT_EQ(*store_->PurgeDeadLetters(All()), 1);
  EXPECT_EQ(store_->ListDeadLetters(All(), 10)->size(), 0u);
}

TEST_F(PgStoreTest, StatsCountPerTopicAndShowTheRelay) {
  Put({Event::Make("b", "1", "T", "1"), Event::Make("a", "2", "T", "2"),
       Event::Make("b", "3", "T", "3")});
  Result<OutboxStats> stats = store_->Stats();
  ASSERT_TRUE(stats.has_value()) << stats.error().ToString();
  EXPECT_EQ(stats->pending, 3);
  ASSERT_EQ(stats->topics.size(), 2u);
  EXPECT_EQ(stats->topics[0].topic, "a");
  EXPECT_EQ(stats->topics[1].pending, 2);
  EXPECT_TRUE(stats->oldest_pending_created_at.has_value());
  ASSERT_EQ(stats->relays.size(), 1u);
  EXPECT_EQ(stats->relays[0].relay_id, store_->relay_id());
  EXPECT_EQ(stats->relays[0].partitions, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_TRUE(stats->relays[0].last_heartbeat.has_value());
}

TEST_F(PgStoreTest, WaitForWorkWakesOnACommitAndHonoursStop) {
  ClaimNow();
  std::jthread writer([&] {
    std::this_thread::sleep_for(milliseconds(200));
    RawConn app = Connect();
    Exec(app.get(), "BEGIN");
    EXPECT_TRUE(postgres::Enqueue(app.get(), Event::Make("t", "", "T", "x"), WriteOptions()).ok());
    Exec(app.get(), "COMMIT");
  });
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(store_->WaitForWork(std::chrono::seconds(30), {}).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  writer.join();
  EXPECT_EQ(ClaimNow().events.size(), 1u);

  std::stop_source stop;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(milliseconds(100));
    stop.request_stop();
  });
  const auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(store_->WaitForWork(std::chrono::seconds(30), stop.get_token()).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(30));
}

// A writer that commits at a high rate turns the wake-up off for its
// session; its commits then notify nobody, and other sessions still do.
TEST_F(PgStoreTest, AWriterCanTurnTheWakeUpOffForItsSession) {
  RawConn listener = Connect();
  const std::string channel = herald::pg_internal::WakeChannel(schema_);
  Exec(listener.get(), "LISTEN " + channel);
  // Asleep, as a relay with nothing to do is: inserts notify.
  ASSERT_EQ(QueryText(listener.get(), "SELECT " + schema_ + ".relay_may_sleep()"), "acquired");

  RawConn quiet = Connect();
  Exec(quiet.get(), "SET herald.wake = off");
  Exec(quiet.get(), "BEGIN");
  ASSERT_TRUE(postgres::Enqueue(quiet.get(), Event::Make("t", "", "T", "1"), WriteOptions()).ok());
  Exec(quiet.get(), "COMMIT");
  RawConn loud = Connect();
  Exec(loud.get(), "BEGIN");
  ASSERT_TRUE(postgres::Enqueue(loud.get(), Event::Make("t", "", "T", "2"), WriteOptions()).ok());
  Exec(loud.get(), "COMMIT");
  // Notifications arrive in commit order: once the marker is in, every
  // wake-up of the two commits before it is too.
  Exec(loud.get(), "NOTIFY " + channel + ", 'marker'");

  int wakeups = 0;
  bool marker = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!marker && std::chrono::steady_clock::now() < deadline) {
    ASSERT_EQ(PQconsumeInput(listener.get()), 1);
    while (PGnotify* n = PQnotifies(listener.get())) {
      if (std::string(n->extra) == "marker") {
        marker = true;
      } else {
        ++wakeups;
      }
      PQfreemem(n);
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_TRUE(marker);
  EXPECT_EQ(wakeups, 1) << "the session with herald.wake = off notified";
  EXPECT_EQ(ClaimNow().events.size(), 2u);
}

// The connection is lost while an enqueue waits for the database: whether
// it committed cannot be known, and the error says so instead of inviting a
// plain retry. Enqueueing the same events again is safe.
TEST_F(PgStoreTest, AConnectionLostDuringAnEnqueueLeavesItInDoubt) {
  ASSERT_TRUE(Exec(admin_.get(), "CREATE FUNCTION " + schema_ +
                                     ".slow() RETURNS trigger LANGUAGE plpgsql AS "
                                     "$$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$; "
                                     "CREATE TRIGGER slow BEFORE INSERT ON " + schema_ +
                                     ".outbox FOR EACH ROW EXECUTE FUNCTION " + schema_ +
                                     ".slow()"));
  const std::string app = "herald " + store_->relay_id();
  std::jthread killer([&] {
    // Once the INSERT is in the trigger's sleep, end its backend.
    for (int i = 0; i < 400; ++i) {
      if (Int("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app +
              "' AND wait_event = 'PgSleep'") == 1) {
        Int("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = '" + app + "'");
        return;
      }
      std::this_thread::sleep_for(milliseconds(25));
    }
  });
  const std::vector<Event> events = {Event::Make("t", "k", "T", "one")};
  Status s = store_->Enqueue(events);
  killer.join();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInDoubt) << s.ToString();
  EXPECT_EQ(s.recovery(), Recovery::kInDoubt);
  EXPECT_FALSE(s.retriable());
  EXPECT_THAT(s.message(), HasSubstr("may or may not be stored"));
  // Here it did not commit; once the database is well again the same
  // events go in (a second attempt would be refused had they been stored).
  ASSERT_TRUE(Exec(admin_.get(), "DROP TRIGGER slow ON " + schema_ + ".outbox"));
  Status again;
  for (int i = 0; i < 200; ++i) {
    again = store_->Enqueue(events);
    if (again.code() != Code::kUnavailable) break;
    std::this_thread::sleep_for(milliseconds(25));
  }
  EXPECT_TRUE(again.ok()) << again.ToString();
  EXPECT_EQ(OutboxCount(), 1);
  Status twice = store_->Enqueue(events);
  EXPECT_EQ(twice.code(), Code::kAlreadyExists) << twice.ToString();
  EXPECT_EQ(OutboxCount(), 1);
}

TEST_F(PgStoreTest, ReconnectsAfterItsConnectionIsKilled) {
  Put({Event::Make("t", "", "T", "x")});
  ASSERT_EQ(ClaimNow().events.size(), 1u);
  const std::string app = "herald " + store_->relay_id();
  ASSERT_EQ(Int("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = '" + app + "'"),
            1);
  Result<Claim> broken = store_->ClaimDue(std::chrono::system_clock::now(), 10, {});
  ASSERT_FALSE(broken.has_value());
  EXPECT_EQ(broken.error().code(), Code::kUnavailable) << broken.error().ToString();
  // The next calls reconnect (after a short backoff) and LISTEN again.
  std::optional<Claim> claim;
  for (int i = 0; i < 200 && !claim; ++i) {
    Result<Claim> r = store_->ClaimDue(std::chrono::system_clock::now(), 10, {});
    if (r) {
      claim = std::move(*r);
    } else {
      EXPECT_EQ(r.error().code(), Code::kUnavailable) << r.error().ToString();
      std::this_thread::sleep_for(milliseconds(25));
    }
  }
  ASSERT_TRUE(claim.has_value());
  EXPECT_EQ(claim->events.size(), 1u);
  // It listens again: a commit wakes it well before the timeout.
  std::jthread writer([&] {
    std::this_thread::sleep_for(milliseconds(200));
    RawConn conn = Connect();
    Exec(conn.get(), "BEGIN");
    EXPECT_TRUE(postgres::Enqueue(conn.get(), Event::Make("t", "", "T", "y"), WriteOptions()).ok());
    Exec(conn.get(), "COMMIT");
  });
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(store_->WaitForWork(std::chrono::seconds(20), {}).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(PgOpenTest, UnreachableServerAndBadUrls) {
  Result<std::unique_ptr<PostgresStore>> refused =
      OpenPostgresStore("postgres://nobody@127.0.0.1:1/none?connect_timeout=2", {});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), Code::kUnavailable);
  EXPECT_THAT(refused.error().message(), Not(HasSubstr("\n")));
  Result<std::unique_ptr<PostgresStore>> bad =
      OpenPostgresStore("postgres://h/d?partitions=many", {});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace herald

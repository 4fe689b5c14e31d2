// The SQLite inbox: every delivery of an event applies its effect once (I5),
// a failing handler leaves nothing behind, and old records expire.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "herald/inbox.h"
#include "testing/fake_clock.h"
#include "testing/seed.h"

namespace herald::sqlite {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

using herald::testing::SeedFromTestName;

class SqliteInboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    path_ = std::filesystem::temp_directory_path() /
            fmt::format("herald_inbox_test_{}_{}.db", ::getpid(), name);
    std::filesystem::remove(path_);
    db_ = Open();
    ASSERT_TRUE(Inbox::CreateTables(db_).ok());
    ASSERT_EQ(Exec(db_, "CREATE TABLE effects (event_id TEXT NOT NULL, amount INTEGER NOT NULL)"),
              SQLITE_OK);
  }

  void TearDown() override {
    sqlite3_close(db_);
    std::filesystem::remove(path_);
  }

  sqlite3* Open() const {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    return db;
  }

  static int Exec(sqlite3* db, const std::string& sql) {
    return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  }

  std::int64_t Count(const std::string& sql) const {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    std::int64_t n = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return n;
  }

  std::int64_t Effects(const EventId& id) const {
    return Count(fmt::format("SELECT count(*) FROM effects WHERE event_id = '{}'", id.ToString()));
  }
  std::int64_t Records(const EventId& id) const {
    return Count(
        fmt::format("SELECT count(*) FROM herald_inbox WHERE event_id = '{}'", id.ToString()));
  }

  // The effect of an event: one row in the consumer's own table.
  static std::function<Status(sqlite3*)> Effect(const EventId& id) {
    return [id](sqlite3* db) {
      int rc = Exec(db, fmt::format("INSERT INTO effects VALUES ('{}', 1)", id.ToString()));
      return rc == SQLITE_OK ? OkStatus() : Internal(sqlite3_errmsg(db));
    };
  }

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

TEST_F(SqliteInboxTest, SameIdTwiceAppliesTheEffectOnce) {
  Inbox inbox(db_, "budgets");
  EventId id = EventId::Generate();
  Result<InboxOutcome> first = inbox.Process(id, Effect(id));
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(*first, InboxOutcome::kProcessed);

  bool ran = false;
  Result<InboxOutcome> second = inbox.Process(id, [&](sqlite3*) {
    ran = true;
    return OkStatus();
  });
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_EQ(*second, InboxOutcome::kDuplicate);
  EXPECT_FALSE(ran);
  EXPECT_EQ(Effects(id), 1);
  EXPECT_EQ(Records(id), 1);
  EXPECT_EQ(inbox.stats().processed, 1u);
  EXPECT_EQ(inbox.stats().duplicates, 1u);
}

TEST_F(SqliteInboxTest, ConsumersHaveRecordsOfTheirOwn) {
  Inbox budgets(db_, "budgets");
  Inbox analytics(db_, "analytics");
  EventId id = EventId::Generate();
  EXPECT_EQ(budgets.Process(id, Effect(id)).value(), InboxOutcome::kProcessed);
  EXPECT_EQ(analytics.Process(id, Effect(id)).value(), InboxOutcome::kProcessed);
  EXPECT_EQ(analytics.Process(id, Effect(id)).value(), InboxOutcome::kDuplicate);
  EXPECT_EQ(Effects(id), 2);
}

TEST_F(SqliteInboxTest, ConcurrentDeliveriesOnTwoConnectionsApplyEachEffectOnce) {
  const std::uint64_t seed = SeedFromTestName();
  std::cout << "seed " << seed << "\n";
  std::vector<EventId> ids(200);
  for (EventId& id : ids) id = EventId::Generate();

  auto consume = [&](std::uint64_t thread_seed, InboxStats* stats) {
    sqlite3* db = Open();
    Inbox inbox(db, "budgets");
    std::vector<EventId> order = ids;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(thread_seed));
    for (const EventId& id : order) {
      Result<InboxOutcome> r = inbox.Process(id, Effect(id));
      EXPECT_TRUE(r.has_value()) << r.error().ToString();
    }
    *stats = inbox.stats();
    sqlite3_close(db);
  };
  InboxStats a, b;
  std::thread t1(consume, seed, &a);
  std::thread t2(consume, seed + 1, &b);
  t1.join();
  t2.join();

  EXPECT_EQ(a.processed + b.processed, ids.size());
  EXPECT_EQ(a.duplicates + b.duplicates, ids.size());
  EXPECT_EQ(Count("SELECT count(*) FROM effects"), static_cast<std::int64_t>(ids.size()));
  EXPECT_EQ(Count("SELECT count(DISTINCT event_id) FROM effects"),
            static_cast<std::int64_t>(ids.size()));
}

TEST_F(SqliteInboxTest, FailingHandlerLeavesNoRecordAndNoEffectAndRedeliveryProcesses) {
  Inbox inbox(db_, "budgets");
  EventId id = EventId::Generate();
  Result<InboxOutcome> failed = inbox.Process(id, [&](sqlite3* db) {
    EXPECT_TRUE(Effect(id)(db).ok());  // the effect is written, then the handler fails
    return Unavailable("ledger service down");
  });
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error(), Unavailable("ledger service down"));
  EXPECT_EQ(Effects(id), 0);
  EXPECT_EQ(Records(id), 0);
  EXPECT_EQ(inbox.stats().failures, 1u);

  EXPECT_EQ(inbox.Process(id, Effect(id)).value(), InboxOutcome::kProcessed);
  EXPECT_EQ(Effects(id), 1);
  EXPECT_EQ(Records(id), 1);
}

TEST_F(SqliteInboxTest, ThrowingHandlerLeavesNoRecordAndNoEffectAndRedeliveryProcesses) {
  Inbox inbox(db_, "budgets");
  EventId id = EventId::Generate();
  Result<InboxOutcome> failed = inbox.Process(id, [&](sqlite3* db) -> Status {
    EXPECT_TRUE(Effect(id)(db).ok());
    throw std::runtime_error("malformed payload");
  });
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), Code::kInternal);
  EXPECT_NE(failed.error().message().find("malformed payload"), std::string::npos);
  EXPECT_EQ(Effects(id), 0);
  EXPECT_EQ(Records(id), 0);
  EXPECT_NE(sqlite3_get_autocommit(db_), 0) << "the transaction was left open";

  EXPECT_EQ(inbox.Process(id, Effect(id)).value(), InboxOutcome::kProcessed);
  EXPECT_EQ(Effects(id), 1);
}

TEST_F(SqliteInboxTest, HandlerThatEndsTheTransactionIsAnError) {
  Inbox inbox(db_, "budgets");
  EventId id = EventId::Generate();
  Result<InboxOutcome> r = inbox.Process(id, [](sqlite3* db) {
    return Exec(db, "COMMIT") == SQLITE_OK ? OkStatus() : Internal("commit failed");
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
}

TEST_F(SqliteInboxTest, RefusesWhenTheCallerHasATransactionOpen) {
  Inbox inbox(db_, "budgets");
  EventId id = EventId::Generate();
  ASSERT_EQ(Exec(db_, "BEGIN"), SQLITE_OK);
  Result<InboxOutcome> r = inbox.Process(id, Effect(id));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  ASSERT_EQ(Exec(db_, "ROLLBACK"), SQLITE_OK);
  EXPECT_EQ(Effects(id), 0);
}

TEST_F(SqliteInboxTest, MissingTableNamesCreateTablesAndCreateTablesIsIdempotent) {
  ASSERT_EQ(Exec(db_, "DROP TABLE herald_inbox"), SQLITE_OK);
  Inbox inbox(db_, "budgets");
  EventId id = EventId::Generate();
  Result<InboxOutcome> r = inbox.Process(id, Effect(id));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("CreateTables"), std::string::npos);
  ASSERT_TRUE(Inbox::CreateTables(db_).ok());
  ASSERT_TRUE(Inbox::CreateTables(db_).ok());
  EXPECT_EQ(inbox.Process(id, Effect(id)).value(), InboxOutcome::kProcessed);
}

TEST_F(SqliteInboxTest, ExpireRemovesOnlyThisConsumersOldRecords) {
  testing::FakeClock clock;
  Inbox inbox(db_, "budgets", {.clock = &clock});
  Inbox other(db_, "analytics", {.clock = &clock});
  EventId old_id = EventId::Generate();
  EventId other_id = EventId::Generate();
  EXPECT_EQ(inbox.Process(old_id, Effect(old_id)).value(), InboxOutcome::kProcessed);
  EXPECT_EQ(other.Process(other_id, Effect(other_id)).value(), InboxOutcome::kProcessed);
  clock.Advance(hours(2));
  EventId new_id = EventId::Generate();
  EXPECT_EQ(inbox.Process(new_id, Effect(new_id)).value(), InboxOutcome::kProcessed);

  Result<std::int64_t> removed = inbox.Expire(hours(1));
  ASSERT_TRUE(removed.has_value()) << removed.error().ToString();
  EXPECT_EQ(*removed, 1);
  EXPECT_EQ(Records(old_id), 0);
  EXPECT_EQ(Records(new_id), 1);
  EXPECT_EQ(Records(other_id), 1) << "another consumer's records are its own";
  // Within the retention a redelivery is still recognised.
  EXPECT_EQ(inbox.Process(new_id, Effect(new_id)).value(), InboxOutcome::kDuplicate);
  EXPECT_EQ(inbox.Expire(hours(3)).value(), 0);
  clock.Advance(milliseconds(1));
  EXPECT_EQ(inbox.Expire(milliseconds(0)).value(), 1);
}

}  // namespace
}  // namespace herald::sqlite

// The PostgreSQL inbox against the server named by HERALD_TEST_PG_URL, in a
// schema of each test's own: every delivery of an event applies its effect
// once (I5), a failing handler leaves nothing behind, old records expire.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "herald/inbox.h"
#include "testing/fake_clock.h"
#include "testing/postgres_server.h"
#include "testing/seed.h"

namespace herald::postgres {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnCloser>;

class PostgresInboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    herald::testing::RequirePostgres(url_);
    if (url_.empty()) return;
    schema_ = herald::testing::SchemaForCurrentTest();
    conn_ = Connect();
    ASSERT_NE(conn_, nullptr);
    Exec(conn_.get(), "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    Status s = Inbox::CreateTables(conn_.get(), schema_);
    ASSERT_TRUE(s.ok()) << s.ToString();
    Exec(conn_.get(), fmt::format("CREATE TABLE {}.effects (event_id uuid NOT NULL)", schema_));
  }

  void TearDown() override {
    if (conn_ != nullptr) Exec(conn_.get(), "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
  }

  Conn Connect() const {
    Conn conn(PQconnectdb(url_.c_str()));
    EXPECT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
    if (PQstatus(conn.get()) != CONNECTION_OK) return nullptr;
    PQsetNoticeProcessor(
        conn.get(), [](void*, const char*) {}, nullptr);
    return conn;
  }

  static bool Exec(PGconn* conn, const std::string& sql) {
    PGresult* res = PQexec(conn, sql.c_str());
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    return ok;
  }

  std::int64_t Count(const std::string& sql) const {
    PGresult* res = PQexec(conn_.get(), sql.c_str());
    EXPECT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << sql << ": " << PQresultErrorMessage(res);
    std::int64_t n = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
      n = std::atoll(PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return n;
  }

  std::int64_t Effects(const EventId& id) const {
    return Count(fmt::format("SELECT count(*) FROM {}.effects WHERE event_id = '{}'", schema_,
                             id.ToString()));
  }
  std::int64_t Records(const EventId& id) const {
    return Count(
        fmt::format("SELECT count(*) FROM {}.inbox WHERE event_id = '{}'", schema_, id.ToString()));
  }

  std::function<Status(PGconn*)> Effect(const EventId& id) const {
    std::string sql = fmt::format("INSERT INTO {}.effects VALUES ('{}')", schema_, id.ToString());
    return [sql](PGconn* conn) {
      return Exec(conn, sql) ? OkStatus() : Internal(PQerrorMessage(conn));
    };
  }

  PostgresInboxOptions Options(Clock* clock = nullptr) const {
    PostgresInboxOptions options;
    options.schema = schema_;
    options.clock = clock;
    return options;
  }

  std::string url_;
  std::string schema_;
  Conn conn_;
};

TEST_F(PostgresInboxTest, SameIdTwiceAppliesTheEffectOnce) {
  Inbox inbox(conn_.get(), "budgets", Options());
  EventId id = EventId::Generate();
  Result<InboxOutcome> first = inbox.Process(id, Effect(id));
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(*first, InboxOutcome::kProcessed);
  bool ran = false;
  Result<InboxOutcome> second = inbox.Process(id, [&](PGconn*) {
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
  EXPECT_EQ(PQtransactionStatus(conn_.get()), PQTRANS_IDLE);
}

TEST_F(PostgresInboxTest, ConcurrentDeliveriesOnTwoConnectionsApplyEachEffectOnce) {
  const std::uint64_t seed = herald::testing::SeedFromTestName();
  std::cout << "seed " << seed << "\n";
  std::vector<EventId> ids(200);
  for (EventId& id : ids) id = EventId::Generate();

  auto consume = [&](std::uint64_t thread_seed, InboxStats* stats) {
    Conn conn = Connect();
    ASSERT_NE(conn, nullptr);
    Inbox inbox(conn.get(), "budgets", Options());
    std::vector<EventId> order = ids;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(thread_seed));
    for (const EventId& id : order) {
      Result<InboxOutcome> r = inbox.Process(id, Effect(id));
      EXPECT_TRUE(r.has_value()) << r.error().ToString();
    }
    *stats = inbox.stats();
  };
  InboxStats a, b;
  std::thread t1(consume, seed, &a);
  std::thread t2(consume, seed + 1, &b);
  t1.join();
  t2.join();

  EXPECT_EQ(a.processed + b.processed, ids.size());
  EXPECT_EQ(a.duplicates + b.duplicates, ids.size());
  EXPECT_EQ(Count(fmt::format("SELECT count(*) FROM {}.effects", schema_)),
            static_cast<std::int64_t>(ids.size()));
  EXPECT_EQ(Count(fmt::format("SELECT count(DISTINCT event_id) FROM {}.effects", schema_)),
            static_cast<std::int64_t>(ids.size()));
}

TEST_F(PostgresInboxTest, FailingHandlerLeavesNoRecordAndNoEffectAndRedeliveryProcesses) {
  Inbox inbox(conn_.get(), "budgets", Options());
  EventId id = EventId::Generate();
  Result<InboxOutcome> failed = inbox.Process(id, [&](PGconn* conn) {
    EXPECT_TRUE(Effect(id)(conn).ok());
    return Unavailable("ledger service down");
  });
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error(), Unavailable("ledger service down"));
  EXPECT_EQ(PQtransactionStatus(conn_.get()), PQTRANS_IDLE);
  EXPECT_EQ(Effects(id), 0);
  EXPECT_EQ(Records(id), 0);
  EXPECT_EQ(inbox.Process(id, Effect(id)).value(), InboxOutcome::kProcessed);
  EXPECT_EQ(Effects(id), 1);
}

TEST_F(PostgresInboxTest, ThrowingHandlerLeavesNoRecordAndNoEffectAndRedeliveryProcesses) {
  Inbox inbox(conn_.get(), "budgets", Options());
  EventId id = EventId::Generate();
  Result<InboxOutcome> failed = inbox.Process(id, [&](PGconn* conn) -> Status {
    EXPECT_TRUE(Effect(id)(conn).ok());
    throw std::runtime_error("malformed payload");
  });
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), Code::kInternal);
  EXPECT_NE(failed.error().message().find("malformed payload"), std::string::npos);
  EXPECT_EQ(PQtransactionStatus(conn_.get()), PQTRANS_IDLE);
  EXPECT_EQ(Effects(id), 0);
  EXPECT_EQ(Records(id), 0);
  EXPECT_EQ(inbox.Process(id, Effect(id)).value(), InboxOutcome::kProcessed);
  EXPECT_EQ(Effects(id), 1);
}

TEST_F(PostgresInboxTest, HandlerWhoseStatementFailedIsRolledBack) {
  Inbox inbox(conn_.get(), "budgets", Options());
  EventId id = EventId::Generate();
  // The handler ignores a failed statement: PostgreSQL has failed the
  // transaction, and the inbox must not report success.
  Result<InboxOutcome> r = inbox.Process(id, [](PGconn* conn) {
    (void)Exec(conn, "SELECT * FROM no_such_table_here");
    return OkStatus();
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(PQtransactionStatus(conn_.get()), PQTRANS_IDLE);
  EXPECT_EQ(Records(id), 0);
}

TEST_F(PostgresInboxTest, RefusesWhenTheCallerHasATransactionOpenAndNamesMissingTable) {
  Inbox inbox(conn_.get(), "budgets", Options());
  EventId id = EventId::Generate();
  ASSERT_TRUE(Exec(conn_.get(), "BEGIN"));
  Result<InboxOutcome> r = inbox.Process(id, Effect(id));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  ASSERT_TRUE(Exec(conn_.get(), "ROLLBACK"));

  ASSERT_TRUE(Exec(conn_.get(), fmt::format("DROP TABLE {}.inbox", schema_)));
  r = inbox.Process(id, Effect(id));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("CreateTables"), std::string::npos);
  ASSERT_TRUE(Inbox::CreateTables(conn_.get(), schema_).ok());
  ASSERT_TRUE(Inbox::CreateTables(conn_.get(), schema_).ok());
  EXPECT_EQ(inbox.Process(id, Effect(id)).value(), InboxOutcome::kProcessed);
  EXPECT_EQ(Inbox::CreateTables(conn_.get(), "Bad-Name").code(), Code::kInvalidArgument);
}

TEST_F(PostgresInboxTest, ExpireRemovesOnlyThisConsumersOldRecords) {
  testing::FakeClock clock;
  Inbox inbox(conn_.get(), "budgets", Options(&clock));
  Inbox other(conn_.get(), "analytics", Options(&clock));
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
  EXPECT_EQ(Records(other_id), 1);
  EXPECT_EQ(inbox.Process(new_id, Effect(new_id)).value(), InboxOutcome::kDuplicate);
  EXPECT_EQ(inbox.Expire(hours(3)).value(), 0);
  clock.Advance(milliseconds(1));
  EXPECT_EQ(inbox.Expire(milliseconds(0)).value(), 1);
}

}  // namespace
}  // namespace herald::postgres

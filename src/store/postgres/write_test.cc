// The PostgreSQL write side (herald/postgres.h) against a real server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "herald/postgres.h"
#include "store/postgres/test_support.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using pg_testing::PgTest;
using pg_testing::RawConn;

class PgWriteTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Migrate();
    app_ = Connect();
    ASSERT_NE(app_, nullptr);
  }

  bool Begin() { return Exec(app_.get(), "BEGIN"); }
  bool Commit() { return Exec(app_.get(), "COMMIT"); }
  bool Rollback() { return Exec(app_.get(), "ROLLBACK"); }

  RawConn app_;
};

TEST_F(PgWriteTest, WithoutATransactionNothingIsWritten) {
  Status s = postgres::Enqueue(app_.get(), Event::Make("t", "k", "T", "{}"), WriteOptions());
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("no transaction is open"));
  EXPECT_EQ(PQtransactionStatus(app_.get()), PQTRANS_IDLE);
  EXPECT_EQ(OutboxCount(), 0);
  EXPECT_EQ(postgres::Enqueue(nullptr, Event::Make("t", "k", "T", "{}")).code(),
            Code::kInvalidArgument);
}

TEST_F(PgWriteTest, CommittedEventsAreStoredRolledBackOnesAreNot) {
  Event kept = pg_testing::FullEvent("orders", "acct-1", std::string("\0\x01\xff{}", 5));
  ASSERT_TRUE(Begin());
  ASSERT_TRUE(postgres::Enqueue(app_.get(), kept, WriteOptions()).ok());
  ASSERT_TRUE(Commit());
  ASSERT_TRUE(Begin());
  ASSERT_TRUE(postgres::Enqueue(app_.get(), Event::Make("orders", "acct-1", "T", "{}"),
                                WriteOptions())
                  .ok());
  ASSERT_TRUE(Rollback());
  EXPECT_EQ(OutboxCount(), 1);
  const std::string row = "FROM " + schema_ + ".outbox";
  EXPECT_EQ(Text("SELECT event_id::text " + row), kept.id.ToString());
  EXPECT_EQ(Text("SELECT encode(payload, 'hex') " + row), "0001ff7b7d");
  EXPECT_EQ(Text("SELECT headers->>'tenant' " + row), "t\xc3\xa9nant");
  EXPECT_EQ(Text("SELECT headers->>'q' " + row), "a\"b\\c");
  EXPECT_EQ(Text("SELECT content_type " + row), "application/octet-stream");
  EXPECT_EQ(Int("SELECT (extract(epoch FROM created_at) * 1000)::int8 " + row),
            ToUnixMillis(kept.created_at));
}

// Counts the statements sent on `conn` while `body` runs, from libpq's trace.
template <typename Body>
int StatementsSent(PGconn* conn, Body body) {
  // One file per process: ctest runs this file's tests side by side.
  std::string path =
      ::testing::TempDir() + "/herald-pg-trace-" + std::to_string(::getpid()) + ".txt";
  FILE* trace = std::fopen(path.c_str(), "w");
  EXPECT_NE(trace, nullptr);
  PQtrace(conn, trace);
  PQsetTraceFlags(conn, PQTRACE_SUPPRESS_TIMESTAMPS);
  body();
  PQuntrace(conn);
  std::fclose(trace);
  std::ifstream in(path);
  int sent = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("F\t") &&
        (line.find("\tParse\t") != std::string::npos || line.find("\tQuery\t") != std::string::npos)) {
      ++sent;
    }
  }
  std::remove(path.c_str());
  return sent;
}

TEST_F(PgWriteTest, ABatchIsOneStatementInEnqueueOrder) {
  std::vector<Event> events;
  for (int i = 0; i < 50; ++i) {
    events.push_back(Event::Make("t", "k" + std::to_string(i % 7), "T", std::to_string(i)));
  }
  ASSERT_TRUE(Begin());
  int sent = StatementsSent(app_.get(), [&] {
    Status s = postgres::EnqueueBatch(app_.get(), events, WriteOptions());
    EXPECT_TRUE(s.ok()) << s.ToString();
  });
  ASSERT_TRUE(Commit());
  EXPECT_EQ(sent, 1);
  EXPECT_EQ(OutboxCount(), 50);
  EXPECT_EQ(Text("SELECT string_agg(convert_from(payload, 'UTF8'), ',' ORDER BY seq) FROM " +
                 schema_ + ".outbox"),
            Text("SELECT string_agg(i::text, ',') FROM generate_series(0, 49) i"));
}

TEST_F(PgWriteTest, AFailingBatchInsertsNothing) {
  Event existing = Event::Make("t", "k", "T", "{}");
  ASSERT_TRUE(Begin());
  ASSERT_TRUE(postgres::Enqueue(app_.get(), existing, WriteOptions()).ok());
  ASSERT_TRUE(Commit());

  std::vector<Event> batch = {Event::Make("t", "a", "T", "1"), Event::Make("t", "b", "T", "2"),
                              existing};
  ASSERT_TRUE(Begin());
  ASSERT_TRUE(Exec(app_.get(), "SAVEPOINT before"));
  Status s = postgres::EnqueueBatch(app_.get(), batch, WriteOptions());
  EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
  ASSERT_TRUE(Exec(app_.get(), "ROLLBACK TO SAVEPOINT before"));
  EXPECT_EQ(QueryInt(app_.get(), "SELECT count(*) FROM " + schema_ + ".outbox"), 1);
  ASSERT_TRUE(Commit());
  EXPECT_EQ(OutboxCount(), 1);
}

TEST_F(PgWriteTest, DuplicateIdIsAlreadyExists) {
  Event e = Event::Make("t", "k", "T", "{}");
  ASSERT_TRUE(Begin());
  ASSERT_TRUE(postgres::Enqueue(app_.get(), e, WriteOptions()).ok());
  Status s = postgres::Enqueue(app_.get(), e, WriteOptions());
  EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
  ASSERT_TRUE(Rollback());
}

TEST_F(PgWriteTest, InvalidEventsAreRefusedBeforeAnythingIsSent) {
  Event big = Event::Make("t", "k", "T", std::string(2048, 'x'));
  postgres::EnqueueOptions small = WriteOptions();
  small.max_payload_bytes = 1024;
  Event no_topic = Event::Make("", "k", "T", "{}");
  std::vector<Event> batch = {Event::Make("t", "k", "T", "{}"), no_topic};
  ASSERT_TRUE(Begin());
  int sent = StatementsSent(app_.get(), [&] {
    EXPECT_EQ(postgres::Enqueue(app_.get(), big, small).code(), Code::kInvalidArgument);
    Status s = postgres::EnqueueBatch(app_.get(), batch, WriteOptions());
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("event 2 of 2"));
  });
  EXPECT_EQ(sent, 0);
  // The caller's transaction is still good.
  EXPECT_EQ(PQtransactionStatus(app_.get()), PQTRANS_INTRANS);
  ASSERT_TRUE(postgres::Enqueue(app_.get(), big, WriteOptions()).ok());
  ASSERT_TRUE(Commit());
  EXPECT_EQ(OutboxCount(), 1);
}

TEST_F(PgWriteTest, MissingSchemaNamesMigrate) {
  postgres::EnqueueOptions other = WriteOptions();
  other.schema = "no_such_herald_schema";
  ASSERT_TRUE(Begin());
  Status s = postgres::Enqueue(app_.get(), Event::Make("t", "k", "T", "{}"), other);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("herald migrate"));
  ASSERT_TRUE(Rollback());
  other.schema = "Not-A-Name";
  ASSERT_TRUE(Begin());
  EXPECT_EQ(postgres::Enqueue(app_.get(), Event::Make("t", "k", "T", "{}"), other).code(),
            Code::kInvalidArgument);
  ASSERT_TRUE(Rollback());
}

TEST_F(PgWriteTest, LostConnectionIsUnavailable) {
  ASSERT_TRUE(Begin());
  int pid = PQbackendPID(app_.get());
  ASSERT_EQ(Text("SELECT pg_terminate_backend(" + std::to_string(pid) + ")::int"), "1");
  Status s = postgres::Enqueue(app_.get(), Event::Make("t", "k", "T", "{}"), WriteOptions());
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_EQ(OutboxCount(), 0);
}

TEST_F(PgWriteTest, SerializationFailureIsAborted) {
  RawConn other = Connect();
  ASSERT_NE(other, nullptr);
  // Two serializable transactions that each read what the other writes.
  const std::string count = "SELECT count(*) FROM " + schema_ + ".outbox";
  ASSERT_TRUE(Exec(app_.get(), "BEGIN ISOLATION LEVEL SERIALIZABLE"));
  ASSERT_TRUE(Exec(other.get(), "BEGIN ISOLATION LEVEL SERIALIZABLE"));
  QueryInt(app_.get(), count);
  QueryInt(other.get(), count);
  ASSERT_TRUE(postgres::Enqueue(other.get(), Event::Make("t", "k", "T", "{}"), WriteOptions())
                  .ok());
  ASSERT_TRUE(Exec(other.get(), "COMMIT"));
  Status s = postgres::Enqueue(app_.get(), Event::Make("t", "k", "T", "{}"), WriteOptions());
  if (s.ok()) {
    // The conflict may surface at commit instead.
    PGresult* res = PQexec(app_.get(), "COMMIT");
    EXPECT_STREQ(PQresultErrorField(res, PG_DIAG_SQLSTATE), "40001");
    PQclear(res);
  } else {
    EXPECT_EQ(s.code(), Code::kAborted) << s.ToString();
    ASSERT_TRUE(Rollback());
  }
}

TEST_F(PgWriteTest, TheSqlFunctionTakesTextJsonbAndByteaPayloads) {
  const std::string s = schema_;
  ASSERT_TRUE(Begin());
  std::string id_text = QueryText(app_.get(), "SELECT " + s + ".enqueue('orders', 'acct-7', "
                                                              "'OrderPlaced', '{\"n\": 1}')");
  std::string id_jsonb = QueryText(
      app_.get(), "SELECT " + s + ".enqueue('orders', 'acct-7', 'OrderPaid', "
                                  "'{\"n\": 2}'::jsonb, headers => '{\"tenant\": \"a\"}')");
  std::string id_bytea = QueryText(
      app_.get(), "SELECT " + s + ".enqueue('orders', '', 'Blob', '\\x00ff'::bytea, "
                                  "'application/octet-stream')");
  ASSERT_TRUE(Commit());
  EXPECT_EQ(OutboxCount(), 3);
  for (const std::string& id : {id_text, id_jsonb, id_bytea}) {
    std::optional<EventId> parsed = EventId::Parse(id);
    ASSERT_TRUE(parsed.has_value()) << id;
    EXPECT_EQ(parsed->version(), 7) << id;
    EXPECT_EQ((id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b'), true) << id;
  }
  auto field = [&](const std::string& expr, const std::string& id) {
    return Text("SELECT " + expr + " FROM " + s + ".outbox WHERE event_id = '" + id + "'");
  };
  EXPECT_EQ(field("convert_from(payload, 'UTF8')", id_text), "{\"n\": 1}");
  EXPECT_EQ(field("convert_from(payload, 'UTF8')", id_jsonb), "{\"n\": 2}");
  EXPECT_EQ(field("headers->>'tenant'", id_jsonb), "a");
  EXPECT_EQ(field("encode(payload, 'hex')", id_bytea), "00ff");
  EXPECT_EQ(field("content_type", id_text), "application/json");
  // One key, one partition.
  EXPECT_EQ(field("partition", id_text), field("partition", id_jsonb));
  EXPECT_EQ(Int("SELECT count(*) FROM " + s + ".outbox WHERE partition < 0 OR partition >= 32"), 0);
}

TEST_F(PgWriteTest, TheSqlFunctionKeepsAGivenIdAndRefusesItTwice) {
  Event e = Event::Make("t", "k", "T", "{}");
  const std::string call = "SELECT " + schema_ + ".enqueue('t', 'k', 'T', 'x', event_id => '" +
                           e.id.ToString() + "')";
  ASSERT_TRUE(Begin());
  EXPECT_EQ(QueryText(app_.get(), call), e.id.ToString());
  ASSERT_TRUE(Commit());
  PGresult* res = PQexec(app_.get(), call.c_str());
  EXPECT_STREQ(PQresultErrorField(res, PG_DIAG_SQLSTATE), "23505");
  PQclear(res);
}

// A relay that sleeps holds the wake lock (relay_may_sleep() answered
// 'acquired'): then a transaction's inserting statements wake it once, at
// commit.
TEST_F(PgWriteTest, OneStatementWakesListenersOnceAtCommit) {
  RawConn listener = Connect();
  ASSERT_NE(listener, nullptr);
  ASSERT_TRUE(Exec(listener.get(), "LISTEN " + schema_ + "_wake"));
  ASSERT_EQ(QueryText(listener.get(), "SELECT " + schema_ + ".relay_may_sleep()"), "acquired");
  std::vector<Event> events(20, Event());
  for (Event& e : events) e = Event::Make("t", "", "T", "{}");
  ASSERT_TRUE(Begin());
  ASSERT_TRUE(postgres::EnqueueBatch(app_.get(), events, WriteOptions()).ok());
  ASSERT_TRUE(postgres::Enqueue(app_.get(), Event::Make("t", "", "T", "{}"), WriteOptions()).ok());
  ASSERT_TRUE(Commit());
  // Collect for a while after the first one arrives: more would come with it.
  int notifications = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    Exec(listener.get(), "SELECT 1");
    while (PGnotify* n = PQnotifies(listener.get())) {
      ++notifications;
      PQfreemem(n);
    }
    if (notifications > 0) {
      deadline = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(300));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(notifications, 1);
}

// With no relay asleep, nothing notifies: a busy relay claims anyway, and
// commits do not queue on the notification lock. A relay that finds
// inserting transactions open is told to look again ('busy'); once they are
// done it may sleep.
TEST_F(PgWriteTest, InsertsNotifyOnlyWhileARelaySleeps) {
  RawConn listener = Connect();
  ASSERT_NE(listener, nullptr);
  ASSERT_TRUE(Exec(listener.get(), "LISTEN " + schema_ + "_wake"));
  ASSERT_TRUE(Begin());
  ASSERT_TRUE(postgres::Enqueue(app_.get(), Event::Make("t", "", "T", "{}"), WriteOptions()).ok());
  EXPECT_EQ(QueryText(listener.get(), "SELECT " + schema_ + ".relay_may_sleep()"), "busy");
  ASSERT_TRUE(Commit());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Exec(listener.get(), "SELECT 1");
  int notifications = 0;
  while (PGnotify* n = PQnotifies(listener.get())) {
    ++notifications;
    PQfreemem(n);
  }
  EXPECT_EQ(notifications, 0);
  EXPECT_EQ(QueryText(listener.get(), "SELECT " + schema_ + ".relay_may_sleep()"), "acquired");
  RawConn other = Connect();
  EXPECT_EQ(QueryText(other.get(), "SELECT " + schema_ + ".relay_may_sleep()"), "sleeper");
}

}  // namespace
}  // namespace herald

// The SQLite write side: enqueue through the application's own connection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "herald/sqlite.h"
#include "store/sqlite/test_support.h"

namespace herald::sqlite_testing {
namespace {

using ::testing::HasSubstr;

class WriteSideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("app.db");
    db_ = OpenRaw(path_);
    ASSERT_EQ(Exec(db(), "CREATE TABLE accounts (id TEXT PRIMARY KEY, balance INTEGER)"),
              SQLITE_OK);
    ASSERT_TRUE(sqlite::Migrate(db()).ok());
  }

  sqlite3* db() { return db_.get(); }
  std::int64_t OutboxRows() { return QueryInt(db(), "SELECT COUNT(*) FROM herald_outbox"); }
  std::int64_t Accounts() { return QueryInt(db(), "SELECT COUNT(*) FROM accounts"); }

  // The events a fresh store claims, all of them due at `now`.
  std::vector<PendingEvent> Claimed() {
    std::unique_ptr<Store> store = OpenTestStore(path_);
    Result<Claim> claim = store->ClaimDue(std::chrono::system_clock::now(), 100, {});
    EXPECT_TRUE(claim.has_value()) << claim.error().ToString();
    return claim ? claim->events : std::vector<PendingEvent>{};
  }

  TempDir dir_;
  std::string path_;
  RawDb db_;
};

TEST_F(WriteSideTest, EnqueueWithoutTransactionIsRefusedAndWritesNothing) {
  Status s = sqlite::Enqueue(db(), Event::Make("t", "k", "T", "{}"));
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("no transaction is open"));
  Event batch[] = {Event::Make("t", "k", "T", "{}"), Event::Make("t", "k", "T", "{}")};
  EXPECT_EQ(sqlite::EnqueueBatch(db(), batch).code(), Code::kFailedPrecondition);
  EXPECT_EQ(OutboxRows(), 0);
}

TEST_F(WriteSideTest, RolledBackEnqueueLeavesNothing) {
  ASSERT_EQ(Exec(db(), "BEGIN IMMEDIATE"), SQLITE_OK);
  ASSERT_EQ(Exec(db(), "INSERT INTO accounts VALUES ('a', 10)"), SQLITE_OK);
  ASSERT_TRUE(sqlite::Enqueue(db(), Event::Make("accounts", "a", "Opened", "{}")).ok());
  ASSERT_EQ(Exec(db(), "ROLLBACK"), SQLITE_OK);
  EXPECT_EQ(OutboxRows(), 0);
  EXPECT_EQ(Accounts(), 0);
  EXPECT_TRUE(Claimed().empty());
}

TEST_F(WriteSideTest, CommittedEventIsClaimedFieldForField) {
  std::string payload("binary\0payload\xff", 15);
  Event event = FullEvent("accounts", "acct-7", payload);
  ASSERT_EQ(Exec(db(), "BEGIN IMMEDIATE"), SQLITE_OK);
  ASSERT_EQ(Exec(db(), "INSERT INTO accounts VALUES ('acct-7', 10)"), SQLITE_OK);
  ASSERT_TRUE(sqlite::Enqueue(db(), event).ok());
  ASSERT_EQ(Exec(db(), "COMMIT"), SQLITE_OK);

  std::vector<PendingEvent> claimed = Claimed();
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_GT(claimed[0].seq, 0);
  EXPECT_EQ(claimed[0].attempts, 0);
  ExpectSameEvent(claimed[0].event, event);
  // Stored as the canonical text form documented in docs/schema.md.
  EXPECT_EQ(QueryText(db(), "SELECT event_id FROM herald_outbox"), event.id.ToString());
}

TEST_F(WriteSideTest, EmptyPayloadIsStoredAsEmptyBlob) {
  Event event = Event::Make("t", "", "T", "");
  ASSERT_EQ(Exec(db(), "BEGIN"), SQLITE_OK);
  ASSERT_TRUE(sqlite::Enqueue(db(), event).ok());
  ASSERT_EQ(Exec(db(), "COMMIT"), SQLITE_OK);
  EXPECT_EQ(QueryText(db(), "SELECT typeof(payload) FROM herald_outbox"), "blob");
  std::vector<PendingEvent> claimed = Claimed();
  ASSERT_EQ(claimed.size(), 1u);
  ExpectSameEvent(claimed[0].event, event);
}

TEST_F(WriteSideTest, BatchWithInvalidEventInsertsNoneAndTransactionStaysUsable) {
  Event bad = Event::Make("", "k", "T", "{}");  // empty topic
  std::vector<Event> batch = {Event::Make("t", "k", "T", "1"), Event::Make("t", "k", "T", "2"),
                              bad};
  ASSERT_EQ(Exec(db(), "BEGIN IMMEDIATE"), SQLITE_OK);
  ASSERT_EQ(Exec(db(), "INSERT INTO accounts VALUES ('a', 1)"), SQLITE_OK);
  Status s = sqlite::EnqueueBatch(db(), batch);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("event 3 of 3"));
  EXPECT_EQ(sqlite3_get_autocommit(db()), 0) << "the caller's transaction must stay open";
  Event good = Event::Make("t", "k", "T", "3");
  ASSERT_TRUE(sqlite::Enqueue(db(), good).ok());
  ASSERT_EQ(Exec(db(), "INSERT INTO accounts VALUES ('b', 2)"), SQLITE_OK);
  ASSERT_EQ(Exec(db(), "COMMIT"), SQLITE_OK);
  EXPECT_EQ(Accounts(), 2);
  std::vector<PendingEvent> claimed = Claimed();
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].event.id, good.id);
}

TEST_F(WriteSideTest, BatchFailingHalfwayInsertsNoneAndTransactionStaysUsable) {
  // Valid events that only the database can refuse: the third repeats the
  // first's id, so two rows are written before the failure.
  Event a = Event::Make("t", "k", "T", "a");
  Event b = Event::Make("t", "k", "T", "b");
  std::vector<Event> batch = {a, b, a};
  ASSERT_EQ(Exec(db(), "BEGIN IMMEDIATE"), SQLITE_OK);
  ASSERT_EQ(Exec(db(), "INSERT INTO accounts VALUES ('a', 1)"), SQLITE_OK);
  EXPECT_EQ(sqlite::EnqueueBatch(db(), batch).code(), Code::kAlreadyExists);
  ASSERT_EQ(sqlite3_get_autocommit(db()), 0);
  EXPECT_EQ(OutboxRows(), 0);
  std::vector<Event> retry = {a, b};
  ASSERT_TRUE(sqlite::EnqueueBatch(db(), retry).ok());
  ASSERT_EQ(Exec(db(), "COMMIT"), SQLITE_OK);
  EXPECT_EQ(Accounts(), 1);
  std::vector<PendingEvent> claimed = Claimed();
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].event.id, a.id);
  EXPECT_EQ(claimed[1].event.id, b.id);
}

TEST_F(WriteSideTest, DuplicateIdIsAlreadyExists) {
  Event event = Event::Make("t", "k", "T", "{}");
  ASSERT_EQ(Exec(db(), "BEGIN"), SQLITE_OK);
  ASSERT_TRUE(sqlite::Enqueue(db(), event).ok());
  ASSERT_EQ(Exec(db(), "COMMIT"), SQLITE_OK);

  ASSERT_EQ(Exec(db(), "BEGIN"), SQLITE_OK);
  Status s = sqlite::Enqueue(db(), event);
  EXPECT_EQ(s.code(), Code::kAlreadyExists);
  EXPECT_THAT(s.message(), HasSubstr(event.id.ToString()));
  EXPECT_EQ(sqlite3_get_autocommit(db()), 0);
  ASSERT_EQ(Exec(db(), "ROLLBACK"), SQLITE_OK);
  EXPECT_EQ(OutboxRows(), 1);
}

TEST_F(WriteSideTest, OversizedPayloadIsRefused) {
  ASSERT_EQ(Exec(db(), "BEGIN"), SQLITE_OK);
  sqlite::EnqueueOptions small{.max_payload_bytes = 10};
  EXPECT_TRUE(sqlite::Enqueue(db(), Event::Make("t", "", "T", std::string(10, 'x')), small).ok());
  EXPECT_EQ(sqlite::Enqueue(db(), Event::Make("t", "", "T", std::string(11, 'x')), small).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(sqlite::Enqueue(
                db(), Event::Make("t", "", "T", std::string(kDefaultMaxPayloadBytes + 1, 'x')))
                .code(),
            Code::kInvalidArgument);
  ASSERT_EQ(Exec(db(), "COMMIT"), SQLITE_OK);
  EXPECT_EQ(OutboxRows(), 1);
}

TEST_F(WriteSideTest, HeaderThatIsNotUtf8IsInvalidArgument) {
  Event event = Event::Make("t", "", "T", "{}");
  event.headers["bad"] = "\xff\xfe";
  ASSERT_EQ(Exec(db(), "BEGIN"), SQLITE_OK);
  EXPECT_EQ(sqlite::Enqueue(db(), event).code(), Code::kInvalidArgument);
  ASSERT_EQ(Exec(db(), "ROLLBACK"), SQLITE_OK);
}

TEST_F(WriteSideTest, EventWithoutCreationTimeGetsTheCurrentTime) {
  Event event = Event::Make("t", "", "T", "{}");
  event.created_at = TimePoint{};
  auto before = std::chrono::system_clock::now() - std::chrono::seconds(1);
  ASSERT_EQ(Exec(db(), "BEGIN"), SQLITE_OK);
  ASSERT_TRUE(sqlite::Enqueue(db(), event).ok());
  ASSERT_EQ(Exec(db(), "COMMIT"), SQLITE_OK);
  std::vector<PendingEvent> claimed = Claimed();
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_GE(claimed[0].event.created_at, before);
}

TEST(WriteSideSchemaTest, MissingSchemaNamesMigrate) {
  TempDir dir;
  RawDb db = OpenRaw(dir.File("bare.db"));
  ASSERT_EQ(Exec(db.get(), "BEGIN"), SQLITE_OK);
  Status s = sqlite::Enqueue(db.get(), Event::Make("t", "", "T", "{}"));
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("herald migrate"));
  EXPECT_EQ(sqlite3_get_autocommit(db.get()), 0);
}

TEST_F(WriteSideTest, BusyDatabaseIsAborted) {
  ASSERT_EQ(Exec(db(), "PRAGMA journal_mode = WAL"), SQLITE_OK);
  RawDb other = OpenRaw(path_, /*busy_timeout_ms=*/0);
  ASSERT_EQ(Exec(other.get(), "BEGIN IMMEDIATE"), SQLITE_OK);  // holds the write lock

  ASSERT_EQ(Exec(db(), "BEGIN"), SQLITE_OK);
  sqlite3_busy_timeout(db(), 0);
  Status s = sqlite::Enqueue(db(), Event::Make("t", "", "T", "{}"));
  EXPECT_EQ(s.code(), Code::kAborted) << s.ToString();
  ASSERT_EQ(Exec(db(), "ROLLBACK"), SQLITE_OK);
  ASSERT_EQ(Exec(other.get(), "ROLLBACK"), SQLITE_OK);
}

// docs/schema.md: another language enqueues with a plain INSERT in its own
// transaction, relying on the column defaults.
TEST_F(WriteSideTest, PlainSqlInsertFromAnotherLanguageIsClaimed) {
  const std::string id = "0190b7a4-5e1c-7d2a-8f00-3b1c2d3e4f50";
  ASSERT_EQ(Exec(db(),
                 "BEGIN IMMEDIATE;"
                 "INSERT INTO accounts VALUES ('a', 1);"
                 "INSERT INTO herald_outbox (event_id, topic, key, type, payload)"
                 " VALUES ('" +
                     id +
                     "', 'accounts', 'a', 'Opened', '{\"id\":\"a\"}');"
                     "COMMIT;"),
            SQLITE_OK)
      << sqlite3_errmsg(db());
  std::vector<PendingEvent> claimed = Claimed();
  ASSERT_EQ(claimed.size(), 1u);
  const Event& e = claimed[0].event;
  EXPECT_EQ(e.id.ToString(), id);
  EXPECT_EQ(e.payload, "{\"id\":\"a\"}");
  EXPECT_EQ(e.content_type, "application/json");
  EXPECT_TRUE(e.headers.empty());
  auto age = std::chrono::system_clock::now() - e.created_at;
  EXPECT_LT(std::chrono::abs(age), std::chrono::minutes(1));
}

TEST_F(WriteSideTest, SchemaRejectsMalformedRowsFromPlainSql) {
  const char* kRows[] = {
      // not a canonical lower-case UUID
      "('0190B7A4-5E1C-7D2A-8F00-3B1C2D3E4F50', 't', X'00', '{}')",
      "('not-a-uuid', 't', X'00', '{}')",
      // headers not a JSON object
      "('0190b7a4-5e1c-7d2a-8f00-3b1c2d3e4f51', 't', X'00', '[1]')",
      "('0190b7a4-5e1c-7d2a-8f00-3b1c2d3e4f52', 't', X'00', '{oops')",
      // empty topic
      "('0190b7a4-5e1c-7d2a-8f00-3b1c2d3e4f53', '', X'00', '{}')",
  };
  for (const char* row : kRows) {
    std::string sql =
        std::string("INSERT INTO herald_outbox (event_id, topic, payload, headers) VALUES ") + row;
    EXPECT_NE(Exec(db(), sql), SQLITE_OK) << row;
  }
  EXPECT_EQ(OutboxRows(), 0);
}

}  // namespace
}  // namespace herald::sqlite_testing

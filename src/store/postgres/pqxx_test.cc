// The libpqxx adapter (herald/postgres_pqxx.h) against a real server.
#include "herald/postgres_pqxx.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "store/postgres/test_support.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using pg_testing::PgTest;

class PgPqxxTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Migrate();
    conn_ = std::make_unique<pqxx::connection>(server_);
  }

  std::unique_ptr<pqxx::connection> conn_;
};

TEST_F(PgPqxxTest, EnqueuesInTheCallersTransaction) {
  Event e = pg_testing::FullEvent("orders", "acct-1", std::string("{\"a\":\0}", 7));
  {
    pqxx::work tx(*conn_);
    Status s = postgres::Enqueue(tx, e, WriteOptions());
    ASSERT_TRUE(s.ok()) << s.ToString();
    tx.commit();
  }
  {
    pqxx::work tx(*conn_);
    ASSERT_TRUE(postgres::Enqueue(tx, Event::Make("orders", "k", "T", "{}"), WriteOptions()).ok());
    tx.abort();
  }
  EXPECT_EQ(OutboxCount(), 1);
  const std::string row = "FROM " + schema_ + ".outbox";
  EXPECT_EQ(Text("SELECT event_id::text " + row), e.id.ToString());
  EXPECT_EQ(Text("SELECT encode(payload, 'hex') " + row), "7b2261223a007d");
  EXPECT_EQ(Text("SELECT headers->>'q' " + row), "a\"b\\c");
  EXPECT_EQ(Text("SELECT headers->>'tenant' " + row), "t\xc3\xa9nant");
  EXPECT_EQ(Text("SELECT type || '|' || key || '|' || content_type " + row),
            "Something.Happened|acct-1|application/octet-stream");
  EXPECT_EQ(Int("SELECT (extract(epoch FROM created_at) * 1000)::int8 " + row),
            ToUnixMillis(e.created_at));
}

TEST_F(PgPqxxTest, ErrorsAreStatusesNotExceptions) {
  Event e = Event::Make("t", "k", "T", "{}");
  {
    pqxx::work tx(*conn_);
    // Invalid: refused before anything is sent, the transaction stays usable.
    EXPECT_EQ(postgres::Enqueue(tx, Event::Make("", "k", "T", "{}"), WriteOptions()).code(),
              Code::kInvalidArgument);
    ASSERT_TRUE(postgres::Enqueue(tx, e, WriteOptions()).ok());
    tx.commit();
  }
  {
    pqxx::work tx(*conn_);
    Status s = postgres::Enqueue(tx, e, WriteOptions());
    EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
  }
  {
    pqxx::work tx(*conn_);
    postgres::EnqueueOptions missing = WriteOptions();
    missing.schema = "no_such_herald_schema";
    Status s = postgres::Enqueue(tx, Event::Make("t", "k", "T", "{}"), missing);
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("herald migrate"));
  }
  EXPECT_EQ(OutboxCount(), 1);
}

}  // namespace
}  // namespace herald

// Herald's PostgreSQL schema: migrate, check, versions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "herald/postgres.h"
#include "store/postgres/pg.h"
#include "store/postgres/test_support.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using pg_testing::PgTest;
using pg_testing::RawConn;

class PgSchemaTest : public PgTest {};

TEST_F(PgSchemaTest, MigrateCreatesTheSchemaOnceAndKeepsThePartitionCount) {
  Migrate(8);
  Migrate(16);  // a later run keeps the stored count
  EXPECT_EQ(Int("SELECT count(*) FROM " + schema_ + ".config"), 1);
  EXPECT_EQ(Int("SELECT version FROM " + schema_ + ".config"), postgres::kSchemaVersion);
  EXPECT_EQ(Int("SELECT partitions FROM " + schema_ + ".config"), 8);
  EXPECT_EQ(Int("SELECT count(*) FROM " + schema_ + ".partitions"), 8);
  for (const char* table : {"outbox", "dead_letters", "relays", "partitions"}) {
    EXPECT_EQ(Text("SELECT to_regclass('" + schema_ + "." + table + "') IS NOT NULL"), "t")
        << table;
  }
}

TEST_F(PgSchemaTest, ConcurrentMigratesAllSucceedAndCreateOneSchema) {
  constexpr int kMigrators = 4;
  std::vector<Status> results(kMigrators);
  std::vector<RawConn> conns;
  for (int i = 0; i < kMigrators; ++i) conns.push_back(Connect());
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < kMigrators; ++i) {
      threads.emplace_back([&, i] {
        postgres::MigrateOptions options;
        options.schema = schema_;
        results[i] = postgres::Migrate(conns[i].get(), options);
      });
    }
  }
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Int("SELECT count(*) FROM " + schema_ + ".config"), 1);
  EXPECT_EQ(Int("SELECT count(*) FROM " + schema_ + ".partitions"), postgres::kDefaultPartitions);
}

TEST_F(PgSchemaTest, ANewerSchemaIsRefused) {
  Migrate();
  ASSERT_TRUE(Exec(admin_.get(), "UPDATE " + schema_ + ".config SET version = 99"));
  postgres::MigrateOptions options;
  options.schema = schema_;
  Status s = postgres::Migrate(admin_.get(), options);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("99"));
  std::unique_ptr<PostgresStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CheckSchema().code(), Code::kFailedPrecondition);
  EXPECT_EQ(store->Migrate().code(), Code::kFailedPrecondition);
}

// A version-1 schema (wake-up always on) is upgraded in place; what it holds
// stays.
TEST_F(PgSchemaTest, MigrateUpgradesAVersionOneSchema) {
  Migrate();
  const std::string s = schema_;
  // Back to version 1: its wake-up function and indexes.
  ASSERT_TRUE(Exec(admin_.get(), "UPDATE " + s + ".config SET version = 1"));
  ASSERT_TRUE(Exec(admin_.get(), "CREATE OR REPLACE FUNCTION " + s +
                                     ".wake() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                                     "PERFORM pg_notify('" + pg_internal::WakeChannel(s) +
                                     "', ''); RETURN NULL; END $$"));
  ASSERT_TRUE(Exec(admin_.get(), "DROP INDEX " + s + ".outbox_scheduled; DROP FUNCTION " + s +
                                     ".relay_may_sleep(); CREATE INDEX outbox_claim ON " + s +
                                     ".outbox (partition, seq); CREATE INDEX outbox_key_due ON " +
                                     s + ".outbox (key, next_attempt_at)"));
  ASSERT_TRUE(Exec(admin_.get(), "SELECT " + s + ".enqueue('t', 'k', 'T', 'kept'::text)"));
  const std::string wake_def = "SELECT pg_get_functiondef('" + s + ".wake()'::regprocedure)";
  ASSERT_THAT(Text(wake_def), ::testing::Not(HasSubstr("herald.wake")));
  std::unique_ptr<PostgresStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  Status old = store->CheckSchema();
  EXPECT_EQ(old.code(), Code::kFailedPrecondition);
  EXPECT_THAT(old.message(), HasSubstr("older than this herald's"));

  postgres::MigrateOptions options;
  options.schema = s;
  ASSERT_TRUE(postgres::Migrate(admin_.get(), options).ok());
  EXPECT_EQ(Int("SELECT version FROM " + s + ".config"), postgres::kSchemaVersion);
  EXPECT_EQ(Int("SELECT count(*) FROM " + s + ".config"), 1);
  EXPECT_THAT(Text(wake_def), HasSubstr("herald.wake"));
  EXPECT_THAT(Text(wake_def), HasSubstr("pg_try_advisory_xact_lock_shared"));
  EXPECT_EQ(Int("SELECT count(*) FROM pg_indexes WHERE schemaname = '" + s +
                "' AND indexname IN ('outbox_claim', 'outbox_key_due')"),
            0);
  EXPECT_EQ(Int("SELECT count(*) FROM pg_indexes WHERE schemaname = '" + s +
                "' AND indexname = 'outbox_scheduled'"),
            1);
  EXPECT_EQ(Int("SELECT count(*) FROM " + s + ".outbox"), 1);
  EXPECT_TRUE(store->CheckSchema().ok());
}

// A schema that lost a function, its trigger or an index is refused by
// the relay with a line naming what is missing, and `herald migrate` makes
// them again. One that lost a table is refused by both.
TEST_F(PgSchemaTest, MissingObjectsAreNamedAndRepairedOrRefused) {
  Migrate();
  const std::string s = schema_;
  std::unique_ptr<PostgresStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Exec(admin_.get(), "DROP TRIGGER outbox_wake ON " + s + ".outbox; DROP FUNCTION " +
                                     s + ".relay_may_sleep(); DROP INDEX " + s +
                                     ".outbox_scheduled"));
  Status damaged = store->CheckSchema();
  EXPECT_EQ(damaged.code(), Code::kFailedPrecondition);
  EXPECT_THAT(damaged.message(), HasSubstr("index " + s + ".outbox_scheduled"));
  EXPECT_THAT(damaged.message(), HasSubstr("function " + s + ".relay_may_sleep()"));
  EXPECT_THAT(damaged.message(), HasSubstr("trigger outbox_wake on " + s + ".outbox"));
  EXPECT_THAT(damaged.message(), HasSubstr("herald migrate"));
  ASSERT_TRUE(store->Migrate().ok());
  EXPECT_TRUE(store->CheckSchema().ok());

  ASSERT_TRUE(Exec(admin_.get(), "DROP TABLE " + s + ".dead_letters"));
  Status lost = store->CheckSchema();
  EXPECT_EQ(lost.code(), Code::kFailedPrecondition);
  EXPECT_THAT(lost.message(), HasSubstr("table " + s + ".dead_letters missing"));
  Status migrate = store->Migrate();
  EXPECT_EQ(migrate.code(), Code::kFailedPrecondition);
  EXPECT_THAT(migrate.message(), HasSubstr("table " + s + ".dead_letters missing"));
}

TEST_F(PgSchemaTest, CheckSchemaNamesMigrateWhenThereIsNone) {
  std::unique_ptr<PostgresStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  Status s = store->CheckSchema();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("database has no Herald schema '" + schema_ + "'"));
  EXPECT_THAT(s.message(), HasSubstr("run `herald migrate --db postgres://"));
  // Relay-side calls say the same kind of thing.
  EXPECT_EQ(store->AcquireRelayRole(false, {}).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(store->Migrate().ok());
  EXPECT_TRUE(store->CheckSchema().ok());
  EXPECT_TRUE(store->AcquireRelayRole(false, {}).ok());
}

TEST_F(PgSchemaTest, TheStoreMigratesWithTheUrlsPartitionCount) {
  std::unique_ptr<PostgresStore> store = OpenStore("partitions=5");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Migrate().ok());
  EXPECT_EQ(Int("SELECT count(*) FROM " + schema_ + ".partitions"), 5);
}

TEST_F(PgSchemaTest, MigrateNeedsNoOpenTransaction) {
  ASSERT_TRUE(Exec(admin_.get(), "BEGIN"));
  postgres::MigrateOptions options;
  options.schema = schema_;
  EXPECT_EQ(postgres::Migrate(admin_.get(), options).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(Exec(admin_.get(), "ROLLBACK"));
  options.partitions = 0;
  EXPECT_EQ(postgres::Migrate(admin_.get(), options).code(), Code::kInvalidArgument);
  EXPECT_EQ(Text("SELECT to_regclass('" + schema_ + ".outbox') IS NULL"), "t");
}

}  // namespace
}  // namespace herald

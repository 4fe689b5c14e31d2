// Creating, upgrading and checking the schema, through sqlite::Migrate and
// through a Store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "herald/sqlite.h"
#include "store/sqlite/test_support.h"

namespace herald::sqlite_testing {
namespace {

using ::testing::HasSubstr;

TEST(SchemaTest, MigrateTwiceIsHarmless) {
  TempDir dir;
  RawDb db = OpenRaw(dir.File("x.db"));
  ASSERT_TRUE(sqlite::Migrate(db.get()).ok());
  ASSERT_EQ(Exec(db.get(), "BEGIN"), SQLITE_OK);
  ASSERT_TRUE(sqlite::Enqueue(db.get(), Event::Make("t", "", "T", "{}")).ok());
  ASSERT_EQ(Exec(db.get(), "COMMIT"), SQLITE_OK);

  Status again = sqlite::Migrate(db.get());
  EXPECT_TRUE(again.ok()) << again.ToString();
  EXPECT_EQ(QueryInt(db.get(), "SELECT COUNT(*) FROM herald_outbox"), 1);
  EXPECT_EQ(QueryInt(db.get(), "SELECT COUNT(*) FROM herald_schema"), 1);
  EXPECT_EQ(QueryInt(db.get(), "SELECT version FROM herald_schema"), sqlite::kSchemaVersion);
  EXPECT_GT(QueryInt(db.get(), "SELECT applied_at FROM herald_schema"), 1'600'000'000'000);
}

TEST(SchemaTest, StoreMigrateAndWriteSideMigrateAgree) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenTestStore(dir.File("x.db"));
  ASSERT_TRUE(store->Migrate().ok());
  RawDb db = OpenRaw(dir.File("x.db"));
  EXPECT_TRUE(sqlite::Migrate(db.get()).ok());
  EXPECT_TRUE(store->Migrate().ok());
  EXPECT_TRUE(store->CheckSchema().ok());
}

TEST(SchemaTest, NewerSchemaIsRefused) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenTestStore(dir.File("x.db"));
  ASSERT_TRUE(store->Migrate().ok());
  RawDb db = OpenRaw(dir.File("x.db"));
  const int newer = sqlite::kSchemaVersion + 1;
  ASSERT_EQ(Exec(db.get(), "UPDATE herald_schema SET version = " + std::to_string(newer)),
            SQLITE_OK);

  const std::string kMessage = "database schema version " + std::to_string(newer) +
                               " is newer than this herald supports (" +
                               std::to_string(sqlite::kSchemaVersion) + "); upgrade herald";
  Status migrate = store->Migrate();
  EXPECT_EQ(migrate.code(), Code::kFailedPrecondition);
  EXPECT_EQ(migrate.message(), kMessage);
  Status check = store->CheckSchema();
  EXPECT_EQ(check.code(), Code::kFailedPrecondition);
  EXPECT_EQ(check.message(), kMessage);
  EXPECT_EQ(sqlite::Migrate(db.get()).code(), Code::kFailedPrecondition);
  EXPECT_EQ(QueryInt(db.get(), "SELECT version FROM herald_schema"), newer);
}

// A database at version 1 (indexes on every row's key and attempt time) is
// upgraded in place: its rows stay, the claim's partial index replaces them.
TEST(SchemaTest, VersionOneIsUpgradedInPlace) {
  TempDir dir;
  RawDb db = OpenRaw(dir.File("x.db"));
  ASSERT_TRUE(sqlite::Migrate(db.get()).ok());
  ASSERT_EQ(Exec(db.get(),
                 "DROP INDEX herald_outbox_scheduled;"
                 "CREATE INDEX herald_outbox_key_due ON herald_outbox (key, next_attempt_at);"
                 "CREATE INDEX herald_outbox_due ON herald_outbox (next_attempt_at);"
                 "UPDATE herald_schema SET version = 1"),
            SQLITE_OK);
  ASSERT_EQ(Exec(db.get(), "BEGIN"), SQLITE_OK);
  ASSERT_TRUE(sqlite::Enqueue(db.get(), Event::Make("t", "k", "T", "{}")).ok());
  ASSERT_EQ(Exec(db.get(), "COMMIT"), SQLITE_OK);
  std::unique_ptr<Store> store = OpenTestStore(dir.File("x.db"));
  EXPECT_EQ(store->CheckSchema().code(), Code::kFailedPrecondition);

  ASSERT_TRUE(store->Migrate().ok());
  EXPECT_TRUE(store->CheckSchema().ok());
  EXPECT_EQ(QueryInt(db.get(), "SELECT version FROM herald_schema"), sqlite::kSchemaVersion);
  EXPECT_EQ(QueryInt(db.get(), "SELECT COUNT(*) FROM herald_outbox"), 1);
  EXPECT_EQ(QueryInt(db.get(),
                     "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                     "('herald_outbox_key_due', 'herald_outbox_due')"),
            0);
  EXPECT_EQ(QueryInt(db.get(),
                     "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND "
                     "name = 'herald_outbox_scheduled'"),
            1);
}

TEST(SchemaTest, CheckSchemaOnEmptyDatabaseNamesMigrate) {
  TempDir dir;
  std::string path = dir.File("empty.db");
  std::unique_ptr<Store> store = OpenTestStore(path);
  Status s = store->CheckSchema();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("has no Herald schema"));
  EXPECT_THAT(s.message(), HasSubstr("`herald migrate --db sqlite:" + path + "`"));
  ASSERT_TRUE(store->Migrate().ok());
  EXPECT_TRUE(store->CheckSchema().ok());
}

TEST(SchemaTest, CheckSchemaNoticesMissingTables) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenTestStore(dir.File("x.db"));
  ASSERT_TRUE(store->Migrate().ok());
  RawDb db = OpenRaw(dir.File("x.db"));
  ASSERT_EQ(Exec(db.get(), "DROP TABLE herald_dead_letters"), SQLITE_OK);
  Status check = store->CheckSchema();
  EXPECT_EQ(check.code(), Code::kFailedPrecondition);
  EXPECT_THAT(check.message(), HasSubstr("damaged: table herald_dead_letters is missing"));
}

// Migrate once said a schema missing its dead-letter table was fine, and
// every relay then failed to settle what it published.
TEST(SchemaTest, MigrateRefusesAMissingTableAndRepairsAMissingIndex) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenTestStore(dir.File("x.db"));
  ASSERT_TRUE(store->Migrate().ok());
  RawDb db = OpenRaw(dir.File("x.db"));
  ASSERT_EQ(Exec(db.get(), "DROP INDEX herald_outbox_scheduled"), SQLITE_OK);
  EXPECT_THAT(store->CheckSchema().message(), HasSubstr("lacks index herald_outbox_scheduled"));
  ASSERT_TRUE(store->Migrate().ok());
  EXPECT_TRUE(store->CheckSchema().ok());
  EXPECT_EQ(QueryText(db.get(), "SELECT count(*) FROM sqlite_master WHERE name = "
                                "'herald_outbox_scheduled'"),
            "1");

  ASSERT_EQ(Exec(db.get(), "DROP TABLE herald_dead_letters"), SQLITE_OK);
  Status migrate = store->Migrate();
  EXPECT_EQ(migrate.code(), Code::kFailedPrecondition);
  EXPECT_THAT(migrate.message(), HasSubstr("table herald_dead_letters is missing"));
}

TEST(SchemaTest, MigrateRefusesAnOpenTransaction) {
  TempDir dir;
  RawDb db = OpenRaw(dir.File("x.db"));
  ASSERT_EQ(Exec(db.get(), "BEGIN"), SQLITE_OK);
  EXPECT_EQ(sqlite::Migrate(db.get()).code(), Code::kFailedPrecondition);
  ASSERT_EQ(Exec(db.get(), "ROLLBACK"), SQLITE_OK);
}

TEST(SchemaTest, FailedMigrateLeavesNothingBehind) {
  TempDir dir;
  RawDb db = OpenRaw(dir.File("x.db"));
  // A table in the way makes the creation of herald_dead_letters fail after
  // herald_schema and herald_outbox were created in the same transaction.
  ASSERT_EQ(Exec(db.get(), "CREATE TABLE herald_dead_letters (x INTEGER)"), SQLITE_OK);
  Status s = sqlite::Migrate(db.get());
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("migrate to schema version 1"));
  EXPECT_EQ(QueryInt(db.get(),
                     "SELECT COUNT(*) FROM sqlite_master WHERE name IN "
                     "('herald_schema', 'herald_outbox')"),
            0);
  EXPECT_EQ(sqlite3_get_autocommit(db.get()), 1) << "no transaction may be left open";
}

}  // namespace
}  // namespace herald::sqlite_testing

// Helpers shared by the PostgreSQL store's tests: the server from
// HERALD_TEST_PG_URL, a schema of the test's own (dropped at the end, so
// tests can run in parallel against one server), raw application
// connections and small queries.
#ifndef HERALD_STORE_POSTGRES_TEST_SUPPORT_H_
#define HERALD_STORE_POSTGRES_TEST_SUPPORT_H_

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "herald/event.h"
#include "herald/postgres.h"
#include "herald/store.h"
#include "store/postgres/postgres_store.h"
#include "testing/events.h"
#include "testing/postgres_server.h"

namespace herald::pg_testing {

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using RawConn = std::unique_ptr<PGconn, ConnCloser>;

class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    herald::testing::RequirePostgres(server_);
    if (server_.empty()) return;
    schema_ = herald::testing::SchemaForCurrentTest();
    admin_ = Connect();
    ASSERT_NE(admin_, nullptr);
    Exec(admin_.get(), "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
  }

  void TearDown() override {
    if (admin_ != nullptr) Exec(admin_.get(), "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
  }

  // An application's own connection.
  RawConn Connect() const {
    RawConn conn(PQconnectdb(server_.c_str()));
    EXPECT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
    if (PQstatus(conn.get()) != CONNECTION_OK) return nullptr;
    PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);
    return conn;
  }

  // The store URL for this test's schema, with `extra` query parameters.
  std::string StoreUrl(const std::string& extra = "") const {
    std::string url = server_ + (server_.find('?') == std::string::npos ? "?" : "&");
    url += "schema=" + schema_;
    if (!extra.empty()) url += "&" + extra;
    return url;
  }

  std::unique_ptr<PostgresStore> OpenStore(const std::string& extra = "") const {
    Result<std::unique_ptr<PostgresStore>> store = OpenPostgresStore(StoreUrl(extra), {});
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }

  void Migrate(int partitions = postgres::kDefaultPartitions) {
    postgres::MigrateOptions options;
    options.schema = schema_;
    options.partitions = partitions;
    Status s = postgres::Migrate(admin_.get(), options);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  postgres::EnqueueOptions WriteOptions() const {
    postgres::EnqueueOptions options;
    options.schema = schema_;
    return options;
  }

  // Runs `sql`; true on success.
  static bool Exec(PGconn* conn, const std::string& sql) {
    PGresult* res = PQexec(conn, sql.c_str());
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    EXPECT_TRUE(ok) << sql << ": " << PQresultErrorMessage(res);
    PQclear(res);
    return ok;
  }

  // The first column of the first row `sql` selects, as text ("<none>" or "<null>").
  static std::string QueryText(PGconn* conn, const std::string& sql) {
    PGresult* res = PQexec(conn, sql.c_str());
    EXPECT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << sql << ": " << PQresultErrorMessage(res);
    std::string value = "<none>";
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) {
      value = PQgetisnull(res, 0, 0) ? "<null>" : PQgetvalue(res, 0, 0);
    }
    PQclear(res);
    return value;
  }

  static std::int64_t QueryInt(PGconn* conn, const std::string& sql) {
    std::string text = QueryText(conn, sql);
    return text == "<none>" || text == "<null>" ? -1 : std::stoll(text);
  }

  std::string Text(const std::string& sql) const { return QueryText(admin_.get(), sql); }
  std::int64_t Int(const std::string& sql) const { return QueryInt(admin_.get(), sql); }
  std::int64_t OutboxCount() const { return Int("SELECT count(*) FROM " + schema_ + ".outbox"); }

  std::string server_;
  std::string schema_;
  RawConn admin_;
};

using herald::testing::ExpectSameEvent;
using herald::testing::FullEvent;

}  // namespace herald::pg_testing

#endif  // HERALD_STORE_POSTGRES_TEST_SUPPORT_H_

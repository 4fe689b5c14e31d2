// `herald demo` checks itself; this runs it with a small workload and checks
// its verdict from the outside: the outbox run must deliver every committed
// transaction to Budgets and Analytics exactly once, in per-account order,
// across a bus outage (on the built-in mock cluster) and a SIGKILLed relay:
// on SQLite and the mock cluster, on an "external" Kafka cluster (a mock
// cluster in this test process, reached over the Kafka protocol like any
// other), and on PostgreSQL.
//
// This file makes two binaries: herald_demo_test, and with
// HERALD_DEMO_TEST_POSTGRES herald_demo_postgres_test, which holds only the
// PostgreSQL test (it needs HERALD_TEST_PG_URL; see postgres_support.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/process.h"
#include "testing/seed.h"
#ifdef HERALD_DEMO_TEST_POSTGRES
#include "postgres_support.h"
#else
#include "publish/kafka/mock_cluster.h"
#endif

namespace herald {
namespace {

using test::ProcessResult;
using test::RunProgram;
using test::TempDir;

constexpr int kAccounts = 7;

std::uint64_t Seed() {
  const std::uint64_t seed = herald::testing::SeedFromTestName() % 1000000;
  std::cout << "seed " << seed << "\n";
  return seed;
}

// Runs `herald demo --json` with a small workload and `extra` options;
// returns its parsed output (null if there is none). Exit 0 is expected: the
// demo exits 1 when its own check of the outbox run fails, and then the
// output names what failed.
nlohmann::json RunDemo(long transactions, std::vector<std::string> extra) {
  TempDir dir;
  std::vector<std::string> args = {HERALD_BINARY,  "demo",
                                   "--transactions", std::to_string(transactions),
                                   "--rate",         "200",
                                   "--accounts",     std::to_string(kAccounts),
                                   "--seed",         std::to_string(Seed()),
                                   "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  ProcessResult r = RunProgram(args, dir.path(), {}, std::chrono::seconds(90));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  if (j.is_discarded()) return nullptr;
  return j;
}

// The outbox run lost nothing, applied nothing twice and kept order; the
// naive run lost exactly what its direct publishes reported failed.
void ExpectDemoVerdict(const nlohmann::json& j, long transactions) {
  ASSERT_TRUE(j.is_object());
  const nlohmann::json& outbox = j["outbox"];
  EXPECT_EQ(outbox["committed"], transactions);
  EXPECT_EQ(outbox["lost"], 0);
  EXPECT_EQ(outbox["double_applied"], 0);
  EXPECT_EQ(outbox["order_violations"], 0);
  EXPECT_EQ(outbox["budgets_match"], true);
  EXPECT_EQ(outbox["accounts"], kAccounts);
  EXPECT_EQ(outbox["relay_kills"], 1);
  for (const char* consumer : {"budgets", "analytics"}) {
    SCOPED_TRACE(consumer);
    EXPECT_EQ(outbox[consumer]["distinct"], transactions);
    EXPECT_EQ(outbox[consumer]["applied"], transactions);
    EXPECT_EQ(outbox[consumer]["errors"], 0);
    // Every message beyond the first of each event was absorbed by the inbox.
    EXPECT_EQ(outbox[consumer]["received"].get<std::int64_t>(),
              transactions + outbox[consumer]["duplicates"].get<std::int64_t>());
  }
  EXPECT_EQ(j["ok"], true);

  const nlohmann::json& naive = j["naive"];
  EXPECT_EQ(naive["committed"], transactions);
  EXPECT_EQ(naive["lost"], naive["publish_failures"]);
  EXPECT_EQ(naive["double_applied"], 0);
  EXPECT_EQ(naive["budgets"]["distinct"].get<std::int64_t>() + naive["lost"].get<std::int64_t>(),
            transactions);
}

#ifndef HERALD_DEMO_TEST_POSTGRES

// The error of a refused command line: exit 2 and exactly one line.
void ExpectUsageError(std::vector<std::string> args, const std::string& says) {
  TempDir dir;
  args.insert(args.begin(), {HERALD_BINARY, "demo"});
  ProcessResult r = RunProgram(args, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(DemoTest, OutboxRunLosesNothingAppliesOnceAndKeepsOrder) {
  constexpr long kTransactions = 400;
  nlohmann::json j = RunDemo(kTransactions, {"--outage", "1s"});
  ExpectDemoVerdict(j, kTransactions);
  EXPECT_EQ(j["outage_injected"], true);
  EXPECT_EQ(j["outage_ms"], 1000);
}

// An external cluster: the demo cannot take it down, says so, and still
// kills the relay. Each invocation's topics are its own, so a second run on
// the same cluster reads none of the first one's messages.
TEST(DemoTest, ExternalKafkaClusterWithoutInjectedOutage) {
  publish::testing::MockCluster cluster(3);
  constexpr long kTransactions = 200;
  for (int invocation = 0; invocation < 2; ++invocation) {
    SCOPED_TRACE(invocation);
    nlohmann::json j = RunDemo(kTransactions, {"--publisher", cluster.url(), "--publisher-option",
                                               "client.id=herald-demo-test"});
    ExpectDemoVerdict(j, kTransactions);
    if (!j.is_object()) return;
    EXPECT_EQ(j["outage_injected"], false);
    EXPECT_EQ(j["outage_ms"], 0);
    EXPECT_NE(j["outage"].get<std::string>().find("not injected"), std::string::npos);
    EXPECT_NE(j["outbox"]["topic"], j["naive"]["topic"]);
    EXPECT_TRUE(j["outbox"]["topic"].get<std::string>().starts_with("herald-demo-"));
  }
}

TEST(DemoTest, ExplicitOutageWithAnExternalBusIsRefused) {
  ExpectUsageError({"--publisher", "kafka://127.0.0.1:1", "--outage", "2s"},
                   "cannot take an external bus down");
}

TEST(DemoTest, BusesTheDemoCannotReadAreRefused) {
  ExpectUsageError({"--publisher", "nats://localhost:4222"}, "consumers read Kafka only");
  ExpectUsageError({"--publisher", "redis://localhost:6379"}, "expected kafka://");
  ExpectUsageError({"--publisher", "stdout:"}, "consumers read Kafka only");
}

TEST(DemoTest, MalformedInfrastructureIsRefused) {
  ExpectUsageError({"--publisher", "kafka://"}, "--publisher");
  ExpectUsageError({"--publisher", "localhost:9092"}, "expected kafka://");
  ExpectUsageError({"--publisher", "kafka://h:1", "--publisher-option", "novalue"}, "KEY=VALUE");
  ExpectUsageError({"--publisher-option", "acks=all"}, "needs --publisher");
  ExpectUsageError({"--db", "sqlite:/tmp/x.db"}, "PostgreSQL");
  ExpectUsageError({"--db", "postgres://localhost/db?schema=mine"}, "schema");
}

TEST(DemoTest, BadOptionsAreUsageErrors) {
  TempDir dir;
  EXPECT_EQ(RunProgram({HERALD_BINARY, "demo", "--outage", "soon"}, dir.path()).exit_code, 2);
  EXPECT_EQ(RunProgram({HERALD_BINARY, "demo", "--transactions", "0"}, dir.path()).exit_code, 2);
}

#else  // HERALD_DEMO_TEST_POSTGRES

class DemoPostgresTest : public test::PostgresTest {};

// The same story with every service in a schema of its own on PostgreSQL;
// the schemas are gone afterwards.
TEST_F(DemoPostgresTest, OutboxRunLosesNothingAppliesOnceAndKeepsOrder) {
  constexpr long kTransactions = 300;
  nlohmann::json j = RunDemo(kTransactions, {"--db", server_url_, "--outage", "1s"});
  ExpectDemoVerdict(j, kTransactions);
  if (!j.is_object()) return;
  EXPECT_NE(j["database"].get<std::string>().find("PostgreSQL"), std::string::npos);
  test::PgConn conn = Connect();
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(test::PgQueryValue(conn.get(),
                               "SELECT count(*) FROM pg_namespace WHERE nspname LIKE "
                               "'herald\\_demo\\_%'"),
            "0");
}

#endif  // HERALD_DEMO_TEST_POSTGRES

}  // namespace
}  // namespace herald

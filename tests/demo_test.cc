// `herald demo` checks itself; this runs it with a small workload and checks
// its verdict from the outside: the outbox run must deliver every committed
// transaction to Budgets and Analytics exactly once, in per-account order,
// across a bus outage (on the built-in mock cluster) and a SIGKILLed relay:
// on SQLite and the mock cluster, on an "external" Kafka cluster (a mock
// cluster in this test process, reached over the Kafka protocol like any
// other), on PostgreSQL, on NATS JetStream, on RabbitMQ and on Redis Streams.
//
// This file makes a binary per infrastructure: herald_demo_test, and one
// holding only the test of a server the suite starts: with
// HERALD_DEMO_TEST_POSTGRES herald_demo_postgres_test (HERALD_TEST_PG_URL;
// see postgres_support.h), with HERALD_DEMO_TEST_NATS herald_demo_nats_test
// (HERALD_TEST_NATS_URL), with HERALD_DEMO_TEST_RABBITMQ
// herald_demo_rabbitmq_test (HERALD_TEST_RABBITMQ_URL) and with
// HERALD_DEMO_TEST_REDIS herald_demo_redis_test (HERALD_TEST_REDIS_URL).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/process.h"
#include "testing/seed.h"
#if defined(HERALD_DEMO_TEST_POSTGRES)
#include "postgres_support.h"
#elif defined(HERALD_DEMO_TEST_NATS)
#include "publish/nats/nats_server.h"
#elif defined(HERALD_DEMO_TEST_RABBITMQ)
#include "publish/rabbitmq/rabbitmq_server.h"
#elif defined(HERALD_DEMO_TEST_REDIS)
#include "publish/redis/redis_server.h"
#else
#define HERALD_DEMO_TEST_DEFAULT
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
// naive run lost no more than its direct publishes reported failed.
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
  // An event the naive service gave up on may still have reached the bus
  // (its request timed out, not refused): lost is at most what failed.
  EXPECT_LE(naive["lost"].get<std::int64_t>(), naive["publish_failures"].get<std::int64_t>());
  EXPECT_EQ(naive["double_applied"], 0);
  EXPECT_EQ(naive["budgets"]["distinct"].get<std::int64_t>() + naive["lost"].get<std::int64_t>(),
            transactions);
}

// On an external bus: no outage injected, said so; the relay killed all the
// same; each run on a topic of its own.
[[maybe_unused]] void ExpectExternalBus(const nlohmann::json& j) {
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["outage_injected"], false);
  EXPECT_EQ(j["outage_ms"], 0);
  EXPECT_NE(j["outage"].get<std::string>().find("not injected"), std::string::npos);
  EXPECT_NE(j["outbox"]["topic"], j["naive"]["topic"]);
  EXPECT_NE(j["outbox"]["topic"].get<std::string>().find("herald-demo-"), std::string::npos);
}

#ifdef HERALD_DEMO_TEST_DEFAULT

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
    ExpectExternalBus(j);
  }
}

#if defined(HERALD_WITH_HTTP) && defined(HERALD_WITH_METRICS)
// A free TCP port on 127.0.0.1, for the demo's webhook endpoint.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// Webhooks: the consumers run the endpoint the relay POSTs to, so the demo
// closes it for the outage; a webhook is pushed once, so the consumers do
// not read everything again.
TEST(DemoTest, WebhooksToTheConsumersOwnEndpointThroughItsOutage) {
  const int port = FreePort();
  ASSERT_GT(port, 0);
  constexpr long kTransactions = 300;
  nlohmann::json j = RunDemo(kTransactions, {"--publisher",
                                             "http://127.0.0.1:" + std::to_string(port) +
                                                 "/webhooks/{topic}",
                                             "--outage", "1s"});
  ExpectDemoVerdict(j, kTransactions);
  if (!j.is_object()) return;
  EXPECT_EQ(j["outage_injected"], true);
  EXPECT_NE(j["outage"].get<std::string>().find("webhook endpoint"), std::string::npos);
  EXPECT_EQ(j["outbox"]["consumer_restarts"], 0);
  EXPECT_NE(j["bus"].get<std::string>().find("webhook endpoint"), std::string::npos);
}

TEST(DemoTest, AWebhookUrlTheDemoCannotListenOnIsRefused) {
  ExpectUsageError({"--publisher", "http://127.0.0.1/events"}, "HOST:PORT");
  ExpectUsageError({"--publisher", "https://127.0.0.1:8443/events"}, "consumers cannot read");
}
#endif

TEST(DemoTest, ExplicitOutageWithAnExternalBusIsRefused) {
  ExpectUsageError({"--publisher", "kafka://127.0.0.1:1", "--outage", "2s"},
                   "cannot take an external bus down");
}

TEST(DemoTest, BusesTheDemoCannotReadAreRefused) {
  ExpectUsageError({"--publisher", "stdout:"}, "consumers cannot read stdout:");
  ExpectUsageError({"--publisher", "file:/tmp/events.jsonl"}, "consumers cannot read file:");
  ExpectUsageError({"--publisher", "mqtt://localhost:1883"}, "expected kafka://");
}

TEST(DemoTest, MalformedInfrastructureIsRefused) {
  ExpectUsageError({"--publisher", "kafka://"}, "--publisher");
  ExpectUsageError({"--publisher", "localhost:9092"}, "expected kafka://");
#ifdef HERALD_WITH_NATS
  ExpectUsageError({"--publisher", "nats://"}, "--publisher");
  ExpectUsageError({"--publisher", "nats://h:1", "--publisher-option", "no.such=1"}, "no.such");
#endif
#ifdef HERALD_WITH_RABBITMQ
  ExpectUsageError({"--publisher", "amqp://h:notaport/"}, "--publisher");
  ExpectUsageError({"--publisher", "amqp://u:secret@h:1/", "--publisher-option", "no.such=1"},
                   "no.such");
#endif
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

#endif  // HERALD_DEMO_TEST_DEFAULT

#ifdef HERALD_DEMO_TEST_POSTGRES

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

#ifdef HERALD_DEMO_TEST_NATS

// The story on JetStream: a stream per run, made for the run and deleted
// after it.
TEST(DemoNatsTest, OutboxRunLosesNothingAppliesOnceAndKeepsOrder) {
  const std::string url = publish::testing::SharedNatsUrl();
  ASSERT_FALSE(url.empty()) << "HERALD_TEST_NATS_URL is not set (scripts/test.sh sets it)";
  constexpr long kTransactions = 300;
  nlohmann::json j = RunDemo(kTransactions, {"--publisher", url});
  ExpectDemoVerdict(j, kTransactions);
  ExpectExternalBus(j);
  if (!j.is_object()) return;
  publish::testing::JetStreamClient client(url);
  ASSERT_TRUE(client.ok());
  for (const char* mode : {"naive", "outbox"}) {
    EXPECT_EQ(client.MessageCount(j[mode]["topic"].get<std::string>()), -1) << "stream left";
  }
}

#endif  // HERALD_DEMO_TEST_NATS

#ifdef HERALD_DEMO_TEST_RABBITMQ

// The story on RabbitMQ: a fanout exchange per run with a queue per
// consumer, which acknowledges nothing, so that a restarted consumer gets
// every message again; all of it deleted after the run.
TEST(DemoRabbitMqTest, OutboxRunLosesNothingAppliesOnceAndKeepsOrder) {
  const std::string url = publish::testing::SharedRabbitMqUrl();
  ASSERT_FALSE(url.empty()) << "HERALD_TEST_RABBITMQ_URL is not set (scripts/test.sh sets it)";
  constexpr long kTransactions = 300;
  nlohmann::json j = RunDemo(kTransactions, {"--publisher", url});
  ExpectDemoVerdict(j, kTransactions);
  ExpectExternalBus(j);
  if (!j.is_object()) return;
  publish::testing::AmqpClient client(url);
  ASSERT_TRUE(client.ok());
  for (const char* mode : {"naive", "outbox"}) {
    std::string topic = j[mode]["topic"].get<std::string>();
    std::string exchange = topic.substr(0, topic.find('/'));
    // A queue left behind would still hold the run's messages (none was
    // acknowledged); declared anew it is empty.
    for (const char* consumer : {".budgets", ".analytics"}) {
      ASSERT_TRUE(client.DeclareQueue(exchange + consumer));
      EXPECT_EQ(client.MessageCount(exchange + consumer), 0) << "queue left: " << consumer;
      client.DeleteQueue(exchange + consumer);
    }
  }
}

#endif  // HERALD_DEMO_TEST_RABBITMQ


#ifdef HERALD_DEMO_TEST_REDIS

// The story on Redis Streams: a stream per run, read by each consumer with
// XREAD from its first entry; the stream and the publisher's
// de-duplication keys deleted after the run.
TEST(DemoRedisTest, OutboxRunLosesNothingAppliesOnceAndKeepsOrder) {
  const std::string url = publish::testing::SharedRedisUrl();
  ASSERT_FALSE(url.empty()) << "HERALD_TEST_REDIS_URL is not set (scripts/test.sh sets it)";
  constexpr long kTransactions = 300;
  nlohmann::json j = RunDemo(kTransactions, {"--publisher", url});
  ExpectDemoVerdict(j, kTransactions);
  ExpectExternalBus(j);
  if (!j.is_object()) return;
  publish::testing::RedisClient client(url);
  ASSERT_TRUE(client.ok());
  for (const char* mode : {"naive", "outbox"}) {
    const std::string stream = j[mode]["topic"].get<std::string>();
    EXPECT_EQ(client.Run({"EXISTS", stream}), "0") << "stream left: " << stream;
    EXPECT_EQ(client.CountMatching("herald:dedup:" + stream + ":*"), 0u);
  }
}

#endif  // HERALD_DEMO_TEST_REDIS

}  // namespace
}  // namespace herald

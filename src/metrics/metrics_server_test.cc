// MetricsServer against a real relay on SQLite and a scripted bus, read over
// HTTP by a client of the test's own (a plain socket, nothing of civetweb).
#include "herald/metrics.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <regex>
#include <string>
#include <thread>

#include "herald/relay.h"
#include "herald/sqlite.h"
#include "testing/scripted_publisher.h"
#include "testing/sqlite_outbox.h"

namespace herald {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using testing::ScriptedPublisher;
using testing::SqliteOutbox;

struct Response {
  int status = 0;
  std::string body;
};

// GET http://127.0.0.1:port/path, HTTP/1.0.
Response Get(int port, std::string_view path) {
  Response r;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return r;
  }
  std::string request = fmt::format("GET {} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
  EXPECT_EQ(::write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string raw;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) raw.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  std::size_t space = raw.find(' ');
  if (space != std::string::npos) r.status = std::atoi(raw.c_str() + space + 1);
  std::size_t end = raw.find("\r\n\r\n");
  if (end != std::string::npos) r.body = raw.substr(end + 4);
  return r;
}

// The value of the sample `series` (name and labels, as printed) in a
// Prometheus text body; -1 when it is missing.
double Sample(const std::string& body, const std::string& series) {
  std::size_t at = 0;
  while ((at = body.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || body[at - 1] == '\n') return std::stod(body.substr(at + series.size() + 1));
    at += series.size();
  }
  return -1;
}

// Polls until `done` or about ten seconds have passed.
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 200; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return done();
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    outbox_.Open();
    store_ = outbox_.OpenStore();
    stats_store_ = outbox_.OpenStore();
    ASSERT_NE(store_, nullptr);
    ASSERT_NE(stats_store_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    stats_store_.reset();
    outbox_.Close();
  }

  std::vector<Event> Commit(const std::string& topic, int n) {
    std::vector<Event> events;
    outbox_.Exec("BEGIN IMMEDIATE");
    for (int i = 0; i < n; ++i) {
      events.push_back(Event::Make(topic, fmt::format("k{}", i % 3), "T", "{}"));
      EXPECT_TRUE(sqlite::Enqueue(outbox_.app(), events.back()).ok());
    }
    outbox_.Exec("COMMIT");
    return events;
  }

  std::unique_ptr<MetricsServer> Start(MetricsOptions options = {}) {
    if (options.address.empty()) options.address = "127.0.0.1:0";
    options.store_stats_max_age = milliseconds(0);
    auto server = MetricsServer::Start(options);
    EXPECT_TRUE(server.has_value()) << server.error().ToString();
    if (!server) return nullptr;
    EXPECT_GT((*server)->port(), 0);
    return std::move(*server);
  }

  SqliteOutbox outbox_{"herald_metrics_test"};
  std::unique_ptr<Store> store_;
  std::unique_ptr<Store> stats_store_;
};

TEST_F(MetricsServerTest, MalformedOrTakenAddressesAreRefusedWithOneLine) {
  for (const char* bad : {"", "abc", "9464x", "70000", "-1", "1.2.3.4.5:80", "example.com:9464",
                          "[zz]:80", "127.0.0.1:"}) {
    auto server = MetricsServer::Start({.address = bad});
    ASSERT_FALSE(server.has_value()) << bad;
    EXPECT_EQ(server.error().code(), Code::kInvalidArgument) << bad;
    EXPECT_THAT(server.error().message(), HasSubstr("metrics address"));
  }
  std::unique_ptr<MetricsServer> first = Start();
  ASSERT_NE(first, nullptr);
  auto second =
      MetricsServer::Start({.address = fmt::format("{}", first->port())});
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), Code::kUnavailable);
  EXPECT_THAT(second.error().message(), HasSubstr("cannot listen"));
}

TEST_F(MetricsServerTest, LiveAtOnceReadyOnlyWithARelayAndNotFoundElsewhere) {
  std::unique_ptr<MetricsServer> server = Start();
  ASSERT_NE(server, nullptr);
  Response health = Get(server->port(), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  Response ready = Get(server->port(), "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "no relay is running\n");
  EXPECT_EQ(Get(server->port(), "/nothing").status, 404);
  Response metrics = Get(server->port(), "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(Sample(metrics.body, "herald_relay_role"), 0);
  EXPECT_EQ(Sample(metrics.body, "herald_store_up"), 0) << "no store to ask yet";
  EXPECT_EQ(Sample(metrics.body, "herald_outbox_pending_events"), -1);
  server->Watch(nullptr, stats_store_.get());
  metrics = Get(server->port(), "/metrics");
  EXPECT_EQ(Sample(metrics.body, "herald_store_up"), 1);
  EXPECT_EQ(Sample(metrics.body, "herald_outbox_pending_events"), 0);
  EXPECT_EQ(Get(server->port(), "/readyz").body, "no relay is running\n");
}

TEST_F(MetricsServerTest, CountsMatchWhatTheRelayPublishedAndDeadLettered) {
  std::vector<Event> orders = Commit("orders", 30);
  std::vector<Event> refunds = Commit("refunds", 12);
  std::unique_ptr<MetricsServer> server = Start();
  ASSERT_NE(server, nullptr);
  server->Watch(nullptr, stats_store_.get());
  Response before = Get(server->port(), "/metrics");
  EXPECT_EQ(Sample(before.body, "herald_pending_events{topic=\"orders\"}"), 30);
  EXPECT_EQ(Sample(before.body, "herald_pending_events{topic=\"refunds\"}"), 12);
  EXPECT_EQ(Sample(before.body, "herald_outbox_pending_events"), 42);
  EXPECT_GE(Sample(before.body, "herald_outbox_oldest_pending_age_seconds"), 0);

  ScriptedPublisher publisher;
  publisher.Reject(refunds[3].id, "too large");
  RelayOptions options;
  options.exit_when_drained = true;
  options.listener = &server->listener();
  Relay relay(*store_, publisher, options);
  server->Watch(&relay, stats_store_.get());
  ASSERT_TRUE(relay.Run().ok());

  Response after = Get(server->port(), "/metrics");
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(Sample(after.body, "herald_events_published_total{topic=\"orders\"}"), 30);
  EXPECT_EQ(Sample(after.body, "herald_events_published_total{topic=\"refunds\"}"), 11);
  EXPECT_EQ(Sample(after.body, "herald_events_dead_lettered_total{topic=\"refunds\"}"), 1);
  EXPECT_EQ(Sample(after.body, "herald_events_dead_lettered_total{topic=\"orders\"}"), -1);
  EXPECT_EQ(Sample(after.body, "herald_commit_to_confirmed_seconds_count"), 41);
  // A topic the outbox holds nothing of any more has no series.
  EXPECT_EQ(Sample(after.body, "herald_pending_events{topic=\"orders\"}"), -1);
  EXPECT_EQ(Sample(after.body, "herald_pending_events{topic=\"refunds\"}"), 0);
  EXPECT_EQ(Sample(after.body, "herald_dead_letters{topic=\"refunds\"}"), 1);
  EXPECT_EQ(Sample(after.body, "herald_outbox_dead_letters"), 1);
  EXPECT_EQ(Sample(after.body, "herald_outbox_oldest_pending_age_seconds"), 0);
  EXPECT_EQ(Sample(after.body, "herald_in_flight_events"), 0);
  EXPECT_EQ(Sample(after.body, "herald_settlements_total"),
            static_cast<double>(relay.stats().settles));
  EXPECT_GE(Sample(after.body, "herald_claim_duration_seconds_count"), 1);
  EXPECT_EQ(Sample(after.body, "herald_relay_role"), 0) << "Run() has returned";
  EXPECT_THAT(after.body, HasSubstr("# TYPE herald_events_published_total counter"));
  server->Watch(nullptr, nullptr);
}

TEST_F(MetricsServerTest, UnreadyAndAgeingWhileTheBusIsDownReadyAfter) {
  Commit("orders", 5);
  std::unique_ptr<MetricsServer> server = Start({.address = "", .ready_max_oldest_age = std::chrono::hours(1)});
  ASSERT_NE(server, nullptr);
  ScriptedPublisher publisher;
  publisher.DownUntil(Clock::Real(), Clock::Real().Now() + std::chrono::seconds(3));
  RelayOptions options;
  options.listener = &server->listener();
  options.backoff_initial = milliseconds(50);
  options.backoff_max = milliseconds(200);
  options.poll_interval = milliseconds(50);
  Relay relay(*store_, publisher, options);
  server->Watch(&relay, stats_store_.get());
  std::thread run([&] { EXPECT_TRUE(relay.Run().ok()); });

  EXPECT_TRUE(Eventually([&] { return Get(server->port(), "/readyz").body ==
                                      "the bus is unavailable\n"; }));
  Response down = Get(server->port(), "/metrics");
  EXPECT_EQ(Sample(down.body, "herald_bus_up"), 0);
  EXPECT_EQ(Sample(down.body, "herald_bus_outages_total"), 1);
  const double age1 = Sample(down.body, "herald_outbox_oldest_pending_age_seconds");
  std::this_thread::sleep_for(milliseconds(1100));
  const double age2 =
      Sample(Get(server->port(), "/metrics").body, "herald_outbox_oldest_pending_age_seconds");
  EXPECT_GT(age2, age1) << "the oldest pending event ages while the bus is down";

  EXPECT_TRUE(Eventually([&] { return Get(server->port(), "/readyz").status == 200; }));
  EXPECT_TRUE(Eventually([&] {
    return Sample(Get(server->port(), "/metrics").body, "herald_outbox_pending_events") == 0;
  }));
  Response up = Get(server->port(), "/metrics");
  EXPECT_EQ(Sample(up.body, "herald_bus_up"), 1);
  EXPECT_EQ(Sample(up.body, "herald_relay_role"), 1);
  EXPECT_EQ(Sample(up.body, "herald_outbox_oldest_pending_age_seconds"), 0);
  EXPECT_EQ(Sample(up.body, "herald_events_published_total{topic=\"orders\"}"), 5);
  relay.Stop();
  run.join();
  server->Watch(nullptr, nullptr);
}

TEST_F(MetricsServerTest, ABacklogOlderThanTheLimitIsUnready) {
  Event old = Event::Make("orders", "k", "T", "{}");
  old.created_at = std::chrono::system_clock::now() - std::chrono::minutes(10);
  outbox_.Exec("BEGIN IMMEDIATE");
  ASSERT_TRUE(sqlite::Enqueue(outbox_.app(), old).ok());
  outbox_.Exec("COMMIT");
  std::unique_ptr<MetricsServer> server = Start({.address = "", .ready_max_oldest_age = std::chrono::seconds(60)});
  ASSERT_NE(server, nullptr);
  // The bus answers, but fails the event again and again: it stays pending.
  ScriptedPublisher publisher;
  publisher.Fail([](const Event&) { return true; }, "timed out");
  RelayOptions options;
  options.max_attempts = 0;
  options.listener = &server->listener();
  Relay relay(*store_, publisher, options);
  server->Watch(&relay, stats_store_.get());
  std::thread run([&] { EXPECT_TRUE(relay.Run().ok()); });
  EXPECT_TRUE(Eventually([&] {
    return Get(server->port(), "/readyz").body.starts_with("the oldest pending event is 6");
  })) << Get(server->port(), "/readyz").body;
  Response ready = Get(server->port(), "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_THAT(ready.body, HasSubstr("(limit 60 s)"));
  EXPECT_TRUE(Eventually([&] {
    return Sample(Get(server->port(), "/metrics").body,
                  "herald_events_retried_total{topic=\"orders\"}") >= 1;
  }));
  relay.Stop();
  run.join();
  server->Watch(nullptr, nullptr);
}

}  // namespace
}  // namespace herald

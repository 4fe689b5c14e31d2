// The `herald` program end to end: each test runs the built binary against
// databases in a fresh temporary directory and checks its exit code, its
// output and what it did to the database.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "herald/clock.h"
#include "herald/event.h"
#include "herald/publisher.h"
#include "herald/sqlite.h"
#include "herald/store.h"
#include "support/process.h"

namespace herald {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using test::ProcessResult;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Every variable the program reads, cleared so the caller's environment
// cannot leak into a test.
const std::vector<std::string> kHeraldVariables = {
    "HERALD_CONFIG",          "HERALD_DB",
    "HERALD_PUBLISHER",       "HERALD_PUBLISHER_OPTIONS",
    "HERALD_BATCH_SIZE",      "HERALD_MAX_ATTEMPTS",
    "HERALD_BACKOFF_INITIAL", "HERALD_BACKOFF_MAX",
    "HERALD_POLL_INTERVAL",   "HERALD_LOG_LEVEL",
    "HERALD_STANDBY",         "HERALD_EXIT_WHEN_DRAINED",
    "HERALD_FAIL_FAST",       "HERALD_MAX_IN_FLIGHT_EVENTS",
    "HERALD_MAX_IN_FLIGHT_BYTES", "HERALD_METRICS_ADDRESS",
    "HERALD_READY_MAX_AGE",   "HERALD_SHUTDOWN_TIMEOUT",
    "HERALD_PROGRESS_INTERVAL", "HERALD_LOG_FORMAT"};

using Env = std::map<std::string, std::string>;

class CliTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::string DbUrl(const std::string& name = "app.db") const { return "sqlite:" + Path(name); }

  ProcessResult Herald(std::vector<std::string> args, const Env& extra = {}) const {
    Env env;
    for (const std::string& name : kHeraldVariables) env[name] = "";
    for (const auto& [k, v] : extra) env[k] = v;
    args.insert(args.begin(), HERALD_BINARY);
    return test::RunProgram(std::move(args), dir_.path(), env, std::chrono::seconds(60));
  }

  void Migrate(const std::string& name = "app.db") const {
    ProcessResult r = Herald({"migrate", "--db", DbUrl(name)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::unique_ptr<Store> OpenTestStore(const std::string& name = "app.db") const {
    auto store = OpenStore(DbUrl(name));
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    return store.has_value() ? std::move(*store) : nullptr;
  }

  std::vector<PendingEvent> Pending(const std::string& name = "app.db") const {
    auto store = OpenTestStore(name);
    auto claim = store->ClaimDue(Clock::Real().Now() + std::chrono::hours(1), 10000, {});
    EXPECT_TRUE(claim.has_value()) << claim.error().ToString();
    return claim.has_value() ? claim->events : std::vector<PendingEvent>{};
  }

  // Moves every pending event of the database to the dead-letter table.
  void KillAllPending(const std::string& error, const std::string& name = "app.db") const {
    auto store = OpenTestStore(name);
    auto claim = store->ClaimDue(Clock::Real().Now() + std::chrono::hours(1), 10000, {});
    ASSERT_TRUE(claim.has_value());
    Settlement settlement;
    for (const PendingEvent& p : claim->events) settlement.dead.push_back({p.seq, error});
    ASSERT_TRUE(store->Settle(settlement, Clock::Real().Now()).ok());
  }

  std::string WriteFile(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
    return Path(name);
  }

  static void ExpectUsageError(const ProcessResult& r, std::string_view what = "") {
    EXPECT_EQ(r.exit_code, 2) << "stderr: " << r.err;
    EXPECT_THAT(r.err, StartsWith("herald: error: "));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    if (!what.empty()) {
      EXPECT_THAT(r.err, HasSubstr(std::string(what)));
    }
  }

  test::TempDir dir_;
};

TEST_F(CliTest, MigrateTwiceIsHarmless) {
  for (int i = 0; i < 2; ++i) {
    ProcessResult r = Herald({"migrate", "--db", DbUrl()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out,
              fmt::format("schema is at version {} in {}\n", sqlite::kSchemaVersion, DbUrl()));
    EXPECT_EQ(r.err, "");
  }
  auto store = OpenTestStore();
  EXPECT_TRUE(store->CheckSchema().ok());
}

TEST_F(CliTest, HelpAndVersionExitZero) {
  ProcessResult version = Herald({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, HasSubstr("herald 0."));
  // Every database and bus of the build, with its library.
  EXPECT_THAT(version.out, HasSubstr("sqlite (SQLite 3."));
  for (const PublisherScheme& scheme : PublisherSchemes()) {
    EXPECT_THAT(version.out, HasSubstr(std::string(scheme.name))) << scheme.name;
    if (!scheme.library.empty()) {
      EXPECT_THAT(version.out, HasSubstr(scheme.library));
      // Named once, after the last scheme it serves.
      const std::string named = "(" + scheme.library + ")";
      EXPECT_EQ(version.out.find(named), version.out.rfind(named)) << scheme.library;
    }
  }
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                        {"relay", "--help"},
                                        {"dlq", "--help"},
                                        {"dlq", "retry", "--help"},
                                        {"enqueue", "--help"},
                                        {"status", "--help"},
                                        {"migrate", "--help"}}) {
    ProcessResult r = Herald(args);
    EXPECT_EQ(r.exit_code, 0) << args.front();
    EXPECT_THAT(r.out, HasSubstr("Usage")) << args.front();
  }
  EXPECT_THAT(Herald({"relay", "--help"}).out, HasSubstr("--poll-interval"));
  EXPECT_THAT(Herald({"dlq", "retry", "--help"}).out, HasSubstr("--topic"));
}

struct BadCase {
  std::vector<std::string> args;  // "{db}" and "{dir}" are replaced
  Env env;
  std::string message;  // part of the one error line
};

// Bad input of every kind: exit code 2, one line on stderr, and the database
// byte-for-byte as it was (or, when it did not exist, still not there).
TEST_F(CliTest, BadInputExitsTwoWithOneLineAndTouchesNothing) {
  Migrate();
  ASSERT_EQ(Herald({"enqueue", "--db", DbUrl(), "--topic", "t", "--payload", "{}"}).exit_code, 0);
  std::string before = test::ReadFile(Path("app.db"));
  ASSERT_FALSE(before.empty());
  {
    auto store = OpenStore(DbUrl("empty.db"), StoreOptions{.create_if_missing = true});
    ASSERT_TRUE(store.has_value());  // a database without Herald's schema
  }
  std::string empty_before = test::ReadFile(Path("empty.db"));
  std::string bad_key_toml = WriteFile("bad.toml", "db = \"x\"\nbach_size = 3\n");
  fs::create_directory(Path("dir.db"));

  const std::vector<BadCase> cases = {
      {{}, {}, "missing command"},
      {{"frobnicate"}, {}, "frobnicate"},
      {{"status", "--db", "{db}", "--bogus"}, {}, "--bogus"},
      {{"status", "--db", "app.db"}, {}, "'app.db'"},
      {{"status", "--db", "postgress://x/y"}, {}, "postgress"},
      {{"status", "--db", "sqlite:{dir}/missing.db"}, {}, "missing.db"},
      {{"relay", "--db", "sqlite:{dir}/missing.db", "--publisher", "stdout:"}, {}, "missing.db"},
      {{"enqueue", "--db", "sqlite:{dir}/missing.db", "--topic", "t"}, {}, "missing.db"},
      {{"dlq", "list", "--db", "sqlite:{dir}/missing.db"}, {}, "missing.db"},
      {{"status", "--db", "sqlite:{dir}/empty.db"}, {}, "herald migrate"},
      {{"relay", "--db", "sqlite:{dir}/empty.db", "--publisher", "stdout:"}, {}, "herald migrate"},
      {{"enqueue", "--db", "sqlite:{dir}/empty.db", "--topic", "t"}, {}, "herald migrate"},
      {{"relay", "--db", "{db}", "--publisher", "kafak://x"},
       {},
       "unknown publisher scheme 'kafak'"},
      {{"relay", "--db", "{db}", "--publisher", "file:"}, {}, "empty path"},
      {{"relay", "--db", "{db}", "--publisher", "file:{dir}/no/such/dir.jsonl"},
       {},
       "No such file"},
      {{"relay", "--db", "{db}"}, {}, "--publisher"},
      {{"relay", "--db", "{db}", "--publisher", "stdout:", "--batch-size", "abc"},
       {},
       "--batch-size"},
      {{"relay", "--db", "{db}", "--publisher", "stdout:", "--poll-interval", "5x"}, {}, "5x"},
      {{"relay", "--db", "{db}", "--publisher", "stdout:", "--metrics-address", "host:x"},
       {},
       "metrics address 'host:x'"},
      {{"relay", "--db", "{db}", "--publisher", "stdout:", "--ready-max-age", "soon"}, {}, "soon"},
      {{"relay", "--db", "{db}", "--publisher", "stdout:"},
       {{"HERALD_MAX_ATTEMPTS", "-1"}},
       "HERALD_MAX_ATTEMPTS"},
      {{"relay", "--db", "{db}", "--publisher", "stdout:", "--publisher-option", "x"}, {}, "'x'"},
      {{"relay", "--db", "{db}", "--publisher", "stdout:", "--poll-interval", "2562048h"},
       {},
       "from 1ms to 1h"},
      {{"relay", "--db", "{db}", "--publisher", "stdout:", "--backoff-max", "25h"},
       {},
       "from 1ms to 24h"},
      {{"relay", "--db", "{db}", "--publisher", "stdout:", "--exit-when-drained=maybe"},
       {},
       "not a boolean"},
      {{"status"}, {}, "--db"},
      {{"status", "--db", "{db}", "--log-level", "verbose"}, {}, "verbose"},
      {{"status", "--db", "{db}", "--config", "{dir}/nope.toml"}, {}, "nope.toml"},
      {{"status", "--db", "{db}"}, {{"HERALD_CONFIG", bad_key_toml}}, "bach_size"},
      {{"dlq", "retry", "--db", "{db}"}, {}, "--all"},
      {{"dlq", "purge", "--db", "{db}", "--all", "--topic", "t"}, {}, "only one"},
      {{"dlq", "retry", "--db", "{db}", "--id", "not-a-uuid"}, {}, "not-a-uuid"},
      {{"dlq", "list", "--db", "{db}", "--limit", "0"}, {}, "--limit"},
      {{"dlq"}, {}, "list, retry or purge"},
      {{"enqueue", "--db", "{db}"}, {}, "--topic"},
      {{"enqueue", "--db", "{db}", "--topic", "t", "--payload", "{bad"}, {}, "not valid JSON"},
      {{"enqueue", "--db", "{db}", "--topic", "t", "--header", "novalue"}, {}, "novalue"},
      {{"enqueue", "--db", "{db}", "--topic", "", "--payload", "{}"}, {}, "topic"},
      {{"enqueue", "--db", "{db}", "--jsonl", "{dir}/none.jsonl"}, {}, "none.jsonl"},
      {{"enqueue", "--db", "{db}", "--jsonl", "x.jsonl", "--topic", "t"}, {}, "--topic"},
      {{"status", "--db", "sqlite:{dir}/dir.db"}, {}, "is a directory"},
      {{"status", "--db", "postgres://u@127.0.0.1:99999/db"}, {}, "port '99999'"},
      {{"status", "--db", "postgres://u@h/db?schema=a&schema=b"}, {}, "given twice"},
      {{"frob"}, {}, "unknown command 'frob'"},
      {{"dlq", "frob"}, {}, "unknown dlq command 'frob' (list, retry, purge)"},
      {{"dlq", "list", "--db", "{db}", "extra"}, {}, "unexpected argument 'extra'"},
      {{"enqueue", "--db", "{db}", "--topic", "t", "--header", "a=\xff"}, {}, "UTF-8"},
      {{"enqueue", "--db", "{db}", "--topic", "\xff", "--payload", "{}"}, {}, "UTF-8"},
      {{"enqueue", "--db", "{db}", "--topic", "t", "--content-type", ""}, {}, "content type"},
      {{"migrate", "--db", "sqlite:"}, {}, "sqlite:"},
      {{"migrate", "--db", "nosuch:{dir}/x.db"}, {}, "nosuch"},
  };
  for (const BadCase& c : cases) {
    std::vector<std::string> args;
    for (std::string a : c.args) {
      if (a == "{db}") a = DbUrl();
      if (auto at = a.find("{dir}"); at != std::string::npos)
        a.replace(at, 5, dir_.path().string());
      args.push_back(a);
    }
    SCOPED_TRACE(fmt::format("herald {}", fmt::join(args, " ")));
    ExpectUsageError(Herald(args, c.env), c.message);
    EXPECT_EQ(test::ReadFile(Path("app.db")), before);
    EXPECT_EQ(test::ReadFile(Path("empty.db")), empty_before);
    EXPECT_FALSE(fs::exists(Path("missing.db")));
    EXPECT_FALSE(fs::exists(Path("x.db")));
  }
  EXPECT_EQ(Pending().size(), 1u);
}

TEST_F(CliTest, EnqueueFromFlagsPrintsTheIdAndStoresEveryField) {
  Migrate();
  ProcessResult r = Herald({"enqueue", "--db", DbUrl(), "--topic", "transactions", "--key",
                            "acct-1", "--type", "TransactionCreated", "--payload",
                            R"({"amount": 5})", "--header", "tenant=t1", "--header", "trace=a=b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.out.size(), 37u) << r.out;
  std::optional<EventId> id = EventId::Parse(r.out.substr(0, 36));
  ASSERT_TRUE(id.has_value()) << r.out;

  std::vector<PendingEvent> pending = Pending();
  ASSERT_EQ(pending.size(), 1u);
  const Event& e = pending[0].event;
  EXPECT_EQ(e.id, *id);
  EXPECT_EQ(e.topic, "transactions");
  EXPECT_EQ(e.key, "acct-1");
  EXPECT_EQ(e.type, "TransactionCreated");
  EXPECT_EQ(e.payload, R"({"amount": 5})");
  EXPECT_EQ(e.content_type, "application/json");
  EXPECT_EQ(e.headers, (Headers{{"tenant", "t1"}, {"trace", "a=b"}}));
}

TEST_F(CliTest, EnqueueFromJsonLinesInOneTransaction) {
  Migrate();
  std::string file = WriteFile(
      "events.jsonl",
      R"({"topic":"a","key":"k1","type":"T","payload":{"n":1}})"
      "\n"
      R"({"topic":"a","key":"k1","type":"T","payload":"plain text"})"
      "\n"
      "\n"
      R"({"topic":"b","key":"","type":"U","payload":[1,2],"content_type":"application/cloudevents+json","headers":{"h":"v"}})"
      "\n"
      R"({"topic":"b","type":"U","payload":"<x/>","content_type":"application/xml"})"
      "\n");
  ProcessResult r = Herald({"enqueue", "--db", DbUrl(), "--jsonl", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "enqueued 4 events\n");

  std::vector<PendingEvent> pending = Pending();
  ASSERT_EQ(pending.size(), 4u);
  EXPECT_EQ(pending[0].event.payload, R"({"n":1})");
  EXPECT_EQ(pending[0].event.content_type, "application/json");
  EXPECT_EQ(pending[1].event.payload, "plain text");
  EXPECT_EQ(pending[1].event.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(pending[2].event.payload, "[1,2]");
  EXPECT_EQ(pending[2].event.content_type, "application/cloudevents+json");
  EXPECT_EQ(pending[2].event.headers, (Headers{{"h", "v"}}));
  EXPECT_EQ(pending[3].event.key, "");
  EXPECT_EQ(pending[3].event.content_type, "application/xml");
}

// What the file sink and `dlq list --jsonl` print is enqueued again as it
// was: the same ids, times, payload bytes (binary ones too), content types
// and headers.
TEST_F(CliTest, EnqueueTakesBackWhatTheSinkAndTheDeadLetterListPrint) {
  Migrate();
  std::string file = WriteFile(
      "events.jsonl",
      R"({"topic":"a","key":"k1","type":"T","payload":{"n":1},"headers":{"h":"v"}})"
      "\n"
      R"({"topic":"a","key":"k2","type":"T","payload":"plain text"})"
      "\n"
      R"({"topic":"b","type":"B","payload":"AAEC/w==","payload_encoding":"base64"})"
      "\n");
  ASSERT_EQ(Herald({"enqueue", "--db", DbUrl(), "--jsonl", file}).exit_code, 0);
  std::vector<PendingEvent> original = Pending();
  ASSERT_EQ(original.size(), 3u);
  EXPECT_EQ(original[2].event.payload, std::string("\x00\x01\x02\xff", 4));
  EXPECT_EQ(original[2].event.content_type, "application/octet-stream");

  // Through the sink into a second database.
  ProcessResult relayed = Herald({"relay", "--db", DbUrl(), "--publisher",
                                  "file:" + Path("out.jsonl"), "--exit-when-drained"});
  ASSERT_EQ(relayed.exit_code, 0) << relayed.err;
  Migrate("copy.db");
  ProcessResult again = Herald({"enqueue", "--db", DbUrl("copy.db"), "--jsonl", Path("out.jsonl")});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  std::vector<PendingEvent> copy = Pending("copy.db");
  ASSERT_EQ(copy.size(), original.size());
  for (std::size_t i = 0; i < copy.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(copy[i].event.id, original[i].event.id);
    EXPECT_EQ(copy[i].event.created_at, original[i].event.created_at);
    EXPECT_EQ(copy[i].event.topic, original[i].event.topic);
    EXPECT_EQ(copy[i].event.key, original[i].event.key);
    EXPECT_EQ(copy[i].event.type, original[i].event.type);
    EXPECT_EQ(copy[i].event.payload, original[i].event.payload);
    EXPECT_EQ(copy[i].event.content_type, original[i].event.content_type);
    EXPECT_EQ(copy[i].event.headers, original[i].event.headers);
  }
  // A second time, the ids are already there: refused, nothing added.
  ProcessResult twice = Herald({"enqueue", "--db", DbUrl("copy.db"), "--jsonl", Path("out.jsonl")});
  EXPECT_NE(twice.exit_code, 0);
  EXPECT_EQ(Pending("copy.db").size(), original.size());

  // The dead letters of the copy, listed as JSON, go back in as well.
  KillAllPending("boom", "copy.db");
  ProcessResult listed = Herald({"dlq", "list", "--db", DbUrl("copy.db"), "--jsonl"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::string dead = WriteFile("dead.jsonl", listed.out);
  Migrate("third.db");
  ProcessResult back = Herald({"enqueue", "--db", DbUrl("third.db"), "--jsonl", dead});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  std::vector<PendingEvent> third = Pending("third.db");
  ASSERT_EQ(third.size(), original.size());
  for (std::size_t i = 0; i < third.size(); ++i) {
    EXPECT_EQ(third[i].event.id, original[i].event.id);
    EXPECT_EQ(third[i].event.payload, original[i].event.payload);
  }
}

TEST_F(CliTest, EnqueueRefusesABadIdTimeOrEncoding) {
  Migrate();
  for (const auto& [bad, message] : std::vector<std::pair<std::string, std::string>>{
           {R"({"topic":"t","payload":"x","event_id":"nope"})", "\"event_id\" is not a UUID"},
           {R"({"topic":"t","payload":"x","created_at":"yesterday"})", "\"created_at\" is not"},
           {R"({"topic":"t","payload":"x!","payload_encoding":"base64"})", "\"payload\" is not valid base64"},
           {R"({"topic":"t","payload":"x","payload_encoding":"hex"})", "\"payload_encoding\" must be \"base64\""},
       }) {
    SCOPED_TRACE(bad);
    std::string file = WriteFile("bad.jsonl", bad + "\n");
    ExpectUsageError(Herald({"enqueue", "--db", DbUrl(), "--jsonl", file}), file + ":1: " + message);
  }
  EXPECT_TRUE(Pending().empty());
}

TEST_F(CliTest, EnqueueWithOneBadLineEnqueuesNothing) {
  Migrate();
  std::string before = test::ReadFile(Path("app.db"));
  for (const auto& [bad, message] : std::vector<std::pair<std::string, std::string>>{
           {R"({"key":"k","payload":{}})", "\"topic\" is missing"},
           {R"({"topic":"t","payload":{},"colour":"red"})", "unknown field \"colour\""},
           {R"({"topic":"t","payload":{}, )", "not valid JSON"},
           {R"({"topic":"t","payload":{},"headers":{"a":1}})", "header \"a\""},
           {R"({"topic":5,"payload":{}})", "\"topic\" must be a string"},
       }) {
    std::string file = WriteFile("events.jsonl", R"({"topic":"t","payload":{}})"
                                                 "\n"
                                                 R"({"topic":"t","payload":"x"})"
                                                 "\n" +
                                                     bad +
                                                     "\n"
                                                     R"({"topic":"t","payload":{}})"
                                                     "\n");
    ProcessResult r = Herald({"enqueue", "--db", DbUrl(), "--jsonl", file});
    SCOPED_TRACE(bad);
    ExpectUsageError(r, file + ":3: " + message);
    EXPECT_EQ(test::ReadFile(Path("app.db")), before);
  }
  EXPECT_TRUE(Pending().empty());
}

TEST_F(CliTest, StatusJsonCountsPendingAndDeadPerTopic) {
  Migrate();
  std::string dead_file = WriteFile("dead.jsonl", R"({"topic":"b","payload":{}})"
                                                  "\n");
  ASSERT_EQ(Herald({"enqueue", "--db", DbUrl(), "--jsonl", dead_file}).exit_code, 0);
  KillAllPending("boom");
  std::string file = WriteFile("events.jsonl", R"({"topic":"a","payload":{}})"
                                               "\n"
                                               R"({"topic":"a","payload":{}})"
                                               "\n"
                                               R"({"topic":"c","payload":{}})"
                                               "\n");
  ASSERT_EQ(Herald({"enqueue", "--db", DbUrl(), "--jsonl", file}).exit_code, 0);

  ProcessResult r = Herald({"status", "--db", DbUrl(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  Json status = Json::parse(r.out);
  EXPECT_EQ(status["pending"], 3);
  EXPECT_EQ(status["dead_letters"], 1);
  ASSERT_TRUE(status["oldest_pending_age_seconds"].is_number());
  EXPECT_GE(status["oldest_pending_age_seconds"].get<double>(), 0.0);
  ASSERT_EQ(status["topics"].size(), 3u);
  EXPECT_EQ(status["topics"][0]["topic"], "a");
  EXPECT_EQ(status["topics"][0]["pending"], 2);
  EXPECT_EQ(status["topics"][0]["dead_letters"], 0);
  EXPECT_TRUE(status["topics"][0]["oldest_pending_age_seconds"].is_number());
  EXPECT_EQ(status["topics"][1]["topic"], "b");
  EXPECT_EQ(status["topics"][1]["pending"], 0);
  EXPECT_EQ(status["topics"][1]["dead_letters"], 1);
  EXPECT_TRUE(status["topics"][1]["oldest_pending_age_seconds"].is_null());
  EXPECT_EQ(status["topics"][2]["topic"], "c");
  EXPECT_EQ(status["topics"][2]["pending"], 1);

  ProcessResult text = Herald({"status", "--db", DbUrl()});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_THAT(text.out, HasSubstr("pending: 3"));
  EXPECT_THAT(text.out, HasSubstr("dead letters: 1"));
}

TEST_F(CliTest, StatusCheckExitsOneOnlyPastALimitAfterPrinting) {
  Migrate();
  EXPECT_EQ(Herald({"status", "--db", DbUrl(), "--max-age", "0ms", "--max-dead-letters", "0"})
                .exit_code,
            0)
      << "an empty outbox is past no limit";
  std::string dead_file = WriteFile("dead.jsonl", R"({"topic":"b","payload":{}})"
                                                  "\n");
  ASSERT_EQ(Herald({"enqueue", "--db", DbUrl(), "--jsonl", dead_file}).exit_code, 0);
  KillAllPending("boom");
  ASSERT_EQ(Herald({"enqueue", "--db", DbUrl(), "--topic", "a", "--payload", "{}"}).exit_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));

  ProcessResult ok = Herald({"status", "--db", DbUrl(), "--max-age", "1h",
                             "--max-dead-letters", "1"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  ProcessResult old = Herald({"status", "--db", DbUrl(), "--json", "--max-age", "10ms"});
  EXPECT_EQ(old.exit_code, 1);
  EXPECT_EQ(Json::parse(old.out)["pending"], 1) << "printed before the verdict";
  EXPECT_THAT(old.err, HasSubstr("check failed: the oldest pending event is"));
  EXPECT_EQ(std::count(old.err.begin(), old.err.end(), '\n'), 1) << old.err;
  ProcessResult dead = Herald({"status", "--db", DbUrl(), "--max-dead-letters", "0"});
  EXPECT_EQ(dead.exit_code, 1);
  EXPECT_THAT(dead.out, HasSubstr("dead letters: 1"));
  EXPECT_THAT(dead.err, HasSubstr("check failed: 1 dead letters (--max-dead-letters 0)"));
  EXPECT_EQ(Herald({"status", "--db", DbUrl(), "--max-age", "soon"}).exit_code, 2);
  EXPECT_EQ(Herald({"status", "--db", DbUrl(), "--max-dead-letters", "-1"}).exit_code, 2);
}

TEST_F(CliTest, StatusOfEmptyOutboxHasNullAge) {
  Migrate();
  ProcessResult r = Herald({"status", "--db", DbUrl(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(
      r.out,
      "{\"pending\":0,\"oldest_pending_age_seconds\":null,\"dead_letters\":0,\"topics\":[],"
      "\"relays\":[]}\n");
}

// The line the file sink must write for `e`, built here independently.
std::string ExpectedSinkLine(const Event& e) {
  Json line = Json::object();
  line["event_id"] = e.id.ToString();
  line["topic"] = e.topic;
  line["key"] = e.key;
  line["type"] = e.type;
  if (IsJsonContentType(e.content_type)) {
    line["payload"] = Json::parse(e.payload);
  } else {
    line["payload"] = e.payload;
  }
  line["content_type"] = e.content_type;
  line["headers"] = Json::object();
  for (const auto& [k, v] : e.headers) line["headers"][k] = v;
  line["created_at"] = FormatRfc3339(e.created_at);
  return line.dump();
}

TEST_F(CliTest, RelayDrainsToFileSinkExactly) {
  Migrate();
  std::string jsonl;
  for (int i = 0; i < 25; ++i) {
    jsonl +=
        fmt::format(
            R"({{"topic":"t{}","key":"k{}","type":"T","payload":{{"n":{}}},"headers":{{"i":"{}"}}}})",
            i % 3, i % 4, i, i) +
        "\n";
  }
  jsonl += R"({"topic":"t0","key":"k0","type":"Note","payload":"not json"})"
           "\n";
  ASSERT_EQ(Herald({"enqueue", "--db", DbUrl(), "--jsonl", WriteFile("e.jsonl", jsonl)}).exit_code,
            0);
  std::vector<PendingEvent> pending = Pending();
  ASSERT_EQ(pending.size(), 26u);

  ProcessResult r = Herald({"relay", "--db", DbUrl(), "--publisher", "file:" + Path("out.jsonl"),
                            "--exit-when-drained", "--batch-size", "7", "--poll-interval", "50ms"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("published=26"));

  std::vector<std::string> lines = test::ReadLines(Path("out.jsonl"));
  std::vector<std::string> expected;
  for (const PendingEvent& p : pending) expected.push_back(ExpectedSinkLine(p.event));
  // One publisher, one relay: seq order is kept across batches.
  EXPECT_EQ(lines, expected);
  EXPECT_TRUE(Pending().empty());
}

// Runs `sql` on the SQLite database `name` of the test's directory, as an
// application's own connection would.
void ExecSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

// Nesting far deeper than any stack: a 300,000-deep JSON payload (600 KB,
// under the size limit) written by plain SQL made the relay and dlq list
// crash; deep JSON lines and TOML keys crashed enqueue and --config.
TEST_F(CliTest, InputNestedDeeperThanAnyStackNeverCrashes) {
  Migrate();
  constexpr int kDepth = 300000;
  const std::string deep = std::string(kDepth, '[') + std::string(kDepth, ']');
  // Headers as deep as the schema's check (SQLite's json_valid) lets through.
  const std::string deep_value = std::string(900, '[') + std::string(900, ']');
  const std::string deep_headers = "{\"h\":" + deep_value + "}";
  ExecSql(Path("app.db"),
          "INSERT INTO herald_outbox (event_id, topic, key, type, payload, headers) VALUES "
          "('0190b7a4-5e1c-7d2a-8f00-3b1c2d3e4f50', 't', 'k', 'Deep', '" +
              deep + "', '" + deep_headers + "')");
  ProcessResult relay = Herald({"relay", "--db", DbUrl(), "--publisher",
                                "file:" + Path("out.jsonl"), "--exit-when-drained"});
  ASSERT_EQ(relay.exit_code, 0) << relay.err;
  std::vector<std::string> lines = test::ReadLines(Path("out.jsonl"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"payload\":" + deep + ","), std::string::npos);
  EXPECT_NE(lines[0].find("\"headers\":{\"h\":" + Json(deep_value).dump() + "}"), std::string::npos);

  ExecSql(Path("app.db"),
          "INSERT INTO herald_outbox (event_id, topic, key, type, payload) VALUES "
          "('0190b7a4-5e1c-7d2a-8f00-3b1c2d3e4f51', 't', 'k', 'Deep', '" +
              deep + "')");
  KillAllPending("rejected");
  ProcessResult list = Herald({"dlq", "list", "--db", DbUrl(), "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("\"payload\":" + deep + ","), std::string::npos);

  const std::string before = test::ReadFile(Path("app.db"));
  std::string jsonl_deep = WriteFile(
      "deep.jsonl", "{\"topic\":\"t\",\"payload\":" + std::string(80000, '[') +
                        std::string(80000, ']') + "}\n");
  ExpectUsageError(Herald({"enqueue", "--db", DbUrl(), "--jsonl", jsonl_deep}),
                   "nested deeper than 64 levels");
  ExpectUsageError(Herald({"enqueue", "--db", DbUrl(), "--topic", "t", "--payload",
                           std::string(65, '[') + std::string(65, ']')}),
                   "nested deeper than 64 levels");
  std::string toml_deep = Path("deep.toml");
  {
    std::ofstream toml(toml_deep);
    toml << "[a";
    for (int i = 0; i < 50000; ++i) toml << ".a";
    toml << "]\n";
  }
  ExpectUsageError(Herald({"status", "--db", DbUrl(), "--config", toml_deep}),
                   "more than 64 dotted parts");
  EXPECT_EQ(test::ReadFile(Path("app.db")), before);
}

// No output of any command carries a password, whether the URL holding it
// came from a flag, the environment or the config file, and whether the
// command succeeded or failed.
TEST_F(CliTest, NoCommandPrintsAPassword) {
  Migrate();
  const std::string secret = "Sup3rS3cretPw";
  const std::string pg = "postgres://app:" + secret + "@127.0.0.1:1/orders?connect_timeout=1";
  const std::string keywords = "host=127.0.0.1 port=1 user=app password=" + secret;
  const std::string kafka = "kafka://app:" + secret + "@127.0.0.1:1";
  const std::string option = "sasl.password=" + secret;
  const std::string toml_db = WriteFile("db.toml", "db = \"" + pg + "\"\n");
  const std::string toml_options = WriteFile(
      "opts.toml", "[publisher_options]\n\"sasl.password\" = \"" + secret + "\"\n");

  // Each command with the database named three ways.
  const std::vector<std::vector<std::string>> commands = {
      {"migrate"},
      {"status"},
      {"status", "--json"},
      {"enqueue", "--topic", "t", "--payload", "{}"},
      // (a relay waiting for the database is checked below, stopped by a signal)
      {"relay", "--publisher", "stdout:", "--exit-when-drained", "--fail-fast"},
      {"dlq", "list"},
      {"dlq", "list", "--json"},
      {"dlq", "retry", "--all"},
      {"dlq", "purge", "--all"},
  };
  std::vector<std::pair<std::vector<std::string>, Env>> runs;
  for (const std::vector<std::string>& command : commands) {
    for (const std::string& db : {pg, keywords}) {
      std::vector<std::string> args = command;
      args.insert(args.end(), {"--db", db, "--log-level", "trace"});
      runs.emplace_back(args, Env{});
      runs.emplace_back(command, Env{{"HERALD_DB", db}, {"HERALD_LOG_LEVEL", "trace"}});
    }
    std::vector<std::string> args = command;
    args.insert(args.end(), {"--config", toml_db, "--log-level", "trace"});
    runs.emplace_back(args, Env{});
  }
  // Secrets of the publisher, with a database that works.
  for (const auto& extra : std::vector<std::vector<std::string>>{
           {"--publisher", kafka},
           {"--publisher", kafka, "--publisher-option", option},
           {"--publisher", kafka, "--config", toml_options},
           {"--publisher", "stdout:", "--publisher-option", option},
           {"--publisher", "kafka://127.0.0.1:1", "--publisher-option", option},
       }) {
    std::vector<std::string> args = {"relay", "--db", DbUrl(), "--exit-when-drained",
                                     "--log-level", "trace"};
    args.insert(args.end(), extra.begin(), extra.end());
    runs.emplace_back(args, Env{});
  }
  runs.push_back({{"relay", "--db", DbUrl(), "--exit-when-drained"},
                  Env{{"HERALD_PUBLISHER", kafka}, {"HERALD_PUBLISHER_OPTIONS", option}}});

  for (const auto& [args, env] : runs) {
    SCOPED_TRACE(fmt::format("herald {} (env: {})", fmt::join(args, " "), fmt::join(env, ", ")));
    ProcessResult r = Herald(args, env);
    EXPECT_EQ(r.out.find(secret), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
  }

  // A relay that waits for the unreachable database logs that it waits (a
  // keyword string is no database URL: refused at once, above).
  for (const std::string& db : {pg}) {
    Env env;
    for (const std::string& name : kHeraldVariables) env[name] = "";
    test::Process relay({HERALD_BINARY, "relay", "--db", db, "--publisher", "stdout:",
                         "--log-level", "trace", "--log-format", "json"},
                        dir_.path(), env);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    relay.Signal(SIGTERM);
    ProcessResult r = relay.Wait(std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("database unreachable, retrying"));
    EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
  }
}

// Commands on a database that is not Herald's answer exit 2 and change
// nothing: opening once switched such a file to WAL for good and made an
// empty file a 4,096-byte database.
TEST_F(CliTest, CommandsLeaveADatabaseWithoutTheSchemaAsItWas) {
  ExecSql(Path("app.db"), "CREATE TABLE accounts (id TEXT PRIMARY KEY)");
  std::ofstream(Path("zero.db")).close();
  const std::string before = test::ReadFile(Path("app.db"));
  for (const char* name : {"app.db", "zero.db"}) {
    for (const std::vector<std::string>& command : std::vector<std::vector<std::string>>{
             {"status"},
             {"dlq", "list"},
             {"dlq", "purge", "--all"},
             {"dlq", "retry", "--all"},
             {"relay", "--publisher", "stdout:", "--exit-when-drained"},
             {"enqueue", "--topic", "t", "--payload", "{}"},
         }) {
      std::vector<std::string> args = command;
      args.insert(args.end(), {"--db", DbUrl(name)});
      SCOPED_TRACE(fmt::format("herald {}", fmt::join(args, " ")));
      ExpectUsageError(Herald(args), "herald migrate");
      EXPECT_EQ(test::ReadFile(Path("app.db")), before);
      EXPECT_EQ(fs::file_size(Path("zero.db")), 0u);
      EXPECT_FALSE(fs::exists(Path("app.db-wal")));
    }
  }
}

TEST_F(CliTest, DeadLettersListRetryPurge) {
  Migrate();
  std::string file = WriteFile("e.jsonl", R"({"topic":"a","key":"k","type":"T","payload":{}})"
                                          "\n"
                                          R"({"topic":"b","key":"k","type":"T","payload":{}})"
                                          "\n");
  ASSERT_EQ(Herald({"enqueue", "--db", DbUrl(), "--jsonl", file}).exit_code, 0);
  std::vector<PendingEvent> pending = Pending();
  ASSERT_EQ(pending.size(), 2u);
  std::string id_a = pending[0].event.id.ToString();
  std::string id_b = pending[1].event.id.ToString();
  KillAllPending("rejected: too large");

  ProcessResult list = Herald({"dlq", "list", "--db", DbUrl()});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  ASSERT_EQ(std::count(list.out.begin(), list.out.end(), '\n'), 2) << list.out;
  EXPECT_THAT(list.out, HasSubstr(id_a));
  EXPECT_THAT(list.out, HasSubstr("error=rejected: too large"));

  ProcessResult json = Herald({"dlq", "list", "--db", DbUrl(), "--topic", "b", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  Json letters = Json::parse(json.out);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0]["event_id"], id_b);
  EXPECT_EQ(letters[0]["topic"], "b");
  EXPECT_EQ(letters[0]["error"], "rejected: too large");
  EXPECT_TRUE(letters[0]["payload"].is_object());

  ProcessResult limited = Herald({"dlq", "list", "--db", DbUrl(), "--limit", "1", "--json"});
  ASSERT_EQ(limited.exit_code, 0);
  EXPECT_EQ(Json::parse(limited.out).size(), 1u);

  ProcessResult retry = Herald({"dlq", "retry", "--db", DbUrl(), "--id", id_a});
  ASSERT_EQ(retry.exit_code, 0) << retry.err;
  EXPECT_EQ(retry.out, "retried 1 dead letter\n");
  // An id that is no dead letter (any more) is said, and nothing changes.
  ProcessResult gone = Herald({"dlq", "retry", "--db", DbUrl(), "--id", id_a});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_EQ(gone.err, fmt::format("herald: error: no dead letter has id {} (nothing retried)\n",
                                  id_a));
  ProcessResult mixed = Herald({"dlq", "purge", "--db", DbUrl(), "--id", id_a, "--topic", "b"});
  EXPECT_EQ(mixed.exit_code, 2) << "--id and --topic are one or the other";
  pending = Pending();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].event.id.ToString(), id_a);

  ProcessResult purge = Herald({"dlq", "purge", "--db", DbUrl(), "--topic", "b"});
  ASSERT_EQ(purge.exit_code, 0) << purge.err;
  EXPECT_EQ(purge.out, "purged 1 dead letter\n");
  ProcessResult none = Herald({"dlq", "list", "--db", DbUrl(), "--json"});
  EXPECT_EQ(none.out, "[]\n");
  ProcessResult again = Herald({"dlq", "purge", "--db", DbUrl(), "--all"});
  EXPECT_EQ(again.out, "purged 0 dead letters\n");
}

TEST_F(CliTest, JsonLogsAreOneObjectALine) {
  Migrate();
  ASSERT_EQ(Herald({"enqueue", "--db", DbUrl(), "--topic", "t", "--payload", "{}"}).exit_code, 0);
  ProcessResult r = Herald({"relay", "--db", DbUrl(), "--publisher", "file:" + Path("out.jsonl"),
                            "--exit-when-drained", "--log-format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int lines = 0;
  std::istringstream in(r.err);
  for (std::string line; std::getline(in, line);) {
    ++lines;
    Json j = Json::parse(line);
    EXPECT_TRUE(j["time"].get<std::string>().ends_with("Z")) << line;
    EXPECT_EQ(j["level"], "info") << line;
    EXPECT_TRUE(j["message"].is_string()) << line;
  }
  EXPECT_GE(lines, 3);
  EXPECT_THAT(r.err, HasSubstr("\"message\":\"relay totals: published=1"));
}

TEST_F(CliTest, SigtermStopsARunningRelayCleanly) {
  Migrate();
  ASSERT_EQ(Herald({"enqueue", "--db", DbUrl(), "--topic", "t", "--payload", "{}"}).exit_code, 0);
  Env env;
  for (const std::string& name : kHeraldVariables) env[name] = "";
  test::Process relay({HERALD_BINARY, "relay", "--db", DbUrl(), "--publisher",
                       "file:" + Path("out.jsonl"), "--poll-interval", "1h",
                       "--progress-interval", "20ms"},
                      dir_.path(), env);
  // Running once the enqueued event reached the sink.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (test::ReadLines(Path("out.jsonl")).empty() && relay.Running() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(test::ReadLines(Path("out.jsonl")).size(), 1u);
  ASSERT_TRUE(relay.Running());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a few progress lines
  relay.Signal(SIGTERM);
  ProcessResult r = relay.Wait(std::chrono::seconds(30));
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("published=1"));
  // Progress lines at info, and idle said once, not every interval.
  EXPECT_THAT(r.err, HasSubstr("info progress: "));
  std::size_t idle = 0;
  for (std::size_t at = 0; (at = r.err.find("progress: idle", at)) != std::string::npos; ++at) {
    ++idle;
  }
  EXPECT_LE(idle, 1u) << r.err;
  EXPECT_TRUE(Pending().empty());
}

TEST_F(CliTest, FlagBeatsEnvironmentBeatsConfigFile) {
  // Three databases with 1, 2 and 3 pending events; status says which was used.
  const std::vector<std::string> names = {"file.db", "env.db", "flag.db"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    Migrate(names[i]);
    for (std::size_t n = 0; n <= i; ++n) {
      ASSERT_EQ(Herald({"enqueue", "--db", DbUrl(names[i]), "--topic", "t"}).exit_code, 0);
    }
  }
  std::string toml = WriteFile("herald.toml", fmt::format("db = \"{}\"\n", DbUrl("file.db")));
  auto pending_seen = [&](std::vector<std::string> args, const Env& env) {
    args.insert(args.begin(), {"status", "--json"});
    ProcessResult r = Herald(args, env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? Json::parse(r.out)["pending"].get<int>() : -1;
  };
  EXPECT_EQ(pending_seen({"--config", toml}, {}), 1);
  EXPECT_EQ(pending_seen({}, {{"HERALD_CONFIG", toml}}), 1);
  EXPECT_EQ(pending_seen({"--config", toml}, {{"HERALD_DB", DbUrl("env.db")}}), 2);
  EXPECT_EQ(
      pending_seen({"--config", toml, "--db", DbUrl("flag.db")}, {{"HERALD_DB", DbUrl("env.db")}}),
      3);
}

}  // namespace
}  // namespace herald

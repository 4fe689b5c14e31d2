// The foundation end to end, as an operator runs it: an application commits
// 10,000 transactions with their events (rolling back one in five), then
// `herald relay` drains the SQLite outbox into a file sink. Checks I1 (only
// committed events), I2 (nothing lost, also across kill -9), I3 (per-key
// order of first deliveries) and I4 (no duplicates without a crash).
#include <signal.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

constexpr long kEvents = 10000;

struct Manifest {
  std::vector<std::string> ids;                           // commit order
  std::map<std::string, std::vector<std::string>> by_key;  // commit order per key
};

struct Sink {
  std::vector<std::string> ids;  // arrival order, duplicates included
  std::map<std::string, std::string> key_of;
};

Manifest ReadManifest(const std::filesystem::path& path) {
  Manifest m;
  for (const std::string& line : ReadLines(path)) {
    auto space = line.find(' ');
    std::string id = line.substr(0, space), key = line.substr(space + 1);
    m.ids.push_back(id);
    m.by_key[key].push_back(id);
  }
  return m;
}

Sink ReadSink(const std::filesystem::path& path) {
  Sink s;
  for (const std::string& line : ReadLines(path)) {
    nlohmann::json j = nlohmann::json::parse(line);
    std::string id = j.at("event_id");
    s.ids.push_back(id);
    s.key_of[id] = j.at("key");
    // The payload was JSON, so the sink embeds it as JSON.
    EXPECT_EQ(j.at("payload").at("account"), j.at("key")) << line;
    EXPECT_EQ(j.at("type"), "TransactionCreated");
    EXPECT_EQ(j.at("topic"), "transactions");
  }
  return s;
}

// First deliveries of each key, in arrival order.
std::map<std::string, std::vector<std::string>> FirstDeliveriesByKey(const Sink& s) {
  std::map<std::string, std::vector<std::string>> out;
  std::set<std::string> seen;
  for (const std::string& id : s.ids) {
    if (seen.insert(id).second) out[s.key_of.at(id)].push_back(id);
  }
  return out;
}

std::size_t CountNewlines(const std::filesystem::path& path) {
  std::string data = ReadFile(path);
  return static_cast<std::size_t>(std::count(data.begin(), data.end(), '\n'));
}

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProcessResult r = RunProgram({HERALD_BINARY, "migrate", "--db", db_url_}, dir_.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = RunProgram({HERALD_PRODUCER, "--db", db_path_.string(), "--count", std::to_string(kEvents),
             "--accounts", "50", "--rollback-ratio", "0.2", "--seed", "20261129", "--manifest",
             manifest_path_.string()},
            dir_.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    manifest_ = ReadManifest(manifest_path_);
    // One in five rolled back, give or take the draw.
    ASSERT_GT(manifest_.ids.size(), kEvents * 7 / 10);
    ASSERT_LT(manifest_.ids.size(), kEvents * 9 / 10);
  }

  std::vector<std::string> RelayArgs(std::vector<std::string> extra) const {
    std::vector<std::string> args = {HERALD_BINARY,  "relay",          "--db",
                                     db_url_,        "--publisher",    "file:" + sink_path_.string(),
                                     "--log-level",  "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  void ExpectNothingPending() {
    ProcessResult r = RunProgram({HERALD_BINARY, "status", "--db", db_url_, "--json"}, dir_.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    nlohmann::json status = nlohmann::json::parse(r.out);
    EXPECT_EQ(status.at("pending"), 0);
    EXPECT_EQ(status.at("dead_letters"), 0);
  }

  // Every committed event arrived, nothing else did, and each key's first
  // deliveries are in commit order.
  void ExpectExactlyTheCommittedEventsInKeyOrder(const Sink& sink) {
    std::set<std::string> delivered(sink.ids.begin(), sink.ids.end());
    std::set<std::string> committed(manifest_.ids.begin(), manifest_.ids.end());
    EXPECT_EQ(delivered, committed);
    EXPECT_EQ(FirstDeliveriesByKey(sink), manifest_.by_key);
  }

  TempDir dir_;
  std::filesystem::path db_path_ = dir_ / "app.db";
  std::string db_url_ = "sqlite:" + db_path_.string();
  std::filesystem::path manifest_path_ = dir_ / "committed.txt";
  std::filesystem::path sink_path_ = dir_ / "bus.jsonl";
  Manifest manifest_;
};

TEST_F(EndToEndTest, RelayDeliversExactlyTheCommittedEventsOnceInKeyOrder) {
  ProcessResult r = RunProgram(RelayArgs({"--exit-when-drained"}), dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Sink sink = ReadSink(sink_path_);
  ExpectExactlyTheCommittedEventsInKeyOrder(sink);
  EXPECT_EQ(sink.ids.size(), manifest_.ids.size()) << "duplicates without any fault";
  ExpectNothingPending();
}

TEST_F(EndToEndTest, SigkillInTheMiddleOfADrainLosesNothing) {
  constexpr std::size_t kBatch = 10;
  constexpr std::size_t kWindow = 30;
  std::size_t at_kill = 0;
  {
    Process relay(RelayArgs({"--batch-size", std::to_string(kBatch), "--max-in-flight-events",
                             std::to_string(kWindow)}),
                  dir_.path());
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (CountNewlines(sink_path_) < 300 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    relay.Signal(SIGKILL);
    ProcessResult killed = relay.Wait();
    ASSERT_EQ(killed.term_signal, SIGKILL) << killed.err;
    at_kill = CountNewlines(sink_path_);
  }
  ASSERT_GE(at_kill, 300u);
  ASSERT_LT(at_kill, manifest_.ids.size()) << "the relay finished before it could be killed";

  ProcessResult r = RunProgram(RelayArgs({"--exit-when-drained"}), dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Sink sink = ReadSink(sink_path_);
  ExpectExactlyTheCommittedEventsInKeyOrder(sink);
  // Duplicates come only from the window: events written but not yet
  // acknowledged when the relay died.
  EXPECT_LE(sink.ids.size() - manifest_.ids.size(), kWindow);
  ExpectNothingPending();
}

TEST_F(EndToEndTest, SecondRelayIsRefusedOrWaitsAsStandbyAndTakesOver) {
  Process first(RelayArgs({"--batch-size", "5", "--poll-interval", "50ms"}), dir_.path());
  while (CountNewlines(sink_path_) < 50) std::this_thread::sleep_for(1ms);

  // Without --standby: refused with a clear line, nothing published by it.
  ProcessResult refused = RunProgram(RelayArgs({"--exit-when-drained"}), dir_.path());
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("--standby"), std::string::npos) << refused.err;

  // With --standby: waits while the first lives, then takes over.
  Process standby(RelayArgs({"--standby", "--exit-when-drained"}), dir_.path());
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(standby.Running());
  first.Signal(SIGKILL);
  first.Wait();
  ProcessResult r = standby.Wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Sink sink = ReadSink(sink_path_);
  ExpectExactlyTheCommittedEventsInKeyOrder(sink);
  ExpectNothingPending();
}

}  // namespace
}  // namespace herald::test

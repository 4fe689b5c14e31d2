// The PostgreSQL server restarts (scripts/pg.sh restart) while `herald relay`
// drains a backlog: the relay survives, reconnects and loses nothing (I2).
//
// Restarting the server disturbs every other test using it, so this binary's
// tests run alone (RUN_SERIAL in tests/CMakeLists.txt).
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "postgres_support.h"
#include "support/process.h"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

class PostgresRestartTest : public PostgresTest {
 protected:
  std::string ServerStartTime() {
    PgConn conn = Connect();
    return conn ? PgQueryValue(conn.get(), "SELECT pg_postmaster_start_time()") : "";
  }
};

TEST_F(PostgresRestartTest, RelaySurvivesAServerRestartMidDrainAndLosesNothing) {
  constexpr long kEvents = 40000;
  constexpr int kBatch = 500;
  const std::string url = StoreUrl();
  ASSERT_NO_FATAL_FAILURE(MigrateWithCli(url));
  Manifest manifest = EnqueueBacklog(kEvents, 200, 10000);
  ASSERT_EQ(manifest.ids.size(), static_cast<std::size_t>(kEvents));
  const std::string started = ServerStartTime();

  SinkWatcher watcher;
  watcher.Watch(dir_ / "bus.jsonl");
  Process relay(RelayArgs(url, dir_ / "bus.jsonl",
                          {"--batch-size", std::to_string(kBatch), "--poll-interval", "200ms",
                           "--backoff-initial", "50ms", "--backoff-max", "500ms"}),
                dir_.path());
  ASSERT_TRUE(WaitUntil([&] { return watcher.lines() >= kEvents / 10; }, 60s, 1ms));

  ProcessResult restart = RunProgram({"/bin/bash", HERALD_PG_SCRIPT, "restart"}, dir_.path(), {},
                                     std::chrono::seconds(60));
  ASSERT_EQ(restart.exit_code, 0) << "scripts/pg.sh restart: " << restart.err;
  ASSERT_LT(watcher.lines(), manifest.ids.size()) << "the drain finished before the restart";
  EXPECT_NE(ServerStartTime(), started) << "the server did not restart";
  EXPECT_TRUE(relay.Running()) << "the relay died with the server";

  EXPECT_TRUE(WaitUntil([&] { return Stats(url).pending == 0; }, 90s, 200ms));
  ASSERT_TRUE(relay.Running()) << "the relay died after the restart";
  relay.Signal(SIGTERM);
  ProcessResult r = relay.Wait(30s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Duplicates only from the batch whose acknowledgement the restart cut off.
  ExpectDeliveredOnceInKeyOrder(manifest, watcher.Finish(), 2 * kBatch);
}


// A relay started while the server is down waits for it (one line), then
// drains everything; with --fail-fast it exits 1 at once instead.
TEST_F(PostgresRestartTest, RelayStartedDuringAnOutageWaitsForTheServer) {
  constexpr long kEvents = 2000;
  const std::string url = StoreUrl();
  ASSERT_NO_FATAL_FAILURE(MigrateWithCli(url));
  Manifest manifest = EnqueueBacklog(kEvents, 50, 1000);
  ASSERT_EQ(manifest.ids.size(), static_cast<std::size_t>(kEvents));

  ProcessResult halt =
      RunProgram({"/bin/bash", HERALD_PG_SCRIPT, "halt"}, dir_.path(), {}, 60s);
  ASSERT_EQ(halt.exit_code, 0) << "scripts/pg.sh halt: " << halt.err;
  // Resumed however the test ends, so that later tests find the server.
  struct Resume {
    const TempDir& dir;
    ~Resume() { RunProgram({"/bin/bash", HERALD_PG_SCRIPT, "resume"}, dir.path(), {}, 60s); }
  } resume{dir_};

  ProcessResult fast = RunProgram(RelayArgs(url, dir_ / "fast.jsonl", {"--fail-fast"}), dir_.path());
  EXPECT_EQ(fast.exit_code, 1) << fast.err;
  EXPECT_NE(fast.err.find("herald: error: "), std::string::npos) << fast.err;

  SinkWatcher watcher;
  watcher.Watch(dir_ / "bus.jsonl");
  std::vector<std::string> args = RelayArgs(url, dir_ / "bus.jsonl",
                                            {"--backoff-initial", "50ms", "--backoff-max", "500ms"});
  *std::find(args.begin(), args.end(), "warn") = "info";
  Process relay(args, dir_.path());
  std::this_thread::sleep_for(2s);
  ASSERT_TRUE(relay.Running()) << "the relay did not wait for the server";

  ProcessResult up = RunProgram({"/bin/bash", HERALD_PG_SCRIPT, "resume"}, dir_.path(), {}, 60s);
  ASSERT_EQ(up.exit_code, 0) << "scripts/pg.sh resume: " << up.err;
  EXPECT_TRUE(WaitUntil([&] { return Stats(url).pending == 0; }, 60s, 100ms));
  relay.Signal(SIGTERM);
  ProcessResult r = relay.Wait(30s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(CountOf(r.err, "database unreachable, retrying with backoff"), 1u) << r.err;
  EXPECT_EQ(CountOf(r.err, "database reachable after"), 1u) << r.err;
  ExpectDeliveredOnceInKeyOrder(manifest, watcher.Finish(), 0);
}

}  // namespace
}  // namespace herald::test

// Herald on PostgreSQL end to end, as operators run it: applications commit
// through their own libpq connections, `herald relay` processes (several at
// once, some killed, stopped or frozen) drain the outbox into file sinks, and
// the sinks are checked against what committed. Checks I1 (only committed
// events), I2 (nothing lost), I3 (per-key order, also across a takeover), I4
// (duplicates only around crashes), I6 (poison in the dead-letter table, other
// keys flowing, dlq list/retry/purge) and I7 (partitions shared among relays,
// taken over when one dies, fenced when one freezes).
//
// Needs HERALD_TEST_PG_URL (see postgres_support.h); each test works in
// schemas of its own, so the tests may run in parallel.
#include <signal.h>

#include <gtest/gtest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "herald/event.h"
#include "herald/postgres.h"
#include "herald/relay.h"
#include "herald/store.h"
#include "postgres_support.h"
#include "support/process.h"
#include "testing/scripted_publisher.h"

namespace herald::test {
namespace {

using namespace std::chrono_literals;

// The relays that own partitions, and whether together they own each of
// `partitions` exactly once.
struct Ownership {
  std::set<std::string> owners;
  bool complete = false;
};

Ownership OwnershipOf(const OutboxStats& stats, int partitions) {
  Ownership out;
  std::vector<int> owned;
  for (const RelayOwnership& r : stats.relays) {
    if (r.partitions.empty()) continue;
    out.owners.insert(r.relay_id);
    owned.insert(owned.end(), r.partitions.begin(), r.partitions.end());
  }
  std::sort(owned.begin(), owned.end());
  out.complete = static_cast<int>(owned.size()) == partitions;
  for (int p = 0; out.complete && p < partitions; ++p) out.complete = owned[p] == p;
  return out;
}

class PostgresE2eTest : public PostgresTest {
 protected:
  // Waits until the relays owning partitions are exactly `expected` and
  // together own each partition once. False (and a failure naming what was
  // seen last) on timeout.
  bool WaitForOwners(const std::string& url, const std::set<std::string>& expected,
                     std::chrono::milliseconds timeout) {
    Ownership last;
    bool ok = WaitUntil(
        [&] {
          last = OwnershipOf(Stats(url), postgres::kDefaultPartitions);
          return last.complete && last.owners == expected;
        },
        timeout, 100ms);
    if (!ok) {
      std::string seen;
      for (const std::string& o : last.owners) seen += " " + o;
      ADD_FAILURE() << "after " << timeout.count() << " ms the partitions are owned by" << seen
                    << (last.complete ? "" : " (not all of them)") << ", not by the "
                    << expected.size() << " relays expected";
    }
    return ok;
  }

  bool WaitForNothingPending(const std::string& url, std::chrono::milliseconds timeout) {
    return WaitUntil([&] { return Stats(url).pending == 0; }, timeout, 100ms);
  }

  // Runs herald::Relay on a store of its own until nothing is pending.
  static void RunRelayInProcess(const std::string& url, Publisher& bus, RelayOptions options) {
    Result<std::unique_ptr<Store>> store = OpenStore(url);
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    options.exit_when_drained = true;
    Relay relay(**store, bus, options);
    Status s = relay.Run();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  static void ExpectCleanExit(Process& relay, const char* name) {
    ASSERT_TRUE(relay.Running()) << name << " died";
    relay.Signal(SIGTERM);
    ProcessResult r = relay.Wait(30s);
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
  }
};

// ---- I1 ---------------------------------------------------------------------

struct Produced {
  std::vector<std::pair<std::string, std::string>> events;  // (id, key), commit order
  long committed_transactions = 0;
};

// One application thread: `transactions` transactions on a connection of its
// own, each inserting a business row and enqueueing one or two events for
// keys only this thread uses; one in five rolled back (drawn from `seed`).
Produced RunProducer(const std::string& server_url, const std::string& schema,
                     const std::string& app_schema, int thread, int transactions,
                     std::uint64_t seed) {
  Produced out;
  PgConn conn = PgConnect(server_url);
  if (conn == nullptr) return out;
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution rollback(0.2), two_events(0.25), pause(0.1);
  postgres::EnqueueOptions options;
  options.schema = schema;
  for (int i = 0; i < transactions; ++i) {
    std::string key = "acct-" + std::to_string(thread) + "-" + std::to_string(i % 8);
    std::vector<Event> events = {
        Event::Make("transactions", key, "TransactionCreated", KeyedPayload(key, i))};
    if (two_events(rng)) {
      events.push_back(Event::Make("transactions", key, "BudgetChecked", KeyedPayload(key, i)));
    }
    EXPECT_EQ(PgExec(conn.get(), "BEGIN"), "");
    EXPECT_EQ(PgExec(conn.get(), "INSERT INTO " + app_schema +
                                     ".transactions (event_id, account, amount_cents) VALUES ('" +
                                     events[0].id.ToString() + "', '" + key + "', " +
                                     std::to_string(i) + ")"),
              "");
    Status s = events.size() == 1 ? postgres::Enqueue(conn.get(), events[0], options)
                                  : postgres::EnqueueBatch(conn.get(), events, options);
    EXPECT_TRUE(s.ok()) << s.ToString();
    // Let other threads' transactions commit in between, out of seq order.
    if (pause(rng)) std::this_thread::sleep_for(1ms);
    bool commit = s.ok() && !rollback(rng);
    EXPECT_EQ(PgExec(conn.get(), commit ? "COMMIT" : "ROLLBACK"), "");
    if (!commit) continue;
    ++out.committed_transactions;
    for (const Event& e : events) out.events.emplace_back(e.id.ToString(), e.key);
  }
  return out;
}

TEST_F(PostgresE2eTest, ConcurrentProducersOnlyCommittedEventsArriveOnceInKeyOrder) {
  constexpr int kThreads = 4, kTransactions = 500;
  const std::string url = StoreUrl();
  ASSERT_NO_FATAL_FAILURE(MigrateWithCli(url));
  PgConn admin = Connect();
  ASSERT_NE(admin, nullptr);
  ASSERT_EQ(PgExec(admin.get(), "CREATE TABLE " + app_schema_ +
                                    ".transactions (event_id text PRIMARY KEY, account text NOT "
                                    "NULL, amount_cents bigint NOT NULL)"),
            "");

  SinkWatcher watcher;
  watcher.Watch(dir_ / "bus.jsonl");
  // The relay runs while the applications commit: rows become visible out of
  // sequence order and none may be skipped.
  Process relay(RelayArgs(url, dir_ / "bus.jsonl", {"--batch-size", "50", "--poll-interval", "200ms"}),
                dir_.path());

  std::vector<Produced> produced(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        produced[t] = RunProducer(server_url_, schema_, app_schema_, t, kTransactions,
                                  20261129 + static_cast<std::uint64_t>(t));
      });
    }
  }
  Manifest manifest;
  long committed_transactions = 0;
  for (const Produced& p : produced) {
    for (const auto& [id, key] : p.events) manifest.Add(id, key);
    committed_transactions += p.committed_transactions;
  }
  // One in five rolled back, give or take the draw.
  ASSERT_GT(committed_transactions, kThreads * kTransactions * 7 / 10);
  ASSERT_LT(committed_transactions, kThreads * kTransactions * 9 / 10);
  EXPECT_EQ(PgQueryValue(admin.get(), "SELECT count(*) FROM " + app_schema_ + ".transactions"),
            std::to_string(committed_transactions));

  EXPECT_TRUE(WaitUntil([&] { return watcher.lines() >= manifest.ids.size(); }, 60s))
      << watcher.lines() << " of " << manifest.ids.size() << " events arrived";
  EXPECT_TRUE(WaitForNothingPending(url, 10s));
  ExpectCleanExit(relay, "relay");
  ExpectDeliveredOnceInKeyOrder(manifest, watcher.Finish(), /*max_duplicates=*/0);

  ProcessResult status = Herald({"status", "--db", url, "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  nlohmann::json j = nlohmann::json::parse(status.out);
  EXPECT_EQ(j.at("pending"), 0);
  EXPECT_EQ(j.at("dead_letters"), 0);
}

// ---- I2 + I7 + I3 -----------------------------------------------------------

TEST_F(PostgresE2eTest, ThreeRelaysDrainABacklogThroughAKillAndARestart) {
  constexpr long kEvents = 100000;
  constexpr int kBatch = 100;  // small batches: a drain slow enough to kill and restart in
  const std::string url = StoreUrl("lease=2s");
  ASSERT_NO_FATAL_FAILURE(MigrateWithCli(url));
  Manifest manifest = EnqueueBacklog(kEvents, 500, 20000);
  ASSERT_EQ(manifest.ids.size(), static_cast<std::size_t>(kEvents));

  constexpr int kWindow = 2 * kBatch;
  const std::vector<std::string> flags = {"--batch-size", std::to_string(kBatch),
                                          "--max-in-flight-events", std::to_string(kWindow),
                                          "--poll-interval", "200ms"};
  SinkWatcher watcher;
  std::map<std::string, std::unique_ptr<Process>> relays;
  std::map<std::string, std::size_t> file_of;
  auto start = [&](const std::string& id) {
    file_of[id] = watcher.Watch(dir_ / (id + ".jsonl"));
    relays[id] = std::make_unique<Process>(
        RelayArgs(url + "&relay_id=" + id, dir_ / (id + ".jsonl"), flags), dir_.path());
  };
  start("r0");
  start("r1");
  start("r2");
  EXPECT_TRUE(WaitForOwners(url, {"r0", "r1", "r2"}, 20s));

  // Kill r2 mid-drain: its partitions wait for its lease to expire.
  ASSERT_TRUE(WaitUntil([&] { return watcher.lines() >= kEvents / 5; }, 60s, 1ms));
  ASSERT_TRUE(WaitUntil([&] { return watcher.lines(file_of["r2"]) > 0; }, 60s, 1ms))
      << "r2 published nothing";
  relays["r2"]->Signal(SIGKILL);
  EXPECT_EQ(relays["r2"]->Wait(10s).term_signal, SIGKILL);
  std::size_t at_kill = watcher.lines();
  ASSERT_LT(at_kill, manifest.ids.size()) << "the drain finished before the kill";

  // Stop r1 gracefully, and start it again under a new name and sink.
  ASSERT_TRUE(WaitUntil([&] { return watcher.lines() >= at_kill + kEvents / 10; }, 60s, 1ms));
  ASSERT_TRUE(WaitUntil([&] { return watcher.lines(file_of["r1"]) > 0; }, 60s, 1ms))
      << "r1 published nothing";
  ExpectCleanExit(*relays["r1"], "r1");
  ASSERT_LT(watcher.lines(), manifest.ids.size()) << "the drain finished before the restart";
  start("r1-again");

  // r2's partitions are taken over; r0 and r1's second life share them all.
  EXPECT_TRUE(WaitForOwners(url, {"r0", "r1-again"}, 30s));
  EXPECT_TRUE(WaitForNothingPending(url, 90s));
  ExpectCleanExit(*relays["r0"], "r0");
  ExpectCleanExit(*relays["r1-again"], "r1-again");
  std::vector<SinkLine> lines = watcher.Finish();
  for (const auto& [id, file] : file_of) {
    EXPECT_GT(watcher.lines(file), 0u) << id << " published nothing";
  }
  // Duplicates only from the killed relay's window and from batches fenced
  // off when a partition changed hands.
  ExpectDeliveredOnceInKeyOrder(manifest, lines, 2 * kWindow);
}

// ---- a frozen relay -----------------------------------------------------------

TEST_F(PostgresE2eTest, FrozenRelayLosesItsPartitionsAndNeverAcknowledgesThem) {
  constexpr long kEvents = 20000;
  constexpr int kBatch = 50;
  const std::string url = StoreUrl("lease=2s");
  ASSERT_NO_FATAL_FAILURE(MigrateWithCli(url));
  Manifest manifest = EnqueueBacklog(kEvents, 200, 10000);
  ASSERT_EQ(manifest.ids.size(), static_cast<std::size_t>(kEvents));

  // Every row leaving the outbox is recorded with its partition's owner at
  // that moment. Only the owner may acknowledge: a row removed while another
  // relay owned its partition is a fencing failure.
  PgConn admin = Connect();
  ASSERT_NE(admin, nullptr);
  ASSERT_EQ(PgExec(admin.get(), fmt::format(R"sql(
      CREATE TABLE {1}.removed (event_id uuid, partition int, owner text);
      CREATE FUNCTION {1}.record_removal() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO {1}.removed
          SELECT OLD.event_id, OLD.partition, p.owner FROM {0}.partitions p
          WHERE p.partition = OLD.partition;
        RETURN NULL;
      END $$;
      CREATE TRIGGER record_removal AFTER DELETE ON {0}.outbox
        FOR EACH ROW EXECUTE FUNCTION {1}.record_removal();)sql",
                                            schema_, app_schema_)),
            "");
  auto removals_not_by = [&](const std::string& owners) {
    return PgQueryValue(admin.get(), fmt::format("SELECT count(*) FROM {}.removed WHERE owner IS "
                                                 "NULL OR owner NOT IN ({})",
                                                 app_schema_, owners));
  };

  constexpr int kWindow = 2 * kBatch;
  const std::vector<std::string> flags = {"--batch-size", std::to_string(kBatch),
                                          "--max-in-flight-events", std::to_string(kWindow),
                                          "--poll-interval", "200ms"};
  SinkWatcher watcher;
  std::size_t a_file = watcher.Watch(dir_ / "a.jsonl");
  watcher.Watch(dir_ / "b.jsonl");
  Process a(RelayArgs(url + "&relay_id=a", dir_ / "a.jsonl", flags), dir_.path());
  EXPECT_TRUE(WaitForOwners(url, {"a"}, 20s));
  ASSERT_TRUE(WaitUntil([&] { return watcher.lines(a_file) >= 1000; }, 60s, 1ms));

  // Frozen for longer than its lease: a holder that publishes nothing takes
  // every partition, so whatever a acknowledges from now on is fenced off.
  a.Signal(SIGSTOP);
  Result<std::unique_ptr<Store>> holder = OpenStore(url + "&relay_id=holder");
  ASSERT_TRUE(holder.has_value()) << holder.error().ToString();
  std::stop_source never;
  ASSERT_TRUE((*holder)->AcquireRelayRole(false, never.get_token()).ok());
  ASSERT_TRUE(WaitForOwners(url, {"holder"}, 20s));
  std::int64_t pending_at_freeze = Stats(url).pending;
  ASSERT_GT(pending_at_freeze, 0) << "a drained the backlog before it froze";

  // Woken up, a has to win partitions back by rebalancing before it may
  // acknowledge anything; it goes on working under new epochs.
  a.Signal(SIGCONT);
  std::size_t a_at_resume = watcher.lines(a_file);
  EXPECT_TRUE(WaitForOwners(url, {"a", "holder"}, 20s));
  EXPECT_TRUE(WaitUntil([&] { return watcher.lines(a_file) >= a_at_resume + 500; }, 30s));
  EXPECT_EQ(removals_not_by("'a'"), "0") << "rows were acknowledged by a relay not owning them";

  // The holder leaves for b; a and b drain the rest.
  Process b(RelayArgs(url + "&relay_id=b", dir_ / "b.jsonl", flags), dir_.path());
  holder->reset();
  EXPECT_TRUE(WaitForNothingPending(url, 90s));
  ExpectCleanExit(a, "a");
  ExpectCleanExit(b, "b");
  EXPECT_EQ(removals_not_by("'a', 'b'"), "0") << "rows were acknowledged by a relay not owning them";
  EXPECT_EQ(PgQueryValue(admin.get(), "SELECT count(*) FROM " + app_schema_ + ".removed"),
            std::to_string(kEvents));
  // Duplicates: a's window when it froze, and a batch fenced off when
  // partitions changed hands.
  ExpectDeliveredOnceInKeyOrder(manifest, watcher.Finish(), kWindow + kBatch);
}

// ---- I6 -------------------------------------------------------------------------

TEST_F(PostgresE2eTest, PoisonGoesToTheDeadLetterTableAndOtherKeysKeepFlowing) {
  const std::string url = StoreUrl();
  ASSERT_NO_FATAL_FAILURE(MigrateWithCli(url));
  Manifest manifest = EnqueueBacklog(200, 5, 200);
  const std::string poison = manifest.by_key.at("k-2").at(3);
  const EventId poison_id = *EventId::Parse(poison);

  RelayOptions options;
  options.batch_size = 20;
  options.backoff_initial = 10ms;
  options.backoff_max = 50ms;
  options.seed = 7;
  {
    testing::ScriptedPublisher bus({.keeps_key_order = true});
    bus.Reject(poison_id, "schema registry: incompatible payload");
    ASSERT_NO_FATAL_FAILURE(RunRelayInProcess(url, bus, options));

    // Everything else arrived once, each key in order, the poisoned key's
    // later events included.
    std::map<std::string, std::vector<EventId>> expected;
    for (const auto& [key, ids] : manifest.by_key) {
      for (const std::string& id : ids) {
        if (id != poison) expected[key].push_back(*EventId::Parse(id));
      }
    }
    EXPECT_EQ(bus.FirstDeliveryOrderByKey(), expected);
    EXPECT_TRUE(bus.Duplicates().empty());
  }
  OutboxStats stats = Stats(url);
  EXPECT_EQ(stats.pending, 0);
  EXPECT_EQ(stats.dead_letters, 1);

  ProcessResult list = Herald({"dlq", "list", "--db", url, "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  nlohmann::json letters = nlohmann::json::parse(list.out);
  ASSERT_EQ(letters.size(), 1u) << list.out;
  EXPECT_EQ(letters[0].at("event_id"), poison);
  EXPECT_EQ(letters[0].at("key"), "k-2");
  EXPECT_NE(letters[0].at("error").get<std::string>().find("incompatible payload"),
            std::string::npos);

  // Retried: pending again under the same id, and published by the next run.
  ProcessResult retry = Herald({"dlq", "retry", "--db", url, "--id", poison});
  ASSERT_EQ(retry.exit_code, 0) << retry.err;
  EXPECT_NE(retry.out.find("retried 1 dead letter"), std::string::npos) << retry.out;
  stats = Stats(url);
  EXPECT_EQ(stats.pending, 1);
  EXPECT_EQ(stats.dead_letters, 0);
  {
    testing::ScriptedPublisher bus({.keeps_key_order = true});
    ASSERT_NO_FATAL_FAILURE(RunRelayInProcess(url, bus, options));
    EXPECT_EQ(bus.DeliveredIds(), std::set<EventId>{poison_id});
  }

  // Rejected again, then purged for good.
  Manifest second = EnqueueBacklog(1, 1, 1);
  {
    testing::ScriptedPublisher bus({.keeps_key_order = true});
    bus.Reject([](const Event&) { return true; }, "rejected for good");
    ASSERT_NO_FATAL_FAILURE(RunRelayInProcess(url, bus, options));
  }
  EXPECT_EQ(Stats(url).dead_letters, 1);
  ProcessResult purge = Herald({"dlq", "purge", "--db", url, "--all"});
  ASSERT_EQ(purge.exit_code, 0) << purge.err;
  EXPECT_NE(purge.out.find("purged 1 dead letter"), std::string::npos) << purge.out;
  stats = Stats(url);
  EXPECT_EQ(stats.pending, 0);
  EXPECT_EQ(stats.dead_letters, 0);
  list = Herald({"dlq", "list", "--db", url, "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(nlohmann::json::parse(list.out).size(), 0u);
}


// A live connection with a password in the URL: no command prints it, on
// any output, at any log level, with the URL from a flag, the environment
// or the config file (the server trusts loopback, so any password works).
TEST_F(PostgresE2eTest, NoCommandPrintsThePasswordOfALiveConnection) {
  const std::string secret = "Sup3rS3cretPw";
  std::string url = StoreUrl();
  const std::size_t at = url.find('@');
  ASSERT_NE(at, std::string::npos) << "the server URL names no user: " << url;
  url.insert(at, ":" + secret);
  const std::string query_url = StoreUrl("password=" + secret);
  const std::filesystem::path toml = dir_.path() / "herald.toml";
  std::ofstream(toml) << "db = \"" << url << "\"\n";

  const std::vector<std::vector<std::string>> commands = {
      {"migrate"},
      {"enqueue", "--topic", "t", "--payload", "{}"},
      {"status"},
      {"status", "--json"},
      {"relay", "--publisher", "file:" + (dir_.path() / "sink.jsonl").string(),
       "--exit-when-drained"},
      {"dlq", "list"},
      {"dlq", "retry", "--all"},
      {"dlq", "purge", "--all"},
  };
  for (const std::vector<std::string>& command : commands) {
    for (const std::string& db : {url, query_url}) {
      std::vector<std::vector<std::string>> argvs;
      std::vector<std::string> flag = command;
      flag.insert(flag.end(), {"--db", db, "--log-level", "trace"});
      std::vector<std::string> file = command;
      file.insert(file.end(), {"--config", toml.string(), "--log-level", "trace"});
      for (const auto& [args, env] :
           std::vector<std::pair<std::vector<std::string>, std::map<std::string, std::string>>>{
               {flag, {}},
               {command, {{"HERALD_DB", db}, {"HERALD_LOG_LEVEL", "trace"}}},
               {file, {}}}) {
        SCOPED_TRACE(fmt::format("herald {}{}", fmt::join(args, " "),
                                 env.empty() ? "" : " with HERALD_DB"));
        ProcessResult r = Herald(args, env);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out.find(secret), std::string::npos) << r.out;
        EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
      }
    }
  }
}


// A settlement the database refuses (here a trigger that raises on DELETE;
// the same path as a role without DELETE) once made the relay publish the
// same events again at once, thousands of times a second. Now it is retried
// with backoff without publishing again, said once, and applied once the
// database accepts it.
TEST_F(PostgresE2eTest, ARefusedSettlementIsRetriedWithoutPublishingAgain) {
  const std::string url = StoreUrl();
  ASSERT_NO_FATAL_FAILURE(MigrateWithCli(url));
  PgConn admin = Connect();
  ASSERT_NE(admin, nullptr);
  ASSERT_EQ(PgExec(admin.get(), "CREATE FUNCTION " + schema_ +
                                    ".refuse() RETURNS trigger LANGUAGE plpgsql AS "
                                    "$$ BEGIN RAISE EXCEPTION 'deletes are not allowed'; END $$"),
            "");
  ASSERT_EQ(PgExec(admin.get(), "CREATE TRIGGER refuse BEFORE DELETE ON " + schema_ +
                                    ".outbox FOR EACH ROW EXECUTE FUNCTION " + schema_ +
                                    ".refuse()"),
            "");
  Manifest manifest = EnqueueBacklog(3, 3, 3);
  ASSERT_EQ(manifest.ids.size(), 3u);

  SinkWatcher watcher;
  watcher.Watch(dir_ / "bus.jsonl");
  Process relay(RelayArgs(url, dir_ / "bus.jsonl",
                          {"--backoff-initial", "50ms", "--backoff-max", "200ms"}),
                dir_.path());
  ASSERT_TRUE(WaitUntil([&] { return watcher.lines() >= 3; }, 30s, 1ms));
  std::this_thread::sleep_for(3s);  // many backoff periods
  EXPECT_EQ(watcher.lines(), 3u) << "events published again while their settlement failed";
  EXPECT_EQ(Stats(url).pending, 3);

  ASSERT_EQ(PgExec(admin.get(), "DROP TRIGGER refuse ON " + schema_ + ".outbox"), "");
  EXPECT_TRUE(WaitForNothingPending(url, 30s));
  relay.Signal(SIGTERM);
  ProcessResult r = relay.Wait(30s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(watcher.lines(), 3u);
  EXPECT_EQ(CountOf(r.err, "deletes are not allowed"), 1u) << r.err;
  ExpectDeliveredOnceInKeyOrder(manifest, watcher.Finish(), 0);
}

}  // namespace
}  // namespace herald::test
